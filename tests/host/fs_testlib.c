/* Helpers shared by the quillfs host tests: see fs_test.h. */
#include "tests/host/fs_test.h"

int test_failures;
const char *tree_hash_skip;

void test_run(const char *name, int (*fn)(char *reason, size_t n))
{
	char reason[512] = "";
	int r = fn(reason, sizeof(reason));
	if (r) {
		test_failures++;
		printf("TEST %s FAIL %s\n", name, reason[0] ? reason : "failed");
	} else {
		printf("TEST %s PASS\n", name);
	}
	fflush(stdout);
}

struct blkdev_ram *ram_fs(uint64_t bytes, uint32_t seg_bytes)
{
	struct blkdev_ram *r = blkdev_ram_new(bytes, NULL);
	struct qfs_format_opts o = {.seg_bytes = seg_bytes};
	if (!r || qfs_format(&r->dev, &o)) {
		blkdev_ram_free(r);
		return NULL;
	}
	return r;
}

int put_file(struct qfs *fs, const char *path, const void *data, size_t len)
{
	struct qfs_file *f;
	int err = qfs_open(fs, path, QFS_O_CREAT | QFS_O_TRUNC, &f);
	if (err)
		return err;
	int64_t n = len ? qfs_write(f, 0, data, len) : 0;
	qfs_close(f);
	if (n < 0)
		return (int)n;
	return n == (int64_t)len ? 0 : -ENOSPC;
}

int64_t get_file(struct qfs *fs, const char *path, uint8_t **out)
{
	struct qfs_stat st;
	struct qfs_file *f;
	int err = qfs_stat(fs, path, &st);
	if (!err)
		err = qfs_open(fs, path, 0, &f);
	if (err)
		return err;
	uint8_t *buf = malloc(st.size + 1);
	int64_t n = qfs_read(f, 0, buf, st.size);
	qfs_close(f);
	if (n < 0) {
		free(buf);
		return n;
	}
	*out = buf;
	return n;
}

uint64_t hash_bytes(uint64_t h, const void *p, size_t n)
{
	const uint8_t *b = p;
	for (size_t i = 0; i < n; i++)
		h = (h ^ b[i]) * 0x100000001b3ull;
	return h;
}

void fill_pattern(uint8_t *buf, size_t n, uint64_t seed)
{
	uint64_t s = seed * 0x9e3779b97f4a7c15ull + 1;
	for (size_t i = 0; i < n; i += 8) {
		uint64_t x = host_rand(&s);
		memcpy(buf + i, &x, n - i < 8 ? n - i : 8);
	}
}

int tree_entry_cmp(const void *a, const void *b)
{
	return strcmp(((const struct tree_entry *)a)->path, ((const struct tree_entry *)b)->path);
}

static int walk_tree(struct qfs *fs, const char *dir, struct tree_entry **v, size_t *n, size_t *cap,
		     int depth)
{
	struct qfs_dirent e;
	uint64_t cookie = 0;
	int r;
	if (depth > 64)
		return -ELOOP;
	while ((r = qfs_readdir(fs, dir, &cookie, &e)) == 1) {
		char path[4096];
		snprintf(path, sizeof(path), "%s/%s", strcmp(dir, "/") ? dir : "", e.name);
		if (tree_hash_skip && !strcmp(path, tree_hash_skip))
			continue;
		struct tree_entry t = {.type = e.type, .data_hash = FNV_BASIS};
		if (e.type == QFS_MODE_FILE) {
			uint8_t *data;
			int64_t len = get_file(fs, path, &data);
			if (len < 0)
				return (int)len;
			t.size = (uint64_t)len;
			t.data_hash = hash_bytes(FNV_BASIS, data, (size_t)len);
			free(data);
		}
		if (*n == *cap) {
			*cap = *cap ? *cap * 2 : 64;
			*v = realloc(*v, *cap * sizeof(**v));
		}
		t.path = strdup(path);
		(*v)[(*n)++] = t;
		if (e.type == QFS_MODE_DIR) {
			int err = walk_tree(fs, path, v, n, cap, depth + 1);
			if (err)
				return err;
		}
	}
	return r;
}

int tree_list(struct qfs *fs, struct tree_entry **out, size_t *n)
{
	size_t cap = 0;
	*out = NULL;
	*n = 0;
	int err = walk_tree(fs, "/", out, n, &cap, 0);
	if (*n)
		qsort(*out, *n, sizeof(**out), tree_entry_cmp);
	return err;
}

void tree_list_free(struct tree_entry *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i].path);
	free(v);
}

uint64_t tree_list_hash(const struct tree_entry *v, size_t n)
{
	uint64_t h = FNV_BASIS;
	for (size_t i = 0; i < n; i++) {
		uint64_t x = hash_bytes(FNV_BASIS, v[i].path, strlen(v[i].path));
		x = hash_bytes(x, &v[i].type, sizeof(v[i].type));
		if (v[i].type == QFS_MODE_FILE) {
			x = hash_bytes(x, &v[i].size, sizeof(v[i].size));
			x = hash_bytes(x, &v[i].data_hash, sizeof(v[i].data_hash));
		}
		h = hash_bytes(h, &x, sizeof(x));
	}
	return h;
}

int tree_hash(struct qfs *fs, uint64_t *hash, uint64_t *nfiles)
{
	struct tree_entry *v;
	size_t n;
	int err = tree_list(fs, &v, &n);
	*hash = tree_list_hash(v, n);
	tree_list_free(v, n);
	if (nfiles)
		*nfiles = n;
	return err;
}

struct fsck_first {
	char *buf;
	size_t len;
	int n;
};

static void fsck_note(void *ctx, const char *msg)
{
	struct fsck_first *f = ctx;
	if (f->n++ == 0 && f->buf)
		snprintf(f->buf, f->len, "%s", msg);
	if (getenv("FSCK_VERBOSE"))
		fprintf(stderr, "fsck: %s\n", msg);
}

int fsck_quiet(struct blk_dev *dev, char *first, size_t firstlen)
{
	struct fsck_first f = {first, firstlen, 0};
	if (first && firstlen)
		first[0] = 0;
	return qfs_fsck(dev, false, fsck_note, &f, NULL);
}

int check_quiet(struct qfs *fs, char *first, size_t firstlen)
{
	struct fsck_first f = {first, firstlen, 0};
	if (first && firstlen)
		first[0] = 0;
	return qfs_check(fs, fsck_note, &f);
}
