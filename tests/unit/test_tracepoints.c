// SPDX-License-Identifier: MIT
/* Which BTF type says the kernel has a program's attach point, and its signature. */
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

static void test_kernel_function_is_its_func(void **state)
{
	char name[64];

	(void)state;
	assert_int_equal(attach_point_btf("fexit/inet_recvmsg", name, sizeof(name)),
			 BTF_KIND_FUNC);
	assert_string_equal(name, "inet_recvmsg");
	assert_int_equal(attach_point_btf("fentry/tcp_sendmsg", name, sizeof(name)),
			 BTF_KIND_FUNC);
}

/* A kernel's BTF with one tracepoint, rss_stat(mm, member): the 6.2+ form. */
static struct btf *btf_with_rss_stat(void)
{
	struct btf *btf = btf__new_empty();
	int i32 = btf__add_int(btf, "int", 4, BTF_INT_SIGNED);
	int vp = btf__add_ptr(btf, 0);
	int mm = btf__add_struct(btf, "mm_struct", 0);
	int mmp = btf__add_ptr(btf, mm);
	int proto = btf__add_func_proto(btf, 0);

	btf__add_func_param(btf, "__data", vp);
	btf__add_func_param(btf, "mm", mmp);
	btf__add_func_param(btf, "member", i32);
	btf__add_typedef(btf, "btf_trace_rss_stat", btf__add_ptr(btf, proto));
	btf__add_func(btf, "inet_recvmsg", BTF_FUNC_GLOBAL, btf__add_func_proto(btf, i32));
	btf__add_struct(btf, "bpf_iter__tcp", 0);
	return btf;
}

static void test_presence_and_signature(void **state)
{
	struct btf *btf = btf_with_rss_stat();
	char why[160];

	(void)state;
	assert_true(attach_point_present(btf, "tp_btf/rss_stat", 0, why, sizeof(why)));
	assert_true(attach_point_present(btf, "tp_btf/rss_stat", 2, why, sizeof(why)));
	assert_false(attach_point_present(btf, "tp_btf/rss_stat", 3, why, sizeof(why)));
	assert_string_equal(why, "this kernel's rss_stat tracepoint takes 2 arguments, not 3");
	assert_false(attach_point_present(btf, "tp_btf/sock_recv_length", 0, why, sizeof(why)));
	assert_string_equal(why, "this kernel has no sock_recv_length tracepoint");
	assert_true(attach_point_present(btf, "fexit/inet_recvmsg", 0, why, sizeof(why)));
	assert_false(attach_point_present(btf, "fexit/inet6_recvmsg", 0, why, sizeof(why)));
	assert_string_equal(why, "this kernel has no inet6_recvmsg function to hook");
	assert_true(attach_point_present(btf, "iter/tcp", 0, why, sizeof(why)));
	assert_false(attach_point_present(btf, "iter/unix", 0, why, sizeof(why)));
	assert_string_equal(why, "this kernel has no unix iterator");
	assert_true(attach_point_present(btf, "perf_event", 0, why, sizeof(why)));
	btf__free(btf);
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
		cmocka_unit_test(test_kernel_function_is_its_func),
		cmocka_unit_test(test_presence_and_signature),
		cmocka_unit_test(test_long_names_are_cut_not_overrun),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
