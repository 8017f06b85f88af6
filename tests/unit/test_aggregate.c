// SPDX-License-Identifier: MIT
/*
 * Unit tests for the aggregation of connection records (userspace/model/aggregate.c):
 * distributions with nearest-rank percentiles, the peak-open sweep, the top-N
 * min-heap by cost, per-syscall and per-io_uring-op sums, and growth.
 *
 * Build and run:  make build/tests/test_aggregate && build/tests/test_aggregate
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "model/aggregate.h"

/* ---- helpers --------------------------------------------------------------- */

static struct conn mk_conn(__u64 id, __u64 open_ns, __u64 close_ns)
{
	struct conn c;

	memset(&c, 0, sizeof(c));
	c.id = id;
	c.open_ns = open_ns;
	c.close_ns = close_ns;
	return c;
}

static struct conn mk_cost(__u64 id, __u64 cpu_ns, __u64 syscalls)
{
	struct conn c = mk_conn(id, 1, 2);

	c.cpu_ns = cpu_ns;
	c.sc_other = syscalls;
	return c;
}

static const struct slab_sizes no_slabs;

static struct conn_view view(const struct conn *c)
{
	struct conn_view v;

	conn_complete(&v, c, &no_slabs);
	return v;
}

static void add(struct agg *a, const struct conn *c)
{
	struct conn_view v = view(c);

	assert_int_equal(agg_add(a, &v), 0);
}

static int cost_cmp(const struct conn *a, const struct conn *b)
{
	struct conn_view va = view(a), vb = view(b);

	return conn_cost_cmp(&va, &vb);
}

static void add_interval(struct agg *a, __u64 id, __u64 open_ns, __u64 close_ns)
{
	struct conn c = mk_conn(id, open_ns, close_ns);

	add(a, &c);
}

/* ---- empty and single ------------------------------------------------------- */

static void test_empty_agg_is_all_zero(void **state)
{
	struct agg a;
	struct dist d;
	size_t n = 123;

	(void)state;
	agg_init(&a, 5);
	for (int m = 0; m < M_COUNT; m++) {
		memset(&d, 0xff, sizeof(d));
		agg_dist(&a, m, &d);
		assert_true(d.mean == 0.0);
		assert_int_equal(d.p50, 0);
		assert_int_equal(d.p99, 0);
		assert_int_equal(d.max, 0);
	}
	assert_int_equal(a.open_at_end, 0);
	agg_top(&a, &n);
	assert_int_equal(n, 0);
	agg_free(&a);
}

static void test_single_conn(void **state)
{
	struct agg a;
	struct dist d;
	struct conn c = mk_conn(7, 100, 200);

	(void)state;
	c.sc_other = 42;
	c.cpu_ns = 5000;
	agg_init(&a, 5);
	add(&a, &c);

	agg_dist(&a, M_SYSCALLS, &d);
	assert_true(d.mean == 42.0);
	assert_int_equal(d.p50, 42);
	assert_int_equal(d.p99, 42);
	assert_int_equal(d.max, 42);
	agg_dist(&a, M_CPU_NS, &d);
	assert_int_equal(d.p50, 5000);	/* a bucket's value is clamped to what was seen */
	assert_int_equal(a.open_at_end, 0);
	agg_free(&a);
}

/* ---- distributions ---------------------------------------------------------- */

static void test_dist_1_to_100_nearest_rank(void **state)
{
	struct agg a;
	struct dist d;

	(void)state;
	agg_init(&a, 0);
	/* added in a scrambled order: agg_dist must sort */
	for (__u64 i = 0; i < 100; i++) {
		struct conn c = mk_conn(i, 1, 2);

		c.bytes_rx = (i * 37) % 100 + 1;	/* 37 is coprime to 100 */
		add(&a, &c);
	}
	agg_dist(&a, M_BYTES_RX, &d);
	assert_true(d.mean == 50.5);
	assert_int_equal(d.p50, 50);
	assert_int_equal(d.p99, 99);
	assert_int_equal(d.max, 100);
	agg_free(&a);
}

/* nearest rank: the value of rank ceil(p * n), 1-based, for every n; exact
 * below 128, within the histogram's 1/128 above (histogram.h) */
static void assert_near(__u64 got, __u64 want)
{
	if (want < 128)
		assert_int_equal(got, want);
	else
		assert_true(got * 128 >= want * 127 && got * 128 <= want * 129);
}

