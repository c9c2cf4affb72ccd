/*
 * virtio-blk (virtio 1.2, 5.2): the block interface over one or more
 * virtqueues (split or packed: virtq.h hides which).
 *
 *   attach    negotiate -> config snapshot -> limits -> interrupts -> queues
 *             -> DRIVER_OK
 *   submit    request -> parts (each at most max_part bytes and max_segs
 *             data descriptors of at most seg_bytes, lbs-aligned; the data
 *             one buffer or the request's segments, a segment split between
 *             descriptors or parts where needed) -> header, data, status
 *             descriptors (one indirect slot when negotiated); ring full ->
 *             software queue, in order, drained as slots free up. Two cases
 *             skip the part loop: one buffer in one descriptor, and a
 *             scatter-gather request that fits one device request whole
 *   kick      one notification per batch, only if the device wants it
 *   complete  interrupt (MSI-X vector or INTx) or poll -> drain: disable ->
 *             get -> status byte -> part done -> request done -> pump the
 *             software queue -> re-arm -> re-check
 *   failure   bad ring use, bad status byte, DEVICE_NEEDS_RESET or the
 *             watchdog: reset the device, fail everything with -ENODEV
 *   queues    with VIRTIO_BLK_F_MQ, num_queues request queues (at most
 *             VBLK_MAX_QUEUES), each with its own MSI-X vector. Spreading
 *             policy: round-robin per batch. Submissions go to the current
 *             queue; every kick (the end of a caller's batch) moves the
 *             current queue to the next one; a request that does not fit
 *             waits in the one software queue, which fills whichever queue
 *             has room, starting from the current one. One CPU submits
 *             everything, so queues buy no guest parallelism: they let the
 *             device side (QEMU's iothread, its AIO) work on several rings,
 *             and a batch costs one notification on one queue.
 *
 * Per-part state lives in two arrays indexed by the descriptor head: what
 * the device reads and writes (header, discard range, status byte), and the
 * private token naming the request. Nothing on the submit/complete path
 * allocates or copies data; interrupts are masked around ring updates
 * because completions run in the interrupt handler.
 */
#include "drivers/blk/virtio_blk.h"

#include "arch/x86_64/arch.h"
#include "drivers/virtio/virtio.h"
#include "drivers/virtio/virtq.h"
#include "kernel/kernel.h"

#define VBLK_MAX_SEGS 32              /* data descriptors per virtio request */
/* A part (header, data, status) always fits the indirect table each ring slot has. */
_Static_assert(VBLK_MAX_SEGS + 2 <= VIRTQ_IND_MAX, "indirect tables hold a whole part");
#define VBLK_SEG_CAP (4u << 20)       /* bytes per descriptor without SIZE_MAX */
#define VBLK_PART_CAP (4u << 20)      /* bytes per virtio request */
#define VBLK_DWZ_CAP (1u << 22)       /* sectors per discard/write-zeroes request */
#define VBLK_TIMEOUT_MS 30000
#define VBLK_TIMER_NS 1000000000ull  /* LAPIC one-shot to wake a sleeping watchdog */
#define VBLK_HYBRID_START_NS 30000    /* BLK_WAIT_HYBRID: first guess of a wait's length */
#define VBLK_HYBRID_MIN_NS 2000       /* ... spin at least this long */
#define VBLK_HYBRID_MAX_NS 200000     /* ... waits longer than this sleep almost at once */
#define VBLK_MAX_QUEUES 8             /* request queues used at most (VIRTIO_BLK_F_MQ) */

/* blk_req.drv[] while the driver owns a request */
#define VBLK_PARTS 0   /* parts on the ring */
#define VBLK_ISSUED 1  /* bytes handed to the device so far; len once every part is out */
#define VBLK_SEG 2     /* read/write split into parts: the segment where the next part starts ... */
#define VBLK_SEG_OFF 3 /* ... and its offset in that segment */
_Static_assert(VBLK_SEG_OFF < sizeof(((struct blk_req *)0)->drv) / sizeof(uint32_t),
	       "blk_req.drv[] holds the driver's state of a request");

CMDLINE_KEY(blk_poll, "blk.poll", cmdline_valid_bool,
	    "1: virtio-blk takes completions by polling the used ring, no interrupts (benchmarks)");
CMDLINE_KEY(blk_queues, "blk.queues", cmdline_valid_uint,
	    "virtio-blk request queues to use at most (default: all the device offers with MQ, up to 8)");
CMDLINE_KEY(blk_timeout, "blk.timeout_ms", cmdline_valid_uint,
	    "virtio-blk watchdog: ms without any completion before the device is declared dead (30000)");

/* Device-visible per-part state, one cache line per descriptor head. */
struct vblk_dma {
	struct virtio_blk_req_hdr hdr;
	struct virtio_blk_discard_write_zeroes dwz;
	uint8_t status;
	uint8_t pad[31];
};
_Static_assert(sizeof(struct vblk_dma) == 64, "vblk_dma size");
_Static_assert(offsetof(struct vblk_dma, status) == 32, "vblk_dma.status");

struct vblk_tok {
	struct blk_req *req;
	uint64_t tsc; /* when the part went on the ring (the watchdog's clock) */
};

/* One request queue: its ring, and per-head device-visible and private state. */
struct vblk_queue {
	struct virtq vq;
	void *ring, *priv; /* the memory behind vq */
	struct vblk_dma *dma;
	struct vblk_tok *tok;
	uint64_t parts; /* virtio requests put on this queue (tests check the spreading) */
};

struct vblk {
	struct blk_dev bd;
	struct virtio_dev *vd;
	struct vblk_queue q[VBLK_MAX_QUEUES];
	unsigned nq;                            /* queues set up */
	unsigned cur;                           /* where submissions go (round-robin per batch) */
	bool batch;                             /* requests went on a ring since the last kick */
	struct blk_req *q_head, *q_tail;        /* waiting for ring space */
	struct blk_req *defer_head, *defer_tail; /* complete at the next drain */
	uint32_t seg_bytes, max_segs, max_part;
	bool frag_check;                        /* a block in 512-byte pieces may not fit max_segs: check segments */
	uint32_t max_discard, max_wz;           /* sectors per request */
	uint64_t completions;                   /* requests finished */
	uint64_t wait_mark;
	uint64_t wait_avg;                      /* recent waits' length (TSC ticks, EWMA 1/8) */
	uint64_t progress_tsc;                  /* last completion, or first submit after idle */
	uint64_t timeout_tsc;
	uint64_t timer_until;                   /* the wake-up timer is armed until then */
	uint64_t scan_at;                       /* next look for one request outstanding too long */
	int timer_vector;
	bool poll;      /* no queue interrupt at all (blk.poll=1, or none could be set up) */
	bool rearm;     /* drains re-arm the completion interrupt (a waiter will sleep) */
	bool armed;     /* the last drain re-armed every queue's completion interrupt */
	bool draining;
	uint32_t silent_wakeups; /* woke with completions waiting whose interrupt never came */
	bool reading_used; /* vblk_drain_queue() is reading a batch of used entries: done() waits */
	bool dead;      /* broken, and its reset never completed: it keeps the requests on its rings */
	struct virtio_blk_config cfg;
};

/*
 * The fields of struct virtio_blk_config (5.2.4), each read with its own
 * width; the unused bytes after writeback and write_zeroes_may_unmap are
 * never read.
 */
