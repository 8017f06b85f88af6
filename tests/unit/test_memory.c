// SPDX-License-Identifier: MIT
/*
 * Unit tests for kernel memory per connection (userspace/model/memory.c,
 * host/slabs.c): the /proc/slabinfo parser and the per-category breakdown
 * of a record; where the closure reads the caches' counters (model/closure.c).
 *
 * Build and run:  make build/tests/test_memory && build/tests/test_memory
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "host/procfs.h"
#include "host/slabs.h"
#include "model/closure.h"
#include "model/memory.h"
#include "model/timeline.h"

static const char slabinfo[] =
	"slabinfo - version: 2.1\n"
	"# name            <active_objs> <num_objs> <objsize> <objperslab> <pagesperslab>\n"
	"TCPv6                 26     26   2496   13    8 : tunables    0    0    0\n"
	"TCP                   66    117   2368   13    8 : tunables    0    0    0\n"
	"sock_inode_cache    1300   1300    832   39    8 : tunables    0    0    0\n"
	"filp                 567    567    192   21    1 : tunables    0    0    0\n";

static void test_slabinfo_finds_each_cache_by_exact_name(void **state)
{
	(void)state;
	assert_int_equal(slabinfo_objsize(slabinfo, "TCP"), 2368);
	assert_int_equal(slabinfo_objsize(slabinfo, "TCPv6"), 2496);
	assert_int_equal(slabinfo_objsize(slabinfo, "sock_inode_cache"), 832);
	assert_int_equal(slabinfo_objsize(slabinfo, "filp"), 192);
}

static void test_slabinfo_prefix_is_not_a_match(void **state)
{
	(void)state;
	/* "TC" and "sock_inode" are prefixes of real caches, not caches */
	assert_int_equal(slabinfo_objsize(slabinfo, "TC"), 0);
	assert_int_equal(slabinfo_objsize(slabinfo, "sock_inode"), 0);
	assert_int_equal(slabinfo_objsize(slabinfo, "dentry"), 0);
	assert_int_equal(slabinfo_objsize("", "TCP"), 0);
	assert_int_equal(slabinfo_objsize("TCP garbage\n", "TCP"), 0);
}

static const char kmalloc_slabinfo[] =
	"slabinfo - version: 2.1\n"
	"kmalloc-rcl-512       10     10    512   16    2 : tunables    0    0    0\n"
	"kmalloc-cg-1k        133    144   1024   16    4 : tunables    0    0    0\n"
	"kmalloc-cg-512       171    192    512   16    2 : tunables    0    0    0\n"
	"kmalloc-cg-192        42     42    192   21    1 : tunables    0    0    0\n"
	"kmalloc-1k           500    512   1024   16    4 : tunables    0    0    0\n"
	"kmalloc-256          500    512    256   16    1 : tunables    0    0    0\n"
	"dma-kmalloc-64         0      0     64   64    1 : tunables    0    0    0\n";

/* a hash element's allocation: the smallest kmalloc class that holds it,
 * of the cgroup-charged caches where there are any */
static void test_kmalloc_class_is_the_smallest_that_holds(void **state)
{
	(void)state;
	assert_int_equal(slabinfo_kmalloc_class(kmalloc_slabinfo, 488), 512);
	assert_int_equal(slabinfo_kmalloc_class(kmalloc_slabinfo, 512), 512);
	assert_int_equal(slabinfo_kmalloc_class(kmalloc_slabinfo, 513), 1024);
	assert_int_equal(slabinfo_kmalloc_class(kmalloc_slabinfo, 656), 1024);
	assert_int_equal(slabinfo_kmalloc_class(kmalloc_slabinfo, 100), 192);
	assert_int_equal(slabinfo_kmalloc_class(kmalloc_slabinfo, 4000), 0);	/* none */
	/* without kmalloc-cg- caches (before 5.14): the plain ones */
	assert_int_equal(slabinfo_kmalloc_class(slabinfo, 488), 0);
	assert_int_equal(slabinfo_kmalloc_class("kmalloc-1k 1 1 1024 16 4\n"
						"kmalloc-512 1 1 512 16 2\n", 488), 512);
	assert_int_equal(slabinfo_kmalloc_class("", 488), 0);
}

static const struct slab_sizes sizes = {
	.sock_inode = 832, .filp = 192, .dentry = 192, .lsm_inode = 32, .lsm_file = 24,
	.epitem = 128, .eppoll_entry = 64, .task_struct = 5888, .pid = 192,
};

