/*
 * quillfs unit tests on a RAM device: every operation and error, directory
 * trees, large and sparse files, a full file system, rename, remount after
 * each, fsck after each.
 */
#include "tests/host/fs_test.h"
#include "fs/ondisk.h"
#include "fs/fs_int.h" /* fsck_repair damages a file system on purpose */
#include "fs/csum_vectors.h"

#include <stdlib.h>
#include <unistd.h>

#define MiB (1ull << 20)

static struct blkdev_ram *dev;
static struct qfs *fs;

static int setup(uint64_t bytes, uint32_t seg)
{
	dev = ram_fs(bytes, seg);
	if (!dev)
		return -ENOMEM;
	return qfs_mount(&dev->dev, NULL, &fs);
}

/* Unmount, fsck, mount again. */
static int remount(char *reason, size_t rn)
{
	char first[200];
	CHECK_OK(qfs_unmount(fs));
	fs = NULL;
	int p = fsck_quiet(&dev->dev, first, sizeof(first));
	CHECK(p == 0, "fsck: %d problems: %s", p, first);
	CHECK_OK(qfs_mount(&dev->dev, NULL, &fs));
	return 0;
}

static void teardown(void)
{
	if (fs)
		qfs_unmount(fs);
	fs = NULL;
	blkdev_ram_free(dev);
	dev = NULL;
}

