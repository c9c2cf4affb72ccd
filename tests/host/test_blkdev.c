/*
 * Host tests of the host block devices (tests/host/blkdev_*.c) with
 * scatter-gather requests: the RAM device, the file device and the crash
 * recorder each see the data of a request as the concatenation of its
 * segments, reads fill the segments in order, and blk_submit() refuses bad
 * segment lists before a device sees them.
 *
 * Prints TEST <name> PASS|FAIL <reason>; exits 0 only if all passed.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/host/hosttest.h"

#include "drivers/blk/blk.h"
#include "tests/host/blkdev_host.h"

#define POOL_BYTES (256u << 10)

/*
 * Pieces of a pool, out of order and apart from each other: 512, 4096,
 * 1536 and 8192 bytes (14 KiB, a whole number of 512- and 2048-byte
 * blocks), the last piece first in memory.
 */
static const uint32_t piece_at[] = {65536, 8192, 131072, 4096};
static const uint32_t piece_len[] = {512, 4096, 1536, 8192};
#define NPIECES 4
#define SG_BYTES (512 + 4096 + 1536 + 8192)

static uint8_t *pool_new(void)
{
	uint8_t *p = aligned_alloc(4096, POOL_BYTES);
	if (p)
		memset(p, 0, POOL_BYTES);
	return p;
}

static void segs_in(uint8_t *pool, struct blk_seg *segs)
{
	for (unsigned i = 0; i < NPIECES; i++)
		segs[i] = (struct blk_seg){pool + piece_at[i], piece_len[i]};
}

static void pattern(uint8_t *p, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(i * 13 + seed * 101 + (i >> 9));
}

/* The concatenation of the segments, into out. */
static void gather(const struct blk_seg *segs, unsigned n, uint8_t *out)
{
	for (unsigned i = 0; i < n; i++) {
		memcpy(out, segs[i].buf, segs[i].len);
		out += segs[i].len;
	}
}

/* Write SG_BYTES from scattered pieces at sector, read them back into other pieces: both as one stream. */
static int sg_write_read(struct blk_dev *dev, uint64_t sector, uint8_t *stream_out)
{
	uint8_t *wpool = pool_new(), *rpool = pool_new();
	HT_CHECK(wpool && rpool, "out of memory");
	pattern(wpool, POOL_BYTES, 1);
	struct blk_seg w[NPIECES], r[NPIECES];
	segs_in(wpool, w);
	segs_in(rpool, r);
	struct blk_req req;
	blk_req_init_sg(&req, BLK_OP_WRITE, sector, w, NPIECES, NULL, NULL);
	HT_CHECK(req.len == SG_BYTES && req.segs == w && req.nsegs == NPIECES, "blk_req_init_sg: len %u", req.len);
	HT_CHECK(blk_sync(dev, &req) == 0, "scatter-gather write");
	blk_req_init_sg(&req, BLK_OP_READ, sector, r, NPIECES, NULL, NULL);
	HT_CHECK(blk_sync(dev, &req) == 0, "scatter-gather read");
	uint8_t want[SG_BYTES], got[SG_BYTES];
	gather(w, NPIECES, want);
	gather(r, NPIECES, got);
	HT_CHECK(!memcmp(want, got, SG_BYTES), "read back differs from what was written");
	memcpy(stream_out, want, SG_BYTES);
	free(wpool);
	free(rpool);
	return 0;
}

static int t_ram(void)
{
	struct blkdev_ram *r = blkdev_ram_new(1 << 20, NULL);
	HT_CHECK(r, "out of memory");
	uint8_t stream[SG_BYTES];
	if (sg_write_read(&r->dev, 16, stream))
		return -1;
	HT_CHECK(!memcmp(r->mem + 16 * 512, stream, SG_BYTES), "medium is not the segments in order");
	HT_CHECK(r->mem[16 * 512 - 1] == 0 && r->mem[16 * 512 + SG_BYTES] == 0, "written outside the range");
	HT_CHECK(r->dev.stats.writes == 1 && r->dev.stats.write_bytes == SG_BYTES && r->dev.stats.reads == 1,
		 "one write of %u bytes and one read, counted %llu/%llu/%llu", SG_BYTES,
		 (unsigned long long)r->dev.stats.writes, (unsigned long long)r->dev.stats.write_bytes,
		 (unsigned long long)r->dev.stats.reads);
	blkdev_ram_free(r);
	return 0;
}

static int t_file(void)
{
	char path[] = "/tmp/quill-test-blkdev-XXXXXX";
	int fd = mkstemp(path);
	HT_CHECK(fd >= 0, "mkstemp");
	HT_CHECK(ftruncate(fd, 1 << 20) == 0, "ftruncate");
	struct blk_dev *dev = blkdev_file_open(path, false);
	HT_CHECK(dev, "open %s", path);
	uint8_t stream[SG_BYTES], onfile[SG_BYTES];
	int err = sg_write_read(dev, 40, stream);
	blkdev_file_close(dev);
	ssize_t n = pread(fd, onfile, SG_BYTES, 40 * 512);
	close(fd);
	unlink(path);
	if (err)
		return -1;
	HT_CHECK(n == SG_BYTES && !memcmp(onfile, stream, SG_BYTES), "file is not the segments in order");
	return 0;
}

