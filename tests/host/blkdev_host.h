/*
 * Host block devices for quillfs tools and tests, each a struct blk_dev
 * whose ops complete requests when the user waits (dev->ops->wait):
 *
 *   blkdev_ram.c    memory image; optional fault injection (EIO after N
 *                   writes), read-only mode
 *   blkdev_file.c   a file or a block device (pread/pwrite, fdatasync on
 *                   FLUSH)
 *   blkdev_crash.c  a RAM device that records every write and flush in
 *                   completion order (completing in a seeded random order),
 *                   and rebuilds what the medium may hold after a power
 *                   loss at any point of the trace
 */
#ifndef TESTS_HOST_BLKDEV_HOST_H
#define TESTS_HOST_BLKDEV_HOST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "drivers/blk/blk.h"

/* ---- blkdev_ram.c ---- */
struct blkdev_ram {
	struct blk_dev dev;
	uint8_t *mem;          /* capacity * 512 bytes, owned unless borrowed */
	bool borrowed;
	struct blk_req *head, *tail;
	uint64_t writes;       /* write requests completed */
	int64_t fail_after;    /* >= 0: writes and flushes beyond this many fail with -EIO */
	/* Called for every completed request before done(), in completion order. */
	void (*observe)(struct blkdev_ram *r, struct blk_req *req);
	void *observe_ctx;
	uint64_t rng;          /* != 0: complete pending requests in random order */
};
/* A zeroed device of `bytes`, or one over `mem` (not freed by blkdev_ram_free). */
struct blkdev_ram *blkdev_ram_new(uint64_t bytes, uint8_t *mem);
void blkdev_ram_free(struct blkdev_ram *r);
/* A read or write's data (its buffer, or its segments in order) into mem (to_mem), or out of it. */
void blkdev_req_copy(const struct blk_req *req, uint8_t *mem, bool to_mem);

/* ---- blkdev_file.c ---- */
/* Open path (O_RDWR, or O_RDONLY with read_only); NULL with errno set on failure. */
struct blk_dev *blkdev_file_open(const char *path, bool read_only);
void blkdev_file_close(struct blk_dev *dev);

/* ---- blkdev_crash.c ---- */
struct crash_write {
	uint64_t sector;
	uint32_t len;
	uint8_t *data;
	uint64_t done_at;      /* trace index of its completion */
	uint64_t sub_at;       /* completions before it was submitted */
};
struct crash_trace {
	uint8_t *base;         /* image when recording started */
	uint64_t bytes;
	struct crash_write *w; /* in completion order */
	size_t nw, capw;
	/* stable_upto[k]: writes w[0 .. stable_upto[k]) are durable after the k-th flush */
	size_t *flush_cover;
	uint64_t *flush_at;    /* trace index of each flush completion */
	size_t nf, capf;
	uint64_t events;       /* completions so far (writes + flushes) */
	uint64_t w0, c0;       /* device counters when recording started */
	uint8_t *stable;       /* cache: base + w[0 .. stable_n) */
	size_t stable_n;
	/* The image last built: equal to stable but for these sector ranges.
	 * Set synced = NULL after writing into it, to force a full copy. */
	uint8_t *synced;
	uint64_t (*diff)[2];
	size_t ndiff, capdiff;
};
/* Start recording on r (which must hold the image to start from). */
void crash_record(struct blkdev_ram *r, struct crash_trace *t);
/* The same into a trace crash_record made before, dropping what it holds
 * but its image buffers: fresh ones cost more in page faults than checking
 * a short trace (zeroing t first makes it crash_record). */
void crash_record_again(struct blkdev_ram *r, struct crash_trace *t);
void crash_trace_free(struct crash_trace *t);
/*
 * Build into img (t->bytes) what the medium may hold after power loss once
 * `events` completions happened: every write covered by a completed flush,
 * plus, of the others completed so far, a subset chosen by mode:
 *   0: none;  1: all, in order;  2: a random subset, some torn per sector,
 *   some sectors garbage (seeded by *rng).
 * Returns the number of unstable writes that were candidates.
 */
size_t crash_build(struct crash_trace *t, uint64_t events, int mode, uint64_t *rng,
		   uint8_t *img);
/*
 * The medium of a device that lost only its requests in flight: every
 * write completed within `events` completions landed (in completion
 * order), none still in flight did. Returns how many were in flight: with
 * none, it is crash_build's mode 1.
 */
size_t crash_build_completed(struct crash_trace *t, uint64_t events, uint8_t *img);

static inline uint64_t host_rand(uint64_t *s)
{
	/* xorshift64*: deterministic, seeded by the tests */
	uint64_t x = *s ? *s : 0x9e3779b97f4a7c15ull;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * 0x2545f4914f6cdd1dull;
}

#endif