static void test_dist_percentiles_match_exact_rank_for_many_sizes(void **state)
{
	(void)state;
	for (__u64 n = 1; n <= 300; n++) {
		struct agg a;
		struct dist d;

		agg_init(&a, 0);
		for (__u64 i = n; i >= 1; i--) {	/* descending input */
			struct conn c = mk_conn(i, 1, 2);

			c.sc_other = i * 10;
			add(&a, &c);
		}
		agg_dist(&a, M_SYSCALLS, &d);
		assert_near(d.p50, ((n + 1) / 2) * 10);
		assert_near(d.p99, ((99 * n + 99) / 100) * 10);
		assert_int_equal(d.max, n * 10);
		assert_true(d.mean == (double)(n + 1) * 5.0);
		agg_free(&a);
	}
}

static void test_dist_skewed_p99_sees_the_outlier_only_when_over_1_percent(void **state)
{
	struct agg a;
	struct dist d;

	(void)state;
	agg_init(&a, 0);
	/* 99 connections at 1, one at 1000: rank ceil(0.99 * 100) = 99 is a 1 */
	for (__u64 i = 0; i < 100; i++) {
		struct conn c = mk_conn(i, 1, 2);

		c.cpu_ns = i == 50 ? 1000 : 1;
		add(&a, &c);
	}
	agg_dist(&a, M_CPU_NS, &d);
	assert_int_equal(d.p50, 1);
	assert_int_equal(d.p99, 1);
	assert_int_equal(d.max, 1000);
	assert_true(d.mean == (99.0 + 1000.0) / 100.0);

	/* a second outlier: now 2% are 1000, rank 100 of 101 is 1000 */
	{
		struct conn c = mk_conn(100, 1, 2);

		c.cpu_ns = 1000;
		add(&a, &c);
	}
	agg_dist(&a, M_CPU_NS, &d);
	assert_int_equal(d.p99, 1000);
	agg_free(&a);
}

static void test_metric_extraction(void **state)
{
	struct conn c = mk_conn(1, 1, 2);
	struct conn_view v;

	(void)state;
	c.sc_other = 11;
	c.ctx_voluntary = 3;
	c.ctx_involuntary = 4;
	c.cpu_ns = 999;
	c.bytes_rx = 1234;
	c.bytes_tx = 5678;
	c.syscall_ns = 77777;	/* not a metric: must not leak into one */
	v = view(&c);
	assert_int_equal(conn_metric(&v, M_SYSCALLS), 11);
	assert_int_equal(conn_metric(&v, M_CTX_SWITCHES), 7);
	assert_int_equal(conn_metric(&v, M_CPU_NS), 999);
	assert_int_equal(conn_metric(&v, M_BYTES_RX), 1234);
	assert_int_equal(conn_metric(&v, M_BYTES_TX), 5678);
}

/* conn_complete: what every reader derives, the same way */
static void test_conn_complete_derives_sums_and_memory(void **state)
{
	const struct slab_sizes slabs = { .sock_inode = 832, .filp = 256, .dentry = 192,
					  .epitem = 128, .eppoll_entry = 64 };
	struct conn c = mk_conn(1, 1, 0);
	struct conn_view v;

	(void)state;
	c.sc[0] = (struct conn_syscall){ .nr = 1, .count = 5 };
	c.sc[3] = (struct conn_syscall){ .nr = 45, .count = 2 };
	c.sc_other = 1;
	c.syscall_ns = 77;
	c.sock_bytes = 2368;
	c.epoll_items = 0;
	c.epoll_items_peak = 1;
	c.rx_queue = 100;
	c.buffers_peak = 300;
	conn_complete(&v, &c, &slabs);
	assert_memory_equal(&v.rec, &c, sizeof(c));
	assert_int_equal(v.syscalls, 8);
	assert_string_equal(v.unix_path, "");	/* the tracer's to fill in */
	/* peak: objects + one epoll item + buffers at their peak */
	assert_int_equal(v.kernel_bytes_peak, 2368 + 832 + 256 + 192 + 192 + 300);
	assert_int_equal(v.kmem_peak[KM_EPOLL], 192);
	/* now: the epoll item is gone, 100 B queued */
	assert_int_equal(v.kernel_bytes_now, 2368 + 832 + 256 + 192 + 100);
	assert_true(conn_is_open(&c));
	c.close_ns = 2;
	assert_false(conn_is_open(&c));
}

