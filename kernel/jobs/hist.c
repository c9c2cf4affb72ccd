/* Percentiles from the log-linear histogram (hist.h). Also built for host tests. */
#include "kernel/jobs/hist.h"

#ifdef QUILL_HOST
#include <string.h>
#else
#include "kernel/kernel.h"
#endif

void hist_reset(struct hist *h)
{
	memset(h, 0, sizeof(*h));
}

void hist_bucket_range(unsigned index, uint64_t *lo, uint64_t *width)
{
	if (index < HIST_SUB) {
		*lo = index;
		*width = 1;
		return;
	}
	unsigned shift = (index - HIST_SUB) / HIST_SUB;
	unsigned mant = (index - HIST_SUB) % HIST_SUB;
	*lo = (uint64_t)(HIST_SUB + mant) << shift;
	*width = (uint64_t)1 << shift;
}

uint64_t hist_quantile(const struct hist *h, unsigned per_million)
{
	if (h->count == 0)
		return 0;
	if (per_million >= 1000000)
		return h->max;
	/* The rank of the value that per_million of all values are at or below (nearest rank). */
	uint64_t rank = (uint64_t)(((unsigned __int128)h->count * per_million + 999999) / 1000000);
	if (rank == 0)
		rank = 1;
	if (rank == h->count)
		return h->max;
	uint64_t seen = 0;
	for (unsigned i = 0; i < HIST_BUCKETS; i++) {
		seen += h->buckets[i];
		if (seen >= rank) {
			uint64_t lo, width;
			hist_bucket_range(i, &lo, &width);
			uint64_t mid = lo + (width - 1) / 2;
			/* Never report outside what was actually seen. */
			if (mid < h->min)
				mid = h->min;
			if (mid > h->max)
				mid = h->max;
			return mid;
		}
	}
	return h->max;
}
