// SPDX-License-Identifier: MIT
/* Log-bucketed histogram: see histogram.h for the bucket layout and bounds. */
#include "common/histogram.h"

#include <math.h>
#include <string.h>

/* floor(log2(v)) of the lowest value that is not stored exactly */
#define FIRST_OCTAVE (HIST_SUB_BITS + 1)

static unsigned bucket_of(uint64_t v)
{
	unsigned octave, shift;

	if (v < HIST_EXACT_LIMIT)
		return (unsigned)v;
	if (v > HIST_MAX_VALUE)
		v = HIST_MAX_VALUE;
	octave = 63u - (unsigned)__builtin_clzll(v);
	shift = octave - HIST_SUB_BITS;
	/* v >> shift is in [HIST_SUB_COUNT, 2 * HIST_SUB_COUNT): the sub-bucket */
	return HIST_EXACT_LIMIT + (octave - FIRST_OCTAVE) * HIST_SUB_COUNT +
	       (unsigned)(v >> shift) - HIST_SUB_COUNT;
}

/* The value that stands for every value in bucket b: its midpoint. */
static uint64_t bucket_value(unsigned b)
{
	unsigned octave, shift, sub;
	uint64_t low;

	if (b < HIST_EXACT_LIMIT)
		return b;
	b -= HIST_EXACT_LIMIT;
	octave = FIRST_OCTAVE + b / HIST_SUB_COUNT;
	sub = b % HIST_SUB_COUNT;
	shift = octave - HIST_SUB_BITS;
	low = (uint64_t)(HIST_SUB_COUNT + sub) << shift;
	return low + ((UINT64_C(1) << shift) >> 1);
}

void hist_init(struct hist *h)
{
	memset(h, 0, sizeof(*h));
	h->min = UINT64_MAX;
}

void hist_record(struct hist *h, uint64_t value)
{
	h->buckets[bucket_of(value)]++;
	h->count++;
	h->sum += value;
	if (value < h->min)
		h->min = value;
	if (value > h->max)
		h->max = value;
}

void hist_forget(struct hist *h, uint64_t value)
{
	unsigned b = bucket_of(value);

	if (!h->count || !h->buckets[b])
		return;	/* never recorded: nothing to take back */
	h->buckets[b]--;
	h->count--;
	h->sum -= value;
}

void hist_merge(struct hist *dst, const struct hist *src)
{
	unsigned b;

	if (!src->count)
		return;
	for (b = 0; b < HIST_BUCKETS; b++)
		dst->buckets[b] += src->buckets[b];
	dst->count += src->count;
	dst->sum += src->sum;
	if (src->min < dst->min)
		dst->min = src->min;
	if (src->max > dst->max)
		dst->max = src->max;
}

uint64_t hist_percentile(const struct hist *h, double percent)
{
	uint64_t rank, seen = 0, v;
	unsigned b;

	if (!h->count)
		return 0;
	if (percent <= 0.0)
		return h->min;
	if (percent >= 100.0)
		return h->max;
	/* the rank-th smallest value (1-based), nearest-rank definition */
	rank = (uint64_t)ceil(percent / 100.0 * (double)h->count);
	if (rank < 1)
		rank = 1;
	if (rank > h->count)
		rank = h->count;
	for (b = 0; b < HIST_BUCKETS; b++) {
		seen += h->buckets[b];
		if (seen >= rank)
			break;
	}
	v = bucket_value(b < HIST_BUCKETS ? b : HIST_BUCKETS - 1);
	/* a midpoint may lie outside what was seen; never report that */
	if (v < h->min)
		v = h->min;
	if (v > h->max)
		v = h->max;
	return v;
}