static void test_conn_origin_names_how_it_was_seen(void **state)
{
	struct conn c = mk_conn(1, 1, 2);

	(void)state;
	assert_string_equal(conn_origin(&c), "seen");
	c.flags = CONN_ACCEPTED;
	assert_string_equal(conn_origin(&c), "accept");
	c.flags = CONN_CONNECTED;
	assert_string_equal(conn_origin(&c), "connect");
	c.flags = CONN_URING;
	assert_string_equal(conn_origin(&c), "io_uring");
}

static void test_agg_sums_kernel_memory_by_category(void **state)
{
	const struct slab_sizes slabs = { .sock_inode = 832 };
	struct conn c = mk_conn(1, 1, 2);
	struct conn_view v;
	struct agg a;

	(void)state;
	c.sock_bytes = 1000;
	conn_complete(&v, &c, &slabs);
	agg_init(&a, 0);
	assert_int_equal(agg_add(&a, &v), 0);
	v.rec.id = 2;	/* another connection: one id twice would be merged */
	assert_int_equal(agg_add(&a, &v), 0);
	assert_int_equal(a.kmem_by_cat[KM_SOCK], 2000);
	assert_int_equal(a.kmem_by_cat[KM_INODE], 1664);
	agg_free(&a);
}

static void test_dist_of_ctx_switches_sums_both_kinds(void **state)
{
	struct agg a;
	struct dist d;
	struct conn c1 = mk_conn(1, 1, 2), c2 = mk_conn(2, 1, 2);

	(void)state;
	c1.ctx_voluntary = 10;		/* 10 + 0 */
	c2.ctx_voluntary = 1;		/* 1 + 29 */
	c2.ctx_involuntary = 29;
	agg_init(&a, 0);
	add(&a, &c1);
	add(&a, &c2);
	agg_dist(&a, M_CTX_SWITCHES, &d);
	assert_int_equal(d.max, 30);
	assert_int_equal(d.p50, 10);
	assert_true(d.mean == 20.0);
	agg_free(&a);
}

static void test_metric_names(void **state)
{
	(void)state;
	assert_string_equal(metric_names[M_SYSCALLS], "syscalls");
	assert_string_equal(metric_names[M_CTX_SWITCHES], "ctx_switches");
	assert_string_equal(metric_names[M_CPU_NS], "cpu_ns");
	assert_string_equal(metric_names[M_BYTES_RX], "bytes_rx");
	assert_string_equal(metric_names[M_BYTES_TX], "bytes_tx");
}

static void test_open_at_end_counts_only_close_zero(void **state)
{
	struct agg a;

	(void)state;
	agg_init(&a, 0);
	for (__u64 i = 0; i < 10; i++)
		add_interval(&a, i, 100 + i, i % 3 ? 500 + i : 0);	/* i = 0, 3, 6, 9 */
	assert_int_equal(a.n, 10);
	assert_int_equal(a.open_at_end, 4);
	agg_free(&a);
}

/* ---- top N ------------------------------------------------------------------ */

static void test_cost_cmp_cpu_then_syscalls_then_older(void **state)
{
	struct conn cheap = mk_cost(1, 100, 1000);
	struct conn dear = mk_cost(2, 200, 1);
	struct conn more_sc = mk_cost(3, 100, 1001);
	struct conn old = mk_cost(4, 100, 1000), young = mk_cost(5, 100, 1000);

	(void)state;
	assert_true(cost_cmp(&cheap, &dear) < 0);	/* CPU first */
	assert_true(cost_cmp(&dear, &cheap) > 0);
	assert_true(cost_cmp(&more_sc, &cheap) > 0);	/* then syscalls */
	assert_true(cost_cmp(&old, &young) > 0);	/* tie: older ranks first */
	assert_int_equal(cost_cmp(&old, &old), 0);
}

