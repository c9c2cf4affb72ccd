/*
 * File-level benchmarks on quillfs. They work inside /bench on the disk's
 * file system (made first when the disk holds none; a disk that holds one is
 * used as it is, and only /bench is touched).
 *
 *   smallfiles  bs-sized overwrites at random offsets of `files` files,
 *               fsync after every `fsync_every` writes (0: never)
 *   append      bs-sized appends to one log file, fsync after each
 *   create      create a file, write bs, close; fsync every `fsync_every`
 *   fill        fill the file system to fill_pct% with other files first,
 *               then run smallfiles (where cleaning starts to cost)
 *
 * Latency is per operation, including the fsync it triggered. A figure is
 * "durable" when every acknowledged write was covered by a completed FLUSH
 * (fsync after each); otherwise it is volatile and the run ends with an
 * untimed sync. dev_ios/dev_bytes count what reached the device; wa is
 * device bytes written per file byte written.
 */
#include "arch/x86_64/arch.h"
#include "drivers/blk/blk.h"
#include "fs/fs.h"
#include "kernel/jobs/bench.h"
#include "kernel/jobs/hist.h"
#include "kernel/jobs/jobs.h"
#include "kernel/kernel.h"
#include "kernel/rng.h"

#define BENCH_DIR "/bench"
#define BENCH_FILE_BYTES (256u << 10) /* each smallfiles file */

struct fs_run {
	const struct bench_spec *s;
	struct qfs *fs;
	struct blk_dev *dev;
	struct rng rng;
	struct hist *lat;
	uint8_t *buf;
	uint64_t ios, bytes;
	int err;
	/* What the clock started with: set by fs_clock_start() once the run's setup is done. */
	bool started;
	uint64_t t0, idle0, deadline;
	struct blk_stats d0;
	struct qfs_statfs st0;
};

/* Setup (opening files, writing them whole) is not measured: the clock starts here. */
static void fs_clock_start(struct fs_run *r)
{
	r->dev->wait_mode = r->s->mode;
	qfs_statfs(r->fs, &r->st0);
	r->d0 = r->dev->stats;
	r->idle0 = event_idle_ticks();
	r->t0 = rdtsc();
	r->deadline = r->t0 + ns_to_tsc(r->s->time_ms * 1000000ull);
	r->started = true;
	bench_insn_mark(); /* instruction counts (insncount) cover the timed part only, as for raw runs */
}

static int fs_mount_for_bench(struct blk_dev *dev, struct qfs **fs)
{
	int err = consent_format_if_absent(dev, "bench");
	if (err)
		return err;
	err = fs_mount_job(dev, NULL, fs, "bench");
	if (err)
		return err;
	err = qfs_mkdir(*fs, BENCH_DIR);
	return err == -EEXIST ? 0 : err;
}

static void file_name(char *buf, size_t n, const char *kind, uint64_t i)
{
	snprintf(buf, n, BENCH_DIR "/%s%llu", kind, (unsigned long long)i);
}

static bool fs_more(const struct fs_run *r)
{
	if (r->err)
		return false;
	return r->s->ios ? r->ios < r->s->ios : rdtsc() < r->deadline;
}

/* Each smallfiles file: BENCH_FILE_BYTES, or one block of the run's size when that is larger. */
static uint32_t fs_blocks_per_file(const struct bench_spec *s)
{
	return BENCH_FILE_BYTES / s->bs ? BENCH_FILE_BYTES / s->bs : 1;
}

/* The same file in quillfs blocks: what it holds once written whole. */
static uint64_t fs_whole_file_blocks(const struct bench_spec *s)
{
	return (uint64_t)fs_blocks_per_file(s) * s->bs / QFS_BLOCK_SIZE;
}

/* Overwrite workload over `files` files of fs_blocks_per_file() blocks of bs each. */
static void fs_smallfiles(struct fs_run *r)
{
	const struct bench_spec *s = r->s;
	struct qfs_file **fh = kzalloc(sizeof(*fh) * s->files);
	if (!fh) {
		r->err = -ENOMEM;
		return;
	}
	char name[64];
	uint32_t blocks_per_file = fs_blocks_per_file(s);
	for (uint32_t i = 0; i < s->files && !r->err; i++) {
		file_name(name, sizeof(name), "f", i);
		r->err = qfs_open(r->fs, name, QFS_O_CREAT, &fh[i]);
	}
	/*
	 * On a filled file system the files are written whole first (those an
	 * earlier run left whole are kept), so the run overwrites at the level
	 * fs_fill() set instead of filling further.
	 */
	uint64_t whole = fs_whole_file_blocks(s);
	for (uint32_t i = 0; i < s->files && !r->err && s->op == BENCH_FS_FILL; i++) {
		struct qfs_stat st;
		if (qfs_fstat(fh[i], &st) == 0 && st.blocks >= whole)
			continue;
		for (uint32_t b = 0; b < blocks_per_file && !r->err; b++) {
			int64_t n = qfs_write(fh[i], (uint64_t)b * s->bs, r->buf, s->bs);
			if (n != (int64_t)s->bs)
				r->err = n < 0 ? (int)n : -EIO;
		}
	}
	if (!r->err)
		r->err = qfs_sync(r->fs); /* the files exist before the clock starts */
	fs_clock_start(r);
	uint64_t since_fsync = 0;
	while (fs_more(r)) {
		uint32_t f = (uint32_t)rng_below(&r->rng, s->files);
		uint64_t off = rng_below(&r->rng, blocks_per_file) * s->bs;
		uint64_t t0 = rdtsc();
		int64_t n = qfs_write(fh[f], off, r->buf, s->bs);
		if (n != (int64_t)s->bs) {
			r->err = n < 0 ? (int)n : -EIO;
			break;
		}
		if (s->fsync_every && ++since_fsync >= s->fsync_every) {
			since_fsync = 0;
			r->err = qfs_fsync(fh[f]);
		}
		hist_add(r->lat, rdtsc() - t0);
		r->ios++;
		r->bytes += s->bs;
	}
	for (uint32_t i = 0; i < s->files; i++)
		if (fh[i])
			qfs_close(fh[i]);
	kfree(fh);
}

