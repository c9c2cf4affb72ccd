/*
 * In-kernel tests of the block devices found at boot (test=blk and friends).
 * All of them may write: each is explicit_only (never part of test=all), so
 * a disk is only touched when a test is named on the command line, and the
 * writing ones also refuse a disk holding quillfs unless overwrite=1.
 *
 *   blk_pattern   every disk: LBA-stamped pattern (drivers/blk/blkpattern.h,
 *                 pass = disk index + 1) at queue depth 32 with mixed sizes,
 *                 FLUSH, read back and verify; the host checks the image
 *                 afterwards with tools/blkpattern
 *   blk_verify    read back and verify only (read-only disks)
 *   blk_id        GET_ID on every disk, printed as "blk: vdX id 'SERIAL'"
 *   blk_range     bad requests fail at the interface, the last sector works
 *   blk_ro        a read-only disk refuses writes before the device sees them
 *   blk_queue     4096 requests submitted at once (far more than the ring)
 *   blk_big       one request larger than the driver's largest part (split)
 *   blk_sg        scatter-gather: requests whose data is pieces of different
 *                 sizes from different places (record sector + data block,
 *                 pieces that split blocks, a log write of 130 pieces,
 *                 BLK_MAX_SEGS sectors), read back into other pieces
 *   blk_zeroes    WRITE_ZEROES then DISCARD when offered
 *   blk_eio       with an error-injecting backend: failed writes come back
 *                 as -EIO, the others succeed, the device stays usable
 *   blk_watchdog  a device that stops answering is declared dead, nothing hangs
 *   blk_resize    the host grows or shrinks the disk: the config interrupt
 *                 updates capacity; I/O past the old end works (grown) or
 *                 fails cleanly past the new end (shrunk)
 *   blk_needs_reset  an unmappable buffer: QEMU sets DEVICE_NEEDS_RESET, the
 *                 request fails with -ENODEV
 *   blk           blk_id, blk_range, blk_queue, blk_big, blk_sg, blk_zeroes,
 *                 then blk_pattern last (so the image holds the pattern)
 *
 * A test that cannot do its work (a disk too small for it, or no disk that
 * offers what it tests) fails and says why: passing after no I/O proves
 * nothing. Within test=blk, blk_zeroes only reports a disk that offers
 * neither write-zeroes nor discard; test=blk_zeroes fails if none does.
 */
#include "arch/x86_64/arch.h"
#include "drivers/blk/blk.h"
#include "drivers/blk/blkpattern.h"
#include "drivers/blk/virtio_blk.h"
#include "kernel/jobs/jobs.h" /* an in-kernel test: a job, with its consent */
#include "kernel/kernel.h"

#define BLKT_QD 32
#define BLKT_MAX_IO (256u << 10)

struct blkt_io {
	struct blk_req req;
	uint8_t *buf;
	bool busy;
	volatile bool done;
};

struct blkt_run {
	struct blk_dev *bd;
	uint32_t pass;
	bool write;
	uint64_t pos;   /* next sector */
	uint64_t ios, bytes, bad_sectors, io_errors;
	int first_err;
	char what[96];  /* the first failure */
	struct blkt_io io[BLKT_QD];
};

static uint8_t *blkt_mem; /* BLKT_QD * BLKT_MAX_IO, identity-mapped */
static struct blkt_run blkt_run_state;

static uint8_t *blkt_buffers(void)
{
	if (!blkt_mem)
		blkt_mem = (uint8_t *)(uintptr_t)frames_alloc(BLKT_QD * BLKT_MAX_IO / PAGE_SIZE, PAGE_SIZE);
	return blkt_mem;
}

/*
 * A test that cannot do its work on this disk fails, saying why: passing
 * after no I/O at all would prove nothing (a 0-sector disk passed test=blk).
 */
static int blkt_need_sectors(const struct blk_dev *bd, uint64_t sectors, const char *what, char *reason,
			     size_t reason_len)
{
	if (bd->capacity < sectors)
		KTEST_FAIL("%s has %llu sectors, too few for %s (at least %llu): nothing tested", bd->name,
			   (unsigned long long)bd->capacity, what, (unsigned long long)sectors);
	return 0;
}

static void blkt_io_done(struct blk_req *req)
{
	((struct blkt_io *)req->ctx)->done = true;
}

/* Next [*sector, *sector + *n) of the pattern scope at or after r->pos; false at the end. */
static bool blkt_next(struct blkt_run *r, uint64_t *sector, uint32_t *n)
{
	static const uint32_t sizes[] = {8, 128, 256, 16, 512, 64, 8, 32, 24, 200};
	uint64_t cap = r->bd->capacity, pos = r->pos, end;
	uint32_t spb = r->bd->lbs / BLK_SECTOR_SIZE;
	if (pos >= cap)
		return false;
	if (!blkpat_in_scope(pos, cap)) {
		uint64_t next = ALIGN_UP(pos, BLKPAT_STRIDE), tail = cap - BLKPAT_CHUNK;
		pos = MIN(next, tail);
	}
	if (cap <= BLKPAT_FULL_LIMIT || pos + BLKPAT_CHUNK >= cap)
		end = cap;
	else
		end = MIN(ALIGN_DOWN(pos, BLKPAT_STRIDE) + BLKPAT_CHUNK, cap);
	uint64_t len = MIN((uint64_t)sizes[r->ios % ARRAY_SIZE(sizes)], end - pos);
	len = ALIGN_DOWN(len, (uint64_t)spb);
	if (len == 0)
		len = spb;
	*sector = pos;
	*n = (uint32_t)len;
	r->pos = pos + len;
	return true;
}