#define VBLK_CFG(f) {offsetof(struct virtio_blk_config, f), sizeof(((struct virtio_blk_config *)0)->f)}
static const struct virtio_config_field vblk_config_fields[] = {
	VBLK_CFG(capacity),
	VBLK_CFG(size_max),
	VBLK_CFG(seg_max),
	VBLK_CFG(geometry.cylinders),
	VBLK_CFG(geometry.heads),
	VBLK_CFG(geometry.sectors),
	VBLK_CFG(blk_size),
	VBLK_CFG(topology.physical_block_exp),
	VBLK_CFG(topology.alignment_offset),
	VBLK_CFG(topology.min_io_size),
	VBLK_CFG(topology.opt_io_size),
	VBLK_CFG(writeback),
	VBLK_CFG(num_queues),
	VBLK_CFG(max_discard_sectors),
	VBLK_CFG(max_discard_seg),
	VBLK_CFG(discard_sector_alignment),
	VBLK_CFG(max_write_zeroes_sectors),
	VBLK_CFG(max_write_zeroes_seg),
	VBLK_CFG(write_zeroes_may_unmap),
};

/* Fields of the configuration inside [off, off + len) into buf: 0 or -EIO. */
static int vblk_config_read(struct vblk *vb, unsigned off, void *buf, unsigned len)
{
	return virtio_config_snapshot(vb->vd, vblk_config_fields, ARRAY_SIZE(vblk_config_fields), off, buf,
				      len);
}

static struct vblk *vblk(const struct blk_dev *bd)
{
	return bd->priv;
}

static uint64_t vblk_addr(const void *p)
{
	return (uint64_t)(uintptr_t)p; /* identity-mapped */
}

/* ---- completion ---- */

static void vblk_finish(struct vblk *vb, struct blk_req *req)
{
	struct blk_stats *s = &vb->bd.stats;
	switch (req->op) {
	case BLK_OP_READ: s->reads++; s->read_bytes += req->len; break;
	case BLK_OP_WRITE: s->writes++; s->write_bytes += req->len; break;
	case BLK_OP_FLUSH: s->flushes++; break;
	case BLK_OP_DISCARD: s->discards++; break;
	case BLK_OP_WRITE_ZEROES: s->write_zeroes++; break;
	default: break;
	}
	if (req->status)
		s->errors++;
	s->completions++;
	vb->bd.inflight--;
	vb->completions++;
	req->done(req);
}

static void vblk_enqueue(struct blk_req **head, struct blk_req **tail, struct blk_req *req);

static void vblk_part_done(struct vblk *vb, struct blk_req *req, int err)
{
	if (err && !req->status)
		req->status = err;
	if (--req->drv[VBLK_PARTS] != 0 || req->drv[VBLK_ISSUED] != req->len)
		return;
	/*
	 * While a batch of used entries is read, the callbacks wait until it
	 * is all read: a done() that resubmits at once would reuse a head this
	 * batch freed, and a device that returned that head twice would then
	 * complete the new request instead of being caught.
	 */
	if (vb->reading_used)
		vblk_enqueue(&vb->defer_head, &vb->defer_tail, req);
	else
		vblk_finish(vb, req);
}

/*
 * The device misbehaved or stopped: reset it so it lets go of our buffers,
 * then fail what it held. A request is handed back only once the device is
 * known to have stopped touching it: if the reset never completes
 * (status never reads 0, 4.1.4.3.2), the device may still write into its
 * buffers at any time, so the requests it holds are never completed and
 * their memory (theirs and the rings') is never reused: vb->dead.
 */
static void vblk_break(struct vblk *vb, const char *why)
{
	if (vb->bd.broken)
		return;
	vb->bd.broken = true;
	vb->vd->broken = true;
	for (unsigned i = 0; i < vb->nq; i++)
		virtq_break(&vb->q[i].vq, why);
	vb->dead = vb->vd->ops->set_status(vb->vd, 0) != 0;
	vb->vd->ops->set_status(vb->vd, VIRTIO_STATUS_FAILED);
	if (!vb->dead)
		printf("%s: device broken: %s; failing %u outstanding requests\n", vb->bd.name, why,
		       vb->bd.inflight);

	struct blk_req *r = vb->q_head;
	vb->q_head = vb->q_tail = NULL;
	while (r) {
		struct blk_req *next = r->next;
		r->drv[VBLK_ISSUED] = r->len; /* nothing more goes out */
		/* None of it on a ring: the device holds none of its buffers. Else it ends with its last part. */
		if (r->drv[VBLK_PARTS] == 0) {
			r->status = -ENODEV;
			vblk_finish(vb, r);
		}
		r = next;
	}
	for (unsigned i = 0; i < vb->nq && !vb->dead; i++) {
		struct vblk_tok *t;
		while ((t = virtq_detach(&vb->q[i].vq))) {
			struct blk_req *req = t->req;
			t->req = NULL;
			vblk_part_done(vb, req, -ENODEV);
		}
	}
	/* Flushes with nothing to flush (no FLUSH feature): still true, still 0. */
	r = vb->defer_head;
	vb->defer_head = vb->defer_tail = NULL;
	while (r) {
		struct blk_req *next = r->next; /* done() may reuse r */
		vblk_finish(vb, r);
		r = next;
	}
	if (vb->dead)
		printf("%s: device broken: %s; its reset did not complete within 1 s: %u requests stay with it, "
		       "never completed, their buffers never reused; new requests fail\n",
		       vb->bd.name, why, vb->bd.inflight);
}

static void vblk_complete(struct vblk *vb, struct vblk_queue *q, struct vblk_tok *t)
{
	unsigned head = (unsigned)(t - q->tok);
	struct blk_req *req = t->req;
	t->req = NULL;
	switch (q->dma[head].status) {
	case VIRTIO_BLK_S_OK:
		vblk_part_done(vb, req, 0);
		return;
	case VIRTIO_BLK_S_IOERR:
		vblk_part_done(vb, req, -EIO);
		return;
	case VIRTIO_BLK_S_UNSUPP:
		vblk_part_done(vb, req, -EOPNOTSUPP);
		return;
	default:
		vblk_part_done(vb, req, -ENODEV);
		vblk_break(vb, "status byte neither OK, IOERR nor UNSUPP");
		return;
	}
}

/* ---- submission ---- */

/* A request without segments that one data descriptor takes whole, none of it issued yet. */
static bool vblk_is_simple(const struct vblk *vb, const struct blk_req *req)
{
	return (req->op == BLK_OP_READ || req->op == BLK_OP_WRITE) && req->len <= vb->seg_bytes &&
	       req->drv[VBLK_ISSUED] == 0;
}

/* A read or write that fits one data descriptor, whole: the common case, without vblk_issue()'s loop. */
static bool vblk_issue_simple(struct vblk *vb, struct vblk_queue *q, struct blk_req *req, uint64_t now)
{
	int head = virtq_peek_head(&q->vq);
	if (head < 0)
		return false;
	struct vblk_dma *s = &q->dma[head];
	bool read = req->op == BLK_OP_READ;
	s->hdr.type = read ? VIRTIO_BLK_T_IN : VIRTIO_BLK_T_OUT;
	s->hdr.reserved = 0;
	s->hdr.sector = req->sector;
	s->status = 0xff; /* a device that completes without writing the status is caught */
	struct virtq_buf hdr = {vblk_addr(&s->hdr), sizeof(s->hdr)};
	struct virtq_buf data = {vblk_addr(req->buf), req->len};
	struct virtq_buf status = {vblk_addr(&s->status), 1};
	q->tok[head].req = req;
	q->tok[head].tsc = now;
	if (virtq_add3(&q->vq, &hdr, &data, read, &status, &q->tok[head]) < 0) {
		q->tok[head].req = NULL;
		return false;
	}
	q->parts++;
	vb->batch = true;
	req->drv[VBLK_PARTS] = 1;
	req->drv[VBLK_ISSUED] = req->len;
	return true;
}

