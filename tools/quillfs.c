/*
 * quillfs COMMAND IMAGE [PATH]: look into a quillfs image on the host.
 *
 *   ls IMAGE [DIR]        entries: type, inode, size, name
 *   tree IMAGE [DIR]      the whole tree below DIR
 *   cat IMAGE FILE        the file's bytes on stdout
 *   stat IMAGE PATH       inode, type, size, blocks, version
 *   df IMAGE              space, segments, write amplification
 *   put IMAGE FILE        stdin into FILE (created or replaced)
 *   mkdir IMAGE DIR       a new directory
 *   rm IMAGE PATH         remove a file or an empty directory
 *
 * Reading commands mount read-only and change nothing (recovery happens in
 * memory); put/mkdir/rm mount read-write and sync.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fs/fs.h"
#include "tests/host/blkdev_host.h"

static const char *errstr(int err)
{
	switch (err) {
	case -EUCLEAN: return "corrupt or not a quillfs image";
	case -EINVAL: return "invalid argument (or another quillfs format version)";
	default: return strerror(-err);
	}
}

static int fail(const char *what, int err)
{
	fprintf(stderr, "quillfs: %s: %s\n", what, errstr(err));
	return 1;
}

static int ls(struct qfs *fs, const char *dir, bool recurse, int depth)
{
	struct qfs_dirent e;
	uint64_t cookie = 0;
	int r;
	while ((r = qfs_readdir(fs, dir, &cookie, &e)) == 1) {
		char path[4096];
		struct qfs_stat st;
		snprintf(path, sizeof(path), "%s/%s", strcmp(dir, "/") ? dir : "", e.name);
		int err = qfs_stat(fs, path, &st);
		if (err)
			return fail(path, err);
		if (recurse)
			printf("%*s%s%s  (%llu bytes)\n", depth * 2, "", e.name,
			       e.type == QFS_MODE_DIR ? "/" : "", (unsigned long long)st.size);
		else
			printf("%c %8u %12llu %s\n", e.type == QFS_MODE_DIR ? 'd' : '-', e.ino,
			       (unsigned long long)st.size, e.name);
		if (recurse && e.type == QFS_MODE_DIR && ls(fs, path, true, depth + 1))
			return 1;
	}
	return r < 0 ? fail(dir, r) : 0;
}

static int cat(struct qfs *fs, const char *path)
{
	struct qfs_file *f;
	int err = qfs_open(fs, path, 0, &f);
	if (err)
		return fail(path, err);
	static uint8_t buf[1 << 20];
	uint64_t off = 0;
	int64_t n;
	while ((n = qfs_read(f, off, buf, sizeof(buf))) > 0) {
		if (fwrite(buf, 1, (size_t)n, stdout) != (size_t)n)
			break;
		off += (uint64_t)n;
	}
	qfs_close(f);
	return n < 0 ? fail(path, (int)n) : 0;
}

static int put(struct qfs *fs, const char *path)
{
	struct qfs_file *f;
	int err = qfs_open(fs, path, QFS_O_CREAT | QFS_O_TRUNC, &f);
	if (err)
		return fail(path, err);
	static uint8_t buf[1 << 20];
	uint64_t off = 0;
	size_t n;
	while ((n = fread(buf, 1, sizeof(buf), stdin)) > 0) {
		int64_t w = qfs_write(f, off, buf, n);
		if (w != (int64_t)n) {
			qfs_close(f);
			return fail(path, w < 0 ? (int)w : -ENOSPC);
		}
		off += n;
	}
	err = qfs_fsync(f);
	qfs_close(f);
	return err ? fail(path, err) : 0;
}

static void usage(void)
{
	fprintf(stderr, "usage: quillfs ls|tree|cat|stat|df|put|mkdir|rm IMAGE [PATH]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	if (argc < 3 || argc > 4)
		usage();
	const char *cmd = argv[1], *image = argv[2], *path = argc == 4 ? argv[3] : "/";
	bool writes = !strcmp(cmd, "put") || !strcmp(cmd, "mkdir") || !strcmp(cmd, "rm");
	if ((writes || !strcmp(cmd, "cat") || !strcmp(cmd, "stat")) && argc != 4)
		usage();
	struct blk_dev *dev = blkdev_file_open(image, !writes);
	if (!dev) {
		fprintf(stderr, "quillfs: %s: %s\n", image, strerror(errno));
		return 1;
	}
	struct qfs *fs;
	struct qfs_mount_opts mo = {.read_only = !writes};
	int err = qfs_mount(dev, &mo, &fs);
	if (err) {
		blkdev_file_close(dev);
		return fail(image, err);
	}
	int rc = 0;
	if (!strcmp(cmd, "ls")) {
		rc = ls(fs, path, false, 0);
	} else if (!strcmp(cmd, "tree")) {
		printf("%s\n", path);
		rc = ls(fs, path, true, 1);
	} else if (!strcmp(cmd, "cat")) {
		rc = cat(fs, path);
	} else if (!strcmp(cmd, "stat")) {
		struct qfs_stat st;
		err = qfs_stat(fs, path, &st);
		if (err)
			rc = fail(path, err);
		else
			printf("path: %s\ninode: %u\ntype: %s\nsize: %llu\nblocks: %llu\nlinks: %u\nversion: %llu\n",
			       path, st.ino, st.mode == QFS_MODE_DIR ? "directory" : "file",
			       (unsigned long long)st.size, (unsigned long long)st.blocks, st.nlink,
			       (unsigned long long)st.version);
	} else if (!strcmp(cmd, "df")) {
		struct qfs_statfs st;
		qfs_statfs(fs, &st);
		printf("block size: %llu\nblocks: %llu total, %llu live, %llu free\n"
		       "available to files: %llu blocks (%llu%% full: live / (live + available))\n"
		       "segments: %llu of %llu KiB, %llu free\n"
		       "written: %llu bytes by files, %llu bytes to the device",
		       (unsigned long long)st.block_size, (unsigned long long)st.total_blocks,
		       (unsigned long long)st.live_blocks, (unsigned long long)st.free_blocks,
		       (unsigned long long)st.avail_blocks,
		       (unsigned long long)qfs_full_pct(&st),
		       (unsigned long long)st.nsegs, (unsigned long long)(st.seg_blocks * st.block_size >> 10),
		       (unsigned long long)st.free_segs, (unsigned long long)st.user_bytes,
		       (unsigned long long)st.dev_bytes);
		if (st.user_bytes)
			printf(" (write amplification %.2f)", (double)st.dev_bytes / (double)st.user_bytes);
		printf("\nsegments cleaned: %llu\n", (unsigned long long)st.cleaned_segs);
	} else if (!strcmp(cmd, "put")) {
		rc = put(fs, path);
	} else if (!strcmp(cmd, "mkdir")) {
		err = qfs_mkdir(fs, path);
		rc = err ? fail(path, err) : 0;
	} else if (!strcmp(cmd, "rm")) {
		struct qfs_stat st;
		err = qfs_stat(fs, path, &st);
		if (!err)
			err = st.mode == QFS_MODE_DIR ? qfs_rmdir(fs, path) : qfs_unlink(fs, path);
		rc = err ? fail(path, err) : 0;
	} else {
		rc = 2;
		fprintf(stderr, "quillfs: unknown command %s\n", cmd);
	}
	err = qfs_unmount(fs);
	blkdev_file_close(dev);
	if (err && !rc)
		rc = fail(image, err);
	return rc;
}
