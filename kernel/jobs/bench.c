/*
 * The raw-device benchmark and the BENCH line.
 *
 * A run keeps exactly qd requests in flight: each completion callback
 * records its latency (TSC delta from submission) and refills its slot with
 * the next I/O; the refills a wake-up produced go to the device with one
 * kick. Buffers and requests are allocated before the clock starts; the hot
 * path is rdtsc, an RNG draw, blk_submit and a histogram increment.
 */
#include "arch/x86_64/arch.h"
#include "drivers/blk/blk.h"
#include "fs/fs.h"
#include "kernel/jobs/bench.h"
#include "kernel/jobs/hist.h"
#include "kernel/jobs/jobs.h"
#include "kernel/kernel.h"
#include "kernel/rng.h"

static int bench_valid(const char *v)
{
	static struct bench_spec tmp[BENCH_MAX_RUNS];
	char err[96];
	if (bench_parse(v, tmp, BENCH_MAX_RUNS, err, sizeof(err)) >= 0)
		return 0;
	printf("bench: %s\n", err); /* the precise reason, before the command line's general one */
	return -EINVAL;
}
CMDLINE_KEY(bench, "bench", bench_valid,
	    "bench=RUN[,RUN...], RUN = colon-separated raw|fs, op, size, qdN, 2s|10000ios, vdX, irq|poll|hybrid, key=value (README)");

/*
 * Called where a run's measured interval starts and ends (raw runs here,
 * file runs in bench_fs.c). Under TCG with tools/insncount.so (make bench)
 * each call logs the guest's running instruction count, which gives
 * instructions per I/O without the noise of wall-clock time. Out of line so
 * it has an address; otherwise it costs a call.
 */
__attribute__((noinline)) void bench_insn_mark(void)
{
	__asm__ volatile("" ::: "memory");
}

struct raw_run;

struct raw_slot {
	struct blk_req req;
	struct raw_run *run;
	uint64_t t0;
	void *buf;
	bool flushing; /* BENCH_FLUSHWRITE: the write is done, its FLUSH is out */
};

struct raw_run {
	const struct bench_spec *s;
	struct blk_dev *dev;
	struct raw_slot *slots;
	struct rng rng;
	struct hist *lat;
	uint64_t nblocks;  /* bs-sized blocks in the region */
	uint64_t next_seq; /* sequential ops: next block */
	uint64_t issued, completed, target_ios, deadline;
	uint64_t bytes, errors;
	uint32_t inflight;
	int first_error;
	volatile bool need_kick;
};

static void raw_issue(struct raw_run *run, struct raw_slot *slot, uint64_t now)
{
	const struct bench_spec *s = run->s;
	uint64_t block;
	uint8_t op;
	switch (s->op) {
	case BENCH_SEQWRITE:
	case BENCH_SEQREAD:
		block = run->next_seq++;
		if (run->next_seq == run->nblocks)
			run->next_seq = 0;
		op = s->op == BENCH_SEQREAD ? BLK_OP_READ : BLK_OP_WRITE;
		break;
	case BENCH_RANDREAD:
		block = rng_below(&run->rng, run->nblocks);
		op = BLK_OP_READ;
		break;
	case BENCH_MIXED:
		block = rng_below(&run->rng, run->nblocks);
		op = rng_below(&run->rng, 100) < s->read_pct ? BLK_OP_READ : BLK_OP_WRITE;
		break;
	default: /* randwrite, flushwrite */
		block = rng_below(&run->rng, run->nblocks);
		op = BLK_OP_WRITE;
		break;
	}
	struct blk_req *r = &slot->req;
	r->op = op;
	r->sector = block * (s->bs >> BLK_SECTOR_SHIFT);
	r->buf = slot->buf;
	r->len = s->bs;
	slot->flushing = false;
	slot->t0 = now;
	run->issued++;
	int err = blk_submit(run->dev, r);
	if (err) {
		/* Rejected before the device (e.g. it broke): counts as a failed I/O. */
		run->errors++;
		if (!run->first_error)
			run->first_error = err;
		run->inflight--;
		return;
	}
	run->need_kick = true;
}

static void raw_done(struct blk_req *req)
{
	struct raw_slot *slot = req->ctx;
	struct raw_run *run = slot->run;
	uint64_t now = rdtsc();
	if (req->status) {
		run->errors++;
		if (!run->first_error)
			run->first_error = req->status;
	} else if (run->s->op == BENCH_FLUSHWRITE && !slot->flushing) {
		/* Durable only once a FLUSH issued after the write's completion completes. */
		slot->flushing = true;
		req->op = BLK_OP_FLUSH;
		req->len = 0;
		req->buf = NULL;
		req->sector = 0;
		if (blk_submit(run->dev, req) == 0) {
			run->need_kick = true;
			return;
		}
		run->errors++;
	}
	hist_add(run->lat, now - slot->t0);
	run->completed++;
	if (req->status == 0)
		run->bytes += run->s->bs;
	bool more = run->target_ios ? run->issued < run->target_ios : now < run->deadline;
	if (more && !run->first_error)
		raw_issue(run, slot, now);
	else
		run->inflight--;
}

