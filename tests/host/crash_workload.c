/* The crash test's tree model and random workload: see crash_workload.h. */
#include "tests/host/crash_workload.h"

#include <stdarg.h>

struct model_blob {
	unsigned refs;
	size_t cap;
	uint8_t bytes[];
};

static void blob_put(struct model_blob *b)
{
	if (b && --b->refs == 0)
		free(b);
}

static const uint8_t *entry_bytes(const struct model_entry *x)
{
	return x->blob ? x->blob->bytes : NULL;
}

/* x's content, made private to this model and `len` bytes long (zeroes
 * past the old end), ready to be written. */
static uint8_t *entry_resize(struct model_entry *x, size_t len)
{
	struct model_blob *b = x->blob;
	if (!b || b->refs > 1 || b->cap < len) {
		size_t cap = len > x->len ? len : x->len;
		struct model_blob *nb = malloc(sizeof(*nb) + cap);
		if (!nb)
			abort();
		nb->refs = 1;
		nb->cap = cap;
		if (b)
			memcpy(nb->bytes, b->bytes, x->len < len ? x->len : len);
		blob_put(b);
		x->blob = b = nb;
	}
	if (len > x->len)
		memset(b->bytes + x->len, 0, len - x->len);
	x->len = len;
	return b->bytes;
}

void model_copy(struct model *dst, const struct model *src)
{
	memcpy(dst, src, sizeof(*dst));
	for (int i = 0; i < dst->n; i++)
		if (dst->e[i].blob)
			dst->e[i].blob->refs++;
}

void model_free(struct model *m)
{
	for (int i = 0; i < m->n; i++)
		blob_put(m->e[i].blob);
	m->n = 0;
}

static struct model_entry *model_find(struct model *m, const char *p)
{
	for (int i = 0; i < m->n; i++)
		if (!strcmp(m->e[i].path, p))
			return &m->e[i];
	return NULL;
}

static struct model_entry *model_add(struct model *m, const char *path, uint32_t type)
{
	struct model_entry *x = &m->e[m->n++];
	memset(x, 0, sizeof(*x));
	snprintf(x->path, sizeof(x->path), "%s", path);
	x->type = type;
	return x;
}

static void model_remove(struct model *m, struct model_entry *x)
{
	blob_put(x->blob);
	*x = m->e[--m->n];
}

static int entry_cmp(const void *a, const void *b)
{
	return strcmp(((const struct model_entry *)a)->path, ((const struct model_entry *)b)->path);
}

static void model_sorted(const struct model *m, struct model_entry *sorted)
{
	memcpy(sorted, m->e, sizeof(struct model_entry) * (size_t)m->n);
	qsort(sorted, (size_t)m->n, sizeof(sorted[0]), entry_cmp);
}

/* Same hash as tree_hash(): the model as the tree list tree_list() makes of a file system. */
uint64_t model_hash(const struct model *m)
{
	struct tree_entry v[MODEL_MAX_ENTRIES];
	for (int i = 0; i < m->n; i++)
		v[i] = (struct tree_entry){.path = (char *)m->e[i].path, .type = m->e[i].type, .size = m->e[i].len,
					   .data_hash = hash_bytes(FNV_BASIS, entry_bytes(&m->e[i]), m->e[i].len)};
	qsort(v, (size_t)m->n, sizeof(v[0]), tree_entry_cmp);
	return tree_list_hash(v, (size_t)m->n);
}

char *model_dump(const struct model *m)
{
	char *out = malloc(8192);
	size_t n = 0;
	out[0] = 0;
	struct model_entry s[MODEL_MAX_ENTRIES];
	model_sorted(m, s);
	for (int i = 0; i < m->n && n < 8000; i++)
		n += (size_t)snprintf(out + n, 8192 - n, "  %s %s %zu %016llx\n", s[i].path,
				      s[i].type == QFS_MODE_DIR ? "d" : "f", s[i].len,
				      (unsigned long long)hash_bytes(FNV_BASIS,
								     entry_bytes(&s[i]), s[i].len));
	return out;
}

