// SPDX-License-Identifier: MIT
/* memory.stat (cgroup v2) parsing for the --cgroup closure. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "host/memcg.h"

static void test_kernel_field_preferred(void **state)
{
	struct memcg_counters c;

	(void)state;
	memcg_parse_stat_v2("anon 4096\nfile 0\nkernel 123456\nkernel_stack 16384\n"
			    "pagetables 8192\nsec_pagetables 0\npercpu 80\nsock 4096\nslab 90000\n", &c);
	assert_true(c.valid);
	assert_int_equal(c.kernel, 123456);
	assert_int_equal(c.sock, 4096);
}

static void test_parts_summed_without_kernel_field(void **state)
{
	struct memcg_counters c;

	(void)state;	/* before 5.18: no "kernel" line */
	memcg_parse_stat_v2("anon 4096\nkernel_stack 16384\npagetables 8192\npercpu 80\n"
			    "sock 0\nslab 90000\nslab_reclaimable 1\n", &c);
	assert_true(c.valid);
	assert_int_equal(c.kernel, 16384 + 8192 + 80 + 90000);
	assert_int_equal(c.sock, 0);
}

static void test_prefixes_are_not_fields(void **state)
{
	struct memcg_counters c;

	(void)state;	/* "kernel_stack" must not be read as "kernel", "socks" as "sock" */
	memcg_parse_stat_v2("kernel_stack 5\nsocks 7\nslab 3\n", &c);
	assert_false(c.valid);
	assert_int_equal(c.kernel, 5 + 3);
	assert_int_equal(c.sock, 0);
}

static void test_empty(void **state)
{
	struct memcg_counters c;

	(void)state;
	memcg_parse_stat_v2("", &c);
	assert_false(c.valid);
	assert_int_equal(c.kernel, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_kernel_field_preferred),
		cmocka_unit_test(test_parts_summed_without_kernel_field),
		cmocka_unit_test(test_prefixes_are_not_fields),
		cmocka_unit_test(test_empty),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
