// SPDX-License-Identifier: MIT
/*
 * Unit tests for late counts added to a connection's record
 * (userspace/model/conn_view.c, conn_view_add_late): what a thread owed a
 * connection after its record went.
 *
 * Build and run:  make build/tests/test_conn_view && build/tests/test_conn_view
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "model/conn_view.h"

static const struct slab_sizes sizes = { .sock_inode = 832, .filp = 192, .dentry = 192,
					 .vm_area = 176 };

/* A record of a forking server's connection as its parent's close() left
 * it: 1 MiB grown and given back, no VMA of its own. */
static struct conn_view closed_record(void)
{
	struct conn rec = { .id = 9, .open_ns = 1, .close_ns = 2, .cpu_ns = 1000,
			    .user_bytes = 0, .user_bytes_peak = 1 << 20 };
	struct conn_view v;

	conn_complete(&v, &rec, &sizes);
	return v;
}

/* Bytes and syscalls only, unless whole: a thread whose connection ended
 * under it keeps its CPU and memory in its bucket (BPF sends 0 for them,
 * and this must not add what it does not send). */
static void test_a_late_count_adds_its_bytes_and_syscalls(void **state)
{
	struct conn_view v = closed_record();
	struct conn_late_event late = { .type = EV_CONN_LATE, .id = 9, .bytes_rx = 7,
					 .bytes_tx = 7, .syscall_ns = 40, .cpu_ns = 5000,
					 .user_bytes = 4096 };

	(void)state;
	late.sc[0] = (struct conn_syscall){ .nr = 1, .count = 2 };
	conn_view_add_late(&v, &late, &sizes);
	assert_int_equal(v.rec.bytes_rx, 7);
	assert_int_equal(v.rec.bytes_tx, 7);
	assert_int_equal(v.syscalls, 2);
	assert_int_equal(v.rec.syscall_ns, 40);
	assert_int_equal(v.rec.cpu_ns, 1000);
	assert_int_equal(v.rec.user_bytes, 0);
}

/* Whole (a forking server's child took the connection up after the
 * parent's close ended its record): CPU, switches and memory join too.
 * The peak is the net before plus the most the change was on the way, as
 * BPF raises it: a child that grew 4 MiB and freed them before its flush
 * leaves a 4 MiB peak and no net. Page tables and VMAs move the kernel
 * figures, completed again with the slab sizes. */
static void test_a_whole_late_count_adds_cpu_and_memory(void **state)
{
	struct conn_view v = closed_record();
	struct conn_late_event late = { .type = EV_CONN_LATE, .id = 9, .whole = 1,
					 .cpu_ns = 5000, .runq_ns = 300, .ctx_voluntary = 2,
					 .ctx_involuntary = 1, .user_bytes = 0,
					 .user_bytes_most = 4 << 20, .page_table_bytes = 8192,
					 .vmas = 1 };
	__u64 before = v.kernel_bytes_peak;

	(void)state;
	conn_view_add_late(&v, &late, &sizes);
	assert_int_equal(v.rec.cpu_ns, 6000);
	assert_int_equal(v.rec.runq_ns, 300);
	assert_int_equal(v.rec.ctx_voluntary, 2);
	assert_int_equal(v.rec.ctx_involuntary, 1);
	assert_int_equal(v.rec.user_bytes, 0);
	assert_int_equal(v.rec.user_bytes_peak, 4 << 20);
	assert_int_equal(v.rec.page_table_bytes_peak, 8192);
	assert_int_equal(v.rec.vmas_peak, 1);
	assert_int_equal(v.kmem_peak[KM_PAGE_TABLES], 8192);
	assert_int_equal(v.kmem_peak[KM_VMAS], 176);
	assert_int_equal(v.kernel_bytes_peak, before + 8192 + 176);

	/* a second flush of the same child: 1 MiB kept, from a net of 0 */
	late = (struct conn_late_event){ .type = EV_CONN_LATE, .id = 9, .whole = 1,
					 .user_bytes = 1 << 20, .user_bytes_most = 1 << 20 };
	conn_view_add_late(&v, &late, &sizes);
	assert_int_equal(v.rec.user_bytes, 1 << 20);
	assert_int_equal(v.rec.user_bytes_peak, 4 << 20);
	assert_int_equal(v.kernel_bytes_peak, before + 8192 + 176);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_a_late_count_adds_its_bytes_and_syscalls),
		cmocka_unit_test(test_a_whole_late_count_adds_cpu_and_memory),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