void tree_dump(struct qfs *fs, const char *dir)
{
	struct qfs_dirent e;
	uint64_t cookie = 0;
	while (qfs_readdir(fs, dir, &cookie, &e) == 1) {
		char path[300];
		snprintf(path, sizeof(path), "%s/%s", strcmp(dir, "/") ? dir : "", e.name);
		if (e.type == QFS_MODE_DIR) {
			printf("  %s d\n", path);
			tree_dump(fs, path);
			continue;
		}
		uint8_t *data;
		int64_t n = get_file(fs, path, &data);
		printf("  %s f %lld %016llx\n", path, (long long)n,
		       (unsigned long long)(n >= 0 ? hash_bytes(FNV_BASIS, data, (size_t)n) : 0));
		if (n >= 0)
			free(data);
	}
}

static void pick_path(uint64_t *rng, char *p, size_t n, bool dir)
{
	int d = (int)(host_rand(rng) % 4);
	if (dir)
		snprintf(p, n, "/d%d", (int)(host_rand(rng) % 3));
	else if (d == 3)
		snprintf(p, n, "/f%d", (int)(host_rand(rng) % 5));
	else
		snprintf(p, n, "/d%d/f%d", d, (int)(host_rand(rng) % 3));
}

static bool parent_exists(struct model *m, const char *p)
{
	const char *s = strrchr(p, '/');
	if (s == p)
		return true;
	char dir[64];
	snprintf(dir, sizeof(dir), "%.*s", (int)(s - p), p);
	struct model_entry *x = model_find(m, dir);
	return x && x->type == QFS_MODE_DIR;
}

static bool dir_empty(struct model *m, const char *d)
{
	size_t l = strlen(d);
	for (int i = 0; i < m->n; i++)
		if (!strncmp(m->e[i].path, d, l) && m->e[i].path[l] == '/')
			return false;
	return true;
}

/* Whether a pct percent chance comes up; draws only for 0 < pct < 100,
 * so that workloads without mixing keep the sequences their seeds had. */
static bool chance(uint64_t *rng, int pct)
{
	return pct >= 100 || (pct > 0 && (int)(host_rand(rng) % 100) < pct);
}

static void did(struct workload *w, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(w->did, sizeof(w->did), fmt, ap);
	va_end(ap);
}

static int failed(struct workload *w, int err, char *why, size_t wn)
{
	snprintf(why, wn, "%s: %d (%s)", w->did, err, blk_strerror(err));
	return -1;
}

static int write_step(struct qfs *fs, struct model *m, struct workload *w, char *why, size_t wn)
{
	uint64_t *rng = &w->rng;
	char p[64];
	pick_path(rng, p, sizeof(p), false);
	struct model_entry *x = model_find(m, p);
	if ((x && x->type != QFS_MODE_FILE) ||
	    (!x && (!parent_exists(m, p) || m->n >= MODEL_MAX_ENTRIES)))
		return 0;
	if (!x) {
		/* Creating is an operation of its own: a checkpoint made while
		 * the write below makes room may commit the empty file. */
		did(w, "create %s", p);
		int err = qfs_create(fs, p);
		if (err)
			return failed(w, err, why, wn);
		model_add(m, p, QFS_MODE_FILE);
		return 0;
	}
	bool big = chance(rng, w->big_write_pct), large = chance(rng, w->large_commit_pct);
	size_t off = host_rand(rng) % 12000, len = 1 + host_rand(rng) % (big ? 40000 : 9000);
	if (large)
		len = (68 << 10) + host_rand(rng) % (28 << 10);
	if (host_rand(rng) % 4 == 0)
		off = x->len; /* append */
	struct qfs_statfs st;
	if (w->keep_avail_blocks && !qfs_statfs(fs, &st) &&
	    st.avail_blocks < len / QFS_BLOCK_SIZE + 2 + w->keep_avail_blocks)
		return 0;
	uint8_t *buf = malloc(len);
	fill_pattern(buf, len, host_rand(rng));
	struct qfs_file *f;
	int64_t n;
	int err = qfs_open(fs, p, 0, &f);
	bool sync = false;
	did(w, "write %s %zu+%zu", p, off, len);
	if (!err) {
		n = qfs_write(f, off, buf, len);
		err = n < 0 ? (int)n : n < (int64_t)len ? -ENOSPC : 0;
		sync = !err && (large || host_rand(rng) % 5 == 0);
		if (sync) {
			did(w, "write %s %zu+%zu, fsync", p, off, len);
			err = qfs_fsync(f);
		}
		qfs_close(f);
	}
	if (!err)
		memcpy(entry_resize(x, off + len > x->len ? off + len : x->len) + off, buf, len);
	free(buf);
	if (err)
		return failed(w, err, why, wn);
	w->large_commit = large;
	return sync;
}

