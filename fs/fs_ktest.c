/*
 * test=fs: quillfs on the first virtio disk, in the guest. Formats only a
 * disk without a valid quillfs, or with fs.format=1 (destruction needs
 * consent); otherwise works inside /fstest of the existing file system.
 * Writes a tree of files (small, unaligned, large, sparse; some fsync'd),
 * renames and unlinks, syncs, remounts, verifies every byte, checks the
 * file system (qfs_check and qfs_fsck), and leaves the tree in place so
 * the host can check it (tests/qemu/cases_fs.py: fsck.quillfs, quillfs cat).
 *
 * Content of /fstest/.../fK at offset o: (o * 31 + K * 7 + (o >> 8)) & 0xff.
 */
#ifdef QUILL_KERNEL
#include "fs/fs_int.h"
#include "fs/csum_vectors.h"
#include "kernel/jobs/jobs.h" /* an in-kernel test: a job (fs_mount_job) */

CMDLINE_KEY(fs_format, "fs.format", cmdline_valid_bool,
	    "1: test=fs may format vda even when it holds a quillfs (destroys it)");

#define FT_FILES 12
#define FT_CHUNK (64u << 10)

static const uint64_t ft_sizes[FT_FILES] = {
	0, 1, 4095, 4096, 4097, 12345, 65536, 300001, 1048573, 4u << 20, 123457, 5,
};

static void ft_path(char *buf, size_t n, unsigned k)
{
	snprintf(buf, n, k % 3 == 2 ? "/fstest/d1/d2/f%u" : k % 3 == 1 ? "/fstest/d1/f%u" : "/fstest/f%u", k);
}

static void ft_fill(uint8_t *buf, size_t n, uint64_t off, unsigned k)
{
	for (size_t i = 0; i < n; i++) {
		uint64_t o = off + i;
		buf[i] = (uint8_t)((o * 31 + k * 7 + (o >> 8)) & 0xff);
	}
}

static int ft_write(struct qfs *fs, unsigned k, uint8_t *buf)
{
	char path[64];
	struct qfs_file *f;
	ft_path(path, sizeof(path), k);
	int err = qfs_open(fs, path, QFS_O_CREAT | QFS_O_TRUNC, &f);
	if (err)
		return err;
	for (uint64_t off = 0; off < ft_sizes[k] && !err; off += FT_CHUNK) {
		size_t n = ft_sizes[k] - off < FT_CHUNK ? (size_t)(ft_sizes[k] - off) : FT_CHUNK;
		ft_fill(buf, n, off, k);
		int64_t w = qfs_write(f, off, buf, n);
		err = w == (int64_t)n ? 0 : w < 0 ? (int)w : -EIO;
	}
	if (!err && k % 2)
		err = qfs_fsync(f);
	qfs_close(f);
	return err;
}

static int ft_verify(struct qfs *fs, unsigned k, uint8_t *buf, uint8_t *want)
{
	char path[64];
	struct qfs_file *f;
	struct qfs_stat st;
	ft_path(path, sizeof(path), k);
	int err = qfs_open(fs, path, 0, &f);
	if (err)
		return err;
	err = qfs_fstat(f, &st);
	if (!err && st.size != ft_sizes[k])
		err = -EUCLEAN;
	for (uint64_t off = 0; off < ft_sizes[k] && !err; off += FT_CHUNK) {
		size_t n = ft_sizes[k] - off < FT_CHUNK ? (size_t)(ft_sizes[k] - off) : FT_CHUNK;
		int64_t r = qfs_read(f, off, buf, n);
		ft_fill(want, n, off, k);
		if (r != (int64_t)n || memcmp(buf, want, n))
			err = r < 0 ? (int)r : -EUCLEAN;
	}
	qfs_close(f);
	return err;
}

static void ft_report(void *ctx, const char *msg)
{
	printf("fs: fsck: %s\n", msg);
}