static int bench_run_raw(const struct bench_spec *s, struct blk_dev *dev)
{
	uint64_t cap_bytes = dev->capacity << BLK_SECTOR_SHIFT;
	uint64_t region = s->region ? s->region : cap_bytes;
	if (s->bs % dev->lbs) {
		printf("bench %s: block size %u is not a multiple of %s's %u-byte blocks\n", s->name, s->bs,
		       dev->name, dev->lbs);
		return -EINVAL;
	}
	if (region > cap_bytes) {
		printf("bench %s: region %llu bytes exceeds %s's %llu\n", s->name, (unsigned long long)region,
		       dev->name, (unsigned long long)cap_bytes);
		return -EINVAL;
	}
	if (s->bs > region) {
		printf("bench %s: block size %u is larger than the %llu bytes used on %s\n", s->name, s->bs,
		       (unsigned long long)region, dev->name);
		return -EINVAL;
	}
	if (dev->max_queued && s->qd > dev->max_queued) {
		/* The rest would wait in the driver: the device would never see qd at once. */
		printf("bench %s: qd %u is more than %s's rings hold at once (%u requests)\n", s->name, s->qd,
		       dev->name, dev->max_queued);
		return -EINVAL;
	}
	if (bench_op_writes(s->op) && (dev->flags & BLK_F_RO)) {
		printf("bench %s: %s is read-only\n", s->name, dev->name);
		return -EROFS;
	}
	if (bench_op_writes(s->op) && !consent_overwrite(dev, "bench"))
		return -EPERM;

	struct raw_run run = {.s = s, .dev = dev};
	run.nblocks = region / s->bs;
	run.target_ios = s->ios;
	rng_seed(&run.rng, s->seed);
	run.lat = kzalloc(sizeof(*run.lat));
	run.slots = kzalloc(sizeof(*run.slots) * s->qd);
	size_t buf_pages = ((size_t)s->qd * s->bs + PAGE_SIZE - 1) / PAGE_SIZE;
	uint64_t bufs = frames_alloc(buf_pages, PAGE_SIZE);
	int rc = 0;
	if (!run.lat || !run.slots || !bufs) {
		printf("bench %s: out of memory for %u buffers of %u bytes\n", s->name, s->qd, s->bs);
		rc = -ENOMEM;
		goto out;
	}
	uint8_t *base = phys_to_virt(bufs);
	for (size_t i = 0; i < (size_t)s->qd * s->bs; i++)
		base[i] = (uint8_t)(i * 131 + 7);
	uint32_t qd = s->qd;
	if (run.target_ios && run.target_ios < qd)
		qd = (uint32_t)run.target_ios;

	dev->wait_mode = s->mode;
	struct blk_stats st0 = dev->stats;
	uint64_t idle0 = event_idle_ticks();
	uint64_t t0 = rdtsc();
	run.deadline = t0 + ns_to_tsc(s->time_ms * 1000000ull);
	run.inflight = qd;
	bench_insn_mark();
	for (uint32_t i = 0; i < qd; i++) {
		struct raw_slot *slot = &run.slots[i];
		slot->run = &run;
		slot->buf = base + (size_t)i * s->bs;
		slot->req.done = raw_done;
		slot->req.ctx = slot;
		raw_issue(&run, slot, rdtsc());
	}
	while (run.inflight) {
		if (run.need_kick) {
			run.need_kick = false;
			blk_kick(dev);
		}
		if (!run.inflight)
			break;
		if (dev->ops->wait(dev) && run.inflight) {
			printf("bench %s: %s can make no progress with %u requests outstanding\n", s->name,
			       dev->name, run.inflight);
			rc = -ENODEV;
			break;
		}
	}
	bench_insn_mark();
	uint64_t ticks = rdtsc() - t0;
	uint64_t idle = event_idle_ticks() - idle0;
	dev->wait_mode = BLK_WAIT_IRQ;

	struct bench_result res = {
		.ios = run.completed,
		.bytes = run.bytes,
		.ticks = ticks,
		.busy_ticks = ticks > idle ? ticks - idle : 0,
		.errors = run.errors,
		.kicks = dev->stats.kicks - st0.kicks,
		.irqs = dev->stats.irqs - st0.irqs,
		.lat = run.lat,
	};
	char extra[64] = "";
	if (s->op == BENCH_MIXED)
		snprintf(extra, sizeof(extra), "read_pct=%u", s->read_pct);
	if (run.errors) {
		size_t len = strlen(extra);
		snprintf(extra + len, sizeof(extra) - len, "%sfirst_error=%s", len ? " " : "",
			 blk_strerror(run.first_error));
	}
	/* The line says what ran: fewer I/Os than qd keep only that many in flight. */
	struct bench_spec ran = *s;
	ran.qd = qd;
	ran.mode = bench_effective_mode(s, dev);
	bench_report(&ran, &res, extra);
	if (run.errors && !rc)
		rc = -EIO;
out:
	if (bufs)
		frames_free(bufs, buf_pages);
	kfree(run.slots);
	kfree(run.lat);
	return rc;
}

