// SPDX-License-Identifier: MIT
/*
 * Unit tests for the latency histogram (common/histogram.c): exactness of
 * small values, the relative error bound of every bucket, percentiles of
 * known distributions against exact nearest-rank percentiles, clamping of
 * huge values, and merging.
 *
 * Build and run:  make build/tests/test_histogram && build/tests/test_histogram
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/histogram.h"

/* half a bucket over its lowest value: the documented worst case */
#define MAX_REL_ERROR (1.0 / (2.0 * HIST_SUB_COUNT))

/* ---- helpers --------------------------------------------------------------- */

static struct hist *hist_new(void)
{
	struct hist *h = malloc(sizeof(*h));

	assert_non_null(h);
	hist_init(h);
	return h;
}

static void assert_within(uint64_t got, uint64_t want, double rel, const char *what)
{
	double err = want ? fabs((double)got - (double)want) / (double)want : (double)got;

	if (err > rel)
		fail_msg("%s: got %llu, want %llu (error %.4f%% > %.4f%%)", what,
			 (unsigned long long)got, (unsigned long long)want,
			 err * 100.0, rel * 100.0);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Nearest-rank percentile of a sorted array: what the histogram approximates. */
static uint64_t exact_percentile(const uint64_t *sorted, size_t n, double percent)
{
	size_t rank = (size_t)ceil(percent / 100.0 * (double)n);

	if (rank < 1)
		rank = 1;
	if (rank > n)
		rank = n;
	return sorted[rank - 1];
}

/* Deterministic uniform doubles in (0, 1) so failures reproduce. */
static uint64_t rng_state = 0x2545f4914f6cdd1dull;

static double uniform01(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return ((double)(rng_state >> 11) + 0.5) / 9007199254740992.0;
}

static void check_against_exact(struct hist *h, uint64_t *values, size_t n)
{
	static const double percents[] = { 1, 10, 25, 50, 75, 90, 99, 99.9, 99.99 };
	char what[64];
	size_t i;

	qsort(values, n, sizeof(*values), cmp_u64);
	for (i = 0; i < sizeof(percents) / sizeof(percents[0]); i++) {
		snprintf(what, sizeof(what), "p%g", percents[i]);
		assert_within(hist_percentile(h, percents[i]),
			      exact_percentile(values, n, percents[i]),
			      MAX_REL_ERROR, what);
	}
	assert_int_equal(hist_percentile(h, 0), values[0]);
	assert_int_equal(hist_percentile(h, 100), values[n - 1]);
}

/* ---- tests ----------------------------------------------------------------- */

static void test_empty(void **state)
{
	struct hist *h = hist_new();

	(void)state;
	assert_int_equal(hist_count(h), 0);
	assert_int_equal(hist_min(h), 0);
	assert_int_equal(hist_max(h), 0);
	assert_true(hist_mean(h) == 0.0);
	assert_int_equal(hist_percentile(h, 0), 0);
	assert_int_equal(hist_percentile(h, 50), 0);
	assert_int_equal(hist_percentile(h, 100), 0);
	free(h);
}

static void test_one_value_is_every_percentile(void **state)
{
	struct hist *h = hist_new();

	(void)state;
	hist_record(h, 123457);	/* not a bucket midpoint: clamping makes it exact */
	assert_int_equal(hist_count(h), 1);
	assert_int_equal(hist_min(h), 123457);
	assert_int_equal(hist_max(h), 123457);
	assert_true(hist_mean(h) == 123457.0);
	assert_int_equal(hist_percentile(h, 0), 123457);
	assert_int_equal(hist_percentile(h, 50), 123457);
	assert_int_equal(hist_percentile(h, 99.9), 123457);
	assert_int_equal(hist_percentile(h, 100), 123457);
	free(h);
}

static void test_small_values_are_exact(void **state)
{
	struct hist *h = hist_new();
	uint64_t v;

	(void)state;
	for (v = 0; v < HIST_EXACT_LIMIT; v++)
		hist_record(h, v);
	assert_int_equal(hist_count(h), HIST_EXACT_LIMIT);
	/* nearest rank over 0..127: rank ceil(p * 128 / 100), value rank - 1 */
	assert_int_equal(hist_percentile(h, 50), 63);
	assert_int_equal(hist_percentile(h, 1), 1);
	assert_int_equal(hist_percentile(h, 25), 31);
	assert_int_equal(hist_percentile(h, 99), 126);
	assert_int_equal(hist_percentile(h, 0), 0);
	assert_int_equal(hist_percentile(h, 100), 127);
	assert_true(hist_mean(h) == 63.5);
	free(h);
}

/*
 * Every value's bucket stands for it within the bound. A value is bracketed
 * by 0 and HIST_MAX_VALUE so the clamp to [min, max] cannot hide an error.
 */
static void test_every_bucket_within_error_bound(void **state)
{
	struct hist *h = hist_new();
	char what[64];
	uint64_t v;

	(void)state;
	for (v = 1; v < HIST_MAX_VALUE; v = v + v / 97 + 1) {
		hist_init(h);
		hist_record(h, 0);
		hist_record(h, v);
		hist_record(h, HIST_MAX_VALUE);
		snprintf(what, sizeof(what), "value %llu", (unsigned long long)v);
		assert_within(hist_percentile(h, 50), v, MAX_REL_ERROR, what);
	}
	free(h);
}

static void test_uniform_set(void **state)
{
	const size_t n = 1000000;
	uint64_t *values = malloc(n * sizeof(*values));
	struct hist *h = hist_new();
	double sum = 0;
	size_t i;

	(void)state;
	assert_non_null(values);
	for (i = 0; i < n; i++) {
		values[i] = (i + 1) * 1000;	/* 1 us .. 1 s in ns, one of each */
		hist_record(h, values[i]);
		sum += (double)values[i];
	}
	assert_int_equal(hist_count(h), n);
	assert_int_equal(hist_min(h), 1000);
	assert_int_equal(hist_max(h), 1000000000);
	assert_true(fabs(hist_mean(h) - sum / (double)n) < 1e-6 * sum / (double)n);
	assert_within(hist_percentile(h, 50), 500000000, MAX_REL_ERROR, "p50");
	assert_within(hist_percentile(h, 99), 990000000, MAX_REL_ERROR, "p99");
	check_against_exact(h, values, n);
	free(values);
	free(h);
}

static void test_exponential_set(void **state)
{
	const size_t n = 200000;
	const double mean_ns = 50000.0;		/* 50 us */
	uint64_t *values = malloc(n * sizeof(*values));
	struct hist *h = hist_new();
	size_t i;

	(void)state;
	assert_non_null(values);
	for (i = 0; i < n; i++) {
		values[i] = (uint64_t)(-log(uniform01()) * mean_ns);
		hist_record(h, values[i]);
	}
	/* a long tail exercises many octaves at once */
	check_against_exact(h, values, n);
	/* and the median of an exponential is mean * ln 2 */
	assert_within(hist_percentile(h, 50), (uint64_t)(mean_ns * log(2.0)), 0.02, "median");
	free(values);
	free(h);
}

static void test_huge_values_clamp(void **state)
{
	struct hist *h = hist_new();
	int i;

	(void)state;
	for (i = 0; i < 1000; i++)
		hist_record(h, 1000);
	hist_record(h, UINT64_C(1) << 60);	/* far above HIST_MAX_VALUE */
	hist_record(h, UINT64_MAX);
	assert_int_equal(hist_count(h), 1002);
	assert_int_equal(hist_max(h), UINT64_MAX);
	assert_int_equal(hist_percentile(h, 100), UINT64_MAX);
	assert_within(hist_percentile(h, 50), 1000, MAX_REL_ERROR, "p50");
	/* the clamped values land in the top bucket, not past the array */
	assert_true(hist_percentile(h, 99.95) >= HIST_MAX_VALUE - (HIST_MAX_VALUE >> HIST_SUB_BITS));
	assert_true(hist_percentile(h, 99.95) <= UINT64_MAX);

	hist_init(h);
	hist_record(h, HIST_MAX_VALUE);
	hist_record(h, HIST_MAX_VALUE + 1);
	assert_int_equal(hist_percentile(h, 50), HIST_MAX_VALUE);
	free(h);
}

static void test_merge_equals_recording_all(void **state)
{
	struct hist *a = hist_new(), *b = hist_new(), *all = hist_new();
	uint64_t v;
	int i;

	(void)state;
	for (i = 0; i < 100000; i++) {
		v = (uint64_t)(uniform01() * 1e7);
		hist_record(i % 3 ? a : b, v);
		hist_record(all, v);
	}
	hist_merge(a, b);
	assert_int_equal(hist_count(a), hist_count(all));
	assert_int_equal(hist_min(a), hist_min(all));
	assert_int_equal(hist_max(a), hist_max(all));
	assert_int_equal(a->sum, all->sum);
	assert_memory_equal(a->buckets, all->buckets, sizeof(a->buckets));
	assert_int_equal(hist_percentile(a, 99.9), hist_percentile(all, 99.9));
	free(a);
	free(b);
	free(all);
}

static void test_merge_with_empty(void **state)
{
	struct hist *h = hist_new(), *empty = hist_new(), *dst = hist_new();

	(void)state;
	hist_record(h, 5);
	hist_record(h, 500000);

	hist_merge(h, empty);		/* adding nothing changes nothing */
	assert_int_equal(hist_count(h), 2);
	assert_int_equal(hist_min(h), 5);
	assert_int_equal(hist_max(h), 500000);

	hist_merge(dst, h);		/* into an empty one: a copy */
	assert_int_equal(hist_count(dst), 2);
	assert_int_equal(hist_min(dst), 5);
	assert_int_equal(hist_max(dst), 500000);
	assert_true(hist_mean(dst) == 250002.5);
	assert_int_equal(hist_percentile(dst, 50), 5);
	assert_int_equal(hist_percentile(dst, 100), 500000);
	free(h);
	free(empty);
	free(dst);
}

/* A value taken back leaves the histogram as if it had never been
 * recorded (count, sum, percentiles), and one never recorded changes nothing. */
static void test_forget_takes_back_one_value(void **state)
{
	struct hist *h = hist_new();

	(void)state;
	hist_record(h, 10);
	hist_record(h, 1000);
	hist_record(h, 1000);
	hist_forget(h, 1000);
	assert_int_equal(hist_count(h), 2);
	assert_int_equal(h->sum, 1010);
	assert_int_equal(hist_percentile(h, 50), 10);
	hist_forget(h, 77);		/* not recorded: ignored */
	assert_int_equal(hist_count(h), 2);
	assert_int_equal(h->sum, 1010);
	free(h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_one_value_is_every_percentile),
		cmocka_unit_test(test_small_values_are_exact),
		cmocka_unit_test(test_every_bucket_within_error_bound),
		cmocka_unit_test(test_uniform_set),
		cmocka_unit_test(test_exponential_set),
		cmocka_unit_test(test_huge_values_clamp),
		cmocka_unit_test(test_merge_equals_recording_all),
		cmocka_unit_test(test_merge_with_empty),
		cmocka_unit_test(test_forget_takes_back_one_value),
	};

	return cmocka_run_group_tests_name("histogram", tests, NULL, NULL);
}
