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
/* FNV-1a 64 continued from h; a fresh one starts at FNV_BASIS. */
#define FNV_BASIS 0xcbf29ce484222325ull
uint64_t hash_bytes(uint64_t h, const void *p, size_t n);
/* One entry of a tree: a file's size and FNV-1a of its bytes (from FNV_BASIS). */
struct tree_entry {
	char *path;
	uint32_t type; /* QFS_MODE_FILE or QFS_MODE_DIR */
	uint64_t size, data_hash;
};
/* Every entry under the root but tree_hash_skip (when set), sorted by
 * path, into *out (free with tree_list_free); -errno on failure. */
extern const char *tree_hash_skip;
int tree_list(struct qfs *fs, struct tree_entry **out, size_t *n);
void tree_list_free(struct tree_entry *v, size_t n);
/* qsort order of tree_list: by path. */
int tree_entry_cmp(const void *a, const void *b);
/* Hash of a sorted list: every path, type, size and content. */
uint64_t tree_list_hash(const struct tree_entry *v, size_t n);
/* tree_list_hash of the tree under the root; -errno on failure. */
int tree_hash(struct qfs *fs, uint64_t *hash, uint64_t *nfiles);
/* Deterministic content for (seed, offset). */
void fill_pattern(uint8_t *buf, size_t n, uint64_t seed);
/* fsck, printing problems to stderr when verbose; returns problems or -errno. */
int fsck_quiet(struct blk_dev *dev, char *first, size_t firstlen);
int check_quiet(struct qfs *fs, char *first, size_t firstlen);

#endif