/* v / d as "123.45" (two decimals), integers only; v is wide so bytes * 1e9 cannot wrap. */
static void fmt_ratio(char *buf, size_t n, unsigned __int128 v, uint64_t d)
{
	if (d == 0) {
		snprintf(buf, n, "0");
		return;
	}
	uint64_t hundredths = (uint64_t)((v * 100 + d / 2) / d);
	snprintf(buf, n, "%llu.%02llu", (unsigned long long)(hundredths / 100),
		 (unsigned long long)(hundredths % 100));
}

static void fmt_us(char *buf, size_t n, uint64_t ticks)
{
	fmt_ratio(buf, n, tsc_to_ns(ticks), 1000);
}

void bench_report(const struct bench_spec *s, const struct bench_result *r, const char *extra)
{
	char secs[24], iops[24], mibps[24], p50[24], p99[24], p999[24], mx[24], kpi[24], ipi[24], batch[24],
		busy[24];
	uint64_t ns = tsc_to_ns(r->ticks);
	fmt_ratio(secs, sizeof(secs), ns, 1000000000ull);
	fmt_ratio(iops, sizeof(iops), (unsigned __int128)r->ios * 1000000000ull, ns ? ns : 1);
	fmt_ratio(mibps, sizeof(mibps), (unsigned __int128)r->bytes * 1000000000ull / (1 << 20), ns ? ns : 1);
	fmt_us(p50, sizeof(p50), hist_quantile(r->lat, 500000));
	fmt_us(p99, sizeof(p99), hist_quantile(r->lat, 990000));
	fmt_us(p999, sizeof(p999), hist_quantile(r->lat, 999000));
	fmt_us(mx, sizeof(mx), r->lat->max);
	fmt_ratio(kpi, sizeof(kpi), r->kicks, r->ios);
	fmt_ratio(ipi, sizeof(ipi), r->irqs, r->ios);
	fmt_ratio(batch, sizeof(batch), r->ios, r->kicks);
	fmt_ratio(busy, sizeof(busy), tsc_to_ns(r->busy_ticks), r->ios);
	printf("BENCH name=%s target=%s dev=%s op=%s bs=%u qd=%u mode=%s ios=%llu secs=%s iops=%s mibps=%s "
	       "p50_us=%s p99_us=%s p999_us=%s max_us=%s kicks_per_io=%s irqs_per_io=%s avg_batch=%s "
	       "busy_ns_per_io=%s errors=%llu%s%s\n",
	       s->name, s->target == BENCH_FS ? "fs" : "raw", s->dev, bench_op_name(s->op), s->bs, s->qd,
	       bench_mode_name(s->mode), (unsigned long long)r->ios, secs, iops, mibps, p50, p99, p999, mx, kpi,
	       ipi, batch, busy, (unsigned long long)r->errors, extra && *extra ? " " : "", extra ? extra : "");
}

uint8_t bench_effective_mode(const struct bench_spec *s, const struct blk_dev *dev)
{
	return (dev->flags & BLK_F_POLLED) ? BENCH_MODE_POLL : s->mode;
}

static int bench_run_one(const struct bench_spec *s)
{
	struct blk_dev *dev = blk_get(s->dev);
	if (!dev) {
		printf("BENCH name=%s FAIL no device %s\n", s->name, s->dev);
		return -ENODEV;
	}
	if (s->qd == 0 || (s->bs % BLK_SECTOR_SIZE)) {
		printf("BENCH name=%s FAIL bad parameters\n", s->name);
		return -EINVAL;
	}
	if (bench_effective_mode(s, dev) != s->mode)
		printf("bench %s: %s has no completion interrupt (blk.poll=1 or none could be set up): "
		       "the run polls\n", s->name, dev->name);
	int rc = s->target == BENCH_FS ? bench_run_fs(s, dev) : bench_run_raw(s, dev);
	if (rc)
		printf("bench %s: FAILED (%s)\n", s->name, blk_strerror(rc));
	return rc;
}

int bench_run_list(const char *list)
{
	static struct bench_spec specs[BENCH_MAX_RUNS];
	char err[96];
	int n = bench_parse(list, specs, BENCH_MAX_RUNS, err, sizeof(err));
	if (n < 0) {
		printf("bench: %s\n", err);
		return 1;
	}
	int failed = 0;
	for (int i = 0; i < n; i++)
		if (bench_run_one(&specs[i]))
			failed++;
	return failed;
}

int bench_run_cmdline(void)
{
	int failed = 0;
	for (size_t i = 0; i < cmdline_count(); i++) {
		const char *k, *v;
		cmdline_entry(i, &k, &v);
		if (!strcmp(k, "bench"))
			failed += bench_run_list(v);
	}
	return failed;
}