static void test_idle_epoll_connection_is_its_objects(void **state)
{
	struct conn c = { .sock_bytes = 2368, .epoll_items_peak = 1 };
	__u64 km[KM_COUNT];

	(void)state;
	assert_int_equal(conn_kernel_memory(&c, &sizes, km),
			 2368 + 832 + 192 + 192 + 56 + 192);
	assert_int_equal(km[KM_SOCK], 2368);
	assert_int_equal(km[KM_INODE], 832);
	assert_int_equal(km[KM_LSM], 56);
	assert_int_equal(km[KM_EPOLL], 192);
	assert_int_equal(km[KM_THREAD], 0);
}

static void test_thread_per_connection_pays_task_pid_and_stack(void **state)
{
	struct conn c = { .sock_bytes = 2368, .threads = 1, .thread_stack_bytes = 16384 };
	__u64 km[KM_COUNT];

	(void)state;
	conn_kernel_memory(&c, &sizes, km);
	assert_int_equal(km[KM_THREAD], 5888 + 192 + 16384);
	assert_int_equal(km[KM_EPOLL], 0);
}

static void test_buffers_count_once_at_their_joint_peak(void **state)
{
	/* each buffer peaked at a different time: the total takes the largest
	 * sum seen at one sample, the categories their own peaks */
	struct conn c = { .sock_bytes = 1000, .rx_queue_peak = 4000, .tx_queue_peak = 3000,
			  .forward_alloc_peak = -5, .buffers_peak = 5000 };
	struct slab_sizes none = { 0 };
	__u64 km[KM_COUNT];

	(void)state;
	assert_int_equal(conn_kernel_memory(&c, &none, km), 1000 + 5000);
	assert_int_equal(km[KM_RX_QUEUE], 4000);
	assert_int_equal(km[KM_TX_QUEUE], 3000);
	assert_int_equal(km[KM_FORWARD_ALLOC], 0);	/* negative: no reserve */
}

static void test_every_category_has_a_name(void **state)
{
	(void)state;
	for (int k = 0; k < KM_COUNT; k++) {
		assert_non_null(kmem_category_names[k]);
		for (int j = 0; j < k; j++)
			assert_string_not_equal(kmem_category_names[k], kmem_category_names[j]);
	}
}

static void test_vmrss_is_read_in_bytes(void **state)
{
	(void)state;
	assert_int_equal(status_vmrss("Name:\tx\nVmHWM:\t  999 kB\nVmRSS:\t    1768 kB\n"),
			 1768 * 1024);
	assert_int_equal(status_vmrss("Name:\tkthreadd\nThreads:\t1\n"), -1);	/* no mm */
	assert_int_equal(status_vmrss("Name:\tx\nVmRSS:\tjunk\n"), -1);
	assert_int_equal(status_vmhwm("Name:\tx\nVmHWM:\t  999 kB\nVmRSS:\t    1768 kB\n"),
			 999 * 1024);
	assert_int_equal(status_vmhwm("Name:\tx\nVmRSS:\t    1768 kB\n"), -1);
}

/* /proc/PID/schedstat: run time (ns), run-queue wait (ns), timeslices */
static void test_run_time_is_schedstat_first_field(void **state)
{
	(void)state;
	assert_int_equal(schedstat_run_ns("1701767 576207 1\n"), 1701767);
	assert_int_equal(schedstat_run_ns("0 0 0\n"), 0);
	assert_int_equal(schedstat_run_ns(""), -1);		/* gone */
	assert_int_equal(schedstat_run_ns("junk 1 2\n"), -1);
	assert_int_equal(schedstat_run_ns("12x 1 2\n"), -1);
	assert_int_equal(schedstat_run_ns("-5 1 2\n"), -1);
}

