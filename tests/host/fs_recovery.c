/*
 * quillfs recovery is bounded by the log (fs/FORMAT.md, Recovery): after a
 * crash, the mount reads at most about twice what was written to the log
 * since the last checkpoint, plus the checkpoint itself (superblocks, both
 * checkpoint regions, the inode-map blocks), whatever the sizes of the
 * files and however often the same blocks were overwritten. Counted in
 * bytes the device was asked to read, not in time.
 *
 * Each case builds a state, checkpoints it (unmount, mount), does fsync'd
 * work without a checkpoint in between, drops the mount as a power cut
 * would (every completed write kept, nothing more), mounts again on a
 * device that counts reads, and checks the bound, that the mount says
 * what it read (qfs_recovery_info), and that every fsync'd byte is back.
 */
#include "tests/host/fs_test.h"
#include "fs/ondisk.h"

#define MiB (1ull << 20)
#define SLACK_BLOCKS 256u /* the writer's allowance for metadata beyond the log (QFS_REC_SLACK) */

static uint64_t rand_state = 0x2545f4914f6cdd1dull;

/* Read bytes a mount of what the crash left may take, given the log written since the checkpoint. */
static uint64_t read_bound(const struct qfs_disk_super *sb, uint64_t log_bytes)
{
	uint64_t checkpoint = (2 + 2 * (uint64_t)sb->cp_blocks + sb->imap_blocks) * QFS_BLOCK_SIZE;
	return 2 * log_bytes + checkpoint + (uint64_t)SLACK_BLOCKS * QFS_BLOCK_SIZE;
}

struct crash_case {
	const char *what;
	uint64_t log_bytes;   /* since the last checkpoint, when the power went */
	uint64_t checkpoints; /* during the work: must be 0 for the case to mean anything */
};

/* Power cut: the mount goes away with nothing more written (abandon), then a counted mount. */
static int recover_and_check(struct blkdev_ram *d, struct qfs *fs, const struct crash_case *c,
			     struct qfs **out, char *reason, size_t rn)
{
	struct qfs_disk_super sb;
	memcpy(&sb, d->mem, sizeof(sb));
	qfs_abandon(fs);
	uint64_t before = d->dev.stats.read_bytes;
	CHECK_OK(qfs_mount(&d->dev, &(struct qfs_mount_opts){.read_only = true}, out));
	uint64_t read = d->dev.stats.read_bytes - before;
	struct qfs_recovery r;
	qfs_recovery_info(*out, &r);
	uint64_t bound = read_bound(&sb, c->log_bytes);
	printf("# %s: %llu KiB of log since the checkpoint; recovery applied %u commits (%u psegs), "
	       "read %llu KiB (bound %llu KiB)\n", c->what, (unsigned long long)(c->log_bytes >> 10),
	       r.commits, r.psegs, (unsigned long long)(read >> 10), (unsigned long long)(bound >> 10));
	CHECK(c->checkpoints == 0, "%s: %llu checkpoints during the work: the case tests nothing", c->what,
	      (unsigned long long)c->checkpoints);
	CHECK(r.commits > 0, "%s: recovery applied nothing", c->what);
	CHECK(read <= bound, "%s: recovery read %llu bytes, more than %llu (2 x %llu of log + checkpoint + slack)",
	      c->what, (unsigned long long)read, (unsigned long long)bound, (unsigned long long)c->log_bytes);
	CHECK(r.read_bytes == read, "%s: the mount says it read %llu bytes, the device counted %llu", c->what,
	      (unsigned long long)r.read_bytes, (unsigned long long)read);
	CHECK(r.log_bytes <= c->log_bytes, "%s: recovery read %llu bytes of log, %llu were written", c->what,
	      (unsigned long long)r.log_bytes, (unsigned long long)c->log_bytes);
	char first[200];
	int p = check_quiet(*out, first, sizeof(first));
	CHECK(p == 0, "%s: fsck after recovery: %d problems: %s", c->what, p, first);
	return 0;
}

/* A fresh, mounted file system. */
static int new_fs(struct blkdev_ram **d, struct qfs **fs, uint64_t bytes, char *reason, size_t rn)
{
	*d = ram_fs(bytes, 0);
	CHECK(*d, "format");
	CHECK_OK(qfs_mount(&(*d)->dev, NULL, fs));
	return 0;
}

/* Unmount and mount again: a checkpoint, after which recovery starts. */
static int checkpointed(struct blkdev_ram *d, struct qfs **fs, char *reason, size_t rn)
{
	CHECK_OK(qfs_unmount(*fs));
	CHECK_OK(qfs_mount(&d->dev, NULL, fs));
	return 0;
}

