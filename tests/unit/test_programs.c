// SPDX-License-Identifier: MIT
/* Which programs conctrace needs, and what stands in for which. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>
#include <bpf/libbpf.h>

#include "conctrace.skel.h"
#include "tracer/programs.h"

/* Every program of the object has a role: a new one cannot ship without
 * saying what is lost where a kernel refuses it. */
static void test_every_program_has_a_role(void **state)
{
	struct conctrace_bpf *skel = conctrace_bpf__open();	/* no load: no privileges */
	struct bpf_program *prog;
	int n = 0;

	(void)state;
	assert_non_null(skel);
	bpf_object__for_each_program(prog, skel->obj) {
		const struct prog_role *r = prog_role(bpf_program__name(prog));

		if (!r)
			fail_msg("program %s has no role in programs.c", bpf_program__name(prog));
		assert_non_null(r->figure);
		n++;
	}
	assert_true(n > 10);
	conctrace_bpf__destroy(skel);
}

/* A stand-in stands in for a program that exists, and is never core:
 * the program it replaces says whether the figure is. */
static void test_stand_ins_name_a_listed_program(void **state)
{
	unsigned int n;
	const struct prog_role *roles = prog_roles(&n);

	(void)state;
	for (unsigned int i = 0; i < n; i++) {
		if (!roles[i].fallback_for)
			continue;
		assert_non_null(prog_role(roles[i].fallback_for));
		assert_int_equal(roles[i].need, NEED_OPTIONAL);
		assert_string_not_equal(roles[i].fallback_for, roles[i].name);
	}
}

static void test_core_depends_on_the_mode(void **state)
{
	(void)state;
	assert_true(prog_is_core("on_sched_switch", false));
	assert_true(prog_is_core("on_sched_switch", true));
	assert_true(prog_is_core("on_sys_enter", false));
	assert_false(prog_is_core("on_sys_enter", true));	/* not loaded in light mode */
	/* a stand-in: the program it replaces is the core one */
	assert_false(prog_is_core("on_sys_call", false));
	assert_false(prog_is_core("on_rss_stat", false));
	assert_false(prog_is_core("no_such_program", false));
}

static void test_fallbacks_in_order(void **state)
{
	const char *alts[8];
	unsigned int n;

	(void)state;
	n = prog_fallbacks("on_sock_recv_length", alts, 8);
	assert_int_equal(n, 4);
	assert_string_equal(alts[0], "on_inet_recvmsg");
	assert_string_equal(alts[1], "on_inet6_recvmsg");
	assert_int_equal(prog_fallbacks("on_sock_recv_length", alts, 1), 1);
	assert_int_equal(prog_fallbacks("on_rss_stat", alts, 8), 1);
	assert_string_equal(alts[0], "on_rss_stat_count");
	assert_int_equal(prog_fallbacks("on_sched_wakeup", alts, 8), 0);
}

static void test_listed_matches_whole_names(void **state)
{
	(void)state;
	assert_true(prog_listed("on_rss_stat", "on_rss_stat"));
	assert_true(prog_listed("a,on_rss_stat,b", "on_rss_stat"));
	assert_true(prog_listed("a,on_rss_stat", "on_rss_stat"));
	assert_false(prog_listed("on_rss_stat_count", "on_rss_stat"));
	assert_false(prog_listed("on_rss", "on_rss_stat"));
	assert_false(prog_listed("", "on_rss_stat"));
	assert_false(prog_listed(NULL, "on_rss_stat"));
	assert_false(prog_listed(",,", "on_rss_stat"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_program_has_a_role),
		cmocka_unit_test(test_stand_ins_name_a_listed_program),
		cmocka_unit_test(test_core_depends_on_the_mode),
		cmocka_unit_test(test_fallbacks_in_order),
		cmocka_unit_test(test_listed_matches_whole_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
