/*
 * quillfs crash tests: crash sequences.
 *
 * Level 0: a seeded random workload (creates, writes, overwrites,
 * truncates, renames, unlinks, mkdir/rmdir, fsyncs; crash_workload.c) runs
 * on a fresh file system (a third of them nearly full of ballast) on a RAM
 * device that completes requests in random order and records every write
 * and flush (blkdev_crash.c). The model of the tree is kept at every
 * operation boundary. For every point of the trace (each completion after
 * which the medium may differ), the medium is rebuilt as a power loss there
 * may leave it: only what flushes cover, plus none, the completed, all, or
 * a random torn/garbage subset of the other writes. Each such crash state
 * must mount, fsck clean, and hold exactly the tree of some boundary
 * between the last completed fsync (or the unmount) and the operation in
 * progress. Some states are crashed again during their own recovery
 * (mount's checkpoint) and must come back the same.
 *
 * Level n+1: a sample of level n's crash states (right after an fsync
 * returned, inside a commit, inside a large one, inside the first commit
 * after a checkpoint, inside a checkpoint, anywhere) is mounted read-write,
 * recording that mount too, and new work of its own seed (small and large
 * commits; cleaning on the nearly full ones) continues from the model
 * state the crash recovered; that level is crashed at every point the same
 * way. A crash inside the mount's own recovery must come back as what it
 * recovered. Bugs of this kind only show after a recovery: the new work
 * meets what the first crash left behind.
 *
 * The normal run goes three crashes deep and stops once it explored
 * 10,000 single-crash and 10,000 multi-crash states (after at least two
 * crashes). CRASH_LONG=1 (make crashtest) runs longer workloads, more
 * variants and deeper sequences, seed after seed, for CRASH_SECS seconds
 * (420). A failure names its seed and sequence (event and variant at each
 * level) and how to replay it: CRASH_SEED=N runs one level-0 workload and
 * all its sequences; CRASH_PATH=E.V/E.V checks exactly those crash points,
 * each level's work starting from the one before (a trailing '/' explores
 * everything below the last). CRASH_DEBUG=1 prints the operations, the
 * states and, on a mismatch, the model states and the recovered tree;
 * CRASH_SAVE=FILE writes a failing state's image there, for
 * build/tools/quillfs and fsck.quillfs.
 */
#include "tests/host/crash_workload.h"

#include <time.h>

#define IMG_BYTES (8ull << 20)
#define BALLAST (6656u << 10)
#define MAX_DEPTH 8

/* What a run explores. */
struct plan {
	int level0_ops, later_ops;
	int level0_variants, later_variants; /* random subsets per crash point */
	int deepest;              /* level of the last crash of a sequence (level 0: the first) */
	int descents[MAX_DEPTH];  /* crash states of each level that recover into new work */
	time_t deadline;          /* no new descents past it (0: none) */
};

/* What a crash leaves of the writes no completed FLUSH covers. */
enum {
	VARIANT_NONE,      /* nothing */
	VARIANT_COMPLETED, /* those completed, none in flight */
	VARIANT_ALL,       /* every one submitted */
	VARIANT_RANDOM,    /* and up: a random subset, some torn or garbage */
};

struct crash_point {
	uint64_t ev;
	int variant;
	int recovered; /* the boundary of its level it came back as; -1 not known yet */
};

/* Where a crash state lies: level 0's seed and one crash point per level. */
struct sequence {
	int seed_no;
	struct crash_point at[MAX_DEPTH];
	const char *recovered_label[MAX_DEPTH];
};

/* CRASH_PATH: the crash points to follow instead of exploring. */
struct replay {
	int n;
	struct crash_point at[MAX_DEPTH];
	bool below; /* explore everything below the last one */
};

/* A point between operations of a level's work, and what led there. */
struct boundary {
	struct model state;
	uint64_t hash;
	uint64_t op_end;   /* completions when it was reached */
	bool durable;      /* it ended a completed fsync/sync, the mount or the unmount */
	bool committed;    /* the operation ending here committed */
	bool checkpointed; /* ... and wrote a checkpoint */
	bool large_commit; /* ... a large one, spanning both log heads */
	char label[128];
};

/* One recorded stretch of work: the trace and its boundaries. */
struct level {
	int depth;     /* crashes before this level's work */
	uint64_t seed; /* the workload's and the device's completion order's */
	bool ballast;
	struct crash_trace trace;
	struct boundary *b;
	int nb, cap;
};

/*
 * Buffers of 8 MiB outlive the levels that use them, one set per depth
 * (only one level of each depth is alive at a time): fresh ones cost more
 * in page faults than checking a short level.
 */
static struct crash_trace spare_trace[MAX_DEPTH];
static uint8_t *crash_img[MAX_DEPTH], *next_start_img[MAX_DEPTH];

static uint8_t *image_buffer(uint8_t **buf)
{
	if (!*buf)
		*buf = malloc(IMG_BYTES);
	if (!*buf)
		abort();
	return *buf;
}