/* A fresh file system with one file of `blocks` blocks, all written, checkpointed. */
static int big_file_fs(struct blkdev_ram **d, struct qfs **fs, uint64_t fs_bytes, uint64_t blocks,
		       char *reason, size_t rn)
{
	if (new_fs(d, fs, fs_bytes, reason, rn))
		return 1;
	struct qfs_file *f;
	CHECK_OK(qfs_open(*fs, "/big", QFS_O_CREAT, &f));
	uint8_t *buf = malloc(MiB);
	for (uint64_t off = 0; off < blocks * QFS_BLOCK_SIZE; off += MiB) {
		size_t n = blocks * QFS_BLOCK_SIZE - off < MiB ? blocks * QFS_BLOCK_SIZE - off : MiB;
		fill_pattern(buf, n, off);
		CHECK(qfs_write(f, off, buf, n) == (int64_t)n, "fill /big at %llu", (unsigned long long)off);
	}
	free(buf);
	qfs_close(f);
	return checkpointed(*d, fs, reason, rn);
}

/* What block b of /big held after big_file_fs(): the fill, made a MiB at a time. */
static void fill_block(uint64_t b, uint8_t *out)
{
	static uint8_t *mib_buf;
	static uint64_t mib_at = UINT64_MAX;
	uint64_t mib = b * QFS_BLOCK_SIZE / MiB * MiB;
	if (!mib_buf)
		mib_buf = malloc(MiB);
	if (mib_at != mib) {
		fill_pattern(mib_buf, MiB, mib);
		mib_at = mib;
	}
	memcpy(out, mib_buf + (b * QFS_BLOCK_SIZE - mib), QFS_BLOCK_SIZE);
}

/* A sparse file with one block in each of `children` double-indirect children: a large tree, little data. */
static int sparse_tree(struct qfs *fs, const char *path, uint32_t children)
{
	struct qfs_file *f;
	int err = qfs_open(fs, path, QFS_O_CREAT, &f);
	uint8_t buf[QFS_BLOCK_SIZE];
	memset(buf, 0x6b, sizeof(buf));
	for (uint32_t j = 0; !err && j < children; j++) {
		uint64_t block = QFS_NDIRECT + QFS_NINDIRECT + (uint64_t)j * QFS_NINDIRECT;
		err = qfs_write(f, block * QFS_BLOCK_SIZE, buf, sizeof(buf)) == (int64_t)sizeof(buf) ? 0 : -EIO;
	}
	if (!err)
		qfs_close(f);
	return err;
}

/*
 * fsync'd 4 KiB overwrites of a 256 MiB file (65,536 blocks: a double
 * indirect tree of 64 children), at random blocks or always the same one.
 * Before, recovery re-walked the whole tree for every logged version of
 * the inode: 1,500 of them read 815 MiB.
 */
static int overwrites(char *reason, size_t rn, bool same_block)
{
	const uint64_t blocks = 65536, nwrites = 1500;
	static struct blkdev_ram *base; /* the filled file system, made once for both cases */
	struct qfs *fs;
	if (!base) {
		if (big_file_fs(&base, &fs, 320 * MiB, blocks, reason, rn))
			return 1;
		CHECK_OK(qfs_unmount(fs));
	}
	struct blkdev_ram *d = blkdev_ram_new(base->dev.capacity * BLK_SECTOR_SIZE, NULL);
	memcpy(d->mem, base->mem, base->dev.capacity * BLK_SECTOR_SIZE);
	CHECK_OK(qfs_mount(&d->dev, NULL, &fs));
	struct qfs_statfs st0, st;
	qfs_statfs(fs, &st0);
	uint64_t *last = calloc(blocks, sizeof(uint64_t)); /* seed of each block's last write, 0: the fill */
	struct qfs_file *f;
	CHECK_OK(qfs_open(fs, "/big", 0, &f));
	uint8_t buf[QFS_BLOCK_SIZE];
	for (uint64_t i = 1; i <= nwrites; i++) {
		uint64_t b = same_block ? 12345 : host_rand(&rand_state) % blocks;
		fill_pattern(buf, sizeof(buf), i << 32 | b);
		CHECK(qfs_write(f, b * QFS_BLOCK_SIZE, buf, sizeof(buf)) == (int64_t)sizeof(buf), "write %llu",
		      (unsigned long long)i);
		CHECK_OK(qfs_fsync(f));
		last[b] = i << 32 | b;
	}
	qfs_close(f);
	qfs_statfs(fs, &st);
	struct crash_case c = {same_block ? "1500 fsync'd overwrites of one block of a 256 MiB file"
					  : "1500 fsync'd 4 KiB overwrites at random in a 256 MiB file",
			       st.log_bytes, st.checkpoints - st0.checkpoints};
	struct qfs *rfs;
	int bad = recover_and_check(d, fs, &c, &rfs, reason, rn);
	if (!bad) {
		/* Every fsync'd block holds its last write; the others (a sample) the fill. */
		struct qfs_file *g;
		CHECK_OK(qfs_open(rfs, "/big", 0, &g));
		uint8_t got[QFS_BLOCK_SIZE], want[QFS_BLOCK_SIZE];
		for (uint64_t b = 0; b < blocks; b++) {
			if (!last[b] && b % 97)
				continue;
			CHECK(qfs_read(g, b * QFS_BLOCK_SIZE, got, sizeof(got)) == (int64_t)sizeof(got), "read %llu",
			      (unsigned long long)b);
			if (last[b])
				fill_pattern(want, sizeof(want), last[b]);
			else
				fill_block(b, want);
			CHECK(!memcmp(got, want, sizeof(got)), "block %llu differs after recovery", (unsigned long long)b);
		}
		qfs_close(g);
		qfs_unmount(rfs);
	}
	free(last);
	blkdev_ram_free(d);
	return bad;
}

