/* Host tests of the benchmark building blocks: histogram percentiles, the RNG, bench= parsing. */
#include <errno.h>
#include <stdlib.h>

#include "kernel/jobs/bench.h"
#include "kernel/jobs/hist.h"
#include "kernel/rng.h"
#include "tests/host/hosttest.h"

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* Exact nearest-rank quantile of a sorted array. */
static uint64_t exact_quantile(const uint64_t *v, size_t n, unsigned per_million)
{
	uint64_t rank = ((uint64_t)n * per_million + 999999) / 1000000;
	if (rank == 0)
		rank = 1;
	return v[rank - 1];
}

static int check_dist(const char *what, uint64_t (*gen)(uint64_t *), size_t n)
{
	static struct hist h;
	uint64_t *v = malloc(n * sizeof(*v));
	uint64_t st = 12345;
	hist_reset(&h);
	for (size_t i = 0; i < n; i++) {
		v[i] = gen(&st);
		hist_add(&h, v[i]);
	}
	qsort(v, n, sizeof(*v), cmp_u64);
	static const unsigned qs[] = {1, 10000, 250000, 500000, 900000, 990000, 999000, 999900, 1000000};
	for (size_t i = 0; i < sizeof(qs) / sizeof(qs[0]); i++) {
		uint64_t want = exact_quantile(v, n, qs[i]);
		uint64_t got = hist_quantile(&h, qs[i]);
		uint64_t diff = got > want ? got - want : want - got;
		/* At most 1% off (the design bound is 0.4%), or exact below 128. */
		if (diff * 100 > want) {
			free(v);
			HT_FAIL("%s: quantile %u/1e6: histogram %llu, exact %llu", what, qs[i],
				(unsigned long long)got, (unsigned long long)want);
		}
	}
	if (h.count != n || h.min != v[0] || h.max != v[n - 1]) {
		free(v);
		HT_FAIL("%s: count/min/max wrong", what);
	}
	free(v);
	return 0;
}

static uint64_t gen_uniform(uint64_t *s) { return ht_rand(s) % 1000000; }
static uint64_t gen_small(uint64_t *s) { return ht_rand(s) % 300; }
static uint64_t gen_heavy(uint64_t *s)
{
	/* Mostly ~50k ticks with a long tail up to 2^40. */
	uint64_t r = ht_rand(s);
	return (r % 100 == 0) ? (r >> 24) : 40000 + (r % 20000);
}

static int test_hist_uniform(void) { return check_dist("uniform", gen_uniform, 200000); }
static int test_hist_small(void) { return check_dist("small", gen_small, 100000); }
static int test_hist_heavy_tail(void) { return check_dist("heavy", gen_heavy, 200000); }

static int test_hist_buckets(void)
{
	/* Every value falls in the bucket hist_index names, and buckets tile the line. */
	uint64_t st = 7;
	for (int i = 0; i < 1000000; i++) {
		uint64_t v = ht_rand(&st) >> (ht_rand(&st) % 64);
		if (v >= (1ull << HIST_MAX_EXP))
			continue;
		uint64_t lo, w;
		hist_bucket_range(hist_index(v), &lo, &w);
		HT_CHECK(v >= lo && v < lo + w, "value %llu not in its bucket [%llu,+%llu)",
			 (unsigned long long)v, (unsigned long long)lo, (unsigned long long)w);
		HT_CHECK(w == 1 || w * 128 <= lo, "bucket at %llu is %llu wide (> 1/128)",
			 (unsigned long long)lo, (unsigned long long)w);
	}
	uint64_t prev_end = 0;
	for (unsigned i = 0; i < HIST_BUCKETS - 1; i++) {
		uint64_t lo, w;
		hist_bucket_range(i, &lo, &w);
		HT_CHECK(lo == prev_end, "bucket %u starts at %llu, previous ended at %llu", i,
			 (unsigned long long)lo, (unsigned long long)prev_end);
		prev_end = lo + w;
	}
	static struct hist h;
	hist_reset(&h);
	HT_CHECK(hist_quantile(&h, 500000) == 0, "empty histogram quantile not 0");
	hist_add(&h, 1ull << 50);
	HT_CHECK(hist_quantile(&h, 500000) == 1ull << 50, "value beyond range not reported as max");
	return 0;
}

