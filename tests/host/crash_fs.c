/*
 * quillfs crash tests. A seeded random workload (creates, writes,
 * overwrites, truncates, renames, unlinks, mkdir/rmdir, fsyncs) runs on a
 * RAM device that completes requests in random order and records every
 * write and flush (blkdev_crash.c). A model of the tree is hashed after
 * every operation. Then, for every point of the trace (each completion),
 * the medium is rebuilt as a power loss there may leave it: only what
 * flushes cover, plus all, none or a random torn/garbage subset of the
 * other writes. Each such image must mount, fsck clean, and hold exactly
 * the tree of some operation boundary between the last completed fsync and
 * the operation in progress. Some states are crashed again during their
 * own recovery (mount's checkpoint) and must come back the same.
 *
 * CRASH_LONG=1 (make crashtest) runs longer workloads with more variants,
 * seed after seed, for CRASH_SECS seconds (420). CRASH_SEED=N runs one
 * workload; CRASH_DEBUG=1 prints the model and the recovered tree on a
 * mismatch.
 */
#include "tests/host/fs_test.h"

#include <time.h>

#define IMG_BYTES (8ull << 20)
#define MAXE 64
#define BALLAST (6656u << 10)

struct ment {
	char path[64];
	uint32_t type;
	uint8_t *data;
	size_t len;
};

struct model {
	struct ment e[MAXE];
	int n;
};

static struct ment *mfind(struct model *m, const char *p)
{
	for (int i = 0; i < m->n; i++)
		if (!strcmp(m->e[i].path, p))
			return &m->e[i];
	return NULL;
}

static void mdel(struct model *m, struct ment *x)
{
	free(x->data);
	*x = m->e[--m->n];
}

static int ment_cmp(const void *a, const void *b)
{
	return strcmp(((const struct ment *)a)->path, ((const struct ment *)b)->path);
}