/* /proc/PID/status's last lines, the main thread's nvcsw and nivcsw */
static void test_switches_are_status_last_lines(void **state)
{
	long long vol, invol;

	(void)state;
	assert_true(status_switches("Name:\tx\nMems_allowed_list:\t0\n"
				    "voluntary_ctxt_switches:\t12\n"
				    "nonvoluntary_ctxt_switches:\t3\n", &vol, &invol));
	assert_int_equal(vol, 12);
	assert_int_equal(invol, 3);
	/* "nonvoluntary" holds "voluntary": each is found at a line's start */
	assert_true(status_switches("Name:\tx\nnonvoluntary_ctxt_switches:\t3\n"
				    "voluntary_ctxt_switches:\t12\n", &vol, &invol));
	assert_int_equal(vol, 12);
	assert_int_equal(invol, 3);
	assert_false(status_switches("Name:\tx\nvoluntary_ctxt_switches:\t12\n", &vol, &invol));
	assert_false(status_switches("", &vol, &invol));		/* gone */
}

/* a hash map's fdinfo, as 6.18 prints it */
static const char map_fdinfo[] =
	"pos:\t0\nflags:\t02000002\nmnt_id:\t16\nino:\t1063\nmap_type:\t1\n"
	"key_size:\t8\nvalue_size:\t576\nmax_entries:\t1000000\nmap_flags:\t0x1\n"
	"map_extra:\t0x0\nmemlock:\t16778112\nmap_id:\t39512\nfrozen:\t0\n";

static void test_map_memory_is_its_memlock_line(void **state)
{
	(void)state;
	assert_int_equal(fdinfo_memlock(map_fdinfo), 16778112);
	assert_int_equal(fdinfo_memlock("memlock:\t4096\n"), 4096);	/* first line */
	assert_int_equal(fdinfo_memlock("pos:\t0\nflags:\t02\n"), -1);	/* not a map */
	assert_int_equal(fdinfo_memlock("pos:\t0\nmemlock:\tjunk\n"), -1);
	assert_int_equal(fdinfo_memlock("pos:\t0\nxmemlock:\t5\n"), -1);	/* another key */
}

static void test_timeline_keeps_peaks_and_last(void **state)
{
	struct timeline tl;
	struct sample a = { 0.5, 1000, 500, 1, 70, 1 }, b = { 1.0, 3000, 200, 2, 90, 1 },
		      c = { 1.5, 2000, 900, 0, 60, 1 };

	(void)state;
	timeline_init(&tl);
	assert_null(timeline_last(&tl));
	for (int i = 0; i < 100; i++) {	/* past the first allocation */
		assert_int_equal(timeline_add(&tl, &a), 0);
		assert_int_equal(timeline_add(&tl, &b), 0);
	}
	assert_int_equal(timeline_add(&tl, &c), 0);
	assert_int_equal(tl.n, 201);
	assert_int_equal(tl.rss_peak, 3000);
	assert_int_equal(tl.kernel_peak, 900);
	assert_int_equal(tl.tracer_peak, 90);
	assert_int_equal(timeline_last(&tl)->open_conns, 0);
	timeline_free(&tl);
}

/* Samples as often as the floor while cheap; past 1/ratio of a CPU the
 * interval grows with their cost, whatever the cost (a million sockets
 * walked too); one sample slowed by a stall does not space out the next
 * ones: the least of the last three costs counts. */
static void test_samples_are_paced_by_their_cost(void **state)
{
	struct timeline tl;

	(void)state;
	timeline_init(&tl);
	timeline_pace(&tl, 0.1, 20);
	assert_float_equal(timeline_next_interval(&tl), 0.1, 1e-9);	/* none costed yet */
	timeline_sample_cost(&tl, 0.002);
	assert_float_equal(timeline_next_interval(&tl), 0.1, 1e-9);
	timeline_sample_cost(&tl, 0.030);	/* 20 x 30 ms, yet the last 3 hold 2 ms */
	assert_float_equal(timeline_next_interval(&tl), 0.1, 1e-9);
	timeline_sample_cost(&tl, 0.030);
	timeline_sample_cost(&tl, 0.030);	/* 2 ms is out of the last three now */
	assert_float_equal(timeline_next_interval(&tl), 0.6, 1e-9);
	for (int i = 0; i < 3; i++)
		timeline_sample_cost(&tl, 2.4);	/* a million open, as projected */
	assert_float_equal(timeline_next_interval(&tl), 48.0, 1e-9);
	timeline_sample_cost(&tl, -1);		/* a clock that went back counts 0 */
	assert_float_equal(timeline_next_interval(&tl), 0.1, 1e-9);
	assert_float_equal(tl.pace.cost_max_s, 2.4, 1e-9);
	assert_float_equal(tl.pace.interval_max_s, 48.0, 1e-9);
	timeline_free(&tl);
}