static int test_rng_deterministic(void)
{
	struct rng a, b, c;
	rng_seed(&a, 42);
	rng_seed(&b, 42);
	rng_seed(&c, 43);
	int same_c = 0;
	for (int i = 0; i < 1000; i++) {
		uint64_t x = rng_next(&a);
		HT_CHECK(x == rng_next(&b), "same seed diverged at draw %d", i);
		same_c += x == rng_next(&c);
	}
	HT_CHECK(same_c < 2, "seeds 42 and 43 gave %d equal draws", same_c);
	struct rng z;
	rng_seed(&z, 0);
	HT_CHECK(rng_next(&z) != 0 || rng_next(&z) != 0, "seed 0 gives a stuck generator");
	return 0;
}

static int test_rng_range_and_bias(void)
{
	struct rng r;
	rng_seed(&r, 1);
	static const uint64_t ns[] = {1, 2, 3, 7, 100, 1000, 262144, 1ull << 33, UINT64_MAX};
	for (size_t k = 0; k < sizeof(ns) / sizeof(ns[0]); k++)
		for (int i = 0; i < 100000; i++) {
			uint64_t x = rng_below(&r, ns[k]);
			HT_CHECK(x < ns[k], "rng_below(%llu) gave %llu", (unsigned long long)ns[k],
				 (unsigned long long)x);
		}
	/* Chi-squared over 100 cells, 1e6 draws: 99 degrees of freedom, 0.1% critical value ~149. */
	enum { CELLS = 100, DRAWS = 1000000 };
	static uint64_t cnt[CELLS];
	memset(cnt, 0, sizeof(cnt));
	for (int i = 0; i < DRAWS; i++)
		cnt[rng_below(&r, CELLS)]++;
	double chi = 0, e = (double)DRAWS / CELLS;
	for (int i = 0; i < CELLS; i++)
		chi += (cnt[i] - e) * (cnt[i] - e) / e;
	HT_CHECK(chi < 149.0, "chi-squared %.1f over 100 cells: biased", chi);
	/* Every value of a small range is reached. */
	int seen[7] = {0};
	for (int i = 0; i < 1000; i++)
		seen[rng_below(&r, 7)] = 1;
	for (int i = 0; i < 7; i++)
		HT_CHECK(seen[i], "rng_below(7) never gave %d", i);
	return 0;
}

static int test_bench_parse_ok(void)
{
	struct bench_spec s[BENCH_MAX_RUNS];
	char err[96] = "";
	int n = bench_parse("raw:randwrite:4k:qd32,fs:smallfiles", s, BENCH_MAX_RUNS, err, sizeof(err));
	HT_CHECK(n == 2, "got %d runs (%s)", n, err);
	HT_CHECK(s[0].target == BENCH_RAW && s[0].op == BENCH_RANDWRITE && s[0].bs == 4096 && s[0].qd == 32,
		 "run 0 parsed wrong");
	HT_CHECK(!strcmp(s[0].name, "raw:randwrite:4k:qd32"), "name '%s'", s[0].name);
	HT_CHECK(s[1].target == BENCH_FS && s[1].op == BENCH_FS_SMALLFILES, "run 1 parsed wrong");
	n = bench_parse("seqread:64k:qd4:500ms:vdb:poll:seed=9:region=16m", s, BENCH_MAX_RUNS, err, sizeof(err));
	HT_CHECK(n == 1, "got %d (%s)", n, err);
	HT_CHECK(s[0].op == BENCH_SEQREAD && s[0].bs == 65536 && s[0].qd == 4 && s[0].time_ms == 500 &&
			 !strcmp(s[0].dev, "vdb") && s[0].mode == BENCH_MODE_POLL && s[0].seed == 9 &&
			 s[0].region == (16u << 20),
		 "tokens parsed wrong");
	n = bench_parse("mixed70:10000ios:hybrid", s, BENCH_MAX_RUNS, err, sizeof(err));
	HT_CHECK(n == 1 && s[0].op == BENCH_MIXED && s[0].read_pct == 70 && s[0].ios == 10000 &&
			 s[0].mode == BENCH_MODE_HYBRID,
		 "mixed70 parsed wrong (%s)", err);
	n = bench_parse("fs:append:bs=512:time=1s,fs:fill:fill=80:files=8:fsync=0", s, BENCH_MAX_RUNS, err, sizeof(err));
	HT_CHECK(n == 2 && s[0].op == BENCH_FS_APPEND && s[0].bs == 512 && s[0].time_ms == 1000 &&
			 s[1].op == BENCH_FS_FILL && s[1].fill_pct == 80 && s[1].files == 8 && s[1].fsync_every == 0,
		 "fs runs parsed wrong (%s)", err);
	/* The largest seed, a day-long run, a mixed run's read= and a file run's explicit qd1. */
	n = bench_parse("randwrite:seed=18446744073709551615:86400s,mixed:read=30,fs:smallfiles:qd1:fsync=4",
			s, BENCH_MAX_RUNS, err, sizeof(err));
	HT_CHECK(n == 3 && s[0].seed == UINT64_MAX && s[0].time_ms == 86400000ull && s[1].read_pct == 30 &&
			 s[2].qd == 1 && s[2].fsync_every == 4,
		 "edge values parsed wrong (%d: %s)", n, err);
	n = bench_parse("randwrite", s, BENCH_MAX_RUNS, err, sizeof(err));
	HT_CHECK(n == 1 && s[0].bs == 4096 && s[0].qd == 1 && s[0].time_ms == 2000 && !strcmp(s[0].dev, "vda") &&
			 s[0].mode == BENCH_MODE_IRQ,
		 "defaults wrong");
	return 0;
}

