/*
 * mkfs.quillfs [-f] [-s SEGMENT-SIZE] [-S FS-SIZE] IMAGE
 *
 * Makes an empty quillfs on IMAGE (a file or a block device). Refuses to
 * overwrite an existing quillfs unless -f. -S creates or resizes a regular
 * file first (sparse). Sizes take k, m, g, t suffixes.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fs/fs.h"
#include "tests/host/blkdev_host.h"

static int parse_size(const char *s, uint64_t *out)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 0);
	if (errno || end == s)
		return -1;
	switch (*end) {
	case 't': case 'T': v <<= 10; /* fall through */
	case 'g': case 'G': v <<= 10; /* fall through */
	case 'm': case 'M': v <<= 10; /* fall through */
	case 'k': case 'K': v <<= 10; end++; break;
	case 0: break;
	default: return -1;
	}
	if (*end)
		return -1;
	*out = v;
	return 0;
}

static void usage(void)
{
	fprintf(stderr, "usage: mkfs.quillfs [-f] [-s segment-size] [-S fs-size] IMAGE\n");
	exit(2);
}

int main(int argc, char **argv)
{
	bool force = false;
	uint64_t seg = 0, size = 0;
	int c;
	while ((c = getopt(argc, argv, "fs:S:h")) != -1) {
		switch (c) {
		case 'f': force = true; break;
		case 's': if (parse_size(optarg, &seg) || seg > UINT32_MAX) usage(); break;
		case 'S': if (parse_size(optarg, &size)) usage(); break;
		default: usage();
		}
	}
	if (optind != argc - 1)
		usage();
	const char *path = argv[optind];
	if (size) {
		struct stat st;
		int fd = open(path, O_RDWR | O_CREAT, 0644);
		if (fd < 0 || fstat(fd, &st) || (S_ISREG(st.st_mode) && ftruncate(fd, (off_t)size))) {
			fprintf(stderr, "mkfs.quillfs: %s: %s\n", path, strerror(errno));
			return 1;
		}
		close(fd);
	}
	struct blk_dev *dev = blkdev_file_open(path, false);
	if (!dev) {
		fprintf(stderr, "mkfs.quillfs: %s: %s\n", path, strerror(errno));
		return 1;
	}
	int err;
	if (qfs_present(dev) && !force) {
		fprintf(stderr, "mkfs.quillfs: %s already holds a quillfs; use -f to overwrite it\n", path);
		blkdev_file_close(dev);
		return 1;
	}
	struct qfs_format_opts o = {.seg_bytes = (uint32_t)seg, .bytes = size};
	err = qfs_format(dev, &o);
	if (err) {
		fprintf(stderr, "mkfs.quillfs: %s: %s (%d)\n", path,
			err == -EINVAL ? "bad size or segment size (fs >= 8 MiB, segments 64 KiB..64 MiB, 4 KiB multiples)"
				       : err == -ENOSPC ? "too small" : strerror(-err), err);
		blkdev_file_close(dev);
		return 1;
	}
	struct qfs *fs;
	struct qfs_mount_opts mo = {.read_only = true};
	struct qfs_statfs st;
	if (qfs_mount(dev, &mo, &fs) == 0) {
		qfs_statfs(fs, &st);
		printf("%s: quillfs, %llu blocks of %llu bytes, %llu segments of %llu KiB\n", path,
		       (unsigned long long)st.total_blocks, (unsigned long long)st.block_size,
		       (unsigned long long)st.nsegs,
		       (unsigned long long)(st.seg_blocks * st.block_size >> 10));
		qfs_unmount(fs);
	}
	blkdev_file_close(dev);
	return 0;
}