static void blkt_fail(struct blkt_run *r, int err, const char *fmt, uint64_t a, uint64_t b)
{
	if (!r->what[0]) {
		r->first_err = err;
		snprintf(r->what, sizeof(r->what), fmt, (unsigned long long)a, (unsigned long long)b);
	}
}

static void blkt_reap(struct blkt_run *r, struct blkt_io *io)
{
	io->busy = false;
	if (io->req.status) {
		r->io_errors++;
		blkt_fail(r, io->req.status, "I/O error at sector %llu (%lld)", io->req.sector,
			  (uint64_t)(int64_t)io->req.status);
		return;
	}
	r->bytes += io->req.len;
	if (r->write)
		return;
	for (uint32_t s = 0; s < io->req.len / BLK_SECTOR_SIZE; s++) {
		uint64_t lba = io->req.sector + s;
		enum blkpat_result res = blkpat_check(io->buf + (size_t)s * BLK_SECTOR_SIZE, lba, r->pass);
		if (res != BLKPAT_OK) {
			r->bad_sectors++;
			blkt_fail(r, -EIO, "sector %llu: pattern check %llu", lba, res);
		}
	}
}

/* Write or read-and-verify the pattern over the disk's scope at depth BLKT_QD. */
static int blkt_pattern_run(struct blk_dev *bd, uint32_t pass, bool write, char *reason,
			    size_t reason_len)
{
	struct blkt_run *r = &blkt_run_state;
	uint8_t *mem = blkt_buffers();
	if (!mem)
		KTEST_FAIL("out of memory for buffers");
	if (blkt_need_sectors(bd, bd->lbs / BLK_SECTOR_SIZE, "the pattern", reason, reason_len))
		return -1;
	memset(r, 0, sizeof(*r));
	r->bd = bd;
	r->pass = pass;
	r->write = write;
	for (unsigned i = 0; i < BLKT_QD; i++)
		r->io[i].buf = mem + (size_t)i * BLKT_MAX_IO;
	bool more = true;
	uint64_t t0 = time_ns(), irqs = bd->stats.irqs, kicks = bd->stats.kicks;
	for (;;) {
		unsigned busy = 0, submitted = 0;
		for (unsigned i = 0; i < BLKT_QD; i++) {
			struct blkt_io *io = &r->io[i];
			if (io->busy && io->done)
				blkt_reap(r, io);
			if (!io->busy && more && !r->what[0]) {
				uint64_t sector;
				uint32_t n;
				if (!(more = blkt_next(r, &sector, &n)))
					continue;
				if (write)
					for (uint32_t s = 0; s < n; s++)
						blkpat_fill(io->buf + (size_t)s * BLK_SECTOR_SIZE, sector + s, pass);
				blk_req_init(&io->req, write ? BLK_OP_WRITE : BLK_OP_READ, sector, io->buf,
					     n * BLK_SECTOR_SIZE, blkt_io_done, io);
				io->done = false;
				int err = blk_submit(bd, &io->req);
				if (err) {
					blkt_fail(r, err, "submit at sector %llu: %lld", sector, (uint64_t)(int64_t)err);
					continue;
				}
				io->busy = true;
				r->ios++;
				submitted++;
			}
			busy += io->busy;
		}
		if (submitted)
			blk_kick(bd);
		if (!busy)
			break;
		bool any_done = false;
		for (unsigned i = 0; i < BLKT_QD; i++)
			any_done |= r->io[i].busy && r->io[i].done;
		/*
		 * wait() fails when nothing is outstanding that could complete:
		 * every callback has run, perhaps from an interrupt after any_done
		 * was computed, or a dead device keeps the rest. Reap at the top;
		 * only a busy io whose done() never came is a failure.
		 */
		if (!any_done && bd->ops->wait(bd) && (!bd->inflight || bd->broken)) {
			for (unsigned i = 0; i < BLKT_QD; i++)
				if (r->io[i].busy && !r->io[i].done)
					blkt_fail(r, -ENODEV, "request at sector %llu: no completion (%lld)",
						  r->io[i].req.sector, (uint64_t)(int64_t)-ENODEV);
			if (r->what[0])
				break;
		}
	}
	if (more && !r->what[0])
		blkt_fail(r, -EIO, "pass ended at sector %llu of %llu", r->pos, bd->capacity);
	if (!r->ios && !r->what[0])
		blkt_fail(r, -EIO, "no request made (%llu of %llu sectors)", r->pos, bd->capacity);
	uint64_t ms = (time_ns() - t0) / 1000000;
	printf("blk: %s %s pass %u: %llu requests, %llu MiB in %llu ms, %llu interrupts, %llu notifications\n",
	       bd->name, write ? "wrote" : "verified", pass, (unsigned long long)r->ios,
	       (unsigned long long)(r->bytes >> 20), (unsigned long long)ms,
	       (unsigned long long)(bd->stats.irqs - irqs), (unsigned long long)(bd->stats.kicks - kicks));
	if (vblk_queue_count(bd) > 1) {
		char line[160];
		unsigned n = 0;
		for (unsigned q = 0; q < vblk_queue_count(bd) && n < sizeof(line); q++)
			n += (unsigned)snprintf(line + n, sizeof(line) - n, " %llu",
						(unsigned long long)vblk_queue_parts(bd, q));
		printf("blk: %s requests per queue so far:%s\n", bd->name, line);
	}
	if (r->what[0])
		KTEST_FAIL("%s: %s (%llu bad sectors, %llu I/O errors)", bd->name, r->what,
			   (unsigned long long)r->bad_sectors, (unsigned long long)r->io_errors);
	return 0;
}