/* The header and status byte of the part whose chain starts at head. */
static struct vblk_dma *vblk_part_dma(struct vblk_queue *q, int head, uint32_t type, uint64_t sector)
{
	struct vblk_dma *s = &q->dma[head];
	s->hdr.type = type;
	s->hdr.reserved = 0;
	s->hdr.sector = sector;
	s->status = 0xff; /* a device that completes without writing the status is caught */
	return s;
}

/* Put the part b[0 .. nout + nin) on q's ring as head's chain; false when it does not go now. */
static bool vblk_add_part(struct vblk *vb, struct vblk_queue *q, int head, struct blk_req *req,
			  const struct virtq_buf *b, unsigned nout, unsigned nin, uint64_t now)
{
	q->tok[head].req = req;
	q->tok[head].tsc = now;
	if (virtq_add(&q->vq, b, nout, nin, &q->tok[head]) < 0) {
		q->tok[head].req = NULL;
		return false; /* -ENOSPC: no room for a direct chain yet; -ENODEV: broken */
	}
	q->parts++;
	vb->batch = true;
	req->drv[VBLK_PARTS]++;
	return true;
}

/*
 * A scatter-gather read or write that goes out whole as one device request
 * (few enough segments, none longer than a descriptor takes, room on the
 * ring): the fsync'd write's record sector and data block. false when it
 * does not fit so; vblk_issue_parts() then splits it.
 */
static bool vblk_issue_sg_whole(struct vblk *vb, struct vblk_queue *q, struct blk_req *req, uint64_t now)
{
	uint32_t n = req->nsegs;
	if (n > vb->max_segs || req->len > vb->max_part || virtq_cost(&q->vq, n + 2) > q->vq.num_free)
		return false;
	struct virtq_buf b[VBLK_MAX_SEGS + 2];
	for (uint32_t i = 0; i < n; i++) {
		const struct blk_seg *g = &req->segs[i];
		if (g->len > vb->seg_bytes)
			return false;
		b[1 + i] = (struct virtq_buf){vblk_addr(g->buf), g->len};
	}
	int head = virtq_peek_head(&q->vq);
	bool read = req->op == BLK_OP_READ;
	struct vblk_dma *s = vblk_part_dma(q, head, read ? VIRTIO_BLK_T_IN : VIRTIO_BLK_T_OUT, req->sector);
	b[0] = (struct virtq_buf){vblk_addr(&s->hdr), sizeof(s->hdr)};
	b[1 + n] = (struct virtq_buf){vblk_addr(&s->status), 1};
	if (!vblk_add_part(vb, q, head, req, b, read ? 1 : 1 + n, read ? n + 1 : 1, now))
		return false;
	req->drv[VBLK_ISSUED] = req->len;
	return true;
}

/*
 * The data descriptors of a read or write's next part, from segment *seg,
 * offset *off: at most max_descs, each at most seg_bytes, together at most
 * max_part bytes and whole logical blocks (a segment is split between two
 * parts where a block straddles the end). Returns the part's bytes (0: not
 * one whole block fits in max_descs), its descriptors in d[0 .. *ndesc), and
 * moves *seg, *off past it.
 */
static uint32_t vblk_data_part(const struct vblk *vb, const struct blk_seg *segs, uint32_t nsegs,
			       uint32_t *seg, uint32_t *off, unsigned max_descs, struct virtq_buf *d,
			       unsigned *ndesc)
{
	uint32_t total = 0, i = *seg, o = *off;
	unsigned n = 0;
	while (n < max_descs && i < nsegs && total < vb->max_part) {
		uint32_t l = MIN(MIN(segs[i].len - o, vb->seg_bytes), vb->max_part - total);
		d[n++] = (struct virtq_buf){vblk_addr(segs[i].buf) + o, l};
		total += l;
		o += l;
		if (o == segs[i].len) {
			i++;
			o = 0;
		}
	}
	/* Give back what follows the last whole block, from the end (every length is a multiple of 512). */
	uint32_t excess = total & (vb->bd.lbs - 1);
	total -= excess;
	while (excess) {
		if (o == 0)
			o = segs[--i].len; /* the last descriptor ended the segment before */
		struct virtq_buf *last = &d[n - 1];
		uint32_t back = MIN(excess, last->len);
		last->len -= back;
		o -= back;
		excess -= back;
		if (!last->len)
			n--;
	}
	*seg = i;
	*off = o;
	*ndesc = n;
	return total;
}

/*
 * A device whose requests take fewer descriptors than a logical block has
 * 512-byte pieces (vb->frag_check) cannot take every segment list: true when
 * each block of req's fits one device request. Whole blocks inside one
 * segment always do (vblk_limits: max_part holds a block).
 */
static __attribute__((cold, noinline)) bool vblk_segs_fit(const struct vblk *vb, const struct blk_req *req)
{
	uint32_t lbs = vb->bd.lbs, in_block = 0;
	unsigned descs = 0;
	for (uint32_t i = 0; i < req->nsegs; i++) {
		uint32_t left = req->segs[i].len;
		if (in_block == 0)
			left &= lbs - 1; /* skip the whole blocks */
		while (left) {
			uint32_t piece = MIN(left, lbs - in_block);
			descs += (piece + vb->seg_bytes - 1) / vb->seg_bytes;
			if (descs > vb->max_segs)
				return false;
			in_block += piece;
			left -= piece;
			if (in_block == lbs) {
				in_block = descs = 0;
				left &= lbs - 1;
			}
		}
	}
	return true;
}

