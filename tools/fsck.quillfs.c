/*
 * fsck.quillfs [-n] IMAGE
 *
 * Checks every invariant of a quillfs image (fs/fsck.c) and prints each
 * problem. Without -n it persists recovery and repairs what it can (usage
 * counts, bad or duplicate entries, types, parents, nlink, unreachable
 * inodes: see fs/fsck.c). Exit codes as e2fsck: 0 clean, 1 errors corrected,
 * 4 errors left uncorrected (or the image cannot be mounted), 8 operational
 * error, 16 usage.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "fs/fs.h"
#include "tests/host/blkdev_host.h"

static void report(void *ctx, const char *msg)
{
	printf("%s: %s\n", (const char *)ctx, msg);
}

int main(int argc, char **argv)
{
	bool repair = true;
	int c;
	while ((c = getopt(argc, argv, "nyfp")) != -1) {
		if (c == 'n')
			repair = false;
		else if (c != 'y' && c != 'f' && c != 'p') {
			fprintf(stderr, "usage: fsck.quillfs [-n] IMAGE\n");
			return 16;
		}
	}
	if (optind != argc - 1) {
		fprintf(stderr, "usage: fsck.quillfs [-n] IMAGE\n");
		return 16;
	}
	const char *path = argv[optind];
	struct blk_dev *dev = blkdev_file_open(path, !repair);
	if (!dev) {
		fprintf(stderr, "fsck.quillfs: %s: %s\n", path, strerror(errno));
		return 8;
	}
	int fixed = 0;
	int r = qfs_fsck(dev, repair, report, (void *)path, &fixed);
	blkdev_file_close(dev);
	if (r == -EUCLEAN || r == -EINVAL) {
		printf("%s: %s\n", path, r == -EINVAL ? "made by another quillfs format version, or on a device with larger blocks"
						    : "not a quillfs image, or damaged beyond recovery");
		return 4;
	}
	if (r < 0) {
		printf("%s: check failed: %s (%d)\n", path, strerror(-r), r);
		return 8;
	}
	if (r == 0) {
		printf("%s: clean\n", path);
		return 0;
	}
	if (fixed == r) {
		printf("%s: %d problems, all corrected\n", path, r);
		return 1;
	}
	printf("%s: %d problems, %d corrected\n", path, r, fixed);
	return 4;
}