static int blkt_need_disk(char *reason, size_t reason_len)
{
	if (!blk_count())
		KTEST_FAIL("no block device (attach a virtio-blk disk)");
	return 0;
}

/* Destruction needs consent (README, Command line): no quillfs on the disk, or overwrite=1. */
static int blkt_consent(struct blk_dev *bd, char *reason, size_t reason_len)
{
	if (!consent_overwrite(bd, "blk"))
		KTEST_FAIL("%s holds a quillfs file system; raw tests need overwrite=1", bd->name);
	return 0;
}

typedef int (*blkt_disk_fn)(struct blk_dev *bd, uint8_t *buf, char *reason, size_t reason_len);

/* Run fn on every disk (only the writable ones when `writes`), with the shared buffers. */
static int blkt_each(blkt_disk_fn fn, bool writes, char *reason, size_t reason_len)
{
	if (blkt_need_disk(reason, reason_len))
		return -1;
	uint8_t *buf = blkt_buffers();
	if (!buf)
		KTEST_FAIL("out of memory for buffers");
	for (unsigned i = 0; i < blk_count(); i++) {
		struct blk_dev *bd = blk_get_index(i);
		if (writes && (bd->flags & BLK_F_RO))
			continue;
		if (writes && blkt_consent(bd, reason, reason_len))
			return -1;
		if (fn(bd, buf, reason, reason_len))
			return -1;
	}
	return 0;
}

/* The first disk (consenting, when the test writes), buffers allocated; NULL after filling reason. */
static struct blk_dev *blkt_first(bool writes, char *reason, size_t reason_len)
{
	if (!blk_count()) {
		snprintf(reason, reason_len, "no block device (attach a virtio-blk disk)");
		return NULL;
	}
	if (!blkt_buffers()) {
		snprintf(reason, reason_len, "out of memory for buffers");
		return NULL;
	}
	struct blk_dev *bd = blk_get_index(0);
	if (writes && blkt_consent(bd, reason, reason_len))
		return NULL;
	return bd;
}

static int blkt_pattern(char *reason, size_t reason_len, bool write)
{
	if (blkt_need_disk(reason, reason_len))
		return -1;
	for (unsigned i = 0; i < blk_count(); i++) {
		struct blk_dev *bd = blk_get_index(i);
		uint32_t pass = i + 1;
		if (write) {
			if (bd->flags & BLK_F_RO)
				continue;
			if (blkt_consent(bd, reason, reason_len) ||
			    blkt_pattern_run(bd, pass, true, reason, reason_len))
				return -1;
			int err = blk_flush(bd);
			if (err)
				KTEST_FAIL("%s: flush: %s", bd->name, blk_strerror(err));
		}
		if (blkt_pattern_run(bd, pass, false, reason, reason_len))
			return -1;
	}
	return 0;
}

KTEST_DEFINE(blk_pattern, "blk_pattern", true)
{
	return blkt_pattern(reason, reason_len, true);
}

KTEST_DEFINE(blk_verify, "blk_verify", true)
{
	return blkt_pattern(reason, reason_len, false);
}

static int blkt_id_one(struct blk_dev *bd, uint8_t *buf, char *reason, size_t reason_len)
{
	memset(buf, 0, 64);
	struct blk_req r;
	blk_req_init(&r, BLK_OP_GET_ID, 0, buf, 20, NULL, NULL);
	int err = blk_sync(bd, &r);
	if (err == -EOPNOTSUPP) {
		printf("blk: %s id unsupported\n", bd->name);
		return 0;
	}
	if (err)
		KTEST_FAIL("%s: GET_ID: %s", bd->name, blk_strerror(err));
	for (int k = 0; k < 20 && buf[k]; k++)
		if (buf[k] < 0x20 || buf[k] > 0x7e)
			buf[k] = '?';
	printf("blk: %s id '%.20s'\n", bd->name, (const char *)buf);
	return 0;
}

static int blkt_id(char *reason, size_t reason_len)
{
	return blkt_each(blkt_id_one, false, reason, reason_len);
}

KTEST_DEFINE(blk_id, "blk_id", true)
{
	return blkt_id(reason, reason_len);
}