/* A tree: the peak is the largest sampled sum, raised to one process's
 * own peak (it held that much alone once), never to the sum of the peaks;
 * a process gone keeps its peak and ends at 0; an attached one's VmHWM,
 * from before tracing, is not taken. */
static void test_tree_peak_is_bounded_by_its_processes(void **state)
{
	struct timeline tl;
	struct sample s1 = { .t_s = 0.1, .rss_bytes = 5000, .procs = 2 },
		      s2 = { .t_s = 0.2, .rss_bytes = 4000, .procs = 1 };
	struct proc_reading r1[] = {
		{ .pid = 10, .rss = 1000, .hwm = 1000, .hwm_in_trace = true },
		{ .pid = 11, .rss = 4000, .hwm = 7000, .hwm_in_trace = true },
	}, r2[] = {
		{ .pid = 10, .rss = 4000, .hwm = 4500, .hwm_in_trace = true },
	}, attached[] = {
		{ .pid = 12, .rss = 300, .hwm = 90000, .hwm_in_trace = false },
	};

	(void)state;
	timeline_init(&tl);
	assert_int_equal(timeline_add(&tl, &s1), 0);
	assert_int_equal(timeline_note_procs(&tl, r1, 2), 0);
	assert_int_equal(timeline_add(&tl, &s2), 0);
	assert_int_equal(timeline_note_procs(&tl, r2, 1), 0);
	assert_int_equal(tl.rss_peak, 5000);
	assert_int_equal(timeline_rss_peak(&tl), 7000);		/* pid 11 alone */
	assert_int_equal(timeline_rss_peaks_summed(&tl), 4500 + 7000);
	assert_int_equal(tl.nprocs, 2);
	assert_int_equal(tl.procs[1].rss_end, 0);		/* gone */
	assert_false(tl.procs[1].alive);
	assert_int_equal(tl.procs[0].rss_end, 4000);
	/* what wait4 reaped: counted when above every peak seen */
	timeline_note_process_peak(&tl, 6000);
	assert_int_equal(timeline_rss_peak(&tl), 7000);
	timeline_note_process_peak(&tl, 9000);
	assert_int_equal(timeline_rss_peak(&tl), 9000);
	assert_int_equal(timeline_rss_peaks_summed(&tl), 4500 + 7000);
	assert_int_equal(timeline_note_procs(&tl, attached, 1), 0);
	assert_int_equal(tl.procs[2].peak, 300);
	assert_int_equal(timeline_rss_peak(&tl), 9000);
	timeline_free(&tl);
}

/* A connection with the bundled servers' TCP sock, opened at 1 << 20 ns:
 * the held tests' start. */
static void open_conn(struct conn *c)
{
	memset(c, 0, sizeof(*c));
	c->sock_bytes = 2368;
	c->open_ns = 1 << 20;
}

/* Held: buffers weighted by how long each reading lasted, from open to
 * teardown; objects as at peak. 1000 B for the first quarter of the
 * time, then nothing: 250 B held. Never seen: nothing held. */
static void test_held_buffers_are_weighted_by_time(void **state)
{
	const struct slab_sizes s = { .sock_inode = 832 };
	struct conn c;
	__u64 peak[KM_COUNT];

	(void)state;
	open_conn(&c);
	assert_int_equal(conn_buffers_held(&c), 0);
	/* 1000 B from open for 1024 units (ns >> 10), then 0 B until
	 * teardown 3072 units later, where integration stopped */
	c.buffers_integral = 1000ull * 1024;
	c.buffers_last = 0;
	c.buffers_end = c.open_ns + (4096ull << 10);
	c.buffers_since = c.buffers_end;
	assert_int_equal(conn_buffers_held(&c), 250);
	conn_kernel_memory(&c, &s, peak);
	assert_int_equal(conn_kernel_memory_held(&c, &s, peak), 2368 + 832 + 250);
	/* open at the report: the last reading holds until its own time */
	c.buffers_end = 0;
	c.buffers_since = c.open_ns + (1024ull << 10);
	c.buffers_last = 1000;
	assert_int_equal(conn_buffers_held(&c), 1000);
	/* closed without teardown seen: the last reading holds to the close */
	c.close_ns = c.open_ns + (2048ull << 10);
	assert_int_equal(conn_buffers_held(&c), 1000);
	c.buffers_last = 0;
	assert_int_equal(conn_buffers_held(&c), 500);
}