/* vblk_issue() for everything else: parts, segments, discard, flush, ID. */
static bool vblk_issue_parts(struct vblk *vb, struct vblk_queue *q, struct blk_req *req, uint64_t now)
{
	struct virtq *vq = &q->vq;
	if (req->drv[VBLK_ISSUED] == 0) {
		if (req->nsegs && vblk_issue_sg_whole(vb, q, req, now))
			return true;
		req->drv[VBLK_SEG] = 0;
		req->drv[VBLK_SEG_OFF] = 0;
	}
	for (;;) {
		int head = virtq_peek_head(vq);
		if (head < 0)
			return false;
		struct vblk_dma *s = vblk_part_dma(q, head, 0, 0);
		struct virtq_buf b[VBLK_MAX_SEGS + 2];
		uint32_t off = req->drv[VBLK_ISSUED], part = req->len - off;
		unsigned nout = 1, nin = 0;
		b[0] = (struct virtq_buf){vblk_addr(&s->hdr), sizeof(s->hdr)};
		switch (req->op) {
		case BLK_OP_READ:
		case BLK_OP_WRITE: {
			struct blk_seg one;
			uint32_t nsegs, seg = req->drv[VBLK_SEG], seg_off = req->drv[VBLK_SEG_OFF];
			const struct blk_seg *segs = blk_req_data(req, &one, &nsegs);
			unsigned room = vb->max_segs, nd;
			if (virtq_cost(vq, room + 2) > vq->num_free) {
				/* Direct descriptors: send what fits now, the rest later. */
				if (vq->num_free < 3)
					return false;
				room = MIN(room, vq->num_free - 2u);
			}
			part = vblk_data_part(vb, segs, nsegs, &seg, &seg_off, room, &b[1], &nd);
			if (!part)
				return false; /* not a whole block in the free descriptors: wait for more */
			req->drv[VBLK_SEG] = seg;
			req->drv[VBLK_SEG_OFF] = seg_off;
			s->hdr.sector = req->sector + (off >> BLK_SECTOR_SHIFT);
			if (req->op == BLK_OP_WRITE) {
				s->hdr.type = VIRTIO_BLK_T_OUT;
				nout += nd;
			} else {
				s->hdr.type = VIRTIO_BLK_T_IN;
				nin = nd;
			}
			break;
		}
		case BLK_OP_FLUSH:
			s->hdr.type = VIRTIO_BLK_T_FLUSH;
			break;
		case BLK_OP_GET_ID:
			s->hdr.type = VIRTIO_BLK_T_GET_ID;
			b[1] = (struct virtq_buf){vblk_addr(req->buf), MIN(req->len, VIRTIO_BLK_ID_BYTES)};
			nin = 1;
			break;
		case BLK_OP_DISCARD:
		case BLK_OP_WRITE_ZEROES: {
			bool dis = req->op == BLK_OP_DISCARD;
			uint64_t cap = (uint64_t)(dis ? vb->max_discard : vb->max_wz) << BLK_SECTOR_SHIFT;
			part = (uint32_t)ALIGN_DOWN(MIN((uint64_t)part, cap), (uint64_t)vb->bd.lbs);
			s->hdr.type = dis ? VIRTIO_BLK_T_DISCARD : VIRTIO_BLK_T_WRITE_ZEROES;
			s->dwz.sector = req->sector + (off >> BLK_SECTOR_SHIFT);
			s->dwz.num_sectors = part >> BLK_SECTOR_SHIFT;
			s->dwz.flags = 0;
			b[1] = (struct virtq_buf){vblk_addr(&s->dwz), sizeof(s->dwz)};
			nout = 2;
			break;
		}
		default:
			break;
		}
		b[nout + nin] = (struct virtq_buf){vblk_addr(&s->status), 1};
		nin++;
		if (!vblk_add_part(vb, q, head, req, b, nout, nin, now))
			return false;
		req->drv[VBLK_ISSUED] = off + part;
		if (off + part >= req->len)
			return true;
	}
}

/* vblk_issue() of a request without segments. */
static inline bool vblk_issue_buf(struct vblk *vb, struct vblk_queue *q, struct blk_req *req, uint64_t now)
{
	return vblk_is_simple(vb, req) ? vblk_issue_simple(vb, q, req, now) : vblk_issue_parts(vb, q, req, now);
}

/* Put as many parts of req on queue q as fit (now: the TSC); true once every part is out. */
static inline bool vblk_issue(struct vblk *vb, struct vblk_queue *q, struct blk_req *req, uint64_t now)
{
	return req->nsegs ? vblk_issue_parts(vb, q, req, now) : vblk_issue_buf(vb, q, req, now);
}

/* Issue waiting requests, in order, while some queue (the current one first) has room. */
static void vblk_pump(struct vblk *vb)
{
	uint64_t now = vb->q_head ? rdtsc() : 0;
	unsigned full = 0, i = vb->cur;
	while (vb->q_head && !vb->bd.broken && full < vb->nq) {
		if (!vblk_issue(vb, &vb->q[i], vb->q_head, now)) {
			full++; /* this queue is full: the rest of the request goes on the next */
			i = i + 1 == vb->nq ? 0 : i + 1;
			continue;
		}
		vb->q_head = vb->q_head->next;
		if (!vb->q_head)
			vb->q_tail = NULL;
	}
}

static void vblk_enqueue(struct blk_req **head, struct blk_req **tail, struct blk_req *req)
{
	req->next = NULL;
	if (*tail)
		(*tail)->next = req;
	else
		*head = req;
	*tail = req;
}

/*
 * vblk_submit() of a request with segments (sg) or without. Inlined into
 * each caller with sg constant, so the one-buffer copy carries no test of it.
 */
static inline __attribute__((always_inline)) int vblk_submit_common(struct blk_dev *bd,
								    struct blk_req *req, bool sg)
{
	struct vblk *vb = vblk(bd);
	uint64_t flags = irq_save();
	if (bd->broken) {
		irq_restore(flags);
		return -ENODEV;
	}
	req->drv[VBLK_PARTS] = 0;
	req->drv[VBLK_ISSUED] = 0;
	req->submit_tsc = rdtsc();
	if (bd->inflight++ == 0)
		vb->progress_tsc = req->submit_tsc;
	if (req->op == BLK_OP_FLUSH && !(bd->flags & BLK_F_FLUSH)) {
		/* No volatile cache (writethrough): nothing to flush; done at the next drain. */
		vblk_enqueue(&vb->defer_head, &vb->defer_tail, req);
	} else if (vb->q_head || !(sg ? vblk_issue_parts(vb, &vb->q[vb->cur], req, req->submit_tsc)
				      : vblk_issue_buf(vb, &vb->q[vb->cur], req, req->submit_tsc))) {
		/* Behind earlier waiters, or only partly on the ring: the rest goes out later. */
		vblk_enqueue(&vb->q_head, &vb->q_tail, req);
	}
	irq_restore(flags);
	return 0;
}

/* Out of line: its code stays out of the one-buffer path's registers. */
static __attribute__((noinline)) int vblk_submit_sg(struct blk_dev *bd, struct blk_req *req)
{
	struct vblk *vb = vblk(bd);
	/* Refused before any of it reaches the device: a part cannot fail alone. */
	if (vb->frag_check && !vblk_segs_fit(vb, req))
		return -EINVAL;
	return vblk_submit_common(bd, req, true);
}

static int vblk_submit(struct blk_dev *bd, struct blk_req *req)
{
	if (unlikely(req->nsegs)) /* the one-buffer path tests nothing else for segments */
		return vblk_submit_sg(bd, req);
	return vblk_submit_common(bd, req, false);
}

/* Notify every queue that got requests and wants to hear of them; the next batch goes to the next queue. */
static void vblk_kick_masked(struct vblk *vb)
{
	if (!vb->batch) /* nothing went on any ring since the last kick */
		return;
	for (unsigned i = 0; i < vb->nq; i++) {
		if (virtq_kick_prepare(&vb->q[i].vq)) {
			vb->vd->ops->notify(vb->vd, i);
			vb->bd.stats.kicks++;
		}
	}
	if (vb->nq > 1)
		vb->cur = vb->cur + 1 == vb->nq ? 0 : vb->cur + 1;
	vb->batch = false;
}

static void vblk_kick(struct blk_dev *bd)
{
	uint64_t flags = irq_save();
	vblk_kick_masked(vblk(bd));
	irq_restore(flags);
}