static void fs_append(struct fs_run *r)
{
	struct qfs_file *f;
	qfs_unlink(r->fs, BENCH_DIR "/log");
	r->err = qfs_open(r->fs, BENCH_DIR "/log", QFS_O_CREAT, &f);
	if (!r->err)
		r->err = qfs_sync(r->fs); /* the old log's removal is not the first append's cost */
	if (r->err)
		return;
	fs_clock_start(r);
	uint64_t off = 0;
	while (fs_more(r)) {
		uint64_t t0 = rdtsc();
		int64_t n = qfs_write(f, off, r->buf, r->s->bs);
		if (n != (int64_t)r->s->bs) {
			r->err = n < 0 ? (int)n : -EIO;
			break;
		}
		r->err = qfs_fsync(f);
		hist_add(r->lat, rdtsc() - t0);
		off += r->s->bs;
		r->ios++;
		r->bytes += r->s->bs;
	}
	qfs_close(f);
}

static void fs_create(struct fs_run *r)
{
	char name[64];
	uint64_t since_fsync = 0;
	fs_clock_start(r);
	while (fs_more(r)) {
		file_name(name, sizeof(name), "c", r->ios);
		uint64_t t0 = rdtsc();
		struct qfs_file *f;
		qfs_unlink(r->fs, name);
		r->err = qfs_open(r->fs, name, QFS_O_CREAT | QFS_O_TRUNC, &f);
		if (r->err)
			break;
		int64_t n = qfs_write(f, 0, r->buf, r->s->bs);
		if (n != (int64_t)r->s->bs)
			r->err = n < 0 ? (int)n : -EIO;
		if (!r->err && r->s->fsync_every && ++since_fsync >= r->s->fsync_every) {
			since_fsync = 0;
			r->err = qfs_fsync(f);
		}
		qfs_close(f);
		hist_add(r->lat, rdtsc() - t0);
		r->ios++;
		r->bytes += r->s->bs;
	}
}

/*
 * Fill to fill_pct% full as df counts it (qfs_full_pct(): live blocks
 * against live + available, the cleaning reserve and segment summaries left
 * out, as df leaves out ext4's reserved blocks), untimed, with ballast files
 * of up to 1 MiB, the last one cut to what is missing. Room is left for the
 * workload's files, which fs_smallfiles() writes whole before the clock
 * starts. Ballast and workload files an earlier run left are kept, so a
 * sweep in one boot only adds. Should the file system answer ENOSPC first,
 * the fill stops there, says so, and the BENCH line's used_pct tells the
 * level actually measured.
 */
static int fs_fill(struct fs_run *r)
{
	const struct bench_spec *s = r->s;
	struct qfs_statfs st;
	int err = qfs_sync(r->fs);
	if (err || (err = qfs_statfs(r->fs, &st)))
		return err;
	/* Nothing dirty now: what is used, dirty or not, is always cap - available. */
	uint64_t cap = st.live_blocks + st.avail_blocks;
	uint64_t want_used = cap * s->fill_pct / 100;
	uint64_t whole = fs_whole_file_blocks(s), workload = 0;
	char name[64];
	for (uint32_t i = 0; i < s->files; i++) {
		struct qfs_stat fst;
		file_name(name, sizeof(name), "f", i);
		uint64_t held = qfs_stat(r->fs, name, &fst) == 0 ? fst.blocks : 0;
		workload += held < whole ? whole - held : 0;
	}
	for (uint64_t i = 0, made = 0;; i++) {
		uint64_t used = cap > st.avail_blocks ? cap - st.avail_blocks : 0;
		if (used + workload >= want_used)
			break;
		struct qfs_stat fst;
		file_name(name, sizeof(name), "ballast", i);
		if (qfs_stat(r->fs, name, &fst) == 0)
			continue; /* an earlier run's: already counted in used */
		uint64_t bytes = MIN((want_used - used - workload) * st.block_size, (uint64_t)1 << 20);
		bytes = ALIGN_UP(bytes, (uint64_t)s->bs);
		struct qfs_file *f = NULL;
		err = qfs_open(r->fs, name, QFS_O_CREAT | QFS_O_TRUNC, &f);
		for (uint64_t off = 0; !err && off < bytes; off += s->bs) {
			int64_t n = qfs_write(f, off, r->buf, s->bs);
			if (n < 0)
				err = (int)n;
		}
		if (f)
			qfs_close(f);
		if (!err && ++made % 16 == 0)
			err = qfs_sync(r->fs);
		if (err == -ENOSPC) {
			/* Give the partial file back, so the workload has its room. */
			qfs_unlink(r->fs, name);
			err = qfs_sync(r->fs);
			if (!err && !(err = qfs_statfs(r->fs, &st)))
				printf("bench %s: quillfs takes no more at %u%% full; measuring there\n", s->name,
				       qfs_full_pct(&st));
			return err;
		}
		if (err || (err = qfs_statfs(r->fs, &st)))
			return err;
	}
	return qfs_sync(r->fs);
}