static int blkt_range_one(struct blk_dev *bd, uint8_t *buf, char *reason, size_t reason_len)
{
	uint32_t lbs = bd->lbs, spb = lbs / BLK_SECTOR_SIZE;
	uint64_t cap = bd->capacity;
	int err;
	if (blkt_need_sectors(bd, spb, "the range checks", reason, reason_len))
		return -1;
	if ((err = blk_read(bd, cap, buf, lbs)) != -ERANGE)
		KTEST_FAIL("%s: read at capacity gave %d, not -ERANGE", bd->name, err);
	if ((err = blk_read(bd, cap - spb, buf, 2 * lbs)) != -ERANGE)
		KTEST_FAIL("%s: read across the end gave %d, not -ERANGE", bd->name, err);
	if ((err = blk_read(bd, UINT64_MAX - spb + 1, buf, lbs)) != -ERANGE &&
	    err != -EINVAL)
		KTEST_FAIL("%s: read at 2^64 - %u gave %d", bd->name, spb, err);
	if (lbs > BLK_SECTOR_SIZE && (err = blk_read(bd, 0, buf, BLK_SECTOR_SIZE)) != -EINVAL)
		KTEST_FAIL("%s: 512-byte read of a %u-byte block gave %d", bd->name, lbs, err);
	if ((err = blk_read(bd, 0, buf + 8, lbs)) != -EINVAL)
		KTEST_FAIL("%s: misaligned buffer gave %d, not -EINVAL", bd->name, err);
	if ((err = blk_read(bd, 0, buf, 0)) != -EINVAL)
		KTEST_FAIL("%s: zero-length read gave %d, not -EINVAL", bd->name, err);
	if (spb > 1 && (err = blk_read(bd, 1, buf, lbs)) != -EINVAL)
		KTEST_FAIL("%s: read at a sector inside a %u-byte block gave %d", bd->name, lbs, err);
	if ((err = blk_read(bd, cap - spb, buf, lbs)))
		KTEST_FAIL("%s: reading the last block: %s", bd->name, blk_strerror(err));
	if (bd->broken)
		KTEST_FAIL("%s: broken after bad requests", bd->name);
	return 0;
}

static int blkt_range(char *reason, size_t reason_len)
{
	return blkt_each(blkt_range_one, false, reason, reason_len);
}

KTEST_DEFINE(blk_range, "blk_range", true)
{
	return blkt_range(reason, reason_len);
}

KTEST_DEFINE(blk_ro, "blk_ro", true)
{
	if (blkt_need_disk(reason, reason_len))
		return -1;
	uint8_t *buf = blkt_buffers();
	if (!buf)
		KTEST_FAIL("out of memory");
	unsigned n = 0;
	for (unsigned i = 0; i < blk_count(); i++) {
		struct blk_dev *bd = blk_get_index(i);
		if (!(bd->flags & BLK_F_RO))
			continue;
		n++;
		uint64_t writes = bd->stats.writes;
		int err = blk_write(bd, 0, buf, bd->lbs);
		if (err != -EROFS)
			KTEST_FAIL("%s: write to a read-only disk gave %d, not -EROFS", bd->name, err);
		struct blk_req r;
		blk_req_init(&r, BLK_OP_WRITE_ZEROES, 0, NULL, bd->lbs, NULL, NULL);
		err = blk_sync(bd, &r);
		if (err != -EROFS && err != -EOPNOTSUPP)
			KTEST_FAIL("%s: write-zeroes on a read-only disk gave %d", bd->name, err);
		if (bd->stats.writes != writes)
			KTEST_FAIL("%s: a write reached the device", bd->name);
		if ((err = blk_read(bd, 0, buf, bd->lbs)))
			KTEST_FAIL("%s: read: %s", bd->name, blk_strerror(err));
		printf("blk: %s is read-only: writes refused with '%s'\n", bd->name, blk_strerror(-EROFS));
	}
	if (!n)
		KTEST_FAIL("no read-only disk (-drive ...,readonly=on)");
	return 0;
}

/* 4096 one-block writes submitted at once, one kick; then read back. */
#define BLKT_QUEUE_N 4096
static struct blk_req blkt_qreq[BLKT_QUEUE_N];
static volatile unsigned blkt_qdone;

static void blkt_queue_done(struct blk_req *req)
{
	blkt_qdone++;
}

/* Submit reqs[0..n) (done = blkt_queue_done), one kick, wait for all. */
static int blkt_batch(struct blk_dev *bd, struct blk_req *reqs, unsigned n, char *reason,
		      size_t reason_len)
{
	blkt_qdone = 0;
	for (unsigned k = 0; k < n; k++) {
		int err = blk_submit(bd, &reqs[k]);
		if (err)
			KTEST_FAIL("%s: submit %u of %u: %s", bd->name, k, n, blk_strerror(err));
	}
	blk_kick(bd);
	while (blkt_qdone < n)
		if (bd->ops->wait(bd) && blkt_qdone < n)
			KTEST_FAIL("%s: %u of %u completed", bd->name, blkt_qdone, n);
	return 0;
}