/* Complete what queue q finished, refill, re-arm (false once the device is broken). */
static bool vblk_drain_queue(struct vblk *vb, struct vblk_queue *q)
{
	struct virtq *vq = &q->vq;
	for (;;) {
		virtq_disable_cb(vq);
		struct vblk_tok *t;
		uint32_t len;
		vb->reading_used = true;
		while ((t = virtq_get(vq, &len))) {
			vb->progress_tsc = rdtsc();
			vblk_complete(vb, q, t);
		}
		vb->reading_used = false;
		if (vq->broken) {
			vblk_break(vb, vq->why);
			return false;
		}
		while (vb->defer_head) {
			struct blk_req *r = vb->defer_head;
			vb->defer_head = r->next;
			if (!vb->defer_head)
				vb->defer_tail = NULL;
			vblk_finish(vb, r);
		}
		vblk_pump(vb);
		/*
		 * Re-arm, then re-check: nothing may land between the last get and
		 * the sleep. A polling waiter leaves the interrupt off.
		 */
		if (!vb->rearm || !virtq_enable_cb(vq))
			return !vb->bd.broken;
	}
}

/* With interrupts masked: drain queue `only`, or every queue (VBLK_ALL_QUEUES), then kick. */
#define VBLK_ALL_QUEUES (~0u)
static void vblk_drain(struct vblk *vb, unsigned only)
{
	if (vb->draining) /* a done() callback that ended up here again */
		return;
	vb->draining = true;
	bool ok = true;
	for (unsigned i = 0; i < vb->nq && ok; i++)
		if (only == VBLK_ALL_QUEUES || only == i)
			ok = vblk_drain_queue(vb, &vb->q[i]);
	vb->armed = vb->rearm;
	if (ok && !vb->bd.broken)
		vblk_kick_masked(vb);
	vb->draining = false;
}

static void vblk_queue_irq(void *ctx, unsigned queue)
{
	struct vblk *vb = ctx;
	vb->bd.stats.irqs++;
	vb->silent_wakeups = 0;
	vblk_drain(vb, queue < vb->nq ? queue : VBLK_ALL_QUEUES); /* VIRTIO_QUEUE_ANY: all */
}

static bool vblk_any_pending(const struct vblk *vb)
{
	for (unsigned i = 0; i < vb->nq; i++)
		if (virtq_pending(&vb->q[i].vq))
			return true;
	return false;
}

#define VBLK_MAX_CAPACITY (1ull << 54) /* sectors: a byte offset stays below 2^63 */

/* The capacity the device reports (*raw) and the one used: whole logical blocks, at most VBLK_MAX_CAPACITY. */
static int vblk_read_capacity(struct vblk *vb, uint64_t *cap, uint64_t *raw)
{
	uint64_t c;
	int err = vblk_config_read(vb, offsetof(struct virtio_blk_config, capacity), &c, sizeof(c));
	if (err)
		return err;
	*raw = c;
	c = ALIGN_DOWN(c, (uint64_t)(vb->bd.lbs >> BLK_SECTOR_SHIFT));
	*cap = MIN(c, VBLK_MAX_CAPACITY);
	return 0;
}

/* A volatile write cache: without CONFIG_WCE, FLUSH offered says so (as Linux takes it); with it, writeback. */
static bool vblk_write_back(const struct vblk *vb)
{
	return virtio_has(vb->vd, VIRTIO_BLK_F_FLUSH) &&
	       (!virtio_has(vb->vd, VIRTIO_BLK_F_CONFIG_WCE) || vb->cfg.writeback);
}

/* The cache mode may have changed (CONFIG_WCE: the host or another driver toggled it). */
static void vblk_config_cache(struct vblk *vb)
{
	uint8_t wb;
	if (!virtio_has(vb->vd, VIRTIO_BLK_F_CONFIG_WCE) ||
	    vblk_config_read(vb, offsetof(struct virtio_blk_config, writeback), &wb, sizeof(wb)))
		return;
	bool was = vb->cfg.writeback != 0;
	vb->cfg.writeback = wb;
	if (was == (wb != 0))
		return;
	printf("%s: write cache now %s\n", vb->bd.name, wb ? "write-back" : "writethrough");
	/*
	 * Write-back: FLUSH is needed from now on. Back to writethrough,
	 * BLK_F_FLUSH stays: what the cache took before the switch may still
	 * be volatile, and a flush costs a writethrough device nothing.
	 */
	if (vblk_write_back(vb))
		vb->bd.flags |= BLK_F_FLUSH;
}

static void vblk_config_irq(void *ctx)
{
	struct vblk *vb = ctx;
	if (vb->bd.broken)
		return;
	if (vb->vd->ops->get_status(vb->vd) & VIRTIO_STATUS_DEVICE_NEEDS_RESET) {
		vblk_break(vb, "device needs reset");
		return;
	}
	vblk_config_cache(vb);
	uint64_t cap, raw;
	if (vblk_read_capacity(vb, &cap, &raw))
		return;
	if (raw > VBLK_MAX_CAPACITY) {
		/* No disk is that large: the device is not telling the truth (as at attach). */
		vblk_break(vb, "capacity changed to more than 2^54 sectors: out of range");
		return;
	}
	if (cap != vb->bd.capacity) {
		printf("%s: capacity changed from %llu to %llu sectors (%llu MiB)\n", vb->bd.name,
		       (unsigned long long)vb->bd.capacity, (unsigned long long)cap,
		       (unsigned long long)(cap >> 11));
		vb->bd.capacity = cap;
	}
}

static bool vblk_pending(void *ctx)
{
	struct vblk *vb = ctx;
	return vb->completions != vb->wait_mark || vb->bd.broken || vb->defer_head ||
	       vblk_any_pending(vb);
}

static void vblk_timer_irq(void *ctx)
{
	/* Only wakes the CPU, so a waiting watchdog looks at the clock. */
}

/*
 * Why the device must be declared dead, or NULL: no completion at all for
 * the timeout with requests outstanding, or (looked at twice a second) one
 * request on the ring that long while others complete.
 */
static const char *vblk_watchdog(struct vblk *vb, uint64_t now)
{
	/*
	 * An interrupt between the caller's rdtsc and here may have completed and
	 * resubmitted requests: stamps newer than `now` are not late (and their
	 * unsigned difference would wrap into a huge age).
	 */
	if (vb->progress_tsc < now && now - vb->progress_tsc > vb->timeout_tsc)
		return "watchdog: the device stopped answering";
	if (now < vb->scan_at)
		return NULL;
	vb->scan_at = now + ns_to_tsc(500 * 1000 * 1000ull);
	for (unsigned k = 0; k < vb->nq; k++) {
		const struct vblk_queue *q = &vb->q[k];
		for (uint32_t i = 0; i < q->vq.size; i++)
			if (q->tok[i].req && q->tok[i].tsc < now && now - q->tok[i].tsc > vb->timeout_tsc)
				return "watchdog: a request has been on the ring too long";
	}
	return NULL;
}

/*
 * bd->wait_mode: IRQ sleeps until the completion interrupt; POLL spins on
 * the used ring with the interrupt left off (it stays off until a sleeping
 * wait re-arms it); HYBRID spins for an adaptive interval, then re-arms and
 * sleeps. Without queue interrupts every mode polls.
 *
 * The hybrid interval: every wait, whatever its mode, measures how long it
 * took until a completion arrived (submission to completion at QD1, the gap
 * between completions at depth), kept as an average (EWMA, weight 1/8).
 * Spinning pays when the completion comes within about that time: spin 1.5x
 * the average (at least VBLK_HYBRID_MIN_NS). When waits average more than
 * VBLK_HYBRID_MAX_NS the device is slow (a file without an iothread at
 * depth 1, throttling): the interrupt's cost is small beside the wait, so
 * spin only the minimum and sleep. Measuring every wait lets the interval
 * follow the device both ways.
 */
