/*
 * test=fs_power: the guest's half of the logged power-cut test
 * (tests/qemu/cases_fs.py, fs-power-log): QEMU logs every write and FLUSH
 * this test makes, and tests/host/power_log.c rebuilds from the log every
 * disk state a power cut could have left, checking each against the lines
 * printed here. Uses nothing but fs/fs.h.
 *
 * Formats vda (it must hold no quillfs, or fs.format=1), makes /power,
 * /power/a and /power/a/b, then runs fs_power.steps operations (default
 * 60) drawn from fs_power.seed: create, overwrite (sometimes past the end,
 * leaving a hole), append, truncate, rename (across directories, sometimes
 * over another file) and unlink. Each is followed by a commit (qfs_fsync
 * on the file, or qfs_sync) and, once that returned, one line:
 *
 *   fs_power: step S flushes F OP PATH [to PATH2] [size N hash H]
 *
 * F is how many FLUSH requests the device had completed by then: a medium
 * holding the first F flushes must hold everything up to step S. size and
 * hash describe the file's whole content after the step (hash: FNV-1a 64
 * of its bytes). Every operation is a single fs call except create (open,
 * then write), so the only state inside a step that a commit may catch is
 * a created file still empty. With fs_power.ballast=N, /ballast (N bytes,
 * outside the steps' tree, never changed) is synced first and announced
 * as "fs_power: ballast /ballast size N hash H": a fuller file system
 * makes the cleaner move live blocks, the ballast's among them. "fs_power: mounted flushes F" comes before
 * step 0, "fs_power: statfs ..." (what the run made the fs do: commits,
 * checkpoints, cleaning) after the last step and "fs_power: done steps N
 * flushes F" after the unmount.
 */
#ifdef QUILL_KERNEL
#include "fs/fs.h"
#include "kernel/kernel.h"
#include "kernel/rng.h"

CMDLINE_KEY(fs_power_steps, "fs_power.steps", cmdline_valid_uint,
	    "test=fs_power: operations after the setup, each committed (default 60)");
CMDLINE_KEY(fs_power_seed, "fs_power.seed", cmdline_valid_uint,
	    "test=fs_power: seed of the operations and the bytes written (default 1)");
CMDLINE_KEY(fs_power_ballast, "fs_power.ballast", cmdline_valid_uint,
	    "test=fs_power: bytes of /ballast written before the steps, so the cleaner runs (default 0)");

#define FP_SLOTS 24           /* file names: 8 in each directory */
#define FP_MAX (48u << 10)    /* largest file: room for every file in 8 MiB */
#define FP_WRITE (16u << 10)  /* largest single write */

static const char *const fp_dirs[] = {"/power", "/power/a", "/power/a/b"};

struct fp_run {
	struct qfs *fs;
	struct blk_dev *dev;
	struct rng rng;
	unsigned step;
	/* What each name holds now: the model the printed hashes come from. */
	bool used[FP_SLOTS];
	uint32_t size[FP_SLOTS];
	uint8_t *data[FP_SLOTS];
};

static void fp_path(char *buf, size_t n, unsigned slot)
{
	snprintf(buf, n, "%s/f%u", fp_dirs[slot % ARRAY_SIZE(fp_dirs)], slot);
}

#define FP_HASH_START 0xcbf29ce484222325ull

/* FNV-1a 64 of p, continued from h (FP_HASH_START for a fresh one). */
static uint64_t fp_hash(uint64_t h, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 0x100000001b3ull;
	return h;
}

static void fp_fill(struct rng *r, uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i += 8) {
		uint64_t x = rng_next(r);
		memcpy(p + i, &x, n - i < 8 ? n - i : 8);
	}
}

/* The line for a step that has just been committed; slot < 0: no file content to show. */
static void fp_say(struct fp_run *r, const char *op, const char *path, const char *to, int slot)
{
	char tail[64] = "";
	if (slot >= 0)
		snprintf(tail, sizeof(tail), " size %u hash %016llx", r->size[slot],
			 (unsigned long long)fp_hash(FP_HASH_START, r->data[slot], r->size[slot]));
	printf("fs_power: step %u flushes %llu %s %s%s%s%s\n", r->step,
	       (unsigned long long)r->dev->stats.flushes, op, path, to ? " to " : "", to ? to : "",
	       tail);
	r->step++;
}