static int blkt_queue_one(struct blk_dev *bd, bool write, char *reason, size_t reason_len)
{
	uint8_t *buf = blkt_buffers();
	uint32_t lbs = bd->lbs, spb = lbs / BLK_SECTOR_SIZE;
	unsigned n = (unsigned)MIN((uint64_t)BLKT_QUEUE_N, bd->capacity / spb);
	n = MIN(n, BLKT_QD * BLKT_MAX_IO / lbs);
	if (blkt_need_sectors(bd, 2 * (uint64_t)spb, "the queue of requests", reason, reason_len))
		return -1;
	uint64_t kicks = bd->stats.kicks;
	for (unsigned k = 0; k < n; k++) {
		uint8_t *b = buf + (size_t)k * lbs;
		/* Interleaved order, so neighbours are not neighbours on the ring. */
		uint64_t sector = (uint64_t)((k * 7u) % n) * spb;
		if (write)
			for (uint32_t s = 0; s < spb; s++)
				blkpat_fill(b + s * BLK_SECTOR_SIZE, sector + s, 1);
		else
			memset(b, 0, lbs);
		blk_req_init(&blkt_qreq[k], write ? BLK_OP_WRITE : BLK_OP_READ, sector, b, lbs,
			     blkt_queue_done, NULL);
	}
	if (blkt_batch(bd, blkt_qreq, n, reason, reason_len))
		return -1;
	for (unsigned k = 0; k < n; k++) {
		struct blk_req *r = &blkt_qreq[k];
		if (r->status)
			KTEST_FAIL("%s: request %u: %s", bd->name, k, blk_strerror(r->status));
		if (!write)
			for (uint32_t s = 0; s < spb; s++) {
				enum blkpat_result res = blkpat_check((uint8_t *)r->buf + s * BLK_SECTOR_SIZE,
								      r->sector + s, 1);
				if (res != BLKPAT_OK)
					KTEST_FAIL("%s: sector %llu: %s", bd->name,
						   (unsigned long long)(r->sector + s), blkpat_strerror(res));
			}
	}
	printf("blk: %s %u %s submitted at once, %llu notification(s)\n", bd->name, n,
	       write ? "writes" : "reads", (unsigned long long)(bd->stats.kicks - kicks));
	return 0;
}

static int blkt_queue_rw(struct blk_dev *bd, uint8_t *buf, char *reason, size_t reason_len)
{
	return blkt_queue_one(bd, true, reason, reason_len) ||
	       blkt_queue_one(bd, false, reason, reason_len);
}

static int blkt_queue(char *reason, size_t reason_len)
{
	return blkt_each(blkt_queue_rw, true, reason, reason_len);
}

KTEST_DEFINE(blk_queue, "blk_queue", true)
{
	return blkt_queue(reason, reason_len);
}

/* One request bigger than the largest part the driver sends: it must be split. */
static int blkt_big_one(struct blk_dev *bd, uint8_t *buf, char *reason, size_t reason_len)
{
	uint32_t len = MIN(BLKT_QD * BLKT_MAX_IO, bd->max_req_bytes + 3 * bd->lbs);
	if (blkt_need_sectors(bd, len / BLK_SECTOR_SIZE, "one request larger than a device request",
			      reason, reason_len))
		return -1;
	uint32_t sectors = len / BLK_SECTOR_SIZE;
	uint64_t at = ALIGN_DOWN(bd->capacity - sectors, (uint64_t)(bd->lbs / BLK_SECTOR_SIZE));
	for (uint32_t s = 0; s < sectors; s++)
		blkpat_fill(buf + (size_t)s * BLK_SECTOR_SIZE, at + s, 1);
	int err = blk_write(bd, at, buf, len);
	if (err)
		KTEST_FAIL("%s: %u-byte write: %s", bd->name, len, blk_strerror(err));
	memset(buf, 0, len);
	if ((err = blk_read(bd, at, buf, len)))
		KTEST_FAIL("%s: %u-byte read: %s", bd->name, len, blk_strerror(err));
	for (uint32_t s = 0; s < sectors; s++) {
		enum blkpat_result res = blkpat_check(buf + (size_t)s * BLK_SECTOR_SIZE, at + s, 1);
		if (res != BLKPAT_OK)
			KTEST_FAIL("%s: big request, sector %u of %u: %s", bd->name, s, sectors,
				   blkpat_strerror(res));
	}
	printf("blk: %s one %u KiB request (device parts of at most %u KiB) ok\n", bd->name,
	       len >> 10, bd->max_req_bytes >> 10);
	return 0;
}

static int blkt_big(char *reason, size_t reason_len)
{
	return blkt_each(blkt_big_one, true, reason, reason_len);
}

KTEST_DEFINE(blk_big, "blk_big", true)
{
	return blkt_big(reason, reason_len);
}

static struct blk_seg blkt_wsegs[BLK_MAX_SEGS], blkt_rsegs[BLK_MAX_SEGS];

/*
 * One scatter-gather request of pieces lens[0..n) at sector: the pattern
 * written from pieces laid out backwards with gaps between them, read back
 * into other pieces laid out forwards with other gaps, checked sector by
 * sector. *sector moves past it.
 */
