/* SPDX-License-Identifier: MIT */
/*
 * A log-bucketed histogram for latencies, in the manner of HdrHistogram.
 *
 * Values below 2 * HIST_SUB_COUNT are kept exactly. Above that, every power
 * of two [2^e, 2^(e+1)) is cut into HIST_SUB_COUNT equal linear sub-buckets,
 * so a bucket is never wider than 1/HIST_SUB_COUNT of the values it holds.
 * A percentile is reported as its bucket's midpoint, clamped to the exact
 * min and max, so the relative error is at most 1 / (2 * HIST_SUB_COUNT)
 * (0.8%). Recording is a few instructions and never allocates, so it can
 * sit on a load generator's hot path; two histograms merge by adding
 * counters, so each thread keeps its own and nothing is shared while
 * measuring.
 *
 * Units are the caller's (loadgen records nanoseconds). Values above
 * HIST_MAX_VALUE are counted in the top bucket; min, max and mean stay exact.
 * Pure logic: no I/O, no allocation, no locking.
 *
 * Layer: common/ may include no other layer, not even conctrace.h:
 * servers/ use it as well as every layer of userspace/.
 */
#ifndef CONCTRACE_HISTOGRAM_H
#define CONCTRACE_HISTOGRAM_H

#include <stdint.h>

#define HIST_SUB_BITS     6
#define HIST_SUB_COUNT    (1u << HIST_SUB_BITS)		/* sub-buckets per octave */
#define HIST_EXACT_LIMIT  (2u * HIST_SUB_COUNT)		/* values below are exact */
#define HIST_MAX_BITS     42				/* 2^42 ns: 73 minutes */
#define HIST_MAX_VALUE    ((UINT64_C(1) << HIST_MAX_BITS) - 1)
#define HIST_BUCKETS      (HIST_EXACT_LIMIT + \
			   (HIST_MAX_BITS - HIST_SUB_BITS - 1) * HIST_SUB_COUNT)

struct hist {
	uint64_t count;
	uint64_t sum;		/* exact; 2^64 ns is 584 years of latency */
	uint64_t min;		/* UINT64_MAX while empty */
	uint64_t max;
	uint64_t buckets[HIST_BUCKETS];
};

void hist_init(struct hist *h);
void hist_record(struct hist *h, uint64_t value);

/* Take back one value recorded before (a record replaced by a corrected
 * one): its bucket, count and sum. min and max stay as they were: bounds,
 * exact again when the corrected value (never below the old one for a sum)
 * is recorded. */
void hist_forget(struct hist *h, uint64_t value);

/* Add every value recorded in src to dst. */
void hist_merge(struct hist *dst, const struct hist *src);

/*
 * The value below or at which `percent` (0..100) of the recorded values lie.
 * percent <= 0 gives the exact min, percent >= 100 the exact max.
 * An empty histogram gives 0.
 */
uint64_t hist_percentile(const struct hist *h, double percent);

static inline uint64_t hist_count(const struct hist *h)
{
	return h->count;
}

static inline uint64_t hist_min(const struct hist *h)
{
	return h->count ? h->min : 0;
}

static inline uint64_t hist_max(const struct hist *h)
{
	return h->max;
}

static inline double hist_mean(const struct hist *h)
{
	return h->count ? (double)h->sum / (double)h->count : 0.0;
}

#endif /* CONCTRACE_HISTOGRAM_H */