/* Remove a previous run's /fstest (a tree two levels deep). */
static void ft_clean(struct qfs *fs)
{
	static const char *const dirs[] = {"/fstest/d1/d2", "/fstest/d1", "/fstest"};
	struct qfs_dirent *e = kmalloc(sizeof(*e));
	char path[300];
	if (!e)
		return;
	for (size_t d = 0; d < ARRAY_SIZE(dirs); d++) {
		uint64_t cookie = 0;
		while (qfs_readdir(fs, dirs[d], &cookie, e) == 1) {
			snprintf(path, sizeof(path), "%s/%s", dirs[d], e->name);
			if (e->type == QFS_MODE_FILE && qfs_unlink(fs, path) == 0)
				cookie = 0;
		}
		qfs_rmdir(fs, dirs[d]);
	}
	kfree(e);
}

/* The format's checksum gives XXH64's known answers in the guest too (the kernel's own build flags). */
KTEST(csum)
{
	static uint8_t buf[CSUM_VECTOR_BYTES];
	for (uint32_t i = 0; i < sizeof(buf); i++)
		buf[i] = csum_vector_byte(i);
	for (size_t i = 0; i < ARRAY_SIZE(csum_vectors); i++) {
		const struct csum_vector *v = &csum_vectors[i];
		uint64_t got = qfs_xxh64(buf + v->offset, v->len, v->seed);
		if (got != v->xxh64)
			KTEST_FAIL("XXH64 of %u bytes at +%u, seed %u: %#llx, want %#llx", v->len, v->offset,
				   v->seed, (unsigned long long)got, (unsigned long long)v->xxh64);
	}
	return 0;
}

KTEST_DEFINE(fs, "fs", true)
{
	struct blk_dev *dev = blk_get("vda");
	struct qfs *fs;
	int err;
	if (!dev)
		KTEST_FAIL("no disk vda");
	int probe = qfs_probe(dev);
	if (probe != 0 && qfs_present(dev) && !cmdline_flag("fs.format", false))
		KTEST_FAIL("vda holds a quillfs this kernel cannot mount: add fs.format=1 to overwrite it");
	if (probe != 0 || cmdline_flag("fs.format", false)) {
		printf("fs: formatting %s (%s)\n", dev->name,
		       probe ? "no quillfs on it" : "fs.format=1");
		if ((err = qfs_format(dev, NULL)))
			KTEST_FAIL("qfs_format: %d", err);
	} else {
		printf("fs: %s holds a quillfs: working in /fstest only\n", dev->name);
	}
	uint8_t *buf = kmalloc(FT_CHUNK), *want = kmalloc(FT_CHUNK);
	if (!buf || !want)
		KTEST_FAIL("out of memory");
	if ((err = fs_mount_job(dev, NULL, &fs, "fs")))
		KTEST_FAIL("qfs_mount: %s", blk_strerror(err));
	ft_clean(fs);
	const char *step = "mkdir";
	err = qfs_mkdir(fs, "/fstest");
	if (!err)
		err = qfs_mkdir(fs, "/fstest/d1");
	if (!err)
		err = qfs_mkdir(fs, "/fstest/d1/d2");
	for (unsigned k = 0; k < FT_FILES && !err; k++) {
		step = "write";
		err = ft_write(fs, k, buf);
	}
	/* Rename over, unlink, a sparse file. */
	if (!err) {
		step = "rename";
		err = qfs_create(fs, "/fstest/tmp");
		if (!err)
			err = qfs_rename(fs, "/fstest/tmp", "/fstest/renamed");
		if (!err)
			err = qfs_unlink(fs, "/fstest/renamed");
	}
	if (!err) {
		struct qfs_file *f;
		step = "sparse";
		err = qfs_open(fs, "/fstest/sparse", QFS_O_CREAT | QFS_O_TRUNC, &f);
		if (!err) {
			int64_t w = qfs_write(f, 100u << 20, "end", 3);
			err = w == 3 ? 0 : -EIO;
			qfs_close(f);
		}
	}
	if (!err) {
		step = "sync";
		err = qfs_sync(fs);
	}
	struct qfs_statfs st;
	qfs_statfs(fs, &st);
	int uerr = qfs_unmount(fs);
	if (err || uerr) {
		kfree(buf);
		kfree(want);
		KTEST_FAIL("%s: %d, unmount: %d", step, err, uerr);
	}
	printf("fs: wrote %u files, %llu bytes; device got %llu bytes (write amplification x100 = %llu), "
	       "%llu commits, %llu flushes\n", FT_FILES, (unsigned long long)st.user_bytes,
	       (unsigned long long)st.dev_bytes,
	       (unsigned long long)(st.user_bytes ? st.dev_bytes * 100 / st.user_bytes : 0),
	       (unsigned long long)st.commits, (unsigned long long)st.flushes);

	if ((err = qfs_mount(dev, NULL, &fs))) {
		kfree(buf);
		kfree(want);
		KTEST_FAIL("remount: %d", err);
	}
	for (unsigned k = 0; k < FT_FILES && !err; k++) {
		err = ft_verify(fs, k, buf, want);
		if (err)
			printf("fs: file %u: %d\n", k, err);
	}
	int problems = err ? 0 : qfs_check(fs, ft_report, NULL);
	uerr = qfs_unmount(fs);
	kfree(buf);
	kfree(want);
	if (err)
		KTEST_FAIL("verify after remount: %d", err);
	if (problems || uerr)
		KTEST_FAIL("check: %d problems, unmount %d", problems, uerr);
	problems = qfs_fsck(dev, false, ft_report, NULL, NULL);
	if (problems)
		KTEST_FAIL("fsck: %d", problems);
	printf("fs: remounted, verified, fsck clean\n");
	return 0;
}
/*
 * test=fs_crash: the guest's half of a power-cut test. Formats vda (it must
 * hold no quillfs, or fs.format=1), then writes /crash/fK, K = 0, 1, ...,
 * fsyncs each and prints "fs: durable K" once qfs_fsync returned; files
 * older than K - 100 are unlinked. It runs until QEMU is killed; the host
 * then checks that fsck is clean and every file printed durable (and not
 * yet unlinked) holds its bytes (tests/qemu/cases_fs.py).
 * Content of fK: (o * 31 + K * 7 + (o >> 8)) & 0xff, size 1000 + K * 7919 % 60000.
 */
