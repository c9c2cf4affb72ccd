/*
 * Shared helpers of the quillfs host tests (fs_testlib.c): the TEST line
 * protocol, RAM file systems, whole-file helpers and a hash of a whole tree.
 */
#ifndef TESTS_HOST_FS_TEST_H
#define TESTS_HOST_FS_TEST_H

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fs/fs.h"
#include "tests/host/blkdev_host.h"

extern int test_failures;
/* Run one test: fn fills reason and returns nonzero on failure. */
void test_run(const char *name, int (*fn)(char *reason, size_t n));

#define CHECK(cond, ...)                                              \
	do {                                                          \
		if (!(cond)) {                                        \
			snprintf(reason, rn, "%s:%d: ", __FILE__, __LINE__); \
			size_t l_ = strlen(reason);                   \
			snprintf(reason + l_, rn - l_, __VA_ARGS__);  \
			return 1;                                     \
		}                                                     \
	} while (0)
#define CHECK_OK(expr) \
	do { int r_ = (int)(expr); CHECK(r_ >= 0, "%s = %d", #expr, r_); } while (0)
#define CHECK_ERR(expr, e) \
	do { int r_ = (int)(expr); CHECK(r_ == (e), "%s = %d, want %d", #expr, r_, (e)); } while (0)

/* A formatted RAM device. */
struct blkdev_ram *ram_fs(uint64_t bytes, uint32_t seg_bytes);
int put_file(struct qfs *fs, const char *path, const void *data, size_t len);
/* Whole content into *out (malloc'd); returns the length or -errno. */
int64_t get_file(struct qfs *fs, const char *path, uint8_t **out);
/* Hash of every path, type and content under the root (but tree_hash_skip,
 * when set); -errno on failure. */
extern const char *tree_hash_skip;
int tree_hash(struct qfs *fs, uint64_t *hash, uint64_t *nfiles);
uint64_t hash_bytes(uint64_t h, const void *p, size_t n);
/* Deterministic content for (seed, offset). */
void fill_pattern(uint8_t *buf, size_t n, uint64_t seed);
/* fsck, printing problems to stderr when verbose; returns problems or -errno. */
int fsck_quiet(struct blk_dev *dev, char *first, size_t firstlen);
int check_quiet(struct qfs *fs, char *first, size_t firstlen);

#endif
