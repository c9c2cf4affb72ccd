/*
 * The block interface: the contract between block devices (virtio-blk in the
 * kernel; RAM, file and crash-simulating devices on the host) and their users
 * (quillfs, the tests, the benchmarks). Freestanding: stdint only, so host
 * programs include it as is.
 *
 * Units: `sector` is always in 512-byte units, whatever the device's logical
 * block size; byte counts and sectors must be multiples of the logical block
 * size (dev->lbs) and buffers aligned to 512 bytes.
 *
 * Scatter-gather: a READ or WRITE may take its data from (or put it into)
 * several pieces of memory, req->segs[0 .. nsegs), in order, instead of one
 * buffer (blk_req_init_sg() helps). Each piece is 512-byte aligned and a
 * non-zero multiple of 512 bytes; only the whole request must be a multiple
 * of dev->lbs, so one logical block may straddle two pieces. len is the
 * pieces' sum; buf is not looked at. At most BLK_MAX_SEGS pieces. Other ops
 * take no segments (nsegs 0). The device may send a request to the medium
 * as several device requests (by its size and segment limits); it still
 * completes once, with the first error.
 *
 * Asynchronous requests:
 *   - The caller fills a struct blk_req (blk_req_init() helps) and calls
 *     blk_submit(). The request then belongs to the device until its done()
 *     callback runs; the caller MUST NOT touch it or its buffers before then
 *     (with segments: nor the segment array, nor any piece's memory).
 *   - blk_submit() never blocks and never allocates. When the device's ring is
 *     full the request waits in the device's software queue, in order.
 *   - blk_submit() returns 0 (done() will be called exactly once, later, never
 *     from inside blk_submit) or a negative error when the request is rejected
 *     before reaching the device (done() is then NOT called):
 *       -EINVAL     bad op, length 0 or not a multiple of the block size,
 *                   misaligned buffer; segments on an op other than READ or
 *                   WRITE, more than BLK_MAX_SEGS of them, one misaligned,
 *                   empty or not a multiple of 512 bytes, or their sum not
 *                   len; (virtio-blk) segments so small that one logical
 *                   block needs more pieces than the device takes at once
 *       -ERANGE     any part beyond the device's capacity
 *       -EROFS      write, discard or write-zeroes on a read-only device
 *       -EOPNOTSUPP op the device did not offer (discard, write-zeroes, id)
 *       -ENODEV     the device is broken (misbehaved or needs a reset)
 *   - Submission batching: the device may defer the notification until
 *     blk_kick(); a caller that submits several requests calls blk_kick()
 *     once after the last. Until then requests may sit unannounced.
 *   - done(req) runs from the completion path (interrupt or poll context in
 *     the kernel: it MUST NOT sleep, but it MAY call blk_submit()). req->status
 *     holds 0 or:
 *       -EIO        the device reported an I/O error
 *       -EOPNOTSUPP the device reported the request unsupported
 *       -ENODEV     the device failed (broken, reset, watchdog); the request
 *                   may or may not have reached the medium
 *   - A device that fails and cannot be stopped (its reset never completes)
 *     may still write into the buffers it holds, so it keeps those requests:
 *     their done() is never called and their memory must never be reused.
 *     ops->wait() then returns -ENODEV while dev->inflight still counts
 *     them, and blk_sync() (blk_read, blk_write, blk_flush) returns -ENODEV
 *     for such a request: when dev->broken and dev->inflight are both set
 *     after it, its buffer is the device's for good.
 *   - Completion order is arbitrary. A completed write is NOT durable until a
 *     FLUSH submitted after its completion has itself completed (virtio 1.2,
 *     5.2.6.2); there is no FUA.
 *
 * Synchronous helpers (blk_read/blk_write/blk_flush) submit, kick and sleep
 * in dev->ops->wait() until their request completes; they return its status.
 */
#ifndef DRIVERS_BLK_BLK_H
#define DRIVERS_BLK_BLK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define BLK_SECTOR_SIZE 512u
#define BLK_SECTOR_SHIFT 9

enum blk_op {
	BLK_OP_READ = 0,
	BLK_OP_WRITE = 1,
	BLK_OP_FLUSH = 2,
	BLK_OP_DISCARD = 3,
	BLK_OP_WRITE_ZEROES = 4,
	BLK_OP_GET_ID = 5, /* reads up to 20 bytes of device serial into buf */
};

struct blk_req;
typedef void (*blk_done_fn)(struct blk_req *req);

/* One piece of a scatter-gather request's data. */
struct blk_seg {
	void *buf;     /* 512-byte aligned (identity-mapped: virtual == physical) */
	uint32_t len;  /* bytes: a multiple of 512, not 0 */
};
#define BLK_MAX_SEGS 256  /* segments per request, at most */

struct blk_req {
	/* Filled by the caller. */
	uint8_t op;          /* enum blk_op */
	uint64_t sector;     /* 512-byte units */
	void *buf;           /* the data when nsegs == 0 (identity-mapped: virtual == physical) */
	uint32_t len;        /* bytes; 0 for FLUSH; with segments, their sum */
	const struct blk_seg *segs; /* nsegs > 0: the data is these pieces, in order; buf unused */
	uint32_t nsegs;
	blk_done_fn done;
	void *ctx;           /* caller's, untouched by the device */
	/* Set by the device before done(). */
	int status;
	/* Device-private from blk_submit() until done(). */
	struct blk_req *next;
	uint64_t submit_tsc;
	uint32_t drv[4];
};

