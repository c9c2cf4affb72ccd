/*
 * Segment size by measurement (not a test: `make fs-segsize` runs it).
 * A 64 MiB RAM file system kept 70% full by one file; 40,000 uniform random
 * 4 KiB overwrites with an fsync after every 1 or every 64 writes; for each
 * segment size: write amplification, device write requests per file write,
 * FLUSHes per fsync. The default (512 KiB) comes from this table.
 */
#include "tests/host/fs_test.h"
#include "fs/fs_int.h"
static void run(uint32_t segb, int fsync_every) {
	struct blkdev_ram *r = ram_fs(64<<20, segb);
	struct qfs *fs; struct qfs_file *f; struct qfs_statfs st;
	qfs_mount(&r->dev, NULL, &fs);
	qfs_statfs(fs, &st);
	size_t fsize = st.total_blocks * 4096 * 7 / 10; fsize -= fsize % 4096;
	uint8_t blk[4096] = {1};
	qfs_open(fs, "/hot", QFS_O_CREAT, &f);
	for (size_t off = 0; off < fsize; off += 4096) qfs_write(f, off, blk, 4096);
	qfs_fsync(f);
	qfs_statfs(fs, &st);
	uint64_t u0 = st.user_bytes, d0 = st.dev_bytes, w0 = r->dev.stats.writes, fl0 = st.flushes;
	uint64_t rng = 7, nblk = fsize / 4096;
	for (int i = 0; i < 40000; i++) {
		uint64_t b = (host_rand(&rng) >> 8) % nblk;
		int64_t w_ = qfs_write(f, b * 4096, blk, 4096); if (w_ != 4096) { printf("fail %lld at %d, fs err %d, free segs %u\n", (long long)w_, i, fs->err, fs->free_segs); break; }
		if (i % fsync_every == fsync_every - 1) qfs_fsync(f);
	}
	qfs_statfs(fs, &st);
	printf("seg %4u KiB fsync/%-3d: WA %.2f, device writes per 4K write %.3f, flushes/fsync %.2f\n", segb >> 10, fsync_every,
	       (double)(st.dev_bytes - d0) / (st.user_bytes - u0), (double)(r->dev.stats.writes - w0) / 40000,
	       (double)(st.flushes - fl0) / (40000 / fsync_every));
	qfs_close(f); qfs_unmount(fs); blkdev_ram_free(r);
}
int main(void) { uint32_t s[] = {64<<10, 128<<10, 256<<10, 512<<10, 1<<20, 2<<20}; for (int fe = 1; fe <= 64; fe *= 64) for (int i = 0; i < 6; i++) run(s[i], fe); }