static uint64_t vblk_hybrid_spin(const struct vblk *vb)
{
	uint64_t lo = ns_to_tsc(VBLK_HYBRID_MIN_NS), hi = ns_to_tsc(VBLK_HYBRID_MAX_NS);
	uint64_t avg = vb->wait_avg;
	if (avg > hi)
		return lo;
	return MAX(avg + avg / 2, lo);
}

static int vblk_wait(struct blk_dev *bd)
{
	struct vblk *vb = vblk(bd);
	uint64_t mark = vb->completions;
	uint8_t mode = vb->poll ? BLK_WAIT_POLL : bd->wait_mode;
	uint64_t start = rdtsc();
	uint64_t spin_end = start + (mode == BLK_WAIT_HYBRID ? vblk_hybrid_spin(vb) : 0);
	bool woke = false;
	for (;;) {
		bool sleep = mode == BLK_WAIT_IRQ || (mode == BLK_WAIT_HYBRID && rdtsc() >= spin_end);
		vb->rearm = sleep;
		uint64_t flags = irq_save();
		/*
		 * Woken (by the watchdog's timer: the device's own interrupt would
		 * have drained already) with interrupts armed and completions
		 * waiting: their interrupt was not sent. Once can be a race with
		 * one just posted; three wake-ups in a row without any interrupt
		 * from the device in between is a device that does not send them
		 * (2.7.7, 2.7.10): said, not waited out a second at a time.
		 */
		if (woke && sleep && vb->armed && vb->completions == mark && vblk_any_pending(vb) &&
		    ++vb->silent_wakeups >= 3) {
			vblk_break(vb, "completions without an interrupt: the device does not send them");
			irq_restore(flags);
			continue;
		}
		/*
		 * Completions the interrupt handler already ran end the wait. A
		 * sleeper whose interrupts are armed and who sees no used entry
		 * leaves the draining to the handler: one drain per wake-up.
		 */
		if (vb->completions == mark &&
		    (!sleep || !vb->armed || vb->defer_head || vblk_any_pending(vb)))
			vblk_drain(vb, VBLK_ALL_QUEUES);
		irq_restore(flags);
		if (vb->completions != mark) {
			uint64_t took = rdtsc() - start;
			vb->wait_avg = vb->wait_avg - vb->wait_avg / 8 + took / 8;
			return 0;
		}
		if (!bd->inflight || vb->dead) /* nothing outstanding can complete */
			return -ENODEV;
		uint64_t now = rdtsc();
		const char *dead = vblk_watchdog(vb, now);
		if (dead) {
			flags = irq_save();
			vblk_break(vb, dead);
			irq_restore(flags);
			continue;
		}
		if (!sleep) {
			/*
			 * Watch used->idx alone for a while before the next drain and
			 * watchdog look. cpu_spin_relax() leaves out `pause` under TCG,
			 * where each one costs QEMU a round of its global lock (cpu.c).
			 */
			for (unsigned spin = 0; spin < 64 && !vblk_any_pending(vb); spin++) {
				if (mode == BLK_WAIT_HYBRID && (spin & 7) == 7 && rdtsc() >= spin_end)
					break; /* the hybrid interval is over: drain, re-arm, sleep */
				cpu_spin_relax();
			}
			continue;
		}
		/* A wake-up within about a second, so the watchdog runs even if nothing answers. */
		if (vb->timer_vector > 0 && now >= vb->timer_until) {
			lapic_timer_oneshot_ns(vb->timer_vector, VBLK_TIMER_NS);
			vb->timer_until = now + ns_to_tsc(500 * 1000 * 1000ull);
		}
		vb->wait_mark = mark;
		wait_for_interrupt(vblk_pending, vb);
		woke = true;
	}
}

static const struct blk_dev_ops vblk_ops = {
	.submit = vblk_submit,
	.kick = vblk_kick,
	.wait = vblk_wait,
};

/* ---- attach ---- */

#define VBLK_BIT(b) (1ull << (b))
static const uint64_t vblk_wanted =
	VBLK_BIT(VIRTIO_F_VERSION_1) | VBLK_BIT(VIRTIO_BLK_F_SIZE_MAX) | VBLK_BIT(VIRTIO_BLK_F_SEG_MAX) |
	VBLK_BIT(VIRTIO_BLK_F_RO) | VBLK_BIT(VIRTIO_BLK_F_BLK_SIZE) | VBLK_BIT(VIRTIO_BLK_F_FLUSH) |
	VBLK_BIT(VIRTIO_BLK_F_TOPOLOGY) | VBLK_BIT(VIRTIO_BLK_F_CONFIG_WCE) |
	VBLK_BIT(VIRTIO_BLK_F_DISCARD) | VBLK_BIT(VIRTIO_BLK_F_WRITE_ZEROES) |
	VBLK_BIT(VIRTIO_F_INDIRECT_DESC) | VBLK_BIT(VIRTIO_F_EVENT_IDX) |
	VBLK_BIT(VIRTIO_F_RING_PACKED) | VBLK_BIT(VIRTIO_F_IN_ORDER) | VBLK_BIT(VIRTIO_BLK_F_MQ);

static const char *vblk_feature_name(unsigned bit)
{
	switch (bit) {
	case VIRTIO_BLK_F_SIZE_MAX: return "SIZE_MAX";
	case VIRTIO_BLK_F_SEG_MAX: return "SEG_MAX";
	case VIRTIO_BLK_F_GEOMETRY: return "GEOMETRY";
	case VIRTIO_BLK_F_RO: return "RO";
	case VIRTIO_BLK_F_BLK_SIZE: return "BLK_SIZE";
	case VIRTIO_BLK_F_FLUSH: return "FLUSH";
	case VIRTIO_BLK_F_TOPOLOGY: return "TOPOLOGY";
	case VIRTIO_BLK_F_CONFIG_WCE: return "CONFIG_WCE";
	case VIRTIO_BLK_F_MQ: return "MQ";
	case VIRTIO_BLK_F_DISCARD: return "DISCARD";
	case VIRTIO_BLK_F_WRITE_ZEROES: return "WRITE_ZEROES";
	default: return NULL;
	}
}

static bool vblk_pow2(uint64_t x)
{
	return x && !(x & (x - 1));
}

/*
 * A configuration value the driver does not take as it is (out of range, or
 * one that would make no request possible): the device still works with
 * what the driver uses instead, as Linux goes on with a clamped value. Said
 * once, at attach.
 */
static void vblk_config_note(const struct vblk *vb, const char *field, uint64_t value, const char *instead)
{
	printf("%s: device configuration %s = %llu: %s\n", vb->bd.name, field, (unsigned long long)value,
	       instead);
}

#define VBLK_MAX_LBS 65536       /* blk_size the driver takes as its logical block */
#define VBLK_MAX_PBS (1u << 20)  /* physical block size believed (topology) */

/*
 * Limits from configuration. Every value is the device's (untrusted): out
 * of range, it is clamped or ignored and said so (vblk_config_note). NULL,
 * or why the device cannot take a single request.
 */