enum {
	BLK_F_RO = 1u << 0,
	BLK_F_FLUSH = 1u << 1,        /* volatile write cache: FLUSH needed for durability */
	BLK_F_DISCARD = 1u << 2,
	BLK_F_WRITE_ZEROES = 1u << 3,
	BLK_F_GET_ID = 1u << 4,
	BLK_F_POLLED = 1u << 5,       /* no completion interrupt: every wait mode polls */
};

struct blk_stats {
	uint64_t reads, writes, flushes, discards, write_zeroes;
	uint64_t read_bytes, write_bytes;
	uint64_t errors;
	uint64_t kicks, irqs, completions;
};

struct blk_dev;

struct blk_dev_ops {
	/* Validated by blk_submit() before this is called; same contract otherwise. */
	int (*submit)(struct blk_dev *dev, struct blk_req *req);
	/* Announce submitted requests to the device (one notification per batch). */
	void (*kick)(struct blk_dev *dev);
	/*
	 * Make progress: sleep (or spin, or run a simulation) until at least one
	 * completion callback has run or the device can make no progress.
	 * Returns 0, or -ENODEV when nothing is outstanding that could complete
	 * (nothing at all, or only what a dead device keeps: see above).
	 */
	int (*wait)(struct blk_dev *dev);
};

/* How ops->wait() waits for completions; a caller may change it between requests. */
enum blk_wait_mode {
	BLK_WAIT_IRQ = 0,    /* sleep in hlt until the completion interrupt */
	BLK_WAIT_POLL = 1,   /* spin on the completion ring, interrupts suppressed */
	BLK_WAIT_HYBRID = 2, /* spin briefly, then arm the interrupt and sleep */
};

struct blk_dev {
	char name[8];          /* "vda", "ram0" */
	uint8_t wait_mode;     /* enum blk_wait_mode */
	uint64_t capacity;     /* in 512-byte sectors */
	uint32_t lbs;          /* logical block size, bytes: a power of two, 512 or more */
	uint32_t pbs;          /* physical block size, bytes */
	uint32_t flags;        /* BLK_F_* */
	uint32_t max_req_bytes; /* largest read/write the device takes in one request */
	uint32_t max_queued;   /* one-buffer reads/writes its rings hold at once (0: no limit); more wait in the driver */
	uint32_t inflight;     /* submitted, not completed */
	bool broken;
	const struct blk_dev_ops *ops;
	void *priv;
	struct blk_stats stats;
};

static inline void blk_req_init(struct blk_req *r, enum blk_op op, uint64_t sector,
				void *buf, uint32_t len, blk_done_fn done, void *ctx)
{
	r->op = (uint8_t)op;
	r->sector = sector;
	r->buf = buf;
	r->len = len;
	r->segs = 0;
	r->nsegs = 0;
	r->done = done;
	r->ctx = ctx;
	r->status = 0;
	r->next = 0;
}

/* A read or write whose data is segs[0..nsegs); len is their sum. */
static inline void blk_req_init_sg(struct blk_req *r, enum blk_op op, uint64_t sector,
				   const struct blk_seg *segs, uint32_t nsegs, blk_done_fn done, void *ctx)
{
	uint64_t len = 0;
	for (uint32_t i = 0; i < nsegs; i++)
		len += segs[i].len;
	/* A sum past 32 bits cannot equal len: blk_check() refuses the request. */
	blk_req_init(r, op, sector, 0, len > UINT32_MAX ? 0 : (uint32_t)len, done, ctx);
	r->segs = segs;
	r->nsegs = nsegs;
}

/* A read or write's data as a segment list: req->segs, or its one buffer put in *one. */
static inline const struct blk_seg *blk_req_data(const struct blk_req *r, struct blk_seg *one,
						 uint32_t *nsegs)
{
	if (r->nsegs) {
		*nsegs = r->nsegs;
		return r->segs;
	}
	one->buf = r->buf;
	one->len = r->len;
	*nsegs = 1;
	return one;
}

/* Check req against dev (see the error list above); 0 when acceptable. */
int blk_check(const struct blk_dev *dev, const struct blk_req *req);
int blk_submit(struct blk_dev *dev, struct blk_req *req);
void blk_kick(struct blk_dev *dev);
int blk_read(struct blk_dev *dev, uint64_t sector, void *buf, uint32_t len);
int blk_write(struct blk_dev *dev, uint64_t sector, const void *buf, uint32_t len);
int blk_flush(struct blk_dev *dev);
/* Submit req, kick and wait for it; returns its status. */
int blk_sync(struct blk_dev *dev, struct blk_req *req);

/* Registry of devices found at boot (kernel), by index or name. */
int blk_register(struct blk_dev *dev);
struct blk_dev *blk_get(const char *name);
struct blk_dev *blk_get_index(unsigned i);
unsigned blk_count(void);
const char *blk_strerror(int err);

#endif