static void test_top_keeps_costliest_sorted(void **state)
{
	/* cpu_ns in a scrambled order; the three costliest are ids 3, 7, 5 */
	static const __u64 cpu[] = { 50, 10, 90, 300, 20, 200, 60, 250, 40, 30 };
	struct agg a;
	const struct conn_view *top;
	size_t n;

	(void)state;
	agg_init(&a, 3);
	for (size_t i = 0; i < sizeof(cpu) / sizeof(cpu[0]); i++) {
		struct conn c = mk_cost(i, cpu[i], 1);

		add(&a, &c);
	}
	top = agg_top(&a, &n);
	assert_int_equal(n, 3);
	assert_int_equal(top[0].rec.id, 3);
	assert_int_equal(top[0].rec.cpu_ns, 300);
	assert_int_equal(top[1].rec.id, 7);
	assert_int_equal(top[2].rec.id, 5);
	assert_int_equal(a.n, 10);	/* the distributions still saw everyone */
	agg_free(&a);
}

static void test_top_breaks_cpu_ties_by_syscalls(void **state)
{
	struct agg a;
	const struct conn_view *top;
	size_t n;
	struct conn c1 = mk_cost(1, 100, 5), c2 = mk_cost(2, 100, 50);
	struct conn c3 = mk_cost(3, 100, 20), c4 = mk_cost(4, 99, 1000);

	(void)state;
	agg_init(&a, 2);
	add(&a, &c1);
	add(&a, &c2);
	add(&a, &c3);
	add(&a, &c4);
	top = agg_top(&a, &n);
	assert_int_equal(n, 2);
	assert_int_equal(top[0].rec.id, 2);
	assert_int_equal(top[1].rec.id, 3);
	agg_free(&a);
}

static void test_top_keeps_full_record(void **state)
{
	struct agg a;
	const struct conn_view *top;
	size_t n;
	struct conn c = mk_cost(9, 1000, 3);

	(void)state;
	c.family = 2;
	c.lport = 8090;
	c.bytes_tx = 4242;
	c.sc[0].nr = 1;
	c.sc[0].count = 3;
	agg_init(&a, 1);
	add(&a, &c);
	top = agg_top(&a, &n);
	assert_int_equal(n, 1);
	assert_memory_equal(&top[0].rec, &c, sizeof(c));
	agg_free(&a);
}

static void test_top_keep_zero_keeps_nothing(void **state)
{
	struct agg a;
	size_t n = 99;

	(void)state;
	agg_init(&a, 0);
	for (__u64 i = 0; i < 20; i++) {
		struct conn c = mk_cost(i, i * 10, i);

		add(&a, &c);
	}
	agg_top(&a, &n);
	assert_int_equal(n, 0);
	assert_int_equal(a.n, 20);
	agg_free(&a);
}

static void test_top_keep_more_than_added_returns_all_sorted(void **state)
{
	static const __u64 cpu[] = { 30, 10, 50, 20, 40 };
	struct agg a;
	const struct conn_view *top;
	size_t n;

	(void)state;
	agg_init(&a, 100);
	for (size_t i = 0; i < 5; i++) {
		struct conn c = mk_cost(i, cpu[i], 0);

		add(&a, &c);
	}
	top = agg_top(&a, &n);
	assert_int_equal(n, 5);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(top[i].rec.cpu_ns, 50 - 10 * i);
	agg_free(&a);
}

/* many connections in an adversarial order: the heap must keep exactly the top */
static void test_top_many_ascending_and_descending(void **state)
{
	(void)state;
	for (int dir = 0; dir < 2; dir++) {
		struct agg a;
		const struct conn_view *top;
		size_t n;

		agg_init(&a, 10);
		for (__u64 i = 0; i < 1000; i++) {
			__u64 v = dir ? 1000 - i : i + 1;	/* 1..1000 either way */
			struct conn c = mk_cost(v, v * 100, 0);

			add(&a, &c);
		}
		top = agg_top(&a, &n);
		assert_int_equal(n, 10);
		for (size_t i = 0; i < n; i++)
			assert_int_equal(top[i].rec.cpu_ns, (1000 - i) * 100);
		agg_free(&a);
	}
}

/* ---- per-syscall and per-op sums -------------------------------------------- */

