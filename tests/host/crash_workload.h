/*
 * The crash test's model of a quillfs tree and the seeded random workload
 * that changes a file system and the model alike (crash_workload.c).
 * Models are snapshotted after every operation and a later crash level
 * continues from any snapshot, so file contents are shared copy-on-write
 * between snapshots instead of copied.
 */
#ifndef TESTS_HOST_CRASH_WORKLOAD_H
#define TESTS_HOST_CRASH_WORKLOAD_H

#include "tests/host/fs_test.h"

#define MODEL_MAX_ENTRIES 64

struct model_blob;

struct model_entry {
	char path[64];
	uint32_t type;            /* QFS_MODE_FILE or QFS_MODE_DIR */
	struct model_blob *blob;  /* content; NULL while empty */
	size_t len;
};

struct model {
	struct model_entry e[MODEL_MAX_ENTRIES];
	int n;
};

/* dst becomes a snapshot of src (dst must be free or zeroed). */
void model_copy(struct model *dst, const struct model *src);
void model_free(struct model *m);
/* The hash tree_hash() computes for a file system holding this tree. */
uint64_t model_hash(const struct model *m);
/* One line per entry (path, type, length, content hash); malloc'd. */
char *model_dump(const struct model *m);
/* The same lines for a mounted tree, on stdout. */
void tree_dump(struct qfs *fs, const char *dir);

struct workload {
	uint64_t rng;
	/* Percent of writes up to 40,000 bytes instead of 9,000. */
	int big_write_pct;
	/* Percent of writes of 68 to 96 KiB, fsync'd: more data than a small
	 * commit takes (16 blocks), so the commit spans both log heads, but
	 * no more than the dirty limit (32 blocks with 64 cache blocks), past
	 * which one write may be committed in parts (fs/FORMAT.md). */
	int large_commit_pct;
	/* Writes that would leave fewer blocks available are left out: on a
	 * nearly full file system, ENOSPC is not what these tests are about. */
	uint64_t keep_avail_blocks;
	/* Set by workload_step: the last operation was a large commit, and
	 * what it did (for failure messages). */
	bool large_commit;
	char did[96];
};

/*
 * One random operation on fs and, when it succeeds, on the model. Returns
 * 1 when it was a durability point (fsync/sync), 0, or -1 on a failure or
 * a mismatch with the model, described in why.
 */
int workload_step(struct qfs *fs, struct model *m, struct workload *w, char *why, size_t wn);

#endif