/* Write len new bytes at off into the file and the model (a gap past the end reads as zeroes). */
static int fp_write(struct fp_run *r, struct qfs_file *f, unsigned slot, uint32_t off, uint32_t len)
{
	uint8_t *d = r->data[slot];
	if (off > r->size[slot])
		memset(d + r->size[slot], 0, off - r->size[slot]);
	fp_fill(&r->rng, d + off, len);
	if (off + len > r->size[slot])
		r->size[slot] = off + len;
	int64_t w = qfs_write(f, off, d + off, len);
	return w == (int64_t)len ? 0 : w < 0 ? (int)w : -EIO;
}

static int fp_sync(struct fp_run *r, const char **what)
{
	*what = "sync";
	return qfs_sync(r->fs);
}

static unsigned fp_pick(struct fp_run *r, bool used)
{
	unsigned n = 0, pick;
	for (unsigned i = 0; i < FP_SLOTS; i++)
		n += r->used[i] == used;
	pick = (unsigned)rng_below(&r->rng, n);
	for (unsigned i = 0;; i++)
		if (r->used[i] == used && pick-- == 0)
			return i;
}

/* One operation and its commit; 0 or -errno, with *what naming the call that failed. */
static int fp_step(struct fp_run *r, const char **what)
{
	char path[32], to[32];
	unsigned nused = 0;
	for (unsigned i = 0; i < FP_SLOTS; i++)
		nused += r->used[i];
	unsigned dice = (unsigned)rng_below(&r->rng, 100);
	bool create = nused == 0 || (dice < 30 && nused < FP_SLOTS);
	unsigned slot = fp_pick(r, !create);
	fp_path(path, sizeof(path), slot);
	int err;
	if (!create && dice >= 72) {
		if (dice < 87) {
			unsigned dst = (unsigned)rng_below(&r->rng, FP_SLOTS - 1);
			dst += dst >= slot;
			fp_path(to, sizeof(to), dst);
			*what = "rename";
			if ((err = qfs_rename(r->fs, path, to)) || (err = fp_sync(r, what)))
				return err;
			uint8_t *t = r->data[dst];
			r->data[dst] = r->data[slot];
			r->data[slot] = t;
			r->size[dst] = r->size[slot];
			r->used[dst] = true;
			r->used[slot] = false;
			fp_say(r, "rename", path, to, (int)dst);
		} else {
			*what = "unlink";
			if ((err = qfs_unlink(r->fs, path)) || (err = fp_sync(r, what)))
				return err;
			r->used[slot] = false;
			fp_say(r, "unlink", path, NULL, -1);
		}
		return 0;
	}
	struct qfs_file *f;
	const char *op;
	*what = "open";
	if ((err = qfs_open(r->fs, path, create ? QFS_O_CREAT | QFS_O_EXCL : 0, &f)))
		return err;
	uint32_t size = r->size[slot];
	if (create) {
		op = "create";
		r->used[slot] = true;
		r->size[slot] = 0;
		/* A quarter tiny (under a sector), the rest up to half the largest. */
		uint32_t n = rng_below(&r->rng, 4) ? (uint32_t)rng_below(&r->rng, FP_MAX / 2)
						   : (uint32_t)rng_below(&r->rng, 200);
		*what = "write";
		err = n ? fp_write(r, f, slot, 0, n) : 0;
	} else if (dice < 50 || (dice < 65 && size == FP_MAX)) {
		op = "overwrite";
		uint32_t off = (uint32_t)rng_below(&r->rng, size + 4096 < FP_MAX ? size + 4096 : FP_MAX);
		uint32_t len = 1 + (uint32_t)rng_below(&r->rng, FP_WRITE);
		*what = "write";
		err = fp_write(r, f, slot, off, len < FP_MAX - off ? len : FP_MAX - off);
	} else if (dice < 65) {
		op = "append";
		uint32_t len = 1 + (uint32_t)rng_below(&r->rng, FP_WRITE / 2);
		*what = "write";
		err = fp_write(r, f, slot, size, len < FP_MAX - size ? len : FP_MAX - size);
	} else {
		op = "truncate";
		r->size[slot] = (uint32_t)rng_below(&r->rng, size + 1);
		*what = "truncate";
		err = qfs_truncate(f, r->size[slot]);
	}
	/* Most commits through the file's own fsync, some through sync. */
	if (!err) {
		*what = dice % 4 ? "fsync" : "sync";
		err = dice % 4 ? qfs_fsync(f) : qfs_sync(r->fs);
	}
	int cerr = qfs_close(f);
	if (!err && cerr)
		*what = "close";
	if (!err && !(err = cerr))
		fp_say(r, op, path, NULL, (int)slot);
	return err;
}

