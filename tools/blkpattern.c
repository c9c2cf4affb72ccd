/*
 * blkpattern: check (or write) the LBA-stamped pattern of
 * drivers/blk/blkpattern.h in a raw disk image, sector by sector, the way the
 * in-kernel tests (test=blk, blk_pattern) leave it.
 *
 *   blkpattern IMAGE PASS           check every in-scope sector; exit 0 if all match
 *   blkpattern --write IMAGE PASS   write the pattern (for read-only disk tests)
 *
 * Disks larger than 256 MiB are checked only where the tests write (chunks
 * every 16 MiB and the last chunk; see blkpat_in_scope()).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "drivers/blk/blkpattern.h"

#define BUF_SECTORS 2048 /* 1 MiB per read */

static void usage(void)
{
	fprintf(stderr, "usage: blkpattern [--write] IMAGE PASS\n"
			"  check (or write) the LBA-stamped test pattern, sector by sector\n");
	exit(2);
}

int main(int argc, char **argv)
{
	int write_mode = 0, a = 1;
	if (a < argc && !strcmp(argv[a], "--write")) {
		write_mode = 1;
		a++;
	}
	if (argc - a != 2)
		usage();
	const char *path = argv[a];
	char *end;
	unsigned long pass = strtoul(argv[a + 1], &end, 0);
	if (*end || pass > UINT32_MAX)
		usage();
	int fd = open(path, write_mode ? O_RDWR : O_RDONLY);
	if (fd < 0) {
		fprintf(stderr, "blkpattern: %s: %s\n", path, strerror(errno));
		return 2;
	}
	struct stat st;
	if (fstat(fd, &st)) {
		fprintf(stderr, "blkpattern: %s: %s\n", path, strerror(errno));
		return 2;
	}
	uint64_t cap = (uint64_t)st.st_size / 512;
	static uint64_t buf[BUF_SECTORS * 512 / 8];
	uint64_t counts[BLKPAT_SUM_BAD + 1] = {0}, checked = 0, skipped = 0, shown = 0;
	for (uint64_t lba = 0; lba < cap;) {
		/* Runs of in-scope sectors, read in pieces of at most BUF_SECTORS. */
		if (!blkpat_in_scope(lba, cap)) {
			skipped++;
			lba++;
			continue;
		}
		uint64_t n = 0;
		while (n < BUF_SECTORS && lba + n < cap && blkpat_in_scope(lba + n, cap))
			n++;
		off_t off = (off_t)(lba * 512);
		size_t bytes = (size_t)n * 512;
		if (write_mode) {
			for (uint64_t s = 0; s < n; s++)
				blkpat_fill((uint8_t *)buf + s * 512, lba + s, (uint32_t)pass);
			if (pwrite(fd, buf, bytes, off) != (ssize_t)bytes) {
				fprintf(stderr, "blkpattern: write at sector %llu: %s\n",
					(unsigned long long)lba, strerror(errno));
				return 2;
			}
		} else {
			if (pread(fd, buf, bytes, off) != (ssize_t)bytes) {
				fprintf(stderr, "blkpattern: short read at sector %llu\n", (unsigned long long)lba);
				return 2;
			}
			for (uint64_t s = 0; s < n; s++) {
				enum blkpat_result r = blkpat_check((uint8_t *)buf + s * 512, lba + s, (uint32_t)pass);
				counts[r]++;
				if (r != BLKPAT_OK && shown++ < 10) {
					const uint64_t *w = (const uint64_t *)((uint8_t *)buf + s * 512);
					fprintf(stderr, "blkpattern: sector %llu: %s (holds lba %llu pass %llu)\n",
						(unsigned long long)(lba + s), blkpat_strerror(r),
						(unsigned long long)w[1], (unsigned long long)w[2]);
				}
			}
		}
		checked += n;
		lba += n;
	}
	if (write_mode) {
		if (fsync(fd)) {
			fprintf(stderr, "blkpattern: fsync: %s\n", strerror(errno));
			return 2;
		}
		printf("blkpattern: %s: wrote pass %lu to %llu sectors (%llu outside the pattern's scope)\n",
		       path, pass, (unsigned long long)checked, (unsigned long long)skipped);
		return 0;
	}
	uint64_t bad = checked - counts[BLKPAT_OK];
	printf("blkpattern: %s: pass %lu, %llu sectors checked, %llu ok, %llu bad", path, pass,
	       (unsigned long long)checked, (unsigned long long)counts[BLKPAT_OK], (unsigned long long)bad);
	for (int r = BLKPAT_ZERO; r <= BLKPAT_SUM_BAD; r++)
		if (counts[r])
			printf(", %llu %s", (unsigned long long)counts[r], blkpat_strerror(r));
	printf(" (%llu not in scope)\n", (unsigned long long)skipped);
	close(fd);
	return bad || !checked ? 1 : 0;
}