static int overwrites_random_(char *reason, size_t rn)
{
	return overwrites(reason, rn, false);
}

static int overwrites_one_block_(char *reason, size_t rn)
{
	return overwrites(reason, rn, true);
}

/* Many small files, each created, written and fsync'd: new inodes, a growing directory. */
static int many_files_(char *reason, size_t rn)
{
	struct blkdev_ram *d;
	struct qfs *fs;
	if (new_fs(&d, &fs, 128 * MiB, reason, rn))
		return 1;
	CHECK_OK(qfs_mkdir(fs, "/m"));
	if (checkpointed(d, &fs, reason, rn))
		return 1;
	struct qfs_statfs st0, st;
	qfs_statfs(fs, &st0);
	for (int i = 0; i < 400; i++) {
		char p[32];
		uint8_t buf[3000];
		snprintf(p, sizeof(p), "/m/f%d", i);
		fill_pattern(buf, sizeof(buf), (uint64_t)i);
		struct qfs_file *f;
		CHECK_OK(qfs_open(fs, p, QFS_O_CREAT, &f));
		CHECK(qfs_write(f, 0, buf, sizeof(buf)) == (int64_t)sizeof(buf), "write %s", p);
		CHECK_OK(qfs_fsync(f));
		qfs_close(f);
	}
	qfs_statfs(fs, &st);
	struct crash_case c = {"400 small files, each fsync'd", st.log_bytes, st.checkpoints - st0.checkpoints};
	struct qfs *rfs;
	if (recover_and_check(d, fs, &c, &rfs, reason, rn))
		return 1;
	for (int i = 0; i < 400; i += 37) {
		char p[32];
		uint8_t buf[3000];
		snprintf(p, sizeof(p), "/m/f%d", i);
		fill_pattern(buf, sizeof(buf), (uint64_t)i);
		uint8_t *got;
		int64_t n = get_file(rfs, p, &got);
		CHECK(n == (int64_t)sizeof(buf) && !memcmp(got, buf, sizeof(buf)), "%s after recovery", p);
		free(got);
	}
	qfs_unmount(rfs);
	blkdev_ram_free(d);
	return 0;
}

/*
 * Deleting and truncating files with large trees: recovery must free their
 * blocks, so it reads their indirect blocks, while the log says little. The
 * writer counts those reads; within its allowance it goes on without a
 * checkpoint (this case), past it the commit checkpoints (the next one).
 */
static int deletes_(char *reason, size_t rn)
{
	struct blkdev_ram *d;
	struct qfs *fs;
	if (new_fs(&d, &fs, 64 * MiB, reason, rn))
		return 1;
	CHECK_OK(sparse_tree(fs, "/tree", 120)); /* 120 children: a 480 MiB file of 121 blocks */
	if (checkpointed(d, &fs, reason, rn))
		return 1;
	struct qfs_statfs st0, st;
	qfs_statfs(fs, &st0);
	struct qfs_file *f;
	CHECK_OK(qfs_open(fs, "/tree", 0, &f));
	CHECK_OK(qfs_truncate(f, 200 * MiB));
	CHECK_OK(qfs_fsync(f));
	qfs_close(f);
	CHECK_OK(qfs_unlink(fs, "/tree"));
	CHECK_OK(put_file(fs, "/small", "after", 5));
	CHECK_OK(qfs_sync(fs));
	qfs_statfs(fs, &st);
	struct crash_case c = {"truncate, then delete, a file of 120 indirect blocks", st.log_bytes,
			       st.checkpoints - st0.checkpoints};
	struct qfs *rfs;
	if (recover_and_check(d, fs, &c, &rfs, reason, rn))
		return 1;
	struct qfs_stat sst;
	CHECK_ERR(qfs_stat(rfs, "/tree", &sst), -ENOENT);
	CHECK_OK(qfs_stat(rfs, "/small", &sst));
	struct qfs_statfs rst;
	qfs_statfs(rfs, &rst);
	CHECK(rst.live_blocks < 20, "%llu blocks still live after the delete was recovered",
	      (unsigned long long)rst.live_blocks);
	qfs_unmount(rfs);
	blkdev_ram_free(d);
	return 0;
}