static int blkt_sg_check(struct blk_dev *bd, uint64_t *sector, const uint32_t *lens, unsigned n,
			 const char *what, char *reason, size_t reason_len)
{
	uint8_t *wmem = blkt_mem, *rmem = blkt_mem + BLKT_QD * BLKT_MAX_IO / 2;
	size_t wat = 0, rat = 0;
	for (unsigned i = n; i-- > 0;) {
		blkt_wsegs[i] = (struct blk_seg){wmem + wat, lens[i]};
		wat += lens[i] + BLK_SECTOR_SIZE * (1 + i % 7);
	}
	uint64_t lba = *sector;
	for (unsigned i = 0; i < n; i++) {
		blkt_rsegs[i] = (struct blk_seg){rmem + rat, lens[i]};
		rat += lens[i] + BLK_SECTOR_SIZE * (1 + i * 3 % 5);
		memset(blkt_rsegs[i].buf, 0, lens[i]);
		for (uint32_t s = 0; s < lens[i] / BLK_SECTOR_SIZE; s++)
			blkpat_fill((uint8_t *)blkt_wsegs[i].buf + s * BLK_SECTOR_SIZE, lba++, 1);
	}
	struct blk_req r;
	blk_req_init_sg(&r, BLK_OP_WRITE, *sector, blkt_wsegs, n, NULL, NULL);
	int err = blk_sync(bd, &r);
	if (err)
		KTEST_FAIL("%s: scatter-gather write (%s, %u pieces): %s", bd->name, what, n, blk_strerror(err));
	blk_req_init_sg(&r, BLK_OP_READ, *sector, blkt_rsegs, n, NULL, NULL);
	if ((err = blk_sync(bd, &r)))
		KTEST_FAIL("%s: scatter-gather read (%s, %u pieces): %s", bd->name, what, n, blk_strerror(err));
	lba = *sector;
	for (unsigned i = 0; i < n; i++)
		for (uint32_t s = 0; s < lens[i] / BLK_SECTOR_SIZE; s++, lba++) {
			enum blkpat_result res =
				blkpat_check((uint8_t *)blkt_rsegs[i].buf + s * BLK_SECTOR_SIZE, lba, 1);
			if (res != BLKPAT_OK)
				KTEST_FAIL("%s: scatter-gather (%s): piece %u, sector %llu: %s", bd->name, what, i,
					   (unsigned long long)lba, blkpat_strerror(res));
		}
	*sector = ALIGN_UP(lba, (uint64_t)(bd->lbs / BLK_SECTOR_SIZE));
	return 0;
}

static int blkt_sg_one(struct blk_dev *bd, uint8_t *buf, char *reason, size_t reason_len)
{
	/* Every list a whole number of 4 KiB blocks: 4K-block disks take them too. */
	static const uint32_t fsync_write[] = {512, 4096, 3584};
	static const uint32_t mixed[] = {512, 4096, 3584, 8192, 1536, 2560, 65536};
	static uint32_t log_write[130], sectors[BLK_MAX_SEGS];
	log_write[0] = 512; /* header, 128 cache blocks, trailing sectors */
	for (unsigned i = 1; i < 129; i++)
		log_write[i] = 4096;
	log_write[129] = 3584;
	for (unsigned i = 0; i < BLK_MAX_SEGS; i++)
		sectors[i] = BLK_SECTOR_SIZE;
	if (blkt_need_sectors(bd, (2u << 20) / BLK_SECTOR_SIZE, "the scatter-gather lists", reason, reason_len))
		return -1;
	uint64_t sector = 0, parts = 0;
	for (unsigned q = 0; q < vblk_queue_count(bd); q++)
		parts -= vblk_queue_parts(bd, q);
	if (blkt_sg_check(bd, &sector, fsync_write, ARRAY_SIZE(fsync_write), "record and block", reason,
			  reason_len) ||
	    blkt_sg_check(bd, &sector, mixed, ARRAY_SIZE(mixed), "mixed sizes", reason, reason_len) ||
	    blkt_sg_check(bd, &sector, log_write, ARRAY_SIZE(log_write), "log write", reason, reason_len) ||
	    blkt_sg_check(bd, &sector, sectors, ARRAY_SIZE(sectors), "BLK_MAX_SEGS sectors", reason,
			  reason_len))
		return -1;
	for (unsigned q = 0; q < vblk_queue_count(bd); q++)
		parts += vblk_queue_parts(bd, q);
	printf("blk: %s scatter-gather: 4 writes and reads of 3-%u pieces ok, %llu device requests\n",
	       bd->name, BLK_MAX_SEGS, (unsigned long long)parts);
	return 0;
}

static int blkt_sg(char *reason, size_t reason_len)
{
	return blkt_each(blkt_sg_one, true, reason, reason_len);
}

KTEST_DEFINE(blk_sg, "blk_sg", true)
{
	return blkt_sg(reason, reason_len);
}

static unsigned blkt_zeroes_tested; /* disks whose write-zeroes or discard was tried */