int workload_step(struct qfs *fs, struct model *m, struct workload *w, char *why, size_t wn)
{
	uint64_t *rng = &w->rng;
	w->large_commit = false;
	did(w, "nothing");
	char p[64], q[64];
	int op = (int)(host_rand(rng) % 100);
	int err;
	if (op < 40)
		return write_step(fs, m, w, why, wn);
	if (op < 48) { /* truncate */
		pick_path(rng, p, sizeof(p), false);
		struct model_entry *x = model_find(m, p);
		if (!x || x->type != QFS_MODE_FILE)
			return 0;
		size_t sz = host_rand(rng) % 15000;
		did(w, "truncate %s %zu", p, sz);
		struct qfs_file *f;
		err = qfs_open(fs, p, 0, &f);
		if (!err) {
			err = qfs_truncate(f, sz);
			qfs_close(f);
		}
		if (err)
			return failed(w, err, why, wn);
		entry_resize(x, sz);
		return 0;
	}
	if (op < 58) { /* rename a file */
		pick_path(rng, p, sizeof(p), false);
		pick_path(rng, q, sizeof(q), false);
		struct model_entry *x = model_find(m, p), *y = model_find(m, q);
		if (!x || x->type != QFS_MODE_FILE || (y && y->type != QFS_MODE_FILE) ||
		    !parent_exists(m, q))
			return 0;
		did(w, "rename %s %s", p, q);
		err = qfs_rename(fs, p, q);
		if (err)
			return failed(w, err, why, wn);
		if (x == y)
			return 0;
		if (y) {
			blob_put(y->blob);
			y->blob = x->blob;
			y->len = x->len;
			*x = m->e[--m->n]; /* its content lives on in y */
		} else {
			snprintf(x->path, sizeof(x->path), "%s", q);
		}
		return 0;
	}
	if (op < 68) { /* unlink */
		pick_path(rng, p, sizeof(p), false);
		struct model_entry *x = model_find(m, p);
		if (!x || x->type != QFS_MODE_FILE)
			return 0;
		did(w, "unlink %s", p);
		err = qfs_unlink(fs, p);
		if (err)
			return failed(w, err, why, wn);
		model_remove(m, x);
		return 0;
	}
	if (op < 76) { /* mkdir / rmdir */
		pick_path(rng, p, sizeof(p), true);
		struct model_entry *x = model_find(m, p);
		if (!x && m->n < MODEL_MAX_ENTRIES) {
			did(w, "mkdir %s", p);
			err = qfs_mkdir(fs, p);
			if (err)
				return failed(w, err, why, wn);
			model_add(m, p, QFS_MODE_DIR);
		} else if (x && dir_empty(m, p)) {
			did(w, "rmdir %s", p);
			err = qfs_rmdir(fs, p);
			if (err)
				return failed(w, err, why, wn);
			model_remove(m, x);
		}
		return 0;
	}
	if (op < 90) {
		did(w, "sync");
		err = qfs_sync(fs);
		if (err)
			return failed(w, err, why, wn);
		return 1;
	}
	/* read back one file and compare with the model */
	pick_path(rng, p, sizeof(p), false);
	struct model_entry *x = model_find(m, p);
	if (!x || x->type != QFS_MODE_FILE)
		return 0;
	did(w, "read %s", p);
	uint8_t *got;
	int64_t n = get_file(fs, p, &got);
	if (n != (int64_t)x->len || (x->len && memcmp(got, entry_bytes(x), x->len))) {
		snprintf(why, wn, "read %s: %lld bytes, model %zu or content differs", p, (long long)n,
			 x->len);
		if (n >= 0)
			free(got);
		return -1;
	}
	free(got);
	return 0;
}