/* An io_uring connection's requests, held as its buffers are: a multishot
 * receive armed all along and a send in flight for an eighth of the time
 * hold 1.125 requests on average, where the peak is 2. Integration ends at
 * teardown: the receive's final completion after the peer's FIN changes
 * nothing. Open at the report: the level last seen holds until then. */
static void test_held_uring_requests_are_weighted_by_time(void **state)
{
	const struct slab_sizes s = { .io_kiocb = 256 };
	struct conn c;
	__u64 peak[KM_COUNT];

	(void)state;
	open_conn(&c);
	/* 8192 units open to teardown: 2 requests for 1024, 1 for 7168 */
	c.uring_integral = 2ull * 1024 + 7168;
	c.uring_armed_peak = 2;
	c.buffers_end = c.open_ns + (8192ull << 10);
	c.uring_since = c.buffers_end;
	c.uring_armed = 0;	/* the receive ended after the FIN */
	assert_int_equal(conn_uring_held(&c, 256), 288);
	conn_kernel_memory(&c, &s, peak);
	assert_int_equal(peak[KM_IO_URING], 512);
	assert_int_equal(conn_kernel_memory_held(&c, &s, peak), 2368 + 288);
	/* open, last seen by a snapshot: 1 request since the last change */
	c.buffers_end = 0;
	c.uring_integral = 2ull * 1024;
	c.uring_since = c.open_ns + (1024ull << 10);
	c.uring_armed = 1;
	c.buffers_since = c.open_ns + (8192ull << 10);
	assert_int_equal(conn_uring_held(&c, 256), 288);
	/* never timed (a record from before this field): what it holds now */
	memset(&c, 0, sizeof(c));
	c.uring_armed = 1;
	assert_int_equal(conn_uring_held(&c, 256), 256);
}

/* The closure's end counters: at each new peak of the connections'
 * objects, on a plateau at most once every CLOSURE_PLATEAU_S but at the
 * last sample, never where they fell. */
static void test_closure_reads_at_peaks_and_seldom_on_a_plateau(void **state)
{
	struct closure_mark m = { 0 };

	(void)state;
	assert_true(closure_read_due(&m, 0, 0.0, false));	/* the first sample */
	m = (struct closure_mark){ .taken = true, .t = 10.0, .kernel_bytes = 1500, .buffers = 500 };
	assert_true(closure_read_due(&m, 1001, 10.1, false));	/* a new peak at once */
	assert_false(closure_read_due(&m, 1000, 10.1, false));	/* a plateau: not yet */
	assert_false(closure_read_due(&m, 1000, 10.0 + CLOSURE_PLATEAU_S - 0.01, false));
	assert_true(closure_read_due(&m, 1000, 10.0 + CLOSURE_PLATEAU_S, false));
	assert_true(closure_read_due(&m, 1000, 10.1, true));	/* the run's last sample */
	assert_false(closure_read_due(&m, 999, 20.0, false));	/* fallen: the peak stands */
	assert_false(closure_read_due(&m, 999, 20.0, true));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_slabinfo_finds_each_cache_by_exact_name),
		cmocka_unit_test(test_slabinfo_prefix_is_not_a_match),
		cmocka_unit_test(test_kmalloc_class_is_the_smallest_that_holds),
		cmocka_unit_test(test_idle_epoll_connection_is_its_objects),
		cmocka_unit_test(test_thread_per_connection_pays_task_pid_and_stack),
		cmocka_unit_test(test_buffers_count_once_at_their_joint_peak),
		cmocka_unit_test(test_every_category_has_a_name),
		cmocka_unit_test(test_vmrss_is_read_in_bytes),
		cmocka_unit_test(test_run_time_is_schedstat_first_field),
		cmocka_unit_test(test_switches_are_status_last_lines),
		cmocka_unit_test(test_map_memory_is_its_memlock_line),
		cmocka_unit_test(test_timeline_keeps_peaks_and_last),
		cmocka_unit_test(test_samples_are_paced_by_their_cost),
		cmocka_unit_test(test_tree_peak_is_bounded_by_its_processes),
		cmocka_unit_test(test_held_buffers_are_weighted_by_time),
		cmocka_unit_test(test_held_uring_requests_are_weighted_by_time),
		cmocka_unit_test(test_closure_reads_at_peaks_and_seldom_on_a_plateau),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