int bench_run_fs(const struct bench_spec *s, struct blk_dev *dev)
{
	struct fs_run r = {.s = s, .dev = dev};
	rng_seed(&r.rng, s->seed);
	r.lat = kzalloc(sizeof(*r.lat));
	r.buf = kmalloc(s->bs);
	if (!r.lat || !r.buf) {
		kfree(r.lat);
		kfree(r.buf);
		return -ENOMEM;
	}
	for (uint32_t i = 0; i < s->bs; i++)
		r.buf[i] = (uint8_t)(i * 7 + 1);
	int err = fs_mount_for_bench(dev, &r.fs);
	if (err) {
		printf("bench %s: cannot mount quillfs on %s: %s\n", s->name, dev->name, blk_strerror(err));
		goto out;
	}
	if (s->op == BENCH_FS_FILL && (err = fs_fill(&r))) {
		printf("bench %s: filling to %u%% failed: %d\n", s->name, s->fill_pct, err);
		goto out_unmount;
	}

	switch (s->op) {
	case BENCH_FS_APPEND: fs_append(&r); break;
	case BENCH_FS_CREATE: fs_create(&r); break;
	default: fs_smallfiles(&r); break;
	}
	if (!r.started) /* setup failed: report the error over an empty interval */
		fs_clock_start(&r);
	bench_insn_mark();
	uint64_t ticks = rdtsc() - r.t0;
	uint64_t idle = event_idle_ticks() - r.idle0;
	if (!r.err && !r.ios)
		r.err = -ETIMEDOUT; /* not one operation finished in the time given */
	struct qfs_statfs st0 = r.st0, st1;
	struct blk_stats d0 = r.d0;
	bool durable = s->op == BENCH_FS_APPEND || s->fsync_every == 1;
	if (!r.err && !durable)
		r.err = qfs_sync(r.fs); /* untimed: leave the disk consistent */
	qfs_statfs(r.fs, &st1);
	dev->wait_mode = BLK_WAIT_IRQ;

	uint64_t dev_ios = (dev->stats.reads - d0.reads) + (dev->stats.writes - d0.writes) +
			   (dev->stats.flushes - d0.flushes);
	uint64_t dev_bytes = (dev->stats.write_bytes - d0.write_bytes);
	uint64_t wa_x100 = r.bytes ? dev_bytes * 100 / r.bytes : 0;
	char extra[200];
	snprintf(extra, sizeof(extra),
		 "dev_ios=%llu dev_bytes=%llu wa=%llu.%02llu durable=%d wce=%d fsync_every=%u files=%u%s%s",
		 (unsigned long long)dev_ios, (unsigned long long)dev_bytes, (unsigned long long)(wa_x100 / 100),
		 (unsigned long long)(wa_x100 % 100), durable, (dev->flags & BLK_F_FLUSH) ? 1 : 0,
		 s->fsync_every, s->files, r.err ? " first_error=" : "", r.err ? blk_strerror(r.err) : "");
	if (s->op == BENCH_FS_FILL) {
		size_t len = strlen(extra);
		uint64_t used_pct = qfs_full_pct(&st1);
		snprintf(extra + len, sizeof(extra) - len, " fill_pct=%u used_pct=%llu cleaned_segs=%llu", s->fill_pct,
			 (unsigned long long)used_pct, (unsigned long long)(st1.cleaned_segs - st0.cleaned_segs));
	}
	struct bench_result res = {
		.ios = r.ios,
		.bytes = r.bytes,
		.ticks = ticks,
		.busy_ticks = ticks > idle ? ticks - idle : 0,
		.errors = r.err ? 1 : 0,
		.kicks = dev->stats.kicks - d0.kicks,
		.irqs = dev->stats.irqs - d0.irqs,
		.lat = r.lat,
	};
	struct bench_spec ran = *s;
	ran.mode = bench_effective_mode(s, dev);
	bench_report(&ran, &res, extra);
	err = r.err;
out_unmount:;
	int uerr = qfs_unmount(r.fs);
	if (!err)
		err = uerr;
out:
	kfree(r.buf);
	kfree(r.lat);
	return err;
}