KTEST_DEFINE(fs_crash, "fs_crash", true)
{
	struct blk_dev *dev = blk_get("vda");
	struct qfs *fs;
	char path[64];
	int err;
	if (!dev)
		KTEST_FAIL("no disk vda");
	if (qfs_present(dev) && !cmdline_flag("fs.format", false))
		KTEST_FAIL("vda holds a quillfs: add fs.format=1 to overwrite it");
	uint8_t *buf = kmalloc(64 << 10);
	if (!buf)
		KTEST_FAIL("out of memory");
	if ((err = qfs_format(dev, NULL)) || (err = qfs_mount(dev, NULL, &fs)) ||
	    (err = qfs_mkdir(fs, "/crash")) || (err = qfs_sync(fs))) {
		kfree(buf);
		KTEST_FAIL("setup: %d", err);
	}
	for (unsigned k = 0; k < 1000000; k++) {
		struct qfs_file *f;
		size_t n = 1000 + (k * 7919u) % 60000;
		snprintf(path, sizeof(path), "/crash/f%u", k);
		ft_fill(buf, n, 0, k);
		err = qfs_open(fs, path, QFS_O_CREAT | QFS_O_TRUNC, &f);
		if (!err) {
			int64_t w = qfs_write(f, 0, buf, n);
			err = w == (int64_t)n ? qfs_fsync(f) : w < 0 ? (int)w : -EIO;
			qfs_close(f);
		}
		if (!err && k >= 100) {
			snprintf(path, sizeof(path), "/crash/f%u", k - 100);
			err = qfs_unlink(fs, path);
		}
		if (err)
			break;
		printf("fs: durable %u\n", k);
	}
	qfs_unmount(fs);
	kfree(buf);
	KTEST_FAIL("loop ended: %d", err);
}
#endif