static const char *vblk_limits(struct vblk *vb, uint16_t qsize)
{
	struct virtio_blk_config *c = &vb->cfg;
	struct virtio_dev *vd = vb->vd;
	vb->bd.lbs = BLK_SECTOR_SIZE;
	if (virtio_has(vd, VIRTIO_BLK_F_BLK_SIZE)) {
		/* 5.2.5: an optimal size; the protocol's unit stays 512 bytes, which every device takes. */
		if (!vblk_pow2(c->blk_size) || c->blk_size < BLK_SECTOR_SIZE || c->blk_size > VBLK_MAX_LBS)
			vblk_config_note(vb, "blk_size", c->blk_size,
					 "not a power of two in 512..65536, ignored: 512-byte blocks");
		else
			vb->bd.lbs = c->blk_size;
	}
	vb->bd.pbs = vb->bd.lbs;
	uint8_t exp = c->topology.physical_block_exp;
	if (virtio_has(vd, VIRTIO_BLK_F_TOPOLOGY) && exp) {
		if (exp > 20 || ((uint64_t)vb->bd.lbs << exp) > VBLK_MAX_PBS)
			vblk_config_note(vb, "topology.physical_block_exp", exp,
					 "a physical block over 1 MiB, ignored: physical = logical block");
		else
			vb->bd.pbs = vb->bd.lbs << exp;
	}
	vb->max_segs = VBLK_MAX_SEGS;
	if (virtio_has(vd, VIRTIO_BLK_F_SEG_MAX)) {
		uint32_t seg_max = c->seg_max;
		if (seg_max == 0) {
			vblk_config_note(vb, "seg_max", 0, "no data segment at all: one per request");
			seg_max = 1;
		}
		vb->max_segs = MIN(vb->max_segs, seg_max);
	}
	/* A direct chain (header, data..., status) must fit in the ring. */
	if (qsize < 3)
		return "queue smaller than one request";
	vb->max_segs = MIN(vb->max_segs, (uint32_t)qsize - 2);
	vb->seg_bytes = VBLK_SEG_CAP;
	if (virtio_has(vd, VIRTIO_BLK_F_SIZE_MAX)) {
		if (c->size_max < BLK_SECTOR_SIZE) {
			/* Data comes in whole sectors: one sector is the smallest segment there is. */
			vblk_config_note(vb, "size_max", c->size_max, "below one sector: 512-byte segments");
			vb->seg_bytes = BLK_SECTOR_SIZE;
		} else {
			vb->seg_bytes = MIN(vb->seg_bytes, ALIGN_DOWN(c->size_max, BLK_SECTOR_SIZE));
		}
	}
	uint64_t part = MIN((uint64_t)vb->seg_bytes * vb->max_segs, (uint64_t)VBLK_PART_CAP);
	vb->max_part = (uint32_t)ALIGN_DOWN(part, (uint64_t)vb->bd.lbs);
	if (vb->max_part < vb->bd.lbs)
		return "seg_max * size_max smaller than one block";
	vb->frag_check = vb->bd.lbs / BLK_SECTOR_SIZE > vb->max_segs;
	/* 0 states no limit (Linux: UINT_MAX); below one block, the operation cannot be sent at all. */
	vb->max_discard = vb->max_wz = VBLK_DWZ_CAP;
	if (virtio_has(vd, VIRTIO_BLK_F_DISCARD) && c->max_discard_sectors)
		vb->max_discard = MIN(vb->max_discard, c->max_discard_sectors);
	if (virtio_has(vd, VIRTIO_BLK_F_WRITE_ZEROES) && c->max_write_zeroes_sectors)
		vb->max_wz = MIN(vb->max_wz, c->max_write_zeroes_sectors);
	if ((uint64_t)vb->max_discard << BLK_SECTOR_SHIFT < vb->bd.lbs) {
		vblk_config_note(vb, "max_discard_sectors", vb->max_discard, "below one block: discard not used");
		vb->max_discard = 0;
	}
	if ((uint64_t)vb->max_wz << BLK_SECTOR_SHIFT < vb->bd.lbs) {
		vblk_config_note(vb, "max_write_zeroes_sectors", vb->max_wz,
				 "below one block: write-zeroes not used");
		vb->max_wz = 0;
	}
	if (virtio_has(vd, VIRTIO_BLK_F_CONFIG_WCE) && c->writeback > 1)
		vblk_config_note(vb, "writeback", c->writeback, "neither 0 nor 1: taken as write-back");
	return NULL;
}

/*
 * Request queues to set up: num_queues with VIRTIO_BLK_F_MQ (0 means 1),
 * at most VBLK_MAX_QUEUES and blk.queues, and only queues that exist and are
 * at least qsize long.
 */
static unsigned vblk_num_queues(struct vblk *vb, uint16_t qsize)
{
	struct virtio_dev *vd = vb->vd;
	uint64_t n = 1, lim = VBLK_MAX_QUEUES;
	if (virtio_has(vd, VIRTIO_BLK_F_MQ)) {
		if (vb->cfg.num_queues == 0)
			vblk_config_note(vb, "num_queues", 0, "no request queue: one");
		n = MAX(MIN((uint64_t)vb->cfg.num_queues, (uint64_t)VBLK_MAX_QUEUES), 1);
	}
	const char *v = cmdline_get("blk.queues");
	if (v && cmdline_parse_uint(v, &lim) == 0 && lim > 0)
		n = MIN(n, lim);
	unsigned i = 1;
	while (i < n && vd->ops->queue_max(vd, i) >= qsize)
		i++;
	if (i < n)
		printf("%s: device configuration num_queues = %u: the transport has %u as long as the first, "
		       "using those\n",
		       vb->bd.name, vb->cfg.num_queues, i);
	return i;
}

static void *vblk_frames(size_t bytes)
{
	return (void *)(uintptr_t)frames_alloc((bytes + PAGE_SIZE - 1) / PAGE_SIZE, PAGE_SIZE);
}

static void vblk_frames_free(void *p, size_t bytes)
{
	if (p)
		frames_free((uintptr_t)p, (bytes + PAGE_SIZE - 1) / PAGE_SIZE);
}