static bool debug;
static unsigned long long states_at_depth[MAX_DEPTH];
static unsigned long long cleaned_total, levels_recorded;

static uint64_t mix64(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

/* Each crash state draws from its own stream, and each level's work has
 * its own seed, so that one state is rebuilt alone when replayed. */
static uint64_t point_seed(uint64_t level_seed, const struct crash_point *p)
{
	return mix64(level_seed ^ mix64(p->ev * 64 + (uint64_t)p->variant)) | 1;
}

static void level_free(struct level *lv)
{
	spare_trace[lv->depth] = lv->trace;
	for (int i = 0; i < lv->nb; i++)
		model_free(&lv->b[i].state);
	free(lv->b);
}

static struct boundary *add_boundary(struct level *lv, const struct model *m, const char *label)
{
	if (lv->nb == lv->cap) {
		lv->cap = lv->cap ? lv->cap * 2 : 64;
		lv->b = realloc(lv->b, (size_t)lv->cap * sizeof(*lv->b));
		if (!lv->b)
			abort();
	}
	struct boundary *b = &lv->b[lv->nb++];
	memset(b, 0, sizeof(*b));
	model_copy(&b->state, m);
	b->hash = model_hash(m);
	b->op_end = lv->trace.events;
	snprintf(b->label, sizeof(b->label), "%s", label);
	return b;
}

/*
 * Record a level's work on d: level 0 passes the mounted fs; a later level
 * passes NULL and its mount (recovery and checkpoint) is recorded as the
 * first operation. Ends with the unmount, recorded too.
 */
static int record_level(struct level *lv, struct blkdev_ram *d, struct qfs *fs,
			const struct model *start, int nops, struct workload w, char *why, size_t wn)
{
	d->dev.flags |= BLK_F_DISCARD;
	d->dev.max_req_bytes = 16 << 10; /* several requests per pseg: more reordering */
	d->rng = lv->seed | 1;
	lv->trace = spare_trace[lv->depth];
	memset(&spare_trace[lv->depth], 0, sizeof(spare_trace[0]));
	crash_record_again(d, &lv->trace);
	levels_recorded++;
	struct model m;
	model_copy(&m, start);
	add_boundary(lv, &m, "the start")->durable = true;
	int fail = 0;
	uint64_t h;
	if (!fs) {
		struct qfs_mount_opts mo = {.cache_blocks = 64};
		int err = qfs_mount(&d->dev, &mo, &fs);
		struct qfs_statfs st = {0};
		if (err) {
			snprintf(why, wn, "read-write mount: %d (%s)", err, blk_strerror(err));
			fs = NULL;
			fail = 1;
		} else if ((err = tree_hash(fs, &h, NULL)) || h != lv->b[0].hash) {
			snprintf(why, wn, "the read-write mount recovered %s than the read-only one",
				 err ? "an unreadable tree" : "another tree");
			fail = 1;
		}
		if (fs)
			qfs_statfs(fs, &st);
		struct boundary *b = add_boundary(lv, &m, "the mount");
		b->durable = true;
		b->committed = st.commits;
		b->checkpointed = st.checkpoints;
	}
	struct qfs_statfs st0 = {0}, before, after;
	if (fs)
		qfs_statfs(fs, &st0);
	before = st0;
	uint64_t dev_flushes0 = d->dev.stats.flushes;
	for (int i = 0; i < nops && !fail; i++) {
		int s = workload_step(fs, &m, &w, why, wn);
		if (s < 0)
			fail = 1;
		qfs_statfs(fs, &after);
		char label[sizeof(lv->b->label)];
		snprintf(label, sizeof(label), "op %d (%s)", i, w.did);
		struct boundary *b = add_boundary(lv, &m, label);
		b->durable = s == 1;
		b->committed = after.commits > before.commits;
		b->checkpointed = after.checkpoints > before.checkpoints;
		b->large_commit = w.large_commit;
		before = after;
		if (debug)
			printf("# L%d %s: end %llu durable %d checkpoints %llu cleaned %llu free %llu\n",
			       lv->depth, label, (unsigned long long)lv->trace.events, s == 1,
			       (unsigned long long)after.checkpoints, (unsigned long long)after.cleaned_segs,
			       (unsigned long long)after.free_segs);
	}
	/* The workload itself must read back the model. */
	if (!fail && (tree_hash(fs, &h, NULL) || h != model_hash(&m))) {
		snprintf(why, wn, "live tree differs from the model");
		fail = 1;
	}
	/* One FLUSH per commit, two per checkpoint (which is a commit too):
	 * counted by the file system and by the device. */
	uint64_t flushes = before.flushes - st0.flushes, commits = before.commits - st0.commits,
		 checkpoints = before.checkpoints - st0.checkpoints,
		 dev_flushes = d->dev.stats.flushes - dev_flushes0;
	if (!fail && (flushes != commits + checkpoints || dev_flushes != flushes)) {
		snprintf(why, wn, "%llu flushes (device %llu) for %llu commits, %llu checkpoints",
			 (unsigned long long)flushes, (unsigned long long)dev_flushes,
			 (unsigned long long)commits, (unsigned long long)checkpoints);
		fail = 1;
	}
	if (fs) {
		cleaned_total += before.cleaned_segs - st0.cleaned_segs;
		int err = qfs_unmount(fs);
		if (!fail && err) {
			snprintf(why, wn, "unmount: %d (%s)", err, blk_strerror(err));
			fail = 1;
		}
		/* Once the unmount returned, nothing may be lost. */
		struct boundary *b = add_boundary(lv, &m, "the unmount");
		b->durable = !err;
		b->committed = b->checkpointed = true;
	}
	d->observe = NULL;
	model_free(&m);
	return fail ? -1 : 0;
}

/* Boundaries a crash after `ev` completions may come back as: lo .. hi. */
static void accepted(const struct level *lv, uint64_t ev, int *lo, int *hi)
{
	*lo = 0;
	*hi = lv->nb - 1;
	for (int i = 0; i < lv->nb; i++)
		if (lv->b[i].durable && lv->b[i].op_end <= ev)
			*lo = i;
	for (int i = 1; i < lv->nb; i++)
		if (lv->b[i].op_end > ev) {
			*hi = i;
			break;
		}
}

/* Mount the crash image on d: it must check clean and hold a state between
 * lo and hi; *h its tree, *recovered the boundary. */
static int check_tree(struct level *lv, uint64_t ev, struct blkdev_ram *d, bool read_only,
		      uint64_t *h, int *recovered, char *why, size_t wn)
{
	struct qfs *fs = NULL;
	struct qfs_mount_opts mo = {.read_only = read_only};
	char first[200];
	int err = qfs_mount(&d->dev, &mo, &fs);
	states_at_depth[lv->depth]++;
	*recovered = -1;
	if (err) {
		snprintf(why, wn, "mount: %d (%s)", err, blk_strerror(err));
		return -1;
	}
	int problems = check_quiet(fs, first, sizeof(first));
	if (problems) {
		snprintf(why, wn, "fsck %d: %s", problems, first);
		qfs_unmount(fs);
		return -1;
	}
	err = tree_hash(fs, h, NULL);
	int lo, hi;
	accepted(lv, ev, &lo, &hi);
	for (int i = lo; i <= hi; i++)
		if (lv->b[i].hash == *h)
			*recovered = i;
	if (!err && *recovered < 0 && debug) {
		printf("# recovered at event %llu:\n", (unsigned long long)ev);
		tree_dump(fs, "/");
		for (int i = lo; i <= hi; i++) {
			char *dump = model_dump(&lv->b[i].state);
			printf("# state after %s:\n%s", lv->b[i].label, dump);
			free(dump);
		}
	}
	int uerr = qfs_unmount(fs);
	if (err || uerr) {
		snprintf(why, wn, "%s: %d (%s)", err ? "walking the recovered tree" : "unmount",
			 err ? err : uerr, blk_strerror(err ? err : uerr));
		return -1;
	}
	if (*recovered < 0) {
		int any = -1;
		for (int i = 0; i < lv->nb; i++)
			if (lv->b[i].hash == *h)
				any = i;
		snprintf(why, wn, "tree matches no state from %s to %s (%s%s)", lv->b[lo].label,
			 lv->b[hi].label, any < 0 ? "nor any other of this level" : "it is the one after ",
			 any < 0 ? "" : lv->b[any].label);
		return -1;
	}
	return 0;
}

/* Crash the read-write recovery recorded in t (its mount's checkpoint, its
 * unmount's) anywhere: it must come back as the tree h it recovered. */
static int crash_the_recovery(struct level *lv, struct crash_trace *t, uint64_t h, uint64_t *rng,
			      char *why, size_t wn)
{
	/* Kept: a fresh image each time costs more in page faults than the
	 * mount and the check together. */
	static uint8_t *img;
	if (!img)
		img = malloc(t->bytes);
	int fail = 0;
	for (int k = 0; k < 3 && !fail && t->events; k++) {
		uint64_t ev = host_rand(rng) % (t->events + 1);
		char first[200];
		crash_build(t, ev, 2, rng, img);
		t->synced = NULL; /* img is mounted read-write below */
		struct blkdev_ram *d = blkdev_ram_new(t->bytes, img);
		struct qfs *fs = NULL;
		uint64_t h2 = 0;
		int err = qfs_mount(&d->dev, NULL, &fs);
		if (!err) {
			err = tree_hash(fs, &h2, NULL);
			qfs_unmount(fs);
		}
		states_at_depth[lv->depth]++;
		if (err || h2 != h) {
			snprintf(why, wn, "recovery crash at %llu: %d, tree %s", (unsigned long long)ev,
				 err, h2 == h ? "same" : "differs");
			fail = -1;
		} else if (fsck_quiet(&d->dev, first, sizeof(first))) {
			snprintf(why, wn, "recovery crash at %llu: fsck: %s", (unsigned long long)ev, first);
			fail = -1;
		}
		blkdev_ram_free(d);
	}
	return fail;
}

/* Check one crash state of lv; *recovered: the boundary it came back as. */
static int check_state(struct level *lv, uint64_t ev, uint8_t *img, bool recrash, uint64_t *rng,
		       int *recovered, char *why, size_t wn)
{
	uint64_t h;
	struct blkdev_ram *d = blkdev_ram_new(lv->trace.bytes, img);
	d->dev.flags |= BLK_F_DISCARD;
	static struct crash_trace recovery;
	if (recrash) {
		d->rng = host_rand(rng) | 1;
		crash_record_again(d, &recovery);
	}
	/* CRASH_SAVE=FILE: the image of a state that fails, as it was before the mount. */
	const char *save = getenv("CRASH_SAVE");
	uint8_t *before = save ? malloc(lv->trace.bytes) : NULL;
	if (before)
		memcpy(before, img, lv->trace.bytes);
	/* Recovery in memory (read-only), or for real when crashing it again. */
	int fail = check_tree(lv, ev, d, !recrash, &h, recovered, why, wn);
	if (fail && before) {
		FILE *f = fopen(save, "wb");
		if (!f || fwrite(before, 1, lv->trace.bytes, f) != lv->trace.bytes)
			fprintf(stderr, "CRASH_SAVE=%s: cannot write it\n", save);
		if (f)
			fclose(f);
	}
	free(before);
	d->observe = NULL;
	blkdev_ram_free(d);
	if (recrash && !fail)
		fail = crash_the_recovery(lv, &recovery, h, rng, why, wn);
	return fail;
}

/* why = the sequence, what went wrong and how to replay it. `upto` crash
 * points lead there; `in_work`: it went wrong in the work after the last. */
static void describe(const struct sequence *seq, int upto, bool in_work, const char *what,
		     char *why, size_t wn)
{
	char path[200] = "";
	size_t n = 0, pn = 0;
	for (int k = 0; k < upto; k++) {
		const struct crash_point *p = &seq->at[k];
		bool known = p->recovered >= 0;
		n += (size_t)snprintf(why + n, n < wn ? wn - n : 0, "L%d event %llu variant %d%s%s%s%s",
				      k, (unsigned long long)p->ev, p->variant,
				      known ? " (recovered " : "", known ? seq->recovered_label[k] : "",
				      known ? ")" : "", k + 1 < upto || in_work ? " > " : ": ");
		pn += (size_t)snprintf(path + pn, pn < sizeof(path) ? sizeof(path) - pn : 0, "%s%llu.%d",
				       k ? "/" : "", (unsigned long long)p->ev, p->variant);
	}
	snprintf(why + n, n < wn ? wn - n : 0, "%s%s; replay: %sCRASH_SEED=%d%s%s%s",
		 in_work ? "work: " : "", what, getenv("CRASH_LONG") ? "CRASH_LONG=1 " : "",
		 seq->seed_no, upto ? " CRASH_PATH=" : "", path, upto && in_work ? "/" : "");
}

/* Where to crash before working on after the recovery. */
enum pick_kind {
	PICK_AFTER_SYNC,  /* right after an fsync/sync returned */
	PICK_IN_COMMIT,   /* a commit in flight: psegs past the last commit */
	PICK_IN_LARGE_COMMIT, /* ... at both log heads */
	/* ... and the first since the level started or since a checkpoint: a
	 * recovery that applies nothing, with psegs at both heads that the
	 * next session's must never be taken for */
	PICK_IN_FIRST_LARGE_COMMIT,
	PICK_IN_CHECKPOINT, /* the cleaner's, the log bound's, the mount's, the unmount's */
	PICK_ANYWHERE,
	PICK_KINDS
};

/* Where a kind with no such point in the trace looks instead. */
static const enum pick_kind pick_fallback[PICK_KINDS] = {
	[PICK_AFTER_SYNC] = PICK_ANYWHERE,
	[PICK_IN_COMMIT] = PICK_ANYWHERE,
	[PICK_IN_LARGE_COMMIT] = PICK_IN_COMMIT,
	[PICK_IN_FIRST_LARGE_COMMIT] = PICK_IN_LARGE_COMMIT,
	[PICK_IN_CHECKPOINT] = PICK_ANYWHERE,
	[PICK_ANYWHERE] = PICK_ANYWHERE,
};

/* The events of kind k in the operation ending at boundary i: [*a, *b],
 * empty when *a > *b. Inside a commit is before its FLUSH completed. */
static void pick_range(const struct level *lv, enum pick_kind kind, int i, uint64_t *a,
		       uint64_t *b)
{
	const struct boundary *op = &lv->b[i];
	uint64_t start = lv->b[i - 1].op_end + 1, end = op->op_end;
	bool in = false;
	*a = 1;
	*b = 0;
	switch (kind) {
	case PICK_AFTER_SYNC:
		if (op->durable)
			*a = *b = end;
		return;
	case PICK_IN_COMMIT:
		in = op->committed;
		break;
	case PICK_IN_LARGE_COMMIT:
		in = op->large_commit;
		break;
	case PICK_IN_FIRST_LARGE_COMMIT: {
		int j = i - 1;
		while (j > 0 && !lv->b[j].committed)
			j--;
		in = op->large_commit && (j == 0 || lv->b[j].checkpointed);
		break;
	}
	case PICK_IN_CHECKPOINT:
		in = op->checkpointed;
		break;
	default:
		*a = start;
		*b = end;
		return;
	}
	if (in) {
		*a = start;
		*b = end - 1;
	}
}

static uint64_t pick_total(const struct level *lv, enum pick_kind kind)
{
	uint64_t total = 0, a, b;
	for (int i = 1; i < lv->nb; i++) {
		pick_range(lv, kind, i, &a, &b);
		total += a <= b ? b - a + 1 : 0;
	}
	return total;
}

/* Choose n crash points of lv to work on after recovery, each of another
 * kind (n <= PICK_KINDS). */
static int pick_descents(const struct level *lv, int n, int variants, struct crash_point *out)
{
	uint64_t rng = mix64(lv->seed ^ 0xde5ce57ull);
	int first = (int)(host_rand(&rng) % PICK_KINDS), got = 0;
	for (int k = 0; k < n && k < PICK_KINDS; k++) {
		enum pick_kind kind = (enum pick_kind)((first + k) % PICK_KINDS);
		uint64_t total;
		while (!(total = pick_total(lv, kind)) && kind != PICK_ANYWHERE)
			kind = pick_fallback[kind];
		if (!total)
			continue;
		uint64_t r = host_rand(&rng) % total, a, b;
		for (int i = 1; i < lv->nb; i++) {
			pick_range(lv, kind, i, &a, &b);
			uint64_t span = a <= b ? b - a + 1 : 0;
			if (r < span) {
				out[got].ev = a + r;
				break;
			}
			r -= span;
		}
		/* A commit in flight is most telling with its completed writes
		 * landed: psegs past the last commit, but not all of the commit. */
		int v = kind == PICK_AFTER_SYNC ? VARIANT_NONE
			: kind == PICK_IN_CHECKPOINT || kind == PICK_ANYWHERE
			? (int)(host_rand(&rng) % (VARIANT_RANDOM + 1)) : VARIANT_COMPLETED;
		if (v == VARIANT_RANDOM)
			v += (int)(host_rand(&rng) % (uint64_t)variants);
		out[got].variant = v;
		out[got].recovered = -1;
		if (debug)
			printf("# L%d descent %d: kind %d event %llu variant %d\n", lv->depth, got, kind,
			       (unsigned long long)out[got].ev, v);
		got++;
	}
	return got;
}

/* Variant v of the medium after ev completions, into img. Returns how
 * many writes it could differ in: for VARIANT_NONE the unstable ones (none:
 * every variant is this one), for VARIANT_COMPLETED those in flight (none:
 * it is VARIANT_ALL). */
static size_t build_variant(struct crash_trace *t, uint64_t ev, int v, uint64_t *rng, uint8_t *img)
{
	if (v == VARIANT_COMPLETED)
		return crash_build_completed(t, ev, img);
	return crash_build(t, ev, v == VARIANT_NONE ? 0 : v == VARIANT_ALL ? 1 : 2, rng, img);
}

/*
 * fresh[e]: a crash after e completions may leave another medium than one
 * after e - 1, or must come back as a narrower choice of states: a write
 * was submitted, a FLUSH completed, or a durable operation returned. Most
 * completions are reads, after which the medium is the one checked before.
 */
static bool *fresh_events(const struct level *lv)
{
	const struct crash_trace *t = &lv->trace;
	bool *fresh = calloc(t->events + 1, sizeof(*fresh));
	if (!fresh)
		abort();
	fresh[0] = true;
	for (size_t k = 0; k < t->nw; k++)
		if (t->w[k].sub_at <= t->events)
			fresh[t->w[k].sub_at] = true;
	for (size_t k = 0; k < t->nf; k++)
		if (t->flush_at[k] < t->events)
			fresh[t->flush_at[k] + 1] = true;
	for (int i = 0; i < lv->nb; i++)
		if (lv->b[i].durable)
			fresh[lv->b[i].op_end] = true;
	return fresh;
}

static int explore_level(struct level *lv, const struct plan *pl, struct sequence *seq,
			 const struct replay *rp, char *why, size_t wn);

/* Mount img read-write, recorded; new work from the state it recovered;
 * crash that. */
static int work_after_recovery(struct level *parent, const struct plan *pl, struct sequence *seq,
			       const struct replay *rp, uint8_t *img, char *why, size_t wn)
{
	const struct crash_point *p = &seq->at[parent->depth];
	struct level child = {
		.depth = parent->depth + 1,
		.seed = point_seed(parent->seed, p),
		.ballast = parent->ballast,
	};
	struct workload w = {
		.rng = child.seed,
		.big_write_pct = 30,
		.large_commit_pct = 15,
		.keep_avail_blocks = child.ballast ? 64 : 0,
	};
	char reason[640];
	struct blkdev_ram *d = blkdev_ram_new(parent->trace.bytes, img);
	int fail = record_level(&child, d, NULL, &parent->b[p->recovered].state, pl->later_ops, w,
				reason, sizeof(reason));
	blkdev_ram_free(d);
	if (fail)
		describe(seq, parent->depth + 1, true, reason, why, wn);
	else
		fail = explore_level(&child, pl, seq, rp, why, wn);
	level_free(&child);
	return fail;
}

/* Check one crash state of lv (img, built from rng's stream) and, when
 * `descend`, work on after recovering it. */
static int visit_state(struct level *lv, const struct plan *pl, struct sequence *seq,
		       const struct replay *rp, struct crash_point p, uint64_t *rng, uint8_t *img,
		       bool descend, char *why, size_t wn)
{
	int depth = lv->depth;
	bool recrash = host_rand(rng) % 24 == 0;
	if (debug)
		printf("# L%d state: event %llu variant %d recrash %d\n", depth,
		       (unsigned long long)p.ev, p.variant, recrash);
	uint8_t *start_img = NULL;
	if (descend) {
		start_img = image_buffer(&next_start_img[depth]);
		memcpy(start_img, img, lv->trace.bytes);
	}
	seq->at[depth] = p;
	char reason[640];
	int fail = 0;
	if (check_state(lv, p.ev, img, recrash, rng, &seq->at[depth].recovered, reason,
			sizeof(reason))) {
		seq->at[depth].recovered = -1;
		describe(seq, depth + 1, false, reason, why, wn);
		fail = 1;
	}
	if (recrash || getenv("CRASH_FULLCOPY"))
		lv->trace.synced = NULL; /* the recovery wrote into img */
	if (!fail && start_img) {
		seq->recovered_label[depth] = lv->b[seq->at[depth].recovered].label;
		fail = work_after_recovery(lv, pl, seq, rp, start_img, why, wn);
	}
	return fail;
}

static int explore_level(struct level *lv, const struct plan *pl, struct sequence *seq,
			 const struct replay *rp, char *why, size_t wn)
{
	int depth = lv->depth, variants = depth ? pl->later_variants : pl->level0_variants;
	uint8_t *img = image_buffer(&crash_img[depth]);
	int fail = 0;
	if (depth < rp->n) {
		/* Replay: that one state, and below it when the path goes on. */
		struct crash_point p = rp->at[depth];
		uint64_t rng = point_seed(lv->seed, &p);
		build_variant(&lv->trace, p.ev, p.variant, &rng, img);
		return visit_state(lv, pl, seq, rp, p, &rng, img, depth + 1 < rp->n || rp->below, why,
				   wn);
	}
	struct crash_point picks[PICK_KINDS];
	int npicks = 0;
	if (depth < pl->deepest && (!pl->deadline || time(NULL) < pl->deadline))
		npicks = pick_descents(lv, pl->descents[depth], variants, picks);
	bool *fresh = fresh_events(lv);
	for (uint64_t ev = 0; ev <= lv->trace.events && !fail; ev++) {
		int descend = -1;
		for (int k = 0; k < npicks; k++)
			if (picks[k].ev == ev)
				descend = picks[k].variant;
		if (descend < 0 && !fresh[ev])
			continue;
		size_t unstable = 0;
		for (int v = VARIANT_NONE; v < VARIANT_RANDOM + variants && !fail; v++) {
			struct crash_point p = {ev, v, -1};
			uint64_t rng = point_seed(lv->seed, &p);
			size_t differs = build_variant(&lv->trace, ev, v, &rng, img);
			if (v == VARIANT_NONE) {
				unstable = differs;
				if (!unstable && descend >= 0)
					descend = VARIANT_NONE; /* the only state here */
			} else if (!unstable) {
				break;
			} else if (v == VARIANT_COMPLETED && !differs) {
				if (descend == VARIANT_COMPLETED)
					descend = VARIANT_ALL;
				continue; /* VARIANT_ALL is this state */
			}
			fail = visit_state(lv, pl, seq, rp, p, &rng, img, v == descend, why, wn);
		}
	}
	free(fresh);
	return fail;
}

/* Level 0: a fresh file system, crashed at every point, and its sequences. */
static int run_seed(int seed_no, const struct plan *pl, const struct replay *rp, char *why,
		    size_t wn)
{
	uint64_t seed = (uint64_t)seed_no * 7919;
	bool ballast = seed_no % 3 == 0;
	uint32_t seg_bytes = seed_no % 3 == 1 ? 128 << 10 : 64 << 10; /* fewer, larger segments too */
	struct blkdev_ram *d = ram_fs(IMG_BYTES, seg_bytes);
	struct qfs *fs;
	struct qfs_mount_opts mo = {.cache_blocks = 64};
	struct sequence seq = {.seed_no = seed_no};
	if (d)
		d->dev.max_req_bytes = 16 << 10; /* the mount takes it in */
	if (!d || qfs_mount(&d->dev, &mo, &fs)) {
		describe(&seq, 0, true, "setup", why, wn);
		blkdev_ram_free(d);
		return -1;
	}
	if (ballast) {
		/* Ballast (left out of the tree hash, checked by fsck): the file
		 * system runs nearly full, so the cleaner works during the trace. */
		uint8_t *b = malloc(BALLAST);
		fill_pattern(b, BALLAST, seed);
		int err = put_file(fs, "/ballast", b, BALLAST);
		free(b);
		if (err || qfs_sync(fs)) {
			describe(&seq, 0, true, "ballast", why, wn);
			qfs_unmount(fs);
			blkdev_ram_free(d);
			return -1;
		}
	}
	struct level lv = {.depth = 0, .seed = seed, .ballast = ballast};
	struct model empty = {.n = 0};
	struct workload w = {.rng = seed, .big_write_pct = seed_no % 3 == 2 ? 100 : 0};
	char reason[640];
	int fail = record_level(&lv, d, fs, &empty, pl->level0_ops, w, reason, sizeof(reason));
	blkdev_ram_free(d);
	if (fail)
		describe(&seq, 0, true, reason, why, wn);
	else
		fail = explore_level(&lv, pl, &seq, rp, why, wn);
	level_free(&lv);
	return fail;
}

static int recovered_hash(uint8_t *img, uint64_t *h)
{
	struct blkdev_ram *d = blkdev_ram_new(IMG_BYTES, img);
	struct qfs *fs;
	struct qfs_mount_opts ro = {.read_only = true};
	int err = qfs_mount(&d->dev, &ro, &fs);
	if (!err) {
		err = check_quiet(fs, NULL, 0);
		int herr = tree_hash(fs, h, NULL);
		err = err ? err : herr;
		qfs_unmount(fs);
	}
	blkdev_ram_free(d);
	return err;
}

/*
 * The sequence that lost fsync'd work until every read-write mount wrote a
 * checkpoint: a crash in the first commit after a checkpoint, one with
 * psegs at both log heads, leaves psegs past the last commit that recovery
 * ignores; the read-write mount applied nothing and wrote nothing, so the
 * next session's small commits took the same sequence numbers at head 1
 * while a stale pseg still sat at head 0; crashed right after its last
 * fsync returned, recovery followed the stale pseg and lost the work.
 * Every crash point of that first commit, with the writes completed by
 * then on the medium, or all submitted.
 */
static int fsyncs_survive_a_crash_after_recovery_(char *reason, size_t rn)
{
	struct blkdev_ram *d = ram_fs(IMG_BYTES, 64 << 10);
	struct qfs *fs;
	struct qfs_mount_opts mo = {.cache_blocks = 64};
	CHECK(d, "format");
	d->dev.max_req_bytes = 16 << 10;
	CHECK_OK(qfs_mount(&d->dev, &mo, &fs));
	CHECK_OK(put_file(fs, "/before", "committed", 9));
	CHECK_OK(qfs_unmount(fs)); /* its checkpoint is the last */
	CHECK_OK(qfs_mount(&d->dev, &mo, &fs));
	struct crash_trace first;
	crash_record(d, &first);
	/* More data than the dirty limit and than a small commit takes. */
	enum { BIG = 96 * QFS_BLOCK_SIZE };
	uint8_t *big = malloc(BIG);
	fill_pattern(big, BIG, 1);
	int err = 0;
	for (int i = 0; i < 4 && !err; i++) {
		char path[24];
		snprintf(path, sizeof(path), "/small%d", i);
		err = put_file(fs, path, big, 100);
	}
	if (!err)
		err = put_file(fs, "/big", big, BIG);
	free(big);
	CHECK_OK(err);
	CHECK_OK(qfs_sync(fs));
	uint64_t synced_at = first.events;
	d->observe = NULL;
	qfs_abandon(fs);

	uint8_t *img = malloc(IMG_BYTES), *img2 = malloc(IMG_BYTES);
	uint64_t unused_rng = 1, lost = 0, points = 0;
	char first_lost[80] = "";
	for (uint64_t ev = 0; ev < synced_at; ev++) {
		for (int completed = 0; completed < 2; completed++) {
			if (completed)
				crash_build_completed(&first, ev, img);
			else
				crash_build(&first, ev, 1, &unused_rng, img);
			first.synced = NULL; /* the next session writes into img */
			uint64_t recovered, want, got;
			err = recovered_hash(img, &recovered);
			CHECK(!err, "event %llu: the first crash does not recover: %d",
			      (unsigned long long)ev, err);
			struct blkdev_ram *d2 = blkdev_ram_new(IMG_BYTES, img);
			struct crash_trace next;
			crash_record(d2, &next);
			CHECK_OK(qfs_mount(&d2->dev, &mo, &fs));
			err = put_file(fs, "/after", "first fsync", 11);
			err = err ? err : qfs_sync(fs);
			err = err ? err : put_file(fs, "/after", "second fsync", 12);
			err = err ? err : qfs_sync(fs);
			err = err ? err : tree_hash(fs, &want, NULL);
			uint64_t returned_at = next.events;
			d2->observe = NULL;
			qfs_abandon(fs);
			blkdev_ram_free(d2);
			crash_build(&next, returned_at, 0, &unused_rng, img2);
			crash_trace_free(&next);
			CHECK(!err, "event %llu: the next session: %d", (unsigned long long)ev, err);
			points++;
			if (recovered_hash(img2, &got) || got != want) {
				if (!lost++)
					snprintf(first_lost, sizeof(first_lost), "event %llu with %s",
						 (unsigned long long)ev,
						 completed ? "the completed writes" : "every write");
			}
		}
	}
	crash_trace_free(&first);
	free(img);
	free(img2);
	blkdev_ram_free(d);
	CHECK(lost == 0, "%llu of %llu crash points lost what was fsync'd after the recovery "
	      "(first: %s)", (unsigned long long)lost, (unsigned long long)points, first_lost);
	return 0;
}

static int parse_replay(const char *s, struct replay *rp)
{
	memset(rp, 0, sizeof(*rp));
	while (s && *s) {
		char *end;
		if (rp->n == MAX_DEPTH)
			return -1;
		struct crash_point *p = &rp->at[rp->n++];
		p->ev = strtoull(s, &end, 10);
		if (end == s || *end != '.')
			return -1;
		s = end + 1;
		p->variant = (int)strtol(s, &end, 10);
		p->recovered = -1;
		if (end == s || (*end && *end != '/'))
			return -1;
		if (*end == '/' && !end[1])
			rp->below = true;
		s = *end ? end + 1 : end;
	}
	return 0;
}

static unsigned long long multi_crash_states(void)
{
	unsigned long long n = 0;
	for (int k = 1; k < MAX_DEPTH; k++)
		n += states_at_depth[k];
	return n;
}

int main(void)
{
	tree_hash_skip = "/ballast";
	debug = getenv("CRASH_DEBUG") != NULL;
	bool lng = getenv("CRASH_LONG") != NULL;
	struct plan pl = {
		.level0_ops = lng ? 400 : 150,
		.later_ops = lng ? 60 : 30,
		.level0_variants = lng ? 8 : 3,
		.later_variants = lng ? 4 : 2,
		.deepest = lng ? 4 : 2,
		.descents = {PICK_KINDS, lng ? 3 : 2, 2, 1},
	};
	/* The long run (make crashtest) goes on for CRASH_SECS (default 420:
	 * the runner allows a binary 900 s), the normal one for 6 workloads
	 * and more until it explored enough states of both kinds. */
	time_t t0 = time(NULL), budget = getenv("CRASH_SECS") ? atoi(getenv("CRASH_SECS")) : 420;
	if (lng)
		pl.deadline = t0 + budget;
	struct replay rp;
	if (parse_replay(getenv("CRASH_PATH"), &rp)) {
		printf("TEST crash_path FAIL CRASH_PATH wants EVENT.VARIANT[/EVENT.VARIANT...][/]\n");
		return 1;
	}
	int first = 1, seeds = lng ? 1000 : 6;
	bool one = getenv("CRASH_SEED") != NULL;
	if (one)
		first = seeds = atoi(getenv("CRASH_SEED"));
	else
		test_run("crash_fsyncs_survive_a_crash_after_recovery",
			 fsyncs_survive_a_crash_after_recovery_);
	for (int s = first;; s++) {
		bool short_of_states = states_at_depth[0] < 10000 || multi_crash_states() < 10000;
		if (s > seeds && (one || !short_of_states || s >= 200))
			break;
		if (lng && s > first + 3 && time(NULL) - t0 > budget)
			break;
		char why[2000] = "";
		int err = run_seed(s, &pl, &rp, why, sizeof(why));
		printf("TEST crash_seed%d %s%s%s\n", s, err ? "FAIL" : "PASS", err ? " " : "", why);
		fflush(stdout);
		if (err)
			test_failures++;
	}
	unsigned long long multi = multi_crash_states();
	printf("crash: %llu single-crash states, %llu multi-crash states (", states_at_depth[0], multi);
	for (int k = 1; k < MAX_DEPTH && states_at_depth[k]; k++)
		printf("%s%llu after %d crashes", k > 1 ? ", " : "", states_at_depth[k], k + 1);
	printf(") in %llu recorded levels; the cleaner reclaimed %llu segments in them\n",
	       levels_recorded, cleaned_total);
	if (!one && !rp.n) {
		bool enough = states_at_depth[0] >= 10000;
		printf("TEST crash_states_10000 %s", enough ? "PASS\n" : "FAIL ");
		if (!enough) {
			printf("only %llu single-crash states\n", states_at_depth[0]);
			test_failures++;
		}
		enough = multi >= 10000;
		printf("TEST crash_multi_states_10000 %s", enough ? "PASS\n" : "FAIL ");
		if (!enough) {
			printf("only %llu multi-crash states\n", multi);
			test_failures++;
		}
	}
	return test_failures ? 1 : 0;
}