/* The ballast: written in chunks, pattern bytes, synced. */
static int fp_ballast(struct fp_run *r, uint64_t bytes, const char **what)
{
	struct qfs_file *f;
	*what = "ballast";
	int err = qfs_open(r->fs, "/ballast", QFS_O_CREAT | QFS_O_EXCL, &f);
	if (err)
		return err;
	uint8_t *chunk = r->data[0];
	uint64_t hash = FP_HASH_START;
	for (uint64_t off = 0; off < bytes && !err; off += FP_MAX) {
		uint32_t n = bytes - off < FP_MAX ? (uint32_t)(bytes - off) : FP_MAX;
		fp_fill(&r->rng, chunk, n);
		hash = fp_hash(hash, chunk, n);
		int64_t w = qfs_write(f, off, chunk, n);
		err = w == (int64_t)n ? 0 : w < 0 ? (int)w : -EIO;
	}
	int cerr = qfs_close(f);
	if (!err && !(err = cerr) && !(err = qfs_sync(r->fs)))
		printf("fs_power: ballast /ballast size %llu hash %016llx\n", (unsigned long long)bytes,
		       (unsigned long long)hash);
	return err;
}

static void fp_free(struct fp_run *r)
{
	for (unsigned i = 0; i < FP_SLOTS; i++)
		kfree(r->data[i]);
}

KTEST_DEFINE(fs_power, "fs_power", true)
{
	static struct fp_run run;
	struct fp_run *r = &run;
	uint64_t steps = 60, seed = 1, ballast = 0;
	const char *v;
	/* Each value was validated when the command line was parsed. */
	if ((v = cmdline_get("fs_power.steps")))
		cmdline_parse_uint(v, &steps);
	if ((v = cmdline_get("fs_power.seed")))
		cmdline_parse_uint(v, &seed);
	if ((v = cmdline_get("fs_power.ballast")))
		cmdline_parse_uint(v, &ballast);
	memset(r, 0, sizeof(*r));
	rng_seed(&r->rng, seed);
	r->dev = blk_get("vda");
	if (!r->dev)
		KTEST_FAIL("no disk vda");
	if (qfs_present(r->dev) && !cmdline_flag("fs.format", false))
		KTEST_FAIL("vda holds a quillfs: add fs.format=1 to overwrite it");
	for (unsigned i = 0; i < FP_SLOTS; i++)
		r->data[i] = kmalloc(FP_MAX);
	for (unsigned i = 0; i < FP_SLOTS; i++)
		if (!r->data[i]) {
			fp_free(r);
			KTEST_FAIL("out of memory");
		}
	const char *what = "format";
	int err = qfs_format(r->dev, NULL);
	if (!err) {
		what = "mount";
		err = qfs_mount(r->dev, NULL, &r->fs);
	}
	if (err) {
		fp_free(r);
		KTEST_FAIL("%s: %d (%s)", what, err, blk_strerror(err));
	}
	if (ballast && (err = fp_ballast(r, ballast, &what))) {
		qfs_unmount(r->fs);
		fp_free(r);
		KTEST_FAIL("%s: %d (%s)", what, err, blk_strerror(err));
	}
	printf("fs_power: mounted flushes %llu\n", (unsigned long long)r->dev->stats.flushes);
	for (unsigned d = 0; d < ARRAY_SIZE(fp_dirs) && !err; d++) {
		what = "mkdir";
		if (!(err = qfs_mkdir(r->fs, fp_dirs[d])) && !(err = fp_sync(r, &what)))
			fp_say(r, "mkdir", fp_dirs[d], NULL, -1);
	}
	for (uint64_t i = 0; i < steps && !err; i++)
		err = fp_step(r, &what);
	unsigned failed_step = r->step;
	struct qfs_statfs st;
	if (!err && !qfs_statfs(r->fs, &st))
		printf("fs_power: statfs commits %llu checkpoints %llu cleaned_segs %llu\n",
		       (unsigned long long)st.commits, (unsigned long long)st.checkpoints,
		       (unsigned long long)st.cleaned_segs);
	int uerr = qfs_unmount(r->fs);
	fp_free(r);
	if (err)
		KTEST_FAIL("step %u: %s: %d (%s)", failed_step, what, err, blk_strerror(err));
	if (uerr)
		KTEST_FAIL("unmount: %d (%s)", uerr, blk_strerror(uerr));
	printf("fs_power: done steps %u flushes %llu\n", r->step, (unsigned long long)r->dev->stats.flushes);
	return 0;
}
#endif