int vblk_attach(struct virtio_dev *vd, const char *name, struct blk_dev **out)
{
	const char *why = NULL;
	int err;
	bool irqs = false; /* interrupts set up: released on failure */
	struct vblk *vb = kzalloc(sizeof(*vb));
	if (!vb)
		return -ENOMEM;
	vb->vd = vd;
	for (unsigned i = 0; i + 1 < sizeof(vb->bd.name) && name[i]; i++)
		vb->bd.name[i] = name[i];
	vb->poll = cmdline_flag("blk.poll", false);
	uint64_t ms = VBLK_TIMEOUT_MS;
	const char *t = cmdline_get("blk.timeout_ms");
	if (t && (cmdline_parse_uint(t, &ms) || ms == 0))
		ms = VBLK_TIMEOUT_MS;
	vb->timeout_tsc = ns_to_tsc(ms * 1000000ull);
	vb->wait_avg = ns_to_tsc(VBLK_HYBRID_START_NS);

	err = virtio_negotiate(vd, name, vblk_wanted);
	if (err)
		goto out_free;
	err = vblk_config_read(vb, 0, &vb->cfg, sizeof(vb->cfg));
	if (err) {
		why = "configuration never stable (generation kept changing)";
		goto out_fail;
	}
	uint16_t qsize = vd->ops->queue_max(vd, 0);
	if (qsize == 0) {
		why = "no request queue";
		err = -ENODEV;
		goto out_fail;
	}
	while (!vblk_pow2(qsize)) /* split rings are powers of two (2.7); we may use fewer */
		qsize &= (uint16_t)(qsize - 1);
	qsize = MIN(qsize, (uint16_t)VIRTQ_MAX_SIZE);
	if ((why = vblk_limits(vb, qsize))) {
		err = -EINVAL;
		goto out_fail;
	}
	uint64_t cap, raw;
	if (vblk_read_capacity(vb, &cap, &raw)) {
		why = "capacity never stable";
		err = -EIO;
		goto out_fail;
	}
	if (raw > VBLK_MAX_CAPACITY) {
		/* 8 EiB: no disk is that large, so nothing it says can be trusted. */
		why = "capacity beyond 2^54 sectors: out of range";
		err = -EINVAL;
		goto out_fail;
	}
	if (cap != raw)
		vblk_config_note(vb, "capacity", raw, "not whole blocks: rounded down");
	vb->bd.capacity = cap;

	uint16_t ind_max = 0;
	if (virtio_has(vd, VIRTIO_F_INDIRECT_DESC))
		ind_max = (uint16_t)MIN(vb->max_segs + 2, (uint32_t)VIRTQ_IND_MAX);
	unsigned qflags = vd->ring_flags; /* what the transport needs (legacy layout) */
	if (virtio_has(vd, VIRTIO_F_EVENT_IDX))
		qflags |= VIRTQ_EVENT_IDX;
	if (virtio_has(vd, VIRTIO_F_RING_PACKED))
		qflags |= VIRTQ_PACKED;
	if (virtio_has(vd, VIRTIO_F_IN_ORDER))
		qflags |= VIRTQ_IN_ORDER;
	vb->nq = vblk_num_queues(vb, qsize);
	size_t ring_bytes = virtq_bytes(qsize, ind_max, qflags), priv_bytes = virtq_priv_bytes(qsize);
	size_t dma_bytes = (size_t)qsize * sizeof(struct vblk_dma), tok_bytes = (size_t)qsize * sizeof(struct vblk_tok);
	for (unsigned i = 0; i < vb->nq; i++) {
		struct vblk_queue *q = &vb->q[i];
		q->ring = vblk_frames(ring_bytes);
		q->priv = vblk_frames(priv_bytes);
		q->dma = vblk_frames(dma_bytes);
		q->tok = vblk_frames(tok_bytes);
		if (!q->ring || !q->priv || !q->dma || !q->tok) {
			why = "out of memory for the queues";
			err = -ENOMEM;
		} else if ((err = virtq_setup(&q->vq, qsize, q->ring, q->priv, ind_max, qflags))) {
			why = "queue layout rejected";
		}
		if (err) {
			/* No queue has been shown to the device yet: all of it can go back. */
			for (unsigned j = 0; j <= i; j++) {
				vblk_frames_free(vb->q[j].ring, ring_bytes);
				vblk_frames_free(vb->q[j].priv, priv_bytes);
				vblk_frames_free(vb->q[j].dma, dma_bytes);
				vblk_frames_free(vb->q[j].tok, tok_bytes);
				vb->q[j].ring = vb->q[j].priv = NULL;
				vb->q[j].dma = NULL;
				vb->q[j].tok = NULL;
			}
			goto out_fail;
		}
	}
	virtio_intr_setup(vd, name, vb->nq, vb->poll, vblk_queue_irq, vblk_config_irq, vb);
	irqs = true;
	vb->rearm = true;
	if (vd->intr_mode == VIRTIO_INTR_POLL) {
		vb->poll = true;
		vb->rearm = false;
	}
	for (unsigned i = 0; i < vb->nq; i++) {
		if (vb->poll)
			virtq_disable_cb(&vb->q[i].vq);
		err = vd->ops->queue_setup(vd, i, &vb->q[i].vq);
		if (err) {
			why = "queue setup refused";
			goto out_fail;
		}
	}
	if (!vb->poll) {
		int v = irq_alloc_vector();
		if (v > 0 && irq_register(v, vblk_timer_irq, vb) == 0)
			vb->timer_vector = v;
	}

	vb->bd.flags = BLK_F_GET_ID | (vb->poll ? BLK_F_POLLED : 0);
	if (virtio_has(vd, VIRTIO_BLK_F_RO))
		vb->bd.flags |= BLK_F_RO;
	if (vblk_write_back(vb))
		vb->bd.flags |= BLK_F_FLUSH;
	if (virtio_has(vd, VIRTIO_BLK_F_DISCARD) && vb->max_discard)
		vb->bd.flags |= BLK_F_DISCARD;
	if (virtio_has(vd, VIRTIO_BLK_F_WRITE_ZEROES) && vb->max_wz)
		vb->bd.flags |= BLK_F_WRITE_ZEROES;
	vb->bd.max_req_bytes = vb->max_part;
	/* Header, data and status: one slot as an indirect table, else three descriptors. */
	vb->bd.max_queued = vb->nq * (ind_max >= 3 ? qsize : qsize / 3u);
	vb->bd.ops = &vblk_ops;
	vb->bd.priv = vb;
	virtio_driver_ok(vd);
	if (vd->ops->get_status(vd) & (VIRTIO_STATUS_DEVICE_NEEDS_RESET | VIRTIO_STATUS_FAILED)) {
		why = "device rejected DRIVER_OK";
		err = -EIO;
		goto out_fail;
	}
	*out = &vb->bd;
	return 0;

out_fail:
	virtio_fail(vd, name, why ? why : "setup failed");
	if (irqs) {
		/* FAILED stops nothing by itself: the device must not reach a vector given to another. */
		virtio_intr_release(vd);
		if (vb->timer_vector > 0)
			irq_free_vector(vb->timer_vector);
	}
out_free:
	/*
	 * The device may have seen the rings: a failed device keeps their
	 * memory. vb itself no handler reaches any more.
	 */
	kfree(vb);
	return err ? err : -EIO;
}

uint64_t vblk_features(const struct blk_dev *bd)
{
	return vblk(bd)->vd->features;
}

uint16_t vblk_queue_size(const struct blk_dev *bd)
{
	return vblk(bd)->q[0].vq.size;
}

unsigned vblk_queue_count(const struct blk_dev *bd)
{
	return vblk(bd)->nq;
}

uint64_t vblk_queue_parts(const struct blk_dev *bd, unsigned q)
{
	return q < vblk(bd)->nq ? vblk(bd)->q[q].parts : 0;
}

const char *vblk_intr_mode(const struct blk_dev *bd)
{
	switch (vblk(bd)->vd->intr_mode) {
	case VIRTIO_INTR_MSIX: return "msix";
	case VIRTIO_INTR_INTX: return "intx";
	default: return "poll";
	}
}

void vblk_describe(const struct blk_dev *bd, char *buf, unsigned len)
{
	const struct vblk *vb = vblk(bd);
	char feat[256];
	virtio_feature_names(vb->vd->features, vblk_feature_name, feat, sizeof(feat));
	uint64_t mib = bd->capacity >> 11;
	const char *cache = vblk_write_back(vb) ? "write-back" : "writethrough";
	snprintf(buf, len,
		 "%s: virtio-blk at %s, %llu sectors (%llu MiB), block %u/%u, %s%s, queue %u%s, %s, "
		 "max request %u KiB, %u queue%s, features %s",
		 bd->name, vb->vd->where, (unsigned long long)bd->capacity, (unsigned long long)mib,
		 bd->lbs, bd->pbs, (bd->flags & BLK_F_RO) ? "read-only, " : "", cache, vb->q[0].vq.size,
		 vb->q[0].vq.ind_max ? " (indirect)" : "", vblk_intr_mode(bd), vb->max_part >> 10, vb->nq,
		 vb->nq > 1 ? "s" : "", feat);
}