static int test_bench_parse_errors(void)
{
	static const char *const bad[] = {
		"", ",", "randwrite,", "raw::qd1", "randwrite:qd0", "randwrite:qd", "randwrite:3000",
		"randwrite:bogus", "fs:randwrite", "raw:smallfiles", "randwrite:bs=0", "randwrite:bs=1000", "mixed101",
		"randwrite:mode=fast", "randwrite:region=1k:bs=4k", "randwrite:time=0s", "randwrite:4x",
		"randwrite:qd99999999999999999999999",
		/* a zero count or duration, one too long for the clock */
		"randwrite:0ios", "randwrite:0s", "randwrite:0ms", "randwrite:time=0ms", "randwrite:18446744073710s",
		"randwrite:86401s", "randwrite:seed=18446744073709551616",
		/* keys the kind of run would ignore */
		"raw:randwrite:fsync=0", "raw:randwrite:files=3", "raw:randwrite:fill=5", "randwrite:read=70",
		"fs:smallfiles:qd32", "fs:append:fsync=8", "fs:smallfiles:fill=50", "fs:smallfiles:region=1m",
		"fs:create:read=50",
	};
	struct bench_spec s[BENCH_MAX_RUNS];
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char err[96] = "";
		int n = bench_parse(bad[i], s, BENCH_MAX_RUNS, err, sizeof(err));
		HT_CHECK(n == -EINVAL, "'%s' accepted (%d runs)", bad[i], n);
		HT_CHECK(err[0], "'%s' rejected without a reason", bad[i]);
	}
	char many[1024] = "";
	for (int i = 0; i < BENCH_MAX_RUNS + 1; i++)
		strcat(many, i ? ",randwrite" : "randwrite");
	char err[96];
	HT_CHECK(bench_parse(many, s, BENCH_MAX_RUNS, err, sizeof(err)) == -EINVAL, "too many runs accepted");
	return 0;
}

int main(void)
{
	ht_run("hist_uniform", test_hist_uniform);
	ht_run("hist_small_exact", test_hist_small);
	ht_run("hist_heavy_tail", test_hist_heavy_tail);
	ht_run("hist_buckets", test_hist_buckets);
	ht_run("rng_deterministic", test_rng_deterministic);
	ht_run("rng_range_and_bias", test_rng_range_and_bias);
	ht_run("bench_parse_ok", test_bench_parse_ok);
	ht_run("bench_parse_errors", test_bench_parse_errors);
	return ht_exit_status();
}