static void test_syscalls_by_nr_sums_slots(void **state)
{
	struct agg a;
	struct conn c1 = mk_conn(1, 1, 2), c2 = mk_conn(2, 1, 2);

	(void)state;
	/* nr is stored + 1: slot nr 1 is syscall 0 (read on x86_64) */
	c1.sc[0] = (struct conn_syscall){ .nr = 1, .count = 10 };
	c1.sc[1] = (struct conn_syscall){ .nr = 2, .count = 5 };
	c1.sc[CONN_SC_SLOTS - 1] = (struct conn_syscall){ .nr = SYSCALL_MAX, .count = 2 };
	c1.sc_other = 7;
	c2.sc[3] = (struct conn_syscall){ .nr = 1, .count = 1 };
	c2.sc_other = 3;
	agg_init(&a, 0);
	add(&a, &c1);
	add(&a, &c2);

	assert_int_equal(a.syscalls_by_nr[0], 11);
	assert_int_equal(a.syscalls_by_nr[1], 5);
	assert_int_equal(a.syscalls_by_nr[SYSCALL_MAX - 1], 2);
	assert_int_equal(a.syscalls_by_nr[2], 0);
	assert_int_equal(a.syscalls_other, 10);
	agg_free(&a);
}

static void test_syscalls_by_nr_ignores_free_and_out_of_range_slots(void **state)
{
	struct agg a;
	struct conn c = mk_conn(1, 1, 2);
	__u64 total = 0;

	(void)state;
	c.sc[0] = (struct conn_syscall){ .nr = 0, .count = 100 };	/* free */
	c.sc[1] = (struct conn_syscall){ .nr = SYSCALL_MAX + 1, .count = 100 };
	c.sc[2] = (struct conn_syscall){ .nr = 3, .count = 4 };
	agg_init(&a, 0);
	add(&a, &c);
	for (int i = 0; i < SYSCALL_MAX; i++)
		total += a.syscalls_by_nr[i];
	assert_int_equal(total, 4);
	assert_int_equal(a.syscalls_by_nr[2], 4);
	agg_free(&a);
}

static void test_uring_by_op_sums_slots(void **state)
{
	struct agg a;
	struct conn c1 = mk_conn(1, 1, 2), c2 = mk_conn(2, 1, 2);

	(void)state;
	/* opcode is stored + 1 */
	c1.uring[0] = (struct conn_uring_op){ .opcode = 23, .count = 4 };
	c1.uring[1] = (struct conn_uring_op){ .opcode = 1, .count = 9 };
	c1.uring[2] = (struct conn_uring_op){ .opcode = 0, .count = 50 };	/* free */
	c2.uring[3] = (struct conn_uring_op){ .opcode = 23, .count = 6 };
	c2.uring[0] = (struct conn_uring_op){ .opcode = 256, .count = 1 };
	agg_init(&a, 0);
	add(&a, &c1);
	add(&a, &c2);
	assert_int_equal(a.uring_by_op[22], 10);
	assert_int_equal(a.uring_by_op[0], 9);
	assert_int_equal(a.uring_by_op[255], 1);
	assert_int_equal(a.uring_by_op[1], 0);
	agg_free(&a);
}

/* ---- many connections, constant memory ---------------------------------------- */

static void test_many_connections_exact_means_and_bounded_percentiles(void **state)
{
	enum { N = 1000000 };
	struct agg a;
	struct dist d;
	const struct conn_view *top;
	size_t n;

	(void)state;
	agg_init(&a, 3);
	for (__u64 i = 0; i < N; i++) {
		struct conn c = mk_conn(i, 2 * i + 1, i % 2 ? 2 * i + 2 : 0);

		c.sc_other = i + 1;
		c.bytes_tx = (i + 1) * 2;
		c.cpu_ns = i;
		add(&a, &c);
	}
	assert_int_equal(a.n, N);
	agg_dist(&a, M_SYSCALLS, &d);
	assert_true(d.mean == (N + 1) / 2.0);
	assert_near(d.p50, N / 2);
	assert_near(d.p99, N / 100 * 99);
	assert_int_equal(d.max, N);
	agg_dist(&a, M_BYTES_TX, &d);
	assert_true(d.mean == (double)(N + 1));
	assert_int_equal(a.dist[M_BYTES_TX].sum, (__u64)N * (N + 1));
	assert_int_equal(a.open_at_end, N / 2);
	top = agg_top(&a, &n);
	assert_int_equal(n, 3);
	assert_int_equal(top[0].rec.id, N - 1);
	agg_free(&a);
}

/* A connection's second record (issue 16: a Go pool's connection listed
 * twice) is merged into its first: one connection, the sums of both. */
