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
#include "tests/host/crash_workload.h"

#include <time.h>

#define IMG_BYTES (8ull << 20)
#define BALLAST (6656u << 10)

static bool big_writes; /* commits of more than QFS_MIX_BLOCKS: both log heads */
static uint32_t seg_bytes = 64 << 10;

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
			tree_dump(fs, "/");
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
	r.hash[0] = model_hash(&m);
	r.durable[0] = 1;
	if (getenv("CRASH_DEBUG")) {
		r.dump = calloc((size_t)nops + 1, sizeof(char *));
		r.dump[0] = model_dump(&m);
	}
	struct workload w = {.rng = seed, .big_write_pct = big_writes ? 100 : 0};
	int fail = 0;
	for (int i = 0; i < nops && !fail; i++) {
		int s = workload_step(fs, &m, &w, why, wn);
		if (s < 0)
			fail = 1;
		r.hash[i + 1] = model_hash(&m);
		r.op_end[i + 1] = t.events;
		r.durable[i + 1] = s == 1;
		r.nops = i + 1;
		if (r.dump)
			r.dump[i + 1] = model_dump(&m);
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
	if (!fail && (tree_hash(fs, &h, NULL) || h != model_hash(&m))) {
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
	model_free(&m);
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