#define T(name) static int name##_(char *reason, size_t rn)
#define RUN(name, bytes, seg)                                        \
	do {                                                         \
		int e_ = setup(bytes, seg);                          \
		if (e_) {                                            \
			printf("TEST %s FAIL setup %d\n", #name, e_); \
			test_failures++;                             \
		} else {                                             \
			test_run(#name, name##_);                    \
		}                                                    \
		teardown();                                          \
	} while (0)

static int expect_file(struct qfs *f, const char *path, const void *want, size_t len,
		       char *reason, size_t rn)
{
	uint8_t *got;
	int64_t n = get_file(f, path, &got);
	CHECK(n == (int64_t)len, "%s: length %lld, want %zu", path, (long long)n, len);
	int same = memcmp(got, want, len) == 0;
	free(got);
	CHECK(same, "%s: content differs", path);
	return 0;
}
#define EXPECT_FILE(p, w, l) do { if (expect_file(fs, p, w, l, reason, rn)) return 1; } while (0)

T(csum)
{
	static uint8_t buf[CSUM_VECTOR_BYTES];
	for (uint32_t i = 0; i < sizeof(buf); i++)
		buf[i] = csum_vector_byte(i);
	CHECK(qfs_xxh64("abc", 3, 0) == 0x44bc2cf5ad770999ull, "XXH64(\"abc\") %#llx",
	      (unsigned long long)qfs_xxh64("abc", 3, 0));
	for (size_t i = 0; i < sizeof(csum_vectors) / sizeof(csum_vectors[0]); i++) {
		const struct csum_vector *v = &csum_vectors[i];
		uint64_t got = qfs_xxh64(buf + v->offset, v->len, v->seed);
		CHECK(got == v->xxh64, "XXH64 of %u bytes at +%u, seed %u: %#llx, want %#llx", v->len,
		      v->offset, v->seed, (unsigned long long)got, (unsigned long long)v->xxh64);
		CHECK(qfs_csum(v->seed, buf + v->offset, v->len) == (uint32_t)v->xxh64, "qfs_csum is not the low half");
	}
	return 0;
}

T(format_mount_empty)
{
	struct qfs_statfs st;
	CHECK_OK(qfs_statfs(fs, &st));
	CHECK(st.live_blocks == 2, "live %llu", (unsigned long long)st.live_blocks);
	struct qfs_stat s;
	CHECK_OK(qfs_stat(fs, "/", &s));
	CHECK(s.mode == QFS_MODE_DIR && s.ino == 1, "root");
	if (remount(reason, rn))
		return 1;
	CHECK_OK(qfs_stat(fs, "/", &s));
	return 0;
}

T(create_write_read)
{
	const char *msg = "hello, quill";
	CHECK_OK(put_file(fs, "/a", msg, strlen(msg)));
	EXPECT_FILE("/a", msg, strlen(msg));
	if (remount(reason, rn))
		return 1;
	EXPECT_FILE("/a", msg, strlen(msg));
	CHECK_ERR(qfs_create(fs, "/a"), -EEXIST);
	CHECK_ERR(qfs_create(fs, "a"), -EEXIST);
	struct qfs_file *f;
	CHECK_ERR(qfs_open(fs, "/nope", 0, &f), -ENOENT);
	CHECK_ERR(qfs_open(fs, "/a", QFS_O_CREAT | QFS_O_EXCL, &f), -EEXIST);
	CHECK_ERR(qfs_open(fs, "/", 0, &f), -EISDIR);
	return 0;
}

T(overwrite_append_sparse)
{
	size_t n = 3 * 4096 + 100;
	uint8_t *a = malloc(n + 8192), *b = malloc(1 << 20);
	fill_pattern(a, n, 1);
	CHECK_OK(put_file(fs, "/f", a, n));
	struct qfs_file *f;
	CHECK_OK(qfs_open(fs, "/f", 0, &f));
	/* overwrite across a block boundary */
	fill_pattern(b, 5000, 2);
	CHECK(qfs_write(f, 3000, b, 5000) == 5000, "overwrite");
	memcpy(a + 3000, b, 5000);
	/* append */
	CHECK(qfs_write(f, n, b, 8192) == 8192, "append");
	memcpy(a + n, b, 8192);
	n += 8192;
	EXPECT_FILE("/f", a, n);
	/* sparse: far beyond the end, through the indirect and double indirect */
	uint64_t far = 40ull << 20;
	CHECK(qfs_write(f, far, "x", 1) == 1, "sparse write");
	struct qfs_stat st;
	CHECK_OK(qfs_fstat(f, &st));
	CHECK(st.size == far + 1, "size %llu", (unsigned long long)st.size);
	CHECK(qfs_read(f, far - 4096, b, 4096) == 4096, "hole read");
	for (int i = 0; i < 4096; i++)
		CHECK(b[i] == 0, "hole not zero at %d", i);
	CHECK(qfs_read(f, far, b, 10) == 1 && b[0] == 'x', "read past hole");
	CHECK(qfs_read(f, far + 1, b, 10) == 0, "read at EOF");
	CHECK_OK(qfs_close(f));
	if (remount(reason, rn))
		return 1;
	CHECK_OK(qfs_open(fs, "/f", 0, &f));
	CHECK(qfs_read(f, 0, b, n) == (int64_t)n && !memcmp(a, b, n), "after remount");
	CHECK(qfs_read(f, far, b, 10) == 1 && b[0] == 'x', "sparse after remount");
	CHECK_OK(qfs_fstat(f, &st));
	CHECK(st.blocks < 20, "sparse file uses %llu blocks", (unsigned long long)st.blocks);
	CHECK_OK(qfs_close(f));
	free(a);
	free(b);
	return 0;
}

T(truncate)
{
	size_t n = 2 << 20; /* into the single indirect */
	uint8_t *a = malloc(n), *b = malloc(n);
	fill_pattern(a, n, 3);
	CHECK_OK(put_file(fs, "/t", a, n));
	CHECK_OK(qfs_sync(fs));
	struct qfs_file *f;
	CHECK_OK(qfs_open(fs, "/t", 0, &f));
	CHECK_OK(qfs_truncate(f, 5000));
	CHECK_OK(qfs_truncate(f, 10000));
	memset(a + 5000, 0, 5000);
	CHECK(qfs_read(f, 0, b, n) == 10000 && !memcmp(a, b, 10000), "truncated content");
	CHECK_OK(qfs_close(f));
	if (remount(reason, rn))
		return 1;
	EXPECT_FILE("/t", a, 10000);
	struct qfs_statfs st;
	CHECK_OK(qfs_statfs(fs, &st));
	CHECK(st.live_blocks < 10, "live after truncate %llu", (unsigned long long)st.live_blocks);
	CHECK_OK(qfs_open(fs, "/t", QFS_O_TRUNC, &f));
	CHECK_OK(qfs_close(f));
	EXPECT_FILE("/t", a, 0);
	free(a);
	free(b);
	return 0;
}

T(dirs)
{
	CHECK_OK(qfs_mkdir(fs, "/d"));
	CHECK_OK(qfs_mkdir(fs, "/d/e"));
	CHECK_OK(put_file(fs, "/d/e/f", "x", 1));
	CHECK_ERR(qfs_mkdir(fs, "/d"), -EEXIST);
	CHECK_ERR(qfs_mkdir(fs, "/"), -EEXIST);
	CHECK_ERR(qfs_mkdir(fs, "/x/y"), -ENOENT);
	CHECK_ERR(qfs_mkdir(fs, "/d/e/f/g"), -ENOTDIR);
	CHECK_ERR(qfs_create(fs, "/d/e/f/g"), -ENOTDIR);
	CHECK_ERR(qfs_rmdir(fs, "/d"), -ENOTEMPTY);
	CHECK_ERR(qfs_rmdir(fs, "/d/e/f"), -ENOTDIR);
	CHECK_ERR(qfs_unlink(fs, "/d/e"), -EISDIR);
	CHECK_ERR(qfs_unlink(fs, "/d/nope"), -ENOENT);
	char longname[300];
	memset(longname, 'n', sizeof(longname));
	longname[0] = '/';
	longname[257] = 0;
	CHECK_ERR(qfs_create(fs, longname), -ENAMETOOLONG);
	longname[256] = 0; /* 255 bytes: allowed */
	CHECK_OK(qfs_create(fs, longname));
	if (remount(reason, rn))
		return 1;
	struct qfs_stat st;
	CHECK_OK(qfs_stat(fs, longname, &st));
	CHECK_OK(qfs_stat(fs, "/d/e/f", &st));
	CHECK(st.size == 1, "size");
	CHECK_OK(qfs_unlink(fs, "/d/e/f"));
	CHECK_OK(qfs_rmdir(fs, "/d/e"));
	CHECK_ERR(qfs_stat(fs, "/d/e", &st), -ENOENT);
	if (remount(reason, rn))
		return 1;
	CHECK_ERR(qfs_stat(fs, "/d/e", &st), -ENOENT);
	CHECK_OK(qfs_rmdir(fs, "/d"));
	return 0;
}

T(many_files_readdir)
{
	char path[64];
	int n = 600;
	CHECK_OK(qfs_mkdir(fs, "/m"));
	for (int i = 0; i < n; i++) {
		snprintf(path, sizeof(path), "/m/file-with-a-longish-name-%04d", i);
		CHECK_OK(put_file(fs, path, path, strlen(path)));
	}
	for (int i = 0; i < n; i += 3) {
		snprintf(path, sizeof(path), "/m/file-with-a-longish-name-%04d", i);
		CHECK_OK(qfs_unlink(fs, path));
	}
	if (remount(reason, rn))
		return 1;
	uint64_t cookie = 0;
	struct qfs_dirent e;
	int count = 0, r;
	while ((r = qfs_readdir(fs, "/m", &cookie, &e)) == 1) {
		int i = atoi(e.name + strlen("file-with-a-longish-name-"));
		CHECK(i % 3 != 0, "deleted name %s listed", e.name);
		count++;
	}
	CHECK(r == 0, "readdir %d", r);
	CHECK(count == n - (n + 2) / 3, "listed %d", count);
	snprintf(path, sizeof(path), "/m/file-with-a-longish-name-%04d", 7);
	EXPECT_FILE(path, path, strlen(path));
	return 0;
}

T(rename)
{
	CHECK_OK(put_file(fs, "/a", "A", 1));
	CHECK_OK(put_file(fs, "/b", "B", 1));
	CHECK_OK(qfs_mkdir(fs, "/d"));
	CHECK_OK(qfs_mkdir(fs, "/d/sub"));
	CHECK_OK(qfs_rename(fs, "/a", "/d/a2"));
	EXPECT_FILE("/d/a2", "A", 1);
	struct qfs_stat st;
	CHECK_ERR(qfs_stat(fs, "/a", &st), -ENOENT);
	CHECK_OK(qfs_rename(fs, "/b", "/d/a2")); /* replaces */
	EXPECT_FILE("/d/a2", "B", 1);
	CHECK_ERR(qfs_rename(fs, "/d", "/d/sub/x"), -EINVAL);
	CHECK_ERR(qfs_rename(fs, "/nope", "/x"), -ENOENT);
	CHECK_ERR(qfs_rename(fs, "/d/a2", "/d/sub"), -EISDIR);
	CHECK_OK(qfs_mkdir(fs, "/e"));
	CHECK_ERR(qfs_rename(fs, "/e", "/d/a2"), -ENOTDIR);
	CHECK_ERR(qfs_rename(fs, "/e", "/d"), -ENOTEMPTY);
	CHECK_OK(qfs_rename(fs, "/d/sub", "/e")); /* over an empty directory */
	CHECK_OK(qfs_rename(fs, "/e", "/e"));
	CHECK_OK(put_file(fs, "/e/in", "I", 1));
	if (remount(reason, rn))
		return 1;
	EXPECT_FILE("/e/in", "I", 1);
	EXPECT_FILE("/d/a2", "B", 1);
	CHECK_ERR(qfs_stat(fs, "/d/sub", &st), -ENOENT);
	return 0;
}

T(stale_handle)
{
	struct qfs_file *f;
	CHECK_OK(put_file(fs, "/s", "abc", 3));
	CHECK_OK(qfs_open(fs, "/s", 0, &f));
	CHECK_OK(qfs_unlink(fs, "/s"));
	uint8_t b[4];
	CHECK_ERR(qfs_read(f, 0, b, 3), -ENOENT);
	CHECK_ERR(qfs_write(f, 0, b, 3), -ENOENT);
	CHECK_OK(qfs_create(fs, "/s2"));
	CHECK_OK(qfs_close(f));
	if (remount(reason, rn))
		return 1;
	CHECK_OK(qfs_stat(fs, "/s2", (struct qfs_stat[1]){0}));
	return 0;
}

T(large_file)
{
	/* 6 MiB, through direct, indirect and double indirect blocks. */
	size_t n = 6 << 20;
	uint8_t *a = malloc(n), *b = malloc(n);
	fill_pattern(a, n, 9);
	struct qfs_file *f;
	CHECK_OK(qfs_open(fs, "/big", QFS_O_CREAT, &f));
	for (size_t off = 0; off < n; off += 100000) {
		size_t len = n - off < 100000 ? n - off : 100000;
		CHECK(qfs_write(f, off, a + off, len) == (int64_t)len, "write at %zu", off);
	}
	CHECK_OK(qfs_fsync(f));
	CHECK(qfs_read(f, 0, b, n) == (int64_t)n && !memcmp(a, b, n), "read back");
	CHECK_OK(qfs_close(f));
	if (remount(reason, rn))
		return 1;
	EXPECT_FILE("/big", a, n);
	CHECK_OK(qfs_unlink(fs, "/big"));
	if (remount(reason, rn))
		return 1;
	struct qfs_statfs st;
	CHECK_OK(qfs_statfs(fs, &st));
	CHECK(st.live_blocks < 8, "live after unlink %llu", (unsigned long long)st.live_blocks);
	free(a);
	free(b);
	return 0;
}

T(max_file_size)
{
	struct qfs_file *f;
	uint64_t max = QFS_MAX_FILE_BLOCKS * QFS_BLOCK_SIZE;
	CHECK(max >= (4ull << 30), "max %llu", (unsigned long long)max);
	CHECK_OK(qfs_open(fs, "/huge", QFS_O_CREAT, &f));
	CHECK(qfs_write(f, (4ull << 30) - 1, "z", 1) == 1, "write at 4 GiB - 1");
	CHECK_ERR(qfs_write(f, max, "z", 1), -EFBIG);
	CHECK_ERR(qfs_truncate(f, max + 1), -EFBIG);
	CHECK_OK(qfs_close(f));
	if (remount(reason, rn))
		return 1;
	struct qfs_stat st;
	CHECK_OK(qfs_stat(fs, "/huge", &st));
	CHECK(st.size == 4ull << 30, "size");
	uint8_t *got;
	CHECK_OK(qfs_open(fs, "/huge", 0, &f));
	uint8_t c = 0;
	CHECK(qfs_read(f, (4ull << 30) - 1, &c, 1) == 1 && c == 'z', "last byte");
	CHECK_OK(qfs_close(f));
	(void)got;
	return 0;
}

T(full_fs)
{
	/* Fill an 8 MiB file system: ENOSPC, still consistent, delete frees space. */
	uint8_t *buf = malloc(64 << 10);
	fill_pattern(buf, 64 << 10, 4);
	char path[32];
	struct qfs_statfs st;
	CHECK_OK(qfs_statfs(fs, &st));
	CHECK(st.avail_blocks > 0 && st.live_blocks + st.avail_blocks < st.total_blocks,
	      "empty: %llu live + %llu available of %llu", (unsigned long long)st.live_blocks,
	      (unsigned long long)st.avail_blocks, (unsigned long long)st.total_blocks);
	int i, err = 0;
	for (i = 0; i < 1000 && !err; i++) {
		snprintf(path, sizeof(path), "/f%d", i);
		err = put_file(fs, path, buf, 64 << 10);
	}
	CHECK(err == -ENOSPC, "filling returned %d after %d files", err, i);
	int nfull = i - 1;
	CHECK(nfull > 30, "only %d files of 64 KiB fit", nfull);
	CHECK_OK(qfs_sync(fs));
	/* What statfs called available is what the writes got: full as df counts it. */
	CHECK_OK(qfs_statfs(fs, &st));
	CHECK(st.avail_blocks < 16 && st.live_blocks * 100 >= 99 * (st.live_blocks + st.avail_blocks),
	      "after ENOSPC: %llu live, %llu available", (unsigned long long)st.live_blocks,
	      (unsigned long long)st.avail_blocks);
	if (remount(reason, rn))
		return 1;
	for (int k = 0; k < nfull; k++) {
		snprintf(path, sizeof(path), "/f%d", k);
		if (k == 0 || k == nfull - 1)
			EXPECT_FILE(path, buf, 64 << 10);
	}
	for (int k = 0; k < nfull; k += 2) {
		snprintf(path, sizeof(path), "/f%d", k);
		CHECK_OK(qfs_unlink(fs, path));
	}
	CHECK_OK(qfs_sync(fs));
	for (int k = 0; k < nfull / 2 - 2; k++) {
		snprintf(path, sizeof(path), "/g%d", k);
		CHECK_OK(put_file(fs, path, buf, 64 << 10));
	}
	if (remount(reason, rn))
		return 1;
	free(buf);
	return 0;
}

T(overwrite_80_percent)
{
	/* Keep the fs ~80% full and overwrite at random: the cleaner keeps up. */
	struct qfs_statfs st;
	CHECK_OK(qfs_statfs(fs, &st));
	uint64_t cap = st.total_blocks * QFS_BLOCK_SIZE;
	size_t fsize = (size_t)(cap * 8 / 10);
	fsize -= fsize % 4096;
	uint8_t *blk = malloc(4096), *model = calloc(1, fsize);
	struct qfs_file *f;
	CHECK_OK(qfs_open(fs, "/hot", QFS_O_CREAT, &f));
	for (size_t off = 0; off < fsize; off += 4096) {
		fill_pattern(model + off, 4096, off);
		CHECK(qfs_write(f, off, model + off, 4096) == 4096, "fill at %zu", off);
	}
	CHECK_OK(qfs_fsync(f));
	uint64_t rng = 42;
	uint64_t nblk = fsize / 4096;
	for (int i = 0; i < 20000; i++) {
		uint64_t b = host_rand(&rng) % nblk;
		fill_pattern(model + b * 4096, 4096, rng);
		int64_t w = qfs_write(f, b * 4096, model + b * 4096, 4096);
		CHECK(w == 4096, "overwrite %d: %lld", i, (long long)w);
		if (i % 500 == 499)
			CHECK_OK(qfs_fsync(f));
	}
	CHECK_OK(qfs_close(f));
	CHECK_OK(qfs_statfs(fs, &st));
	CHECK(st.cleaned_segs > 0, "cleaner never ran");
	printf("# overwrite_80_percent: write amplification %.2f, %llu segments cleaned, %llu checkpoints\n",
	       (double)st.dev_bytes / (double)st.user_bytes, (unsigned long long)st.cleaned_segs,
	       (unsigned long long)st.checkpoints);
	if (remount(reason, rn))
		return 1;
	EXPECT_FILE("/hot", model, fsize);
	free(blk);
	free(model);
	return 0;
}

T(eio)
{
	CHECK_OK(put_file(fs, "/ok", "1", 1));
	CHECK_OK(qfs_sync(fs));
	dev->fail_after = (int64_t)dev->writes;
	CHECK_OK(put_file(fs, "/bad", "2", 1));
	CHECK_ERR(qfs_sync(fs), -EIO);
	CHECK_ERR(qfs_create(fs, "/more"), -EIO);
	qfs_unmount(fs);
	fs = NULL;
	dev->fail_after = -1;
	CHECK_OK(qfs_mount(&dev->dev, NULL, &fs));
	EXPECT_FILE("/ok", "1", 1);
	return 0;
}

T(read_only)
{
	CHECK_OK(put_file(fs, "/r", "r", 1));
	CHECK_OK(qfs_unmount(fs));
	struct qfs_mount_opts o = {.read_only = true};
	CHECK_OK(qfs_mount(&dev->dev, &o, &fs));
	EXPECT_FILE("/r", "r", 1);
	CHECK_ERR(qfs_create(fs, "/w"), -EROFS);
	CHECK_ERR(qfs_sync(fs), -EROFS);
	CHECK_OK(qfs_unmount(fs));
	dev->dev.flags |= BLK_F_RO;
	CHECK_OK(qfs_mount(&dev->dev, NULL, &fs));
	CHECK_ERR(qfs_mkdir(fs, "/w"), -EROFS);
	CHECK_OK(qfs_unmount(fs));
	fs = NULL;
	dev->dev.flags &= ~BLK_F_RO;
	return 0;
}

T(refuse_bad_images)
{
	CHECK_OK(qfs_unmount(fs));
	fs = NULL;
	uint8_t *saved = malloc(2 * 4096);
	memcpy(saved, dev->mem, 2 * 4096);
	/* newer version: refused with EINVAL */
	struct qfs_disk_super *sb = (struct qfs_disk_super *)dev->mem;
	for (int i = 0; i < 2; i++) {
		sb = (struct qfs_disk_super *)(dev->mem + i * 4096);
		sb->version = QFS_VERSION + 1;
		sb->csum = 0;
		sb->csum = qfs_csum(0, sb, sizeof(*sb));
	}
	CHECK_ERR(qfs_mount(&dev->dev, NULL, &fs), -EINVAL);
	CHECK_ERR(qfs_probe(&dev->dev), -EINVAL);
	/* the first format (version 1, CRC32C): refused with EINVAL too, not taken for damage */
	for (int i = 0; i < 2; i++)
		((struct qfs_disk_super *)(dev->mem + i * 4096))->version = 1;
	CHECK_ERR(qfs_mount(&dev->dev, NULL, &fs), -EINVAL);
	CHECK(qfs_present(&dev->dev), "a version 1 image is not seen as a quillfs");
	/* not quillfs at all */
	memset(dev->mem, 0, 2 * 4096);
	CHECK_ERR(qfs_mount(&dev->dev, NULL, &fs), -EUCLEAN);
	/* one superblock copy lost: still mounts */
	memcpy(dev->mem, saved, 2 * 4096);
	memset(dev->mem, 0xff, 4096);
	CHECK_OK(qfs_mount(&dev->dev, NULL, &fs));
	CHECK_OK(qfs_unmount(fs));
	fs = NULL;
	/* both checkpoints destroyed: refused */
	memcpy(dev->mem, saved, 2 * 4096);
	sb = (struct qfs_disk_super *)dev->mem;
	memset(dev->mem + sb->cp_addr[0] * 4096, 0, 4096);
	memset(dev->mem + sb->cp_addr[1] * 4096, 0, 4096);
	CHECK_ERR(qfs_mount(&dev->dev, NULL, &fs), -EUCLEAN);
	free(saved);
	return 0;
}

T(reformat_ignores_old_log)
{
	CHECK_OK(put_file(fs, "/old", "old", 3));
	CHECK_OK(qfs_sync(fs));
	CHECK_OK(qfs_unmount(fs));
	fs = NULL;
	CHECK_OK(qfs_format(&dev->dev, NULL));
	CHECK_OK(qfs_mount(&dev->dev, NULL, &fs));
	struct qfs_stat st;
	CHECK_ERR(qfs_stat(fs, "/old", &st), -ENOENT);
	return 0;
}

/*
 * A disk whose superblocks were wiped (as a user might before reusing it)
 * and formatted again: the new file system must be empty. A uuid derived
 * from what the device held let the old checkpoint's log chain onto it.
 */
T(reformat_zeroed_superblocks)
{
	CHECK_OK(qfs_mkdir(fs, "/olddir"));
	for (int i = 0; i < 20; i++) {
		char p[32];
		snprintf(p, sizeof(p), "/olddir/f%d", i);
		CHECK_OK(put_file(fs, p, "old data", 8));
		if (i % 5 == 0)
			CHECK_OK(qfs_sync(fs));
	}
	CHECK_OK(qfs_unmount(fs));
	fs = NULL;
	for (int round = 0; round < 3; round++) {
		memset(dev->mem, 0, 2 * QFS_BLOCK_SIZE);
		CHECK_OK(qfs_format(&dev->dev, NULL));
		CHECK_OK(qfs_mount(&dev->dev, NULL, &fs));
		struct qfs_dirent e;
		uint64_t cookie = 0;
		int r = qfs_readdir(fs, "/", &cookie, &e);
		CHECK(r == 0, "round %d: the new root is not empty (%d, first entry '%s')", round, r,
		      r == 1 ? e.name : "");
		CHECK_OK(put_file(fs, "/new", "new", 3));
		CHECK_OK(qfs_unmount(fs));
		fs = NULL;
		char first[200];
		int p = fsck_quiet(&dev->dev, first, sizeof(first));
		CHECK(p == 0, "round %d: fsck: %d problems: %s", round, p, first);
	}
	CHECK_OK(qfs_mount(&dev->dev, NULL, &fs));
	return 0;
}

T(segment_sizes)
{
	static const uint32_t sizes[] = {64 << 10, 128 << 10, 1 << 20, 4 << 20};
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		struct blkdev_ram *r = ram_fs(64 * MiB, sizes[i]);
		CHECK(r, "format with %u-byte segments", sizes[i]);
		struct qfs *f2;
		CHECK_OK(qfs_mount(&r->dev, NULL, &f2));
		uint8_t *a = malloc(3 << 20);
		fill_pattern(a, 3 << 20, i);
		CHECK_OK(put_file(f2, "/x", a, 3 << 20));
		CHECK_OK(qfs_unmount(f2));
		CHECK(fsck_quiet(&r->dev, NULL, 0) == 0, "fsck %u", sizes[i]);
		CHECK_OK(qfs_mount(&r->dev, NULL, &f2));
		CHECK(expect_file(f2, "/x", a, 3 << 20, reason, rn) == 0, "content %u", sizes[i]);
		CHECK_OK(qfs_unmount(f2));
		free(a);
		blkdev_ram_free(r);
	}
	struct qfs_format_opts o = {.seg_bytes = 12345};
	CHECK_ERR(qfs_format(&dev->dev, &o), -EINVAL);
	o.seg_bytes = 0;
	o.bytes = 4 * MiB;
	CHECK_ERR(qfs_format(&dev->dev, &o), -EINVAL);
	return 0;
}

/*
 * A device with 4 KiB logical blocks (QEMU's logical_block_size=4096): the
 * pseg header record is a whole block. Fsync'd work, a power cut (nothing
 * after the last fsync), recovery; a 512-byte-record image on such a
 * device is refused, as it could not write its records.
 */
T(block_size_4k)
{
	struct blkdev_ram *r = blkdev_ram_new(16 * MiB, NULL);
	r->dev.lbs = 4096;
	CHECK_OK(qfs_format(&r->dev, NULL));
	struct qfs *f2;
	CHECK_OK(qfs_mount(&r->dev, NULL, &f2));
	uint8_t buf[10000];
	for (int i = 0; i < 30; i++) {
		char p[32];
		snprintf(p, sizeof(p), "/f%d", i % 7);
		fill_pattern(buf, sizeof(buf), (uint64_t)i);
		struct qfs_file *f;
		CHECK_OK(qfs_open(f2, p, QFS_O_CREAT, &f));
		CHECK(qfs_write(f, (uint64_t)(i % 3) * 5000, buf, sizeof(buf)) == (int64_t)sizeof(buf), "write %s", p);
		CHECK_OK(qfs_fsync(f));
		qfs_close(f);
	}
	uint8_t *want[7];
	int64_t wlen[7];
	for (int k = 0; k < 7; k++) {
		char p[32];
		snprintf(p, sizeof(p), "/f%d", k);
		wlen[k] = get_file(f2, p, &want[k]);
		CHECK(wlen[k] > 0, "read %s", p);
	}
	qfs_abandon(f2); /* the power goes */
	CHECK_OK(qfs_mount(&r->dev, NULL, &f2));
	struct qfs_recovery rec;
	qfs_recovery_info(f2, &rec);
	CHECK(rec.commits > 0, "recovery applied no commit");
	for (int k = 0; k < 7; k++) {
		char p[32];
		snprintf(p, sizeof(p), "/f%d", k);
		CHECK(expect_file(f2, p, want[k], (size_t)wlen[k], reason, rn) == 0, "%s after recovery", p);
		free(want[k]);
	}
	CHECK_OK(qfs_unmount(f2));
	CHECK(fsck_quiet(&r->dev, NULL, 0) == 0, "fsck");
	blkdev_ram_free(r);
	/* Records of 512 bytes (the usual format) cannot be written to a 4 KiB-block device. */
	CHECK_OK(qfs_unmount(fs));
	fs = NULL;
	dev->dev.lbs = 4096;
	CHECK_ERR(qfs_mount(&dev->dev, NULL, &fs), -EINVAL);
	dev->dev.lbs = 512;
	CHECK_OK(qfs_mount(&dev->dev, NULL, &fs));
	return 0;
}

/*
 * A write larger than the dirty limit goes out early (without a commit);
 * truncating the file back before the commit must leave no block of it
 * behind after recovery, though recovery's idea of the size lagged behind
 * those early blocks (the truncation was skipped as "not smaller").
 */
T(early_write_then_truncate)
{
	CHECK_OK(qfs_unmount(fs));
	fs = NULL;
	struct qfs_mount_opts mo = {.cache_blocks = 32}; /* a dirty limit of 16 blocks */
	CHECK_OK(qfs_mount(&dev->dev, &mo, &fs));
	CHECK_OK(put_file(fs, "/f", "x", 1));
	CHECK_OK(qfs_sync(fs));
	uint8_t *buf = malloc(40 * 4096);
	fill_pattern(buf, 40 * 4096, 3);
	struct qfs_file *f;
	CHECK_OK(qfs_open(fs, "/f", 0, &f));
	CHECK(qfs_write(f, 0, buf, 40 * 4096) == 40 * 4096, "write");
	CHECK_OK(qfs_truncate(f, 6000));
	CHECK_OK(qfs_fsync(f));
	qfs_close(f);
	qfs_abandon(fs); /* the power goes */
	CHECK_OK(qfs_mount(&dev->dev, NULL, &fs));
	char first[200];
	int p = check_quiet(fs, first, sizeof(first));
	CHECK(p == 0, "fsck after recovery: %d problems: %s", p, first);
	EXPECT_FILE("/f", buf, 6000);
	free(buf);
	return 0;
}

T(churn_full)
{
	/* Random creates, overwrites and deletes on a file system kept full:
	 * -ENOSPC comes back to writes, never to a commit, and deleting
	 * always makes room again. Several segment sizes. */
	static const uint32_t segs[] = {64 << 10, 128 << 10, 512 << 10};
	uint8_t *buf = malloc(384 << 10);
	for (size_t si = 0; si < 3; si++) {
		struct blkdev_ram *r = ram_fs(si == 2 ? 12 * MiB : 8 * MiB, segs[si]);
		struct qfs *f2;
		CHECK_OK(qfs_mount(&r->dev, NULL, &f2));
		uint64_t rng = 1000 + si;
		size_t sizes[60] = {0};
		int enospc = 0;
		for (int i = 0; i < 1500; i++) {
			int k = (int)(host_rand(&rng) % 60);
			char path[16];
			snprintf(path, sizeof(path), "/c%d", k);
			if (host_rand(&rng) % 4 == 0) {
				int e = qfs_unlink(f2, path);
				CHECK(e == 0 || e == -ENOENT, "unlink %d", e);
				sizes[k] = 0;
			} else {
				size_t n = 1 + host_rand(&rng) % (384 << 10);
				fill_pattern(buf, n, (uint64_t)k * 1000003 + n);
				int e = put_file(f2, path, buf, n);
				CHECK(e == 0 || e == -ENOSPC, "seg %u op %d: put %d", segs[si], i, e);
				if (e == -ENOSPC) {
					enospc++;
					qfs_unlink(f2, path); /* whatever was written goes */
					sizes[k] = 0;
				} else {
					sizes[k] = n;
				}
			}
			if (i % 25 == 0)
				CHECK_OK(qfs_sync(f2));
		}
		CHECK(enospc > 0, "seg %u: never full", segs[si]);
		for (int k = 0; k < 60; k++) {
			char path[16];
			snprintf(path, sizeof(path), "/c%d", k);
			if (!sizes[k])
				continue;
			fill_pattern(buf, sizes[k], (uint64_t)k * 1000003 + sizes[k]);
			CHECK(expect_file(f2, path, buf, sizes[k], reason, rn) == 0, "content of %s", path);
		}
		CHECK_OK(qfs_unmount(f2));
		char first[200];
		int p = fsck_quiet(&r->dev, first, sizeof(first));
		CHECK(p == 0, "seg %u: fsck %d: %s", segs[si], p, first);
		blkdev_ram_free(r);
	}
	free(buf);
	return 0;
}

T(fsck_repair)
{
	/* Damage through the internals: an unreachable inode, a wrong nlink, a
	 * wrong usage count, an entry naming a free inode. fsck -n reports
	 * each, repair fixes each, then it is clean. */
	CHECK_OK(put_file(fs, "/lost", "lost", 4));
	CHECK_OK(qfs_mkdir(fs, "/d"));
	CHECK_OK(put_file(fs, "/d/b", "b", 1));
	CHECK_OK(put_file(fs, "/ghost", "g", 1));
	CHECK_OK(qfs_sync(fs));
	struct qfs_inode *root, *ip, *d;
	uint32_t ino, type;
	CHECK_OK(qfs_iget(fs, QFS_ROOT_INO, &root));
	CHECK_OK(qfs_dir_remove(fs, root, "lost", 4));               /* unreachable */
	CHECK_OK(qfs_dir_lookup(fs, root, "d", 1, &ino, &type));
	CHECK_OK(qfs_iget(fs, ino, &d));
	CHECK_OK(qfs_dir_lookup(fs, d, "b", 1, &ino, &type));
	CHECK_OK(qfs_iget(fs, ino, &ip));
	ip->d->nlink = 3;                                           /* wrong nlink */
	qfs_inode_dirty(fs, ip);
	qfs_iput(fs, ip);
	qfs_iput(fs, d);
	CHECK_OK(qfs_dir_lookup(fs, root, "ghost", 5, &ino, &type));
	CHECK_OK(qfs_iget(fs, ino, &ip));
	CHECK_OK(qfs_inode_delete(fs, ip));                          /* entry names a free inode */
	qfs_iput(fs, ip);
	qfs_iput(fs, root);
	CHECK_OK(qfs_sync(fs));
	fs->sut[fs->head[1].cur_seg].live += 2;                      /* wrong usage count */
	fs->live_blocks += 2;
	CHECK_OK(qfs_unmount(fs));
	fs = NULL;
	char first[200];
	int p = fsck_quiet(&dev->dev, first, sizeof(first));
	CHECK(p == 4, "fsck -n: %d problems (%s), want 4", p, first);
	int fixed = 0;
	p = qfs_fsck(&dev->dev, true, NULL, NULL, &fixed);
	CHECK(p == 4 && fixed == 4, "repair: %d problems, %d fixed", p, fixed);
	p = fsck_quiet(&dev->dev, first, sizeof(first));
	CHECK(p == 0, "after repair: %d problems: %s", p, first);
	CHECK_OK(qfs_mount(&dev->dev, NULL, &fs));
	EXPECT_FILE("/d/b", "b", 1);
	struct qfs_stat st;
	CHECK_ERR(qfs_stat(fs, "/ghost", &st), -ENOENT);
	CHECK_OK(qfs_stat(fs, "/d/b", &st));
	CHECK(st.nlink == 1, "nlink %u", st.nlink);
	return 0;
}

T(tib_sparse_image)
{
	/* A sparse 1 TiB file: format, mount, write, fsck; memory stays modest. */
	char path[] = "/tmp/quillfs-tib-XXXXXX";
	int fd = mkstemp(path);
	CHECK(fd >= 0, "mkstemp");
	int tr = ftruncate(fd, (off_t)(1ull << 40));
	close(fd);
	CHECK(tr == 0, "ftruncate 1 TiB");
	struct blk_dev *d = blkdev_file_open(path, false);
	CHECK(d, "open");
	int err = qfs_format(d, NULL);
	struct qfs *f2 = NULL;
	if (!err)
		err = qfs_mount(d, NULL, &f2);
	if (!err)
		err = put_file(f2, "/x", "tib", 3);
	struct qfs_statfs st = {0};
	if (!err)
		qfs_statfs(f2, &st);
	if (f2 && !err)
		err = qfs_unmount(f2);
	int p = err ? 0 : fsck_quiet(d, NULL, 0);
	blkdev_file_close(d);
	unlink(path);
	CHECK(err == 0, "format/mount/write: %d", err);
	CHECK(p == 0, "fsck: %d problems", p);
	CHECK(st.nsegs > 2000000, "segments %llu", (unsigned long long)st.nsegs);
	return 0;
}

int main(void)
{
	RUN(csum, 8 * MiB, 0);
	RUN(format_mount_empty, 8 * MiB, 0);
	RUN(create_write_read, 8 * MiB, 0);
	RUN(overwrite_append_sparse, 16 * MiB, 0);
	RUN(truncate, 16 * MiB, 0);
	RUN(dirs, 8 * MiB, 0);
	RUN(many_files_readdir, 32 * MiB, 0);
	RUN(rename, 8 * MiB, 0);
	RUN(stale_handle, 8 * MiB, 0);
	RUN(large_file, 32 * MiB, 0);
	RUN(max_file_size, 64 * MiB, 0);
	RUN(full_fs, 8 * MiB, 0);
	RUN(overwrite_80_percent, 16 * MiB, 128 << 10);
	RUN(eio, 8 * MiB, 0);
	RUN(read_only, 8 * MiB, 0);
	RUN(refuse_bad_images, 8 * MiB, 0);
	RUN(reformat_ignores_old_log, 8 * MiB, 0);
	RUN(reformat_zeroed_superblocks, 8 * MiB, 0);
	RUN(segment_sizes, 8 * MiB, 0);
	RUN(block_size_4k, 8 * MiB, 0);
	RUN(early_write_then_truncate, 8 * MiB, 0);
	RUN(fsck_repair, 8 * MiB, 0);
	test_run("churn_full", churn_full_);
	test_run("tib_sparse_image", tib_sparse_image_);
	return test_failures ? 1 : 0;
}