/* Same hash as tree_hash(): sorted paths, type, length and content. */
static uint64_t mhash(struct model *m)
{
	struct tree_entry v[MAXE];
	for (int i = 0; i < m->n; i++)
		v[i] = (struct tree_entry){.path = m->e[i].path, .type = m->e[i].type, .size = m->e[i].len,
					   .data_hash = hash_bytes(FNV_BASIS, m->e[i].data, m->e[i].len)};
	qsort(v, (size_t)m->n, sizeof(v[0]), tree_entry_cmp);
	return tree_list_hash(v, (size_t)m->n);
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
	struct ment *x = mfind(m, dir);
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

/* One random operation on fs and, when it succeeds, on the model. Returns
 * 1 when it was a durability point (fsync/sync), 0, or -1 on a mismatch. */
static bool big_writes; /* commits of more than QFS_MIX_BLOCKS: both log heads */
static uint32_t seg_bytes = 64 << 10;

static int step(struct qfs *fs, struct model *m, uint64_t *rng, char *why, size_t wn)
{
	char p[64], q[64];
	int op = (int)(host_rand(rng) % 100);
	int err;
	if (op < 40) { /* write */
		pick_path(rng, p, sizeof(p), false);
		struct ment *x = mfind(m, p);
		if ((x && x->type != QFS_MODE_FILE) || (!x && (!parent_exists(m, p) || m->n >= MAXE)))
			return 0;
		if (!x) {
			/* Creating is an operation of its own: a checkpoint made while
			 * the write below makes room may commit the empty file. */
			err = qfs_create(fs, p);
			if (err) {
				snprintf(why, wn, "create %s: %d", p, err);
				return -1;
			}
			x = &m->e[m->n++];
			memset(x, 0, sizeof(*x));
			snprintf(x->path, sizeof(x->path), "%s", p);
			x->type = QFS_MODE_FILE;
			return 0;
		}
		size_t off = host_rand(rng) % 12000, len = 1 + host_rand(rng) % (big_writes ? 40000 : 9000);
		if (host_rand(rng) % 4 == 0)
			off = x ? x->len : 0; /* append */
		uint8_t *buf = malloc(len);
		fill_pattern(buf, len, host_rand(rng));
		struct qfs_file *f;
		err = qfs_open(fs, p, 0, &f);
		if (!err) {
			int64_t w = qfs_write(f, off, buf, len);
			err = w == (int64_t)len ? 0 : (int)w;
			if (!err && host_rand(rng) % 5 == 0)
				err = qfs_fsync(f) ? -EIO : 1;
			qfs_close(f);
		}
		if (err < 0) {
			snprintf(why, wn, "write %s: %d", p, err);
			free(buf);
			return -1;
		}
		if (off + len > x->len) {
			x->data = realloc(x->data, off + len);
			memset(x->data + x->len, 0, off + len - x->len);
			x->len = off + len;
		}
		memcpy(x->data + off, buf, len);
		free(buf);
		return err;
	}
	if (op < 48) { /* truncate */
		pick_path(rng, p, sizeof(p), false);
		struct ment *x = mfind(m, p);
		if (!x || x->type != QFS_MODE_FILE)
			return 0;
		size_t sz = host_rand(rng) % 15000;
		struct qfs_file *f;
		err = qfs_open(fs, p, 0, &f);
		if (!err) {
			err = qfs_truncate(f, sz);
			qfs_close(f);
		}
		if (err) {
			snprintf(why, wn, "truncate %s: %d", p, err);
			return -1;
		}
		x->data = realloc(x->data, sz + 1);
		if (sz > x->len)
			memset(x->data + x->len, 0, sz - x->len);
		x->len = sz;
		return 0;
	}
	if (op < 58) { /* rename a file */
		pick_path(rng, p, sizeof(p), false);
		pick_path(rng, q, sizeof(q), false);
		struct ment *x = mfind(m, p), *y = mfind(m, q);
		if (!x || x->type != QFS_MODE_FILE || (y && y->type != QFS_MODE_FILE) || !parent_exists(m, q))
			return 0;
		err = qfs_rename(fs, p, q);
		if (err) {
			snprintf(why, wn, "rename %s %s: %d", p, q, err);
			return -1;
		}
		if (x == y)
			return 0;
		if (y) {
			free(y->data);
			y->data = x->data;
			y->len = x->len;
			*x = m->e[--m->n];
		} else {
			snprintf(x->path, sizeof(x->path), "%s", q);
		}
		return 0;
	}
	if (op < 68) { /* unlink */
		pick_path(rng, p, sizeof(p), false);
		struct ment *x = mfind(m, p);
		if (!x || x->type != QFS_MODE_FILE)
			return 0;
		err = qfs_unlink(fs, p);
		if (err) {
			snprintf(why, wn, "unlink %s: %d", p, err);
			return -1;
		}
		mdel(m, x);
		return 0;
	}
	if (op < 76) { /* mkdir / rmdir */
		pick_path(rng, p, sizeof(p), true);
		struct ment *x = mfind(m, p);
		if (!x && m->n < MAXE) {
			err = qfs_mkdir(fs, p);
			if (err) {
				snprintf(why, wn, "mkdir %s: %d", p, err);
				return -1;
			}
			x = &m->e[m->n++];
			memset(x, 0, sizeof(*x));
			snprintf(x->path, sizeof(x->path), "%s", p);
			x->type = QFS_MODE_DIR;
		} else if (x && dir_empty(m, p)) {
			err = qfs_rmdir(fs, p);
			if (err) {
				snprintf(why, wn, "rmdir %s: %d", p, err);
				return -1;
			}
			mdel(m, x);
		}
		return 0;
	}
	if (op < 90) {
		err = qfs_sync(fs);
		if (err) {
			snprintf(why, wn, "sync: %d", err);
			return -1;
		}
		return 1;
	}
	/* read back one file and compare with the model */
	pick_path(rng, p, sizeof(p), false);
	struct ment *x = mfind(m, p);
	if (!x || x->type != QFS_MODE_FILE)
		return 0;
	uint8_t *got;
	int64_t n = get_file(fs, p, &got);
	if (n != (int64_t)x->len || (x->len && memcmp(got, x->data, x->len))) {
		snprintf(why, wn, "read %s: %lld bytes, model %zu or content differs", p, (long long)n, x->len);
		if (n >= 0)
			free(got);
		return -1;
	}
	free(got);
	return 0;
}

static char *mdump(struct model *m)
{
	char *out = malloc(8192);
	size_t n = 0;
	out[0] = 0;
	struct ment sorted[MAXE];
	memcpy(sorted, m->e, sizeof(struct ment) * (size_t)m->n);
	qsort(sorted, (size_t)m->n, sizeof(sorted[0]), ment_cmp);
	for (int i = 0; i < m->n && n < 8000; i++)
		n += (size_t)snprintf(out + n, 8192 - n, "  %s %s %zu %016llx\n", sorted[i].path,
				      sorted[i].type == QFS_MODE_DIR ? "d" : "f", sorted[i].len,
				      (unsigned long long)hash_bytes(FNV_BASIS, sorted[i].data, sorted[i].len));
	return out;
}

static void tdump(struct qfs *fs, const char *dir)
{
	struct qfs_dirent e;
	uint64_t cookie = 0;
	while (qfs_readdir(fs, dir, &cookie, &e) == 1) {
		char path[300];
		snprintf(path, sizeof(path), "%s/%s", strcmp(dir, "/") ? dir : "", e.name);
		if (e.type == QFS_MODE_DIR) {
			printf("  %s d\n", path);
			tdump(fs, path);
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

struct run {
	char **dump;
	uint64_t *hash;     /* hash[i + 1]: after op i; hash[0]: before any */
	uint64_t *op_end;   /* op_end[i + 1]: completions when op i returned */
	int *durable;       /* durable[i + 1]: op i was a completed fsync/sync */
	int nops;
};

static unsigned long long states;

/* Check one crash image; returns 0 or fills why. */
static int check_image(struct run *r, struct crash_trace *t, uint64_t ev, uint8_t *img,
		       bool recrash, uint64_t *rng, char *why, size_t wn)
{
	/* Accepted: states lo .. hi (indices into r->hash). */
	int lo = 0, hi = r->nops;
	for (int i = 0; i <= r->nops; i++)
		if (r->durable[i] && r->op_end[i] <= ev)
			lo = i;
	for (int i = 1; i <= r->nops; i++)
		if (r->op_end[i] > ev) {
			hi = i;
			break;
		}
	struct blkdev_ram *d = blkdev_ram_new(t->bytes, img);
	d->dev.flags |= BLK_F_DISCARD;
	char first[200];
	struct crash_trace t2;
	if (recrash) {
		d->rng = host_rand(rng) | 1;
		crash_record(d, &t2);
	}
	/* Recovery in memory (read-only), or for real when crashing it again. */
	struct qfs *fs = NULL;
	struct qfs_mount_opts mo = {.read_only = !recrash};
	int err = qfs_mount(&d->dev, &mo, &fs);
	uint64_t h = 0;
	if (err) {
		snprintf(why, wn, "event %llu: mount: %d (%s)", (unsigned long long)ev, err,
			 blk_strerror(err));
		if (recrash)
			crash_trace_free(&t2);
		blkdev_ram_free(d);
		states++;
		return -1;
	}
	if (!err) {
		int p = check_quiet(fs, first, sizeof(first));
		if (p) {
			snprintf(why, wn, "event %llu: fsck %d: %s", (unsigned long long)ev, p, first);
			qfs_unmount(fs);
			blkdev_ram_free(d);
			return -1;
		}
		err = tree_hash(fs, &h, NULL);
	}
	if (!err && getenv("CRASH_DEBUG") && r->dump) {
		bool m = false;
		for (int i = lo; i <= hi; i++)
			m |= r->hash[i] == h;
		if (!m) {
			printf("# recovered at event %llu:\n", (unsigned long long)ev);
			tdump(fs, "/");
			for (int i = lo; i <= hi; i++)
				printf("# state after op %d:\n%s", i - 1, r->dump[i]);
		}
	}
	int uerr = qfs_unmount(fs);
	d->observe = NULL;
	states++;
	int ok = -1;
	if (err || uerr) {
		snprintf(why, wn, "event %llu: %s: %d (%s)", (unsigned long long)ev,
			 err ? "walking the recovered tree" : "unmount", err ? err : uerr,
			 blk_strerror(err ? err : uerr));
		goto out;
	}
	for (int i = lo; i <= hi; i++)
		if (r->hash[i] == h)
			ok = 0;
	if (ok) {
		int any = -1;
		for (int i = 0; i <= r->nops; i++)
			if (r->hash[i] == h)
				any = i;
		snprintf(why, wn, "event %llu: tree matches no state in ops %d..%d (matches op %d)",
			 (unsigned long long)ev, lo - 1, hi - 1, any - 1);
		goto out;
	}
	if (recrash && t2.events) {
		/* Crash the recovery (mount's checkpoint, unmount's) anywhere: same tree. */
		uint8_t *img2 = malloc(t->bytes);
		for (int k = 0; k < 3 && !ok; k++) {
			uint64_t ev2 = host_rand(rng) % (t2.events + 1);
			t2.synced = NULL; /* img2 was mounted read-write */
			crash_build(&t2, ev2, 2, rng, img2);
			struct blkdev_ram *d2 = blkdev_ram_new(t->bytes, img2);
			struct qfs *fs2 = NULL;
			uint64_t h2 = 0;
			err = qfs_mount(&d2->dev, NULL, &fs2);
			if (!err) {
				err = tree_hash(fs2, &h2, NULL);
				qfs_unmount(fs2);
			}
			states++;
			if (err || h2 != h) {
				snprintf(why, wn, "event %llu, recovery crash at %llu: %d, tree %s",
					 (unsigned long long)ev, (unsigned long long)ev2, err,
					 h2 == h ? "same" : "differs");
				ok = -1;
			} else if (fsck_quiet(&d2->dev, first, sizeof(first))) {
				snprintf(why, wn, "event %llu, recovery crash at %llu: fsck: %s",
					 (unsigned long long)ev, (unsigned long long)ev2, first);
				ok = -1;
			}
			blkdev_ram_free(d2);
		}
		free(img2);
	}
out:
	if (recrash)
		crash_trace_free(&t2);
	blkdev_ram_free(d);
	return ok;
}

static unsigned long long cleaned_total;

static int crash_run(uint64_t seed, bool ballast, int nops, int variants, char *why, size_t wn)
{
	struct blkdev_ram *d = ram_fs(IMG_BYTES, seg_bytes);
	struct qfs *fs;
	struct qfs_mount_opts mo = {.cache_blocks = 64};
	if (!d || qfs_mount(&d->dev, &mo, &fs)) {
		snprintf(why, wn, "setup");
		return -1;
	}
	d->dev.flags |= BLK_F_DISCARD;
	d->dev.max_req_bytes = 16 << 10; /* several requests per pseg: more reordering */
	uint64_t dev_flushes0 = d->dev.stats.flushes;
	struct qfs_statfs st0; /* the mount's own checkpoint is not part of the workload */
	qfs_statfs(fs, &st0);
	if (ballast) {
		/* Ballast (left out of the tree hash, checked by fsck): the file
		 * system runs nearly full, so the cleaner works during the trace. */
		uint8_t *b = malloc(BALLAST);
		fill_pattern(b, BALLAST, seed);
		if (put_file(fs, "/ballast", b, BALLAST) || qfs_sync(fs)) {
			snprintf(why, wn, "ballast");
			return -1;
		}
		free(b);
	}
	d->rng = seed;
	struct model m = {.n = 0};
	struct run r = {0};
	r.hash = calloc((size_t)nops + 1, sizeof(*r.hash));
	r.op_end = calloc((size_t)nops + 1, sizeof(*r.op_end));
	r.durable = calloc((size_t)nops + 1, sizeof(*r.durable));
	struct crash_trace t;
	crash_record(d, &t);
	r.hash[0] = mhash(&m);
	r.durable[0] = 1;
	if (getenv("CRASH_DEBUG")) {
		r.dump = calloc((size_t)nops + 1, sizeof(char *));
		r.dump[0] = mdump(&m);
	}
	uint64_t rng = seed;
	int fail = 0;
	for (int i = 0; i < nops && !fail; i++) {
		int s = step(fs, &m, &rng, why, wn);
		if (s < 0)
			fail = 1;
		r.hash[i + 1] = mhash(&m);
		r.op_end[i + 1] = t.events;
		r.durable[i + 1] = s == 1;
		r.nops = i + 1;
		if (r.dump)
			r.dump[i + 1] = mdump(&m);
		if (getenv("CRASH_DEBUG")) {
			struct qfs_statfs st;
			qfs_statfs(fs, &st);
			printf("# op %d end %llu durable %d checkpoints %llu cleaned %llu free %llu\n", i,
			       (unsigned long long)t.events, s == 1, (unsigned long long)st.checkpoints,
			       (unsigned long long)st.cleaned_segs, (unsigned long long)st.free_segs);
		}
	}
	/* The workload itself must read back the model. */
	uint64_t h;
	if (!fail && (tree_hash(fs, &h, NULL) || h != mhash(&m))) {
		snprintf(why, wn, "live tree differs from the model");
		fail = 1;
	}
	struct qfs_statfs st;
	qfs_statfs(fs, &st);
	cleaned_total += st.cleaned_segs;
	/* One FLUSH per commit, two per checkpoint (which is a commit too):
	 * counted by the file system and by the device. */
	uint64_t flushes = st.flushes - st0.flushes, commits = st.commits - st0.commits,
		 checkpoints = st.checkpoints - st0.checkpoints;
	if (!fail && (flushes != commits + checkpoints || d->dev.stats.flushes - dev_flushes0 != flushes)) {
		snprintf(why, wn, "%llu flushes (device %llu) for %llu commits, %llu checkpoints",
			 (unsigned long long)flushes,
			 (unsigned long long)(d->dev.stats.flushes - dev_flushes0),
			 (unsigned long long)commits, (unsigned long long)checkpoints);
		fail = 1;
	}
	qfs_unmount(fs);
	d->observe = NULL;
	uint8_t *img = malloc(t.bytes);
	uint64_t crng = seed ^ 0x5eed;
	for (uint64_t ev = 0; !fail && ev <= t.events; ev++) {
		for (int v = 0; v < 2 + variants && !fail; v++) {
			size_t cand = crash_build(&t, ev, v < 2 ? v : 2, &crng, img);
			if (v > 0 && cand == 0)
				break; /* nothing unstable: one state covers it */
			bool recrash = (host_rand(&crng) % 24) == 0;
			if (getenv("CRASH_FULLCOPY"))
				t.synced = NULL;
			if (getenv("CRASH_DEBUG"))
				printf("# state: event %llu variant %d recrash %d\n", (unsigned long long)ev, v, recrash);
			if (check_image(&r, &t, ev, img, recrash, &crng, why, wn))
				fail = 1;
			if (recrash)
				t.synced = NULL; /* the mount wrote into img */
		}
	}
	free(img);
	crash_trace_free(&t);
	for (int i = 0; i < m.n; i++)
		free(m.e[i].data);
	free(r.hash);
	free(r.op_end);
	free(r.durable);
	blkdev_ram_free(d);
	return fail ? -1 : 0;
}

int main(void)
{
	tree_hash_skip = "/ballast";
	bool lng = getenv("CRASH_LONG") != NULL;
	int seeds = lng ? 1000 : 6, nops = lng ? 400 : 150, variants = lng ? 8 : 3;
	/* The long run (make crashtest) goes on for CRASH_SECS (default 420:
	 * the runner allows a binary 900 s), the normal one for 6 workloads
	 * and more until 10,000 states. */
	time_t t0 = time(NULL), budget = getenv("CRASH_SECS") ? atoi(getenv("CRASH_SECS")) : 420;
	int first = 1;
	if (getenv("CRASH_SEED"))
		first = seeds = atoi(getenv("CRASH_SEED"));
	for (int s = first; s <= seeds || (!getenv("CRASH_SEED") && states < 10000 && s < 100); s++) {
		if (lng && s > first + 3 && time(NULL) - t0 > budget)
			break;
		char why[300] = "";
		big_writes = s % 3 == 2;
		seg_bytes = s % 3 == 1 ? 128 << 10 : 64 << 10; /* fewer, larger segments too */
		int err = crash_run((uint64_t)s * 7919, s % 3 == 0, nops, variants, why, sizeof(why));
		printf("TEST crash_seed%d %s%s%s\n", s, err ? "FAIL" : "PASS", err ? " " : "", err ? why : "");
		fflush(stdout);
		if (err)
			test_failures++;
	}
	printf("# crash: %llu crash states explored; the cleaner reclaimed %llu segments in the traces\n",
	       states, cleaned_total);
	bool enough = states >= 10000;
	printf("TEST crash_states_10000 %s", enough ? "PASS\n" : "FAIL ");
	if (!enough) {
		printf("only %llu states\n", states);
		test_failures++;
	}
	return test_failures ? 1 : 0;
}