static int blkt_zeroes_one(struct blk_dev *bd, uint8_t *buf, char *reason, size_t reason_len)
{
	uint32_t len = 64 << 10;
	if (!(bd->flags & (BLK_F_WRITE_ZEROES | BLK_F_DISCARD))) {
		printf("blk: %s offers neither write-zeroes nor discard\n", bd->name);
		return 0;
	}
	if (blkt_need_sectors(bd, 2 * len / BLK_SECTOR_SIZE, "write-zeroes and discard", reason, reason_len))
		return -1;
	blkt_zeroes_tested++;
	int err;
	if (bd->flags & BLK_F_WRITE_ZEROES) {
		memset(buf, 0xee, len);
		if ((err = blk_write(bd, 0, buf, len)))
			KTEST_FAIL("%s: write: %s", bd->name, blk_strerror(err));
		struct blk_req r;
		blk_req_init(&r, BLK_OP_WRITE_ZEROES, 0, NULL, len, NULL, NULL);
		if ((err = blk_sync(bd, &r)))
			KTEST_FAIL("%s: write-zeroes: %s", bd->name, blk_strerror(err));
		if ((err = blk_read(bd, 0, buf, len)))
			KTEST_FAIL("%s: read: %s", bd->name, blk_strerror(err));
		for (uint32_t k = 0; k < len; k++)
			if (buf[k])
				KTEST_FAIL("%s: byte %u not zero after write-zeroes", bd->name, k);
		printf("blk: %s write-zeroes ok\n", bd->name);
	}
	if (bd->flags & BLK_F_DISCARD) {
		struct blk_req r;
		blk_req_init(&r, BLK_OP_DISCARD, len / BLK_SECTOR_SIZE, NULL, len, NULL, NULL);
		err = blk_sync(bd, &r);
		/* Content after a discard is unspecified; the request must just complete. */
		if (err && err != -EOPNOTSUPP)
			KTEST_FAIL("%s: discard: %s", bd->name, blk_strerror(err));
		printf("blk: %s discard %s\n", bd->name, err ? "unsupported by the backend" : "ok");
	}
	return 0;
}

/* Each disk that offers either; with `need`, some disk must (test=blk_zeroes). */
static int blkt_zeroes(char *reason, size_t reason_len, bool need)
{
	blkt_zeroes_tested = 0;
	if (blkt_each(blkt_zeroes_one, true, reason, reason_len))
		return -1;
	if (need && !blkt_zeroes_tested)
		KTEST_FAIL("no disk offers write-zeroes or discard: nothing tested");
	return 0;
}

KTEST_DEFINE(blk_zeroes, "blk_zeroes", true)
{
	return blkt_zeroes(reason, reason_len, true);
}

/*
 * Run under an error-injecting backend (QEMU blkdebug, werror=report): some
 * writes must fail with -EIO, the rest must succeed, and the device must
 * stay usable afterwards.
 */
KTEST_DEFINE(blk_eio, "blk_eio", true)
{
	struct blk_dev *bd = blkt_first(true, reason, reason_len);
	if (!bd)
		return -1;
	uint8_t *buf = blkt_mem;
	unsigned n = (unsigned)MIN((uint64_t)256, bd->capacity / (4096 / BLK_SECTOR_SIZE));
	for (unsigned k = 0; k < n; k++)
		blk_req_init(&blkt_qreq[k], BLK_OP_WRITE, (uint64_t)k * 8, buf, 4096, blkt_queue_done, NULL);
	if (blkt_batch(bd, blkt_qreq, n, reason, reason_len))
		return -1;
	unsigned ok = 0, eio = 0, other = 0;
	for (unsigned k = 0; k < n; k++) {
		int st = blkt_qreq[k].status;
		if (st == 0)
			ok++;
		else if (st == -EIO)
			eio++;
		else
			other++;
	}
	printf("blk: %s %u writes: %u ok, %u I/O errors, %u other\n", bd->name, n, ok, eio, other);
	if (!eio || !ok || other)
		KTEST_FAIL("expected both I/O errors and successes, nothing else (%u/%u/%u)", ok, eio, other);
	if (bd->broken)
		KTEST_FAIL("device marked broken by ordinary I/O errors");
	int err = blk_read(bd, 0, buf, 4096);
	if (err)
		KTEST_FAIL("read after the errors: %s", blk_strerror(err));
	return 0;
}

/*
 * Run with a backend too slow to answer in time (QEMU throttling) and a
 * short blk.timeout_ms: the watchdog must fail the request with -ENODEV,
 * mark the device broken, and later requests must fail at once.
 */
KTEST_DEFINE(blk_watchdog, "blk_watchdog", true)
{
	struct blk_dev *bd = blkt_first(true, reason, reason_len);
	if (!bd)
		return -1;
	uint8_t *buf = blkt_mem;
	uint32_t len = MIN(BLKT_QD * BLKT_MAX_IO, bd->max_req_bytes);
	uint64_t t0 = time_ns();
	int err = 0;
	/* A throttled backend may let the first request through at full speed. */
	for (int i = 0; i < 8 && !err; i++)
		err = blk_write(bd, 0, buf, len);
	uint64_t ms = (time_ns() - t0) / 1000000;
	printf("blk: %s %u-byte write ended after %llu ms: %s\n", bd->name, len,
	       (unsigned long long)ms, blk_strerror(err));
	if (err != -ENODEV || !bd->broken)
		KTEST_FAIL("write gave %d (broken %d), expected the watchdog's -ENODEV", err, bd->broken);
	if ((err = blk_read(bd, 0, buf, bd->lbs)) != -ENODEV)
		KTEST_FAIL("read on a broken device gave %d, not -ENODEV", err);
	return 0;
}

