// SPDX-License-Identifier: MIT
/*
 * Unit tests for what the aggregation tells its observer (the exporter's
 * histograms; userspace/model/aggregate.c): each connection once, at once
 * or once its late counts have had observe_after_s (agg_settle), with
 * what came meanwhile.
 *
 * Build and run:  make build/tests/test_agg_observer && build/tests/test_agg_observer
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <string.h>

#include "model/aggregate.h"

static const struct slab_sizes no_slabs;

struct seen {
	__u64 n, bytes_rx, switches;
	__u64 last_id;
};

static void record(void *ctx, const struct conn_view *c, const __u64 metric[M_COUNT])
{
	struct seen *seen = ctx;

	seen->n++;
	seen->bytes_rx += metric[M_BYTES_RX];
	seen->switches += metric[M_CTX_SWITCHES];
	seen->last_id = c->rec.id;
}

static void add(struct agg *a, __u64 id, __u64 bytes_rx, bool open)
{
	struct conn c = { .id = id, .open_ns = 1, .close_ns = open ? 0 : 2, .bytes_rx = bytes_rx,
			  .ctx_voluntary = 1 };
	struct conn_view v;

	conn_complete(&v, &c, &no_slabs);
	assert_int_equal(agg_add(a, &v), 0);
}

static void watched(struct agg *a, struct seen *seen, double after_s)
{
	agg_init(a, 0);
	a->observer = record;
	a->observer_ctx = seen;
	a->observe_after_s = after_s;
}

/* The recent slot an id's record takes (aggregate.c's recent_slot) */
static unsigned int slot_of(__u64 id)
{
	return (id * 0x9e3779b97f4a7c15ull) >> 52 & (AGG_RECENT - 1);
}

static void test_observer_sees_every_connection_once(void **state)
{
	struct agg a;
	struct seen seen = { 0 };

	(void)state;
	watched(&a, &seen, 0);
	for (__u64 i = 1; i <= 10; i++)
		add(&a, i, i, false);
	assert_int_equal(seen.n, 10);
	assert_int_equal(seen.bytes_rx, 55);
	agg_settle(&a, INFINITY);
	assert_int_equal(seen.n, 10);
	agg_free(&a);
}

/* With observe_after_s, a closed connection is told once agg_settle()
 * has seen it that long: the clock starts at the first agg_settle() after
 * its record, not at its record (the aggregation has no clock). */
static void test_a_connection_is_told_once_it_has_waited(void **state)
{
	struct agg a;
	struct seen seen = { 0 };

	(void)state;
	watched(&a, &seen, 2.0);
	for (__u64 i = 1; i <= 10; i++)
		add(&a, i, i, false);
	assert_int_equal(seen.n, 0);
	agg_settle(&a, 100.0);		/* first seen */
	assert_int_equal(seen.n, 0);
	add(&a, 11, 100, false);
	agg_settle(&a, 101.5);
	assert_int_equal(seen.n, 0);
	agg_settle(&a, 102.0);
	assert_int_equal(seen.n, 10);
	assert_int_equal(seen.bytes_rx, 55);
	agg_settle(&a, 103.4);
	assert_int_equal(seen.n, 10);
	agg_settle(&a, 103.5);
	assert_int_equal(seen.n, 11);
	assert_int_equal(seen.last_id, 11);
	agg_settle(&a, 1000.0);
	assert_int_equal(seen.n, 11);
	assert_int_equal(a.untold, 0);
	agg_free(&a);
}

/* What a thread owed the connection after its record (a forking server's
 * child: bytes, switches) is in what is told, if it came in time; what
 * comes after is the report's only. A second record merges in the same way. */
static void test_late_counts_in_time_are_told(void **state)
{
	struct agg a;
	struct seen seen = { 0 };
	struct conn_late_event late = { .type = EV_CONN_LATE, .id = 7, .bytes_rx = 5,
					 .ctx_voluntary = 3, .whole = 1 };

	(void)state;
	watched(&a, &seen, 2.0);
	add(&a, 7, 10, false);
	agg_settle(&a, 0.5);
	agg_add_late(&a, &late);
	add(&a, 7, 1, false);		/* a second record of it */
	agg_settle(&a, 2.5);
	assert_int_equal(seen.n, 1);
	assert_int_equal(seen.bytes_rx, 16);
	assert_int_equal(seen.switches, 1 + 3 + 1);
	agg_add_late(&a, &late);	/* too late for the observer */
	agg_settle(&a, 10.0);
	assert_int_equal(seen.n, 1);
	assert_int_equal(seen.bytes_rx, 16);
	assert_int_equal(a.dist[M_BYTES_RX].sum, 21);
	agg_free(&a);
}

/* A record that waits is told when a newer one takes its recent slot
 * (late counts after that match no record), and INFINITY tells all. */
static void test_a_record_leaving_its_slot_is_told(void **state)
{
	struct agg a;
	struct seen seen = { 0 };
	__u64 other = 2;

	(void)state;
	while (slot_of(other) != slot_of(1))
		other++;
	watched(&a, &seen, 2.0);
	add(&a, 1, 10, false);
	add(&a, 3, 1000, false);
	assert_int_equal(seen.n, 0);
	add(&a, other, 100, false);
	assert_int_equal(seen.n, 1);
	assert_int_equal(seen.last_id, 1);
	assert_int_equal(seen.bytes_rx, 10);
	agg_settle(&a, INFINITY);
	assert_int_equal(seen.n, 3);
	assert_int_equal(seen.bytes_rx, 1110);
	agg_free(&a);
}

/* An open connection (the end's sweep) is told at once: it is no final
 * figure and the exporter leaves it out; an internal pair never. */
static void test_open_ones_at_once_pairs_never(void **state)
{
	struct agg a;
	struct seen seen = { 0 };
	struct conn pair = { .id = 9, .open_ns = 1, .close_ns = 2, .flags = CONN_PAIR };
	struct conn_view v;

	(void)state;
	watched(&a, &seen, 2.0);
	add(&a, 1, 10, true);
	assert_int_equal(seen.n, 1);
	conn_complete(&v, &pair, &no_slabs);
	assert_int_equal(agg_add(&a, &v), 0);
	agg_settle(&a, INFINITY);
	assert_int_equal(seen.n, 1);
	agg_free(&a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_observer_sees_every_connection_once),
		cmocka_unit_test(test_a_connection_is_told_once_it_has_waited),
		cmocka_unit_test(test_late_counts_in_time_are_told),
		cmocka_unit_test(test_a_record_leaving_its_slot_is_told),
		cmocka_unit_test(test_open_ones_at_once_pairs_never),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