static void test_second_record_of_a_connection_is_merged(void **state)
{
	struct agg a;
	struct conn first = mk_cost(7, 1000, 10), second = mk_cost(7, 300, 3), other = mk_cost(8, 50, 1);
	const struct conn_view *top;
	struct dist d;
	size_t n;

	(void)state;
	first.sc[0] = (struct conn_syscall){ .nr = 1, .count = 4 };
	second.sc[0] = (struct conn_syscall){ .nr = 4, .count = 2 };
	second.sc[1] = (struct conn_syscall){ .nr = 1, .count = 1 };
	first.bytes_rx = 100;
	second.bytes_rx = 5;
	first.rx_queue_peak = 64;
	second.rx_queue_peak = 32;
	second.close_ns = 9;
	agg_init(&a, 10);
	add(&a, &first);
	add(&a, &other);
	add(&a, &second);
	assert_int_equal(a.n, 2);
	assert_int_equal(a.merged, 1);
	assert_int_equal(a.open_at_end, 0);
	assert_int_equal(a.dist[M_CPU_NS].count, 2);
	assert_int_equal(a.dist[M_CPU_NS].sum, 1350);
	assert_int_equal(a.dist[M_SYSCALLS].sum, (10 + 4) + (3 + 2 + 1) + 1);
	assert_int_equal(a.dist[M_BYTES_RX].sum, 105);
	assert_int_equal(a.syscalls_by_nr[0], 5);
	assert_int_equal(a.syscalls_by_nr[3], 2);
	agg_dist(&a, M_CPU_NS, &d);
	assert_int_equal(d.max, 1300);
	top = agg_top(&a, &n);
	assert_int_equal(n, 2);
	assert_int_equal(top[0].rec.id, 7);
	assert_int_equal(top[0].rec.cpu_ns, 1300);
	assert_int_equal(top[0].syscalls, 20);
	assert_int_equal(top[0].rec.sc[0].count, 5);
	assert_int_equal(top[0].rec.sc[1].nr, 4);
	assert_int_equal(top[0].rec.rx_queue_peak, 64);
	assert_int_equal(top[0].rec.close_ns, 9);
	assert_int_equal(top[1].rec.id, 8);
	agg_free(&a);
}

/* A second record that is still open (made anew after its first went)
 * leaves the connection open at the end, counted once. */
static void test_open_second_record_counts_open_once(void **state)
{
	struct agg a;
	struct conn first = mk_conn(5, 1, 2), second = mk_conn(5, 3, 0);

	(void)state;
	agg_init(&a, 0);
	add(&a, &first);
	add(&a, &second);
	assert_int_equal(a.n, 1);
	assert_int_equal(a.open_at_end, 1);
	assert_int_equal(a.merged, 1);
	agg_free(&a);
}

/* What a thread still owed a connection after its record was made final
 * (a late event) is added to that record: its counts, its distributions,
 * its kept entry, the sums by syscall; not a second record, and the
 * record stays closed. One that comes before its record waits for it,
 * and is counted unmatched until it comes. */
static void test_late_counts_join_their_record(void **state)
{
	struct agg a;
	struct conn first = mk_cost(7, 1000, 10);
	struct conn_late_event late = { .type = EV_CONN_LATE, .id = 7, .bytes_tx = 120,
					 .syscall_ns = 30 };
	struct conn_late_event stray = late;
	const struct conn_view *top;
	size_t n;

	(void)state;
	first.bytes_tx = 2280;
	first.sc[0] = (struct conn_syscall){ .nr = 2, .count = 4 };
	late.sc[0] = (struct conn_syscall){ .nr = 2, .count = 1 };
	stray.id = 8;
	agg_init(&a, 10);
	add(&a, &first);
	agg_add_late(&a, &late);
	agg_add_late(&a, &stray);
	assert_int_equal(a.n, 1);
	assert_int_equal(a.merged, 0);
	assert_int_equal(a.late, 1);
	assert_int_equal(agg_late_unmatched(&a), 1);
	assert_int_equal(a.open_at_end, 0);
	assert_int_equal(a.dist[M_BYTES_TX].sum, 2400);
	assert_int_equal(a.dist[M_CPU_NS].sum, 1000);
	assert_int_equal(a.dist[M_SYSCALLS].sum, 15);
	assert_int_equal(a.syscalls_by_nr[1], 5);
	top = agg_top(&a, &n);
	assert_int_equal(n, 1);
	assert_int_equal(top[0].rec.bytes_tx, 2400);
	assert_int_equal(top[0].rec.sc[0].count, 5);
	assert_int_equal(top[0].syscalls, 15);
	assert_int_equal(top[0].rec.close_ns, 2);
	assert_int_equal(top[0].rec.syscall_ns, 30);
	add(&a, &(struct conn){ .id = 8, .open_ns = 1, .close_ns = 2, .bytes_tx = 1 });
	assert_int_equal(a.late, 2);
	assert_int_equal(agg_late_unmatched(&a), 0);
	assert_int_equal(a.dist[M_BYTES_TX].sum, 2400 + 121);
	agg_free(&a);
}