static volatile bool blkt_raw_done;

static void blkt_raw_done_fn(struct blk_req *req)
{
	blkt_raw_done = true;
}

/*
 * Past blk_check(), straight to the driver: what a request racing a shrink
 * looks like to the device. Returns the request's status (or a submit error).
 */
static int blkt_submit_raw(struct blk_dev *bd, struct blk_req *req)
{
	blkt_raw_done = false;
	req->done = blkt_raw_done_fn;
	req->status = 0;
	int err = bd->ops->submit(bd, req);
	if (err)
		return err;
	bd->ops->kick(bd);
	while (!blkt_raw_done)
		if (bd->ops->wait(bd) && !blkt_raw_done)
			return -ENODEV;
	return req->status;
}

/*
 * Run while the host resizes the disk (QMP block_resize): the configuration
 * change interrupt must update the capacity. Grown: the new last block can
 * be written and read back. Shrunk: I/O beyond the new end is refused before
 * the device sees it (-ERANGE), and a request that reaches the device anyway
 * fails with -EIO without breaking it; the new last block still works.
 */
KTEST_DEFINE(blk_resize, "blk_resize", true)
{
	struct blk_dev *bd = blkt_first(true, reason, reason_len);
	if (!bd)
		return -1;
	uint64_t old = bd->capacity, t0 = time_ns();
	uint32_t spb = bd->lbs / BLK_SECTOR_SIZE;
	printf("blk: %s waiting up to 60 s for a capacity change (now %llu sectors)\n", bd->name,
	       (unsigned long long)old);
	while (bd->capacity == old && time_ns() - t0 < 60000000000ull)
		udelay(10000);
	uint64_t cap = bd->capacity;
	if (cap == old)
		KTEST_FAIL("%s: capacity still %llu sectors after 60 s", bd->name, (unsigned long long)old);
	uint8_t *w = blkt_mem, *r = blkt_mem + BLKT_MAX_IO;
	for (uint32_t s = 0; s < spb; s++)
		blkpat_fill(w + (size_t)s * BLK_SECTOR_SIZE, cap - spb + s, 7);
	int err = blk_write(bd, cap - spb, w, bd->lbs);
	if (!err)
		err = blk_read(bd, cap - spb, r, bd->lbs);
	if (err)
		KTEST_FAIL("%s: the new last block: %s", bd->name, blk_strerror(err));
	for (size_t i = 0; i < bd->lbs; i++)
		if (r[i] != w[i])
			KTEST_FAIL("%s: the new last block read back different", bd->name);
	if (cap > old) {
		printf("blk: %s grew: blocks past the old end written and read back\n", bd->name);
		return 0;
	}
	err = blk_read(bd, old - spb, r, bd->lbs);
	if (err != -ERANGE)
		KTEST_FAIL("%s: read past the new end gave %d, not -ERANGE", bd->name, err);
	struct blk_req req;
	blk_req_init(&req, BLK_OP_WRITE, cap, w, bd->lbs, NULL, NULL);
	err = blkt_submit_raw(bd, &req);
	if (err != -EIO || bd->broken)
		KTEST_FAIL("%s: a write past the new end at the device gave %d (broken %d), not -EIO",
			   bd->name, err, bd->broken);
	blk_req_init(&req, BLK_OP_READ, old - spb, r, bd->lbs, NULL, NULL);
	err = blkt_submit_raw(bd, &req);
	if (err != -EIO || bd->broken)
		KTEST_FAIL("%s: a read past the new end at the device gave %d (broken %d), not -EIO",
			   bd->name, err, bd->broken);
	if ((err = blk_read(bd, 0, r, bd->lbs)))
		KTEST_FAIL("%s: reading block 0 after the shrink: %s", bd->name, blk_strerror(err));
	printf("blk: %s shrank: past the new end refused (-ERANGE) and failed at the device (-EIO)\n",
	       bd->name);
	return 0;
}

/*
 * A request QEMU cannot map (a buffer outside guest RAM) makes it mark the
 * device DEVICE_NEEDS_RESET and raise a configuration interrupt: the request
 * must fail with -ENODEV and the device be marked broken, not hang.
 */
KTEST_DEFINE(blk_needs_reset, "blk_needs_reset", true)
{
	struct blk_dev *bd = blkt_first(false, reason, reason_len);
	if (!bd)
		return -1;
	/* Past the first page: QEMU bounce-buffers one page of non-RAM, not more. */
	int err = blk_read(bd, 0, (void *)(uintptr_t)(1ull << 46), 64 << 10);
	if (err != -ENODEV || !bd->broken)
		KTEST_FAIL("%s: unmappable buffer gave %d (broken %d), not -ENODEV", bd->name, err,
			   bd->broken);
	return 0;
}

KTEST_DEFINE(blk, "blk", true)
{
	if (blkt_id(reason, reason_len) || blkt_range(reason, reason_len) ||
	    blkt_queue(reason, reason_len) || blkt_big(reason, reason_len) ||
	    blkt_sg(reason, reason_len) || blkt_zeroes(reason, reason_len, false))
		return -1;
	return blkt_pattern(reason, reason_len, true);
}
