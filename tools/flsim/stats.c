/*
 * stats.c - latency histograms for the simulator: exact below 128 us, then 64
 * sub-buckets per power of two, so any quantile read back is within 1/128 of
 * a recorded value, in 20 KiB per histogram whatever the run's length.
 */
#include <string.h>

#include "sim.h"

static size_t bucket_of(uint64_t v)
{
	int msb, shift;
	size_t idx;

	if (v < 128)
		return (size_t)v;
	msb = 63 - __builtin_clzll(v);
	shift = msb - 6;
	idx = 128 + (size_t)(msb - 7) * 64 + (size_t)((v >> shift) - 64);
	return idx < SIM_HIST_BUCKETS ? idx : SIM_HIST_BUCKETS - 1;
}

/* The middle of bucket idx. */
static double value_of(size_t idx)
{
	size_t e, m;
	int shift;

	if (idx < 128)
		return (double)idx;
	e = (idx - 128) / 64;
	m = (idx - 128) % 64 + 64;
	shift = (int)e + 1;
	return ((double)m + 0.5) * (double)(1ULL << shift);
}

void sim_hist_add(struct sim_hist *h, uint64_t us)
{
	h->c[bucket_of(us)]++;
	h->n++;
	h->sum += us;
	if (us > h->max)
		h->max = us;
}

void sim_hist_merge(struct sim_hist *dst, const struct sim_hist *src)
{
	for (size_t i = 0; i < SIM_HIST_BUCKETS; i++)
		dst->c[i] += src->c[i];
	dst->n += src->n;
	dst->sum += src->sum;
	if (src->max > dst->max)
		dst->max = src->max;
}

double sim_hist_quantile(const struct sim_hist *h, double q)
{
	uint64_t rank, seen = 0;

	if (h->n == 0)
		return 0;
	if (q >= 1)
		return (double)h->max;
	rank = (uint64_t)(q * (double)(h->n - 1)) + 1;
	for (size_t i = 0; i < SIM_HIST_BUCKETS; i++) {
		seen += h->c[i];
		if (seen >= rank) {
			double v = value_of(i);

			return v > (double)h->max ? (double)h->max : v;
		}
	}
	return (double)h->max;
}