/* An internal pair (socketpair()'s) is no connection: counted and summed
 * apart, in no distribution and not kept; connections count by family. */
static void test_pairs_are_summed_apart_from_connections(void **state)
{
	struct agg a;
	struct conn tcp = mk_cost(1, 100, 2), unix_conn = mk_cost(2, 10, 1);
	struct conn pair = mk_cost(3, 1000, 5), other_end = mk_conn(4, 1, 0);
	size_t n;

	(void)state;
	tcp.family = 2;
	unix_conn.family = 1;
	pair.family = other_end.family = 1;
	pair.flags = other_end.flags = CONN_PAIR;
	pair.bytes_tx = 8;
	agg_init(&a, 10);
	add(&a, &tcp);
	add(&a, &pair);
	add(&a, &unix_conn);
	add(&a, &other_end);
	add(&a, &pair);		/* a second record of one pair: its counts, no third pair */
	assert_int_equal(a.n, 2);
	assert_int_equal(a.by_family[agg_family_index(2)], 1);
	assert_int_equal(a.by_family[agg_family_index(10)], 0);
	assert_int_equal(a.by_family[agg_family_index(1)], 1);
	assert_int_equal(a.pairs.n, 2);
	assert_int_equal(a.pairs.open_at_end, 1);
	assert_int_equal(a.pairs.sum[M_CPU_NS], 2000);
	assert_int_equal(a.pairs.sum[M_BYTES_TX], 16);
	assert_int_equal(a.merged, 1);
	assert_int_equal(a.open_at_end, 0);
	assert_int_equal(a.dist[M_CPU_NS].sum, 110);
	agg_top(&a, &n);
	assert_int_equal(n, 2);
	agg_free(&a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_empty_agg_is_all_zero),
		cmocka_unit_test(test_single_conn),
		cmocka_unit_test(test_dist_1_to_100_nearest_rank),
		cmocka_unit_test(test_dist_percentiles_match_exact_rank_for_many_sizes),
		cmocka_unit_test(test_dist_skewed_p99_sees_the_outlier_only_when_over_1_percent),
		cmocka_unit_test(test_metric_extraction),
		cmocka_unit_test(test_conn_complete_derives_sums_and_memory),
		cmocka_unit_test(test_conn_origin_names_how_it_was_seen),
		cmocka_unit_test(test_agg_sums_kernel_memory_by_category),
		cmocka_unit_test(test_dist_of_ctx_switches_sums_both_kinds),
		cmocka_unit_test(test_metric_names),
		cmocka_unit_test(test_open_at_end_counts_only_close_zero),
		cmocka_unit_test(test_cost_cmp_cpu_then_syscalls_then_older),
		cmocka_unit_test(test_top_keeps_costliest_sorted),
		cmocka_unit_test(test_top_breaks_cpu_ties_by_syscalls),
		cmocka_unit_test(test_top_keeps_full_record),
		cmocka_unit_test(test_top_keep_zero_keeps_nothing),
		cmocka_unit_test(test_top_keep_more_than_added_returns_all_sorted),
		cmocka_unit_test(test_top_many_ascending_and_descending),
		cmocka_unit_test(test_syscalls_by_nr_sums_slots),
		cmocka_unit_test(test_syscalls_by_nr_ignores_free_and_out_of_range_slots),
		cmocka_unit_test(test_uring_by_op_sums_slots),
		cmocka_unit_test(test_many_connections_exact_means_and_bounded_percentiles),
		cmocka_unit_test(test_second_record_of_a_connection_is_merged),
		cmocka_unit_test(test_open_second_record_counts_open_once),
		cmocka_unit_test(test_late_counts_join_their_record),
		cmocka_unit_test(test_pairs_are_summed_apart_from_connections),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