/* The recorder keeps the written data as one stream: crash images hold the segments in order. */
static int t_crash(void)
{
	struct blkdev_ram *r = blkdev_ram_new(1 << 20, NULL);
	HT_CHECK(r, "out of memory");
	struct crash_trace t;
	crash_record(r, &t);
	uint8_t stream[SG_BYTES];
	if (sg_write_read(&r->dev, 8, stream))
		return -1;
	HT_CHECK(t.nw == 1 && t.w[0].len == SG_BYTES && !memcmp(t.w[0].data, stream, SG_BYTES),
		 "recorded %zu writes, the first of %u bytes, not the segments in order", t.nw,
		 t.nw ? t.w[0].len : 0);
	uint8_t *img = malloc(t.bytes);
	uint64_t rng = 1;
	HT_CHECK(img, "out of memory");
	crash_build(&t, t.events, 1, &rng, img);
	HT_CHECK(!memcmp(img + 8 * 512, stream, SG_BYTES), "crash image (all writes) lacks the segments");
	crash_build(&t, t.events, 0, &rng, img);
	HT_CHECK(img[8 * 512] == 0, "crash image (no unflushed write) has the write");
	free(img);
	crash_trace_free(&t);
	blkdev_ram_free(r);
	return 0;
}

/* blk_submit() refuses bad segment lists (blk.h) before the device sees anything. */
static int t_refused(void)
{
	struct blkdev_ram *r = blkdev_ram_new(1 << 20, NULL);
	uint8_t *pool = pool_new();
	HT_CHECK(r && pool, "out of memory");
	static struct blk_seg many[BLK_MAX_SEGS + 1];
	for (unsigned i = 0; i <= BLK_MAX_SEGS; i++)
		many[i] = (struct blk_seg){pool + 512 * i, 512};
	struct blk_seg one_sector[] = {{pool, 512}};
	struct {
		const char *what;
		struct blk_seg segs[3];
		uint32_t nsegs;
		int64_t len_delta; /* len = the segments' sum + this */
		uint8_t op;
		bool many;
	} cases[] = {
		{"misaligned", {{pool + 8, 512}}, 1, 0, BLK_OP_WRITE, false},
		{"NULL piece", {{NULL, 512}}, 1, 0, BLK_OP_READ, false},
		{"empty piece", {{pool, 512}, {pool + 4096, 0}}, 2, 0, BLK_OP_WRITE, false},
		{"piece not whole sectors", {{pool, 700}, {pool + 4096, 324}}, 2, 0, BLK_OP_WRITE, false},
		{"sum below len", {{pool, 512}, {pool + 4096, 512}}, 2, 512, BLK_OP_WRITE, false},
		{"sum above len", {{pool, 512}, {pool + 4096, 512}}, 2, -512, BLK_OP_READ, false},
		{"segments on a flush", {{pool, 512}}, 1, -512, BLK_OP_FLUSH, false},
		{"segments on a write-zeroes", {{pool, 512}}, 1, 0, BLK_OP_WRITE_ZEROES, false},
		{"more than BLK_MAX_SEGS", {{0}}, BLK_MAX_SEGS + 1, 0, BLK_OP_WRITE, true},
	};
	r->dev.flags |= BLK_F_WRITE_ZEROES;
	for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
		const struct blk_seg *segs = cases[k].many ? many : cases[k].segs;
		struct blk_req req;
		blk_req_init_sg(&req, (enum blk_op)cases[k].op, 0, segs, cases[k].nsegs, NULL, NULL);
		req.len = (uint32_t)((int64_t)req.len + cases[k].len_delta);
		HT_CHECK(blk_sync(&r->dev, &req) == -EINVAL, "%s: accepted", cases[k].what);
	}
	/* The segment list at BLK_MAX_SEGS, and a lone sector, are fine. */
	struct blk_req req;
	blk_req_init_sg(&req, BLK_OP_WRITE, 0, many, BLK_MAX_SEGS, NULL, NULL);
	HT_CHECK(blk_sync(&r->dev, &req) == 0, "BLK_MAX_SEGS segments refused");
	blk_req_init_sg(&req, BLK_OP_READ, 0, one_sector, 1, NULL, NULL);
	HT_CHECK(blk_sync(&r->dev, &req) == 0, "one segment refused");
	HT_CHECK(r->dev.stats.writes == 1 && r->dev.stats.reads == 1 && r->dev.stats.write_zeroes == 0,
		 "a refused request reached the device");
	free(pool);
	blkdev_ram_free(r);
	return 0;
}

int main(void)
{
	ht_run_isolated("blkdev_ram_sg", t_ram);
	ht_run_isolated("blkdev_file_sg", t_file);
	ht_run_isolated("blkdev_crash_sg", t_crash);
	ht_run_isolated("blkdev_sg_refused", t_refused);
	return ht_exit_status();
}