static int deletes_past_allowance_(char *reason, size_t rn)
{
	struct blkdev_ram *d;
	struct qfs *fs;
	if (new_fs(&d, &fs, 64 * MiB, reason, rn))
		return 1;
	for (int i = 0; i < 3; i++) {
		char p[16];
		snprintf(p, sizeof(p), "/t%d", i);
		CHECK_OK(sparse_tree(fs, p, 1000)); /* 1001 indirect blocks each */
	}
	if (checkpointed(d, &fs, reason, rn))
		return 1;
	struct qfs_statfs st0, st;
	qfs_statfs(fs, &st0);
	struct crash_trace t;
	crash_record(d, &t);
	for (int i = 0; i < 3; i++) {
		char p[16];
		snprintf(p, sizeof(p), "/t%d", i);
		CHECK_OK(qfs_unlink(fs, p));
	}
	CHECK_OK(qfs_sync(fs));
	d->observe = NULL;
	qfs_statfs(fs, &st);
	CHECK(st.checkpoints > st0.checkpoints, "deleting 3,000 indirect blocks did not checkpoint");
	/*
	 * A power cut anywhere in that checkpoint, every write completed so far
	 * landed: the deletes are recovered whole or not at all, and never by
	 * reading the 3,000 indirect blocks back (the checkpoint's psegs are
	 * not a commit: recovery leaves them out until its region lands).
	 */
	struct qfs_disk_super sb;
	memcpy(&sb, d->mem, sizeof(sb));
	uint8_t *img = malloc(t.bytes);
	uint64_t written = 0;
	size_t w = 0;
	for (uint64_t ev = 0; ev <= t.events; ev++) {
		for (; w < t.nw && t.w[w].done_at < ev; w++)
			written += t.w[w].len;
		crash_build_completed(&t, ev, img);
		struct blkdev_ram *c = blkdev_ram_new(t.bytes, img);
		struct qfs *cfs;
		CHECK_OK(qfs_mount(&c->dev, &(struct qfs_mount_opts){.read_only = true}, &cfs));
		uint64_t read = c->dev.stats.read_bytes, bound = read_bound(&sb, written);
		int gone = 0;
		struct qfs_stat sst;
		for (int i = 0; i < 3; i++) {
			char p[16];
			snprintf(p, sizeof(p), "/t%d", i);
			gone += qfs_stat(cfs, p, &sst) == -ENOENT;
		}
		qfs_unmount(cfs);
		blkdev_ram_free(c);
		CHECK(read <= bound, "power cut at event %llu of the checkpoint: recovery read %llu bytes, "
		      "%llu written since the last checkpoint", (unsigned long long)ev, (unsigned long long)read,
		      (unsigned long long)written);
		CHECK(gone == 0 || gone == 3, "power cut at event %llu: %d of the 3 deletes recovered",
		      (unsigned long long)ev, gone);
	}
	free(img);
	crash_trace_free(&t);
	struct crash_case c = {"after deleting 3 files of 1,001 indirect blocks each", st.log_bytes, 0};
	CHECK_OK(put_file(fs, "/after", "x", 1));
	CHECK_OK(qfs_sync(fs));
	qfs_statfs(fs, &st);
	c.log_bytes = st.log_bytes;
	struct qfs *rfs;
	if (recover_and_check(d, fs, &c, &rfs, reason, rn))
		return 1;
	struct qfs_stat sst;
	for (int i = 0; i < 3; i++) {
		char p[16];
		snprintf(p, sizeof(p), "/t%d", i);
		CHECK_ERR(qfs_stat(rfs, p, &sst), -ENOENT);
	}
	CHECK_OK(qfs_stat(rfs, "/after", &sst));
	qfs_unmount(rfs);
	blkdev_ram_free(d);
	return 0;
}

int main(void)
{
	test_run("recovery_bound_random_overwrites", overwrites_random_);
	test_run("recovery_bound_one_block", overwrites_one_block_);
	test_run("recovery_bound_many_files", many_files_);
	test_run("recovery_bound_deletes", deletes_);
	test_run("recovery_bound_deletes_past_allowance", deletes_past_allowance_);
	return test_failures ? 1 : 0;
}
