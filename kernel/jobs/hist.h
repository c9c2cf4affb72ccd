/*
 * A log-linear latency histogram (HDR-style): values below 128 have a bucket
 * each; above, every power of two is split into 128 equal buckets, so a
 * bucket is at most 1/128 of its values wide and a reported percentile (the
 * bucket's midpoint) is within 0.4% of the true value. Values are unitless
 * (the benchmarks record TSC ticks). Recording is a few instructions and
 * never allocates; the counters live in the struct.
 */
#ifndef KERNEL_HIST_H
#define KERNEL_HIST_H

#include <stdint.h>

#define HIST_SUB_BITS 7
#define HIST_SUB (1u << HIST_SUB_BITS)
#define HIST_MAX_EXP 48 /* values up to 2^48 */
#define HIST_BUCKETS (HIST_SUB + (HIST_MAX_EXP - HIST_SUB_BITS) * HIST_SUB)

struct hist {
	uint64_t count;
	uint64_t min, max;
	uint64_t sum;
	uint64_t buckets[HIST_BUCKETS];
};

static inline unsigned hist_index(uint64_t v)
{
	if (v < HIST_SUB)
		return (unsigned)v;
	unsigned e = 63 - (unsigned)__builtin_clzll(v); /* >= HIST_SUB_BITS */
	if (e >= HIST_MAX_EXP)
		return HIST_BUCKETS - 1;
	unsigned shift = e - HIST_SUB_BITS;
	unsigned mant = (unsigned)(v >> shift) & (HIST_SUB - 1);
	return HIST_SUB + shift * HIST_SUB + mant;
}

static inline void hist_add(struct hist *h, uint64_t v)
{
	h->buckets[hist_index(v)]++;
	h->count++;
	h->sum += v;
	if (v > h->max)
		h->max = v;
	if (v < h->min || h->count == 1)
		h->min = v;
}

void hist_reset(struct hist *h);
/* Value at quantile permille/1000 (e.g. 500, 990, 999), exact for min/max ranks; 0 when empty. */
uint64_t hist_quantile(const struct hist *h, unsigned per_million);
/* Lowest value a bucket holds, and its width. */
void hist_bucket_range(unsigned index, uint64_t *lo, uint64_t *width);

#endif
