// SPDX-License-Identifier: MIT
/* Which BTF type says the kernel has a program's attach point. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>
#include <linux/btf.h>

#include "tracepoints.h"

static void test_tracepoint_is_its_btf_trace_typedef(void **state)
{
	char name[64];

	(void)state;
	assert_int_equal(attach_point_btf("tp_btf/sched_switch", name, sizeof(name)),
			 BTF_KIND_TYPEDEF);
	assert_string_equal(name, "btf_trace_sched_switch");
}

static void test_iterator_is_its_context_struct(void **state)
{
	char name[64];

	(void)state;
	assert_int_equal(attach_point_btf("iter/unix", name, sizeof(name)), BTF_KIND_STRUCT);
	assert_string_equal(name, "bpf_iter__unix");
	assert_int_equal(attach_point_btf("iter/bpf_map_elem", name, sizeof(name)),
			 BTF_KIND_STRUCT);
	assert_string_equal(name, "bpf_iter__bpf_map_elem");
}

static void test_other_sections_are_not_checked(void **state)
{
	char name[64];

	(void)state;
	assert_int_equal(attach_point_btf("perf_event", name, sizeof(name)), 0);
	assert_int_equal(attach_point_btf("tp_btf/", name, sizeof(name)), 0);
	assert_int_equal(attach_point_btf("uprobe/x", name, sizeof(name)), 0);
	assert_int_equal(attach_point_btf("iter.s/task", name, sizeof(name)), 0);
}

static void test_long_names_are_cut_not_overrun(void **state)
{
	char name[16];

	(void)state;
	assert_int_equal(attach_point_btf("tp_btf/a_very_long_tracepoint_name", name,
					  sizeof(name)), BTF_KIND_TYPEDEF);
	assert_int_equal(strlen(name), sizeof(name) - 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tracepoint_is_its_btf_trace_typedef),
		cmocka_unit_test(test_iterator_is_its_context_struct),
		cmocka_unit_test(test_other_sections_are_not_checked),
		cmocka_unit_test(test_long_names_are_cut_not_overrun),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
