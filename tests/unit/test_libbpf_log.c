// SPDX-License-Identifier: MIT
/* Reading libbpf's log: which program failed, and the kernel's reason. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "tracer/libbpf_log.h"

static int reset(void **state)
{
	(void)state;
	libbpf_log_clear();
	return 0;
}

/* Debian 12's 6.1 refusing on_sched_switch, as libbpf 1.1 printed it. */
static const char verifier_refusal[] =
	"libbpf: prog 'on_sched_switch': BPF program load failed: Permission denied\n"
	"libbpf: prog 'on_sched_switch': -- BEGIN PROG LOAD LOG --\n"
	"reg type unsupported for arg#0 function on_sched_switch#1141\n"
	"0: R1=ctx(off=0,imm=0) R10=fp0\n"
	"; proc_counters()->stacks_lost++;\n"
	"1668: (85) call bpf_map_lookup_elem#1         ; R0_w=map_value_or_null(id=12)\n"
	"1669: (79) r1 = *(u64 *)(r0 +144)\n"
	"R0 invalid mem access 'map_value_or_null'\n"
	"processed 225 insns (limit 1000000) max_states_per_insn 0 total_states 18\n"
	"-- END PROG LOAD LOG --\n";

static void test_verifier_refusal_names_program_and_reason(void **state)
{
	char verdict[512];

	(void)state;
	libbpf_log_feed(verifier_refusal);
	libbpf_log_feed("libbpf: prog 'on_sched_switch': failed to load: -13\n");
	libbpf_log_feed("libbpf: failed to load object 'conctrace_bpf'\n");
	assert_string_equal(libbpf_log_failed_prog(), "on_sched_switch");
	assert_null(libbpf_log_failed_map());
	libbpf_log_verdict(verdict, sizeof(verdict));
	assert_string_equal(verdict, "R0 invalid mem access 'map_value_or_null', "
			    "at: proc_counters()->stacks_lost++; (this verifier wants a NULL "
			    "check newer ones prove needless (a conctrace bug: please report it))");
}

/* 6.18 source lines carry "@ file:line": kept as they come. */
static void test_source_line_with_location(void **state)
{
	char verdict[512];

	(void)state;
	libbpf_log_feed("libbpf: prog 'x': BPF program load failed: Permission denied\n"
			"libbpf: prog 'x': -- BEGIN PROG LOAD LOG --\n"
			"; proc_counters()->stacks_lost++; @ flame.bpf.h:68\n"
			"R0 invalid mem access 'map_value_or_null'\n"
			"verification time 79 usec\nstack depth 0\n"
			"-- END PROG LOAD LOG --\n");
	libbpf_log_verdict(verdict, sizeof(verdict));
	assert_true(strncmp(verdict, "R0 invalid mem access 'map_value_or_null', "
			    "at: proc_counters()->stacks_lost++; @ flame.bpf.h:68 (", 80) == 0);
}

/* A refusal without a verifier log (EPERM for a whole program type). */
static void test_refusal_without_a_log(void **state)
{
	char verdict[512];

	(void)state;
	libbpf_log_feed("libbpf: prog 'sweep_ended': BPF program load failed: "
			"Operation not permitted\n");
	libbpf_log_feed("libbpf: prog 'sweep_ended': failed to load: -1\n");
	assert_string_equal(libbpf_log_failed_prog(), "sweep_ended");
	libbpf_log_verdict(verdict, sizeof(verdict));
	assert_string_equal(verdict, "BPF program load failed: Operation not permitted "
			    "(this kernel's build forbids the program type)");
}

/* Debian 11's 5.10: no task storage, so a map fails before any program. */
static void test_map_failure(void **state)
{
	(void)state;
	libbpf_log_feed("libbpf: Error in bpf_create_map_xattr(threads):Invalid argument(-22)."
			" Retrying without BTF.\n"
			"libbpf: map 'threads': failed to create: Invalid argument(-22)\n"
			"libbpf: failed to load object 'conctrace_bpf'\n");
	assert_null(libbpf_log_failed_prog());
	assert_string_equal(libbpf_log_failed_map(), "threads");
}

/* Only the last failure counts: an earlier program's log is not its. */
static void test_a_later_failure_replaces_an_earlier(void **state)
{
	char verdict[512];

	(void)state;
	libbpf_log_feed(verifier_refusal);
	libbpf_log_feed("libbpf: prog 'on_rss_stat': BPF program load failed: Invalid argument\n");
	assert_string_equal(libbpf_log_failed_prog(), "on_rss_stat");
	libbpf_log_verdict(verdict, sizeof(verdict));
	assert_string_equal(verdict, "BPF program load failed: Invalid argument");

	/* a CO-RE relocation that found nothing poisons its instruction */
	libbpf_log_feed("libbpf: prog 'y': BPF program load failed: Invalid argument\n"
			"libbpf: prog 'y': -- BEGIN PROG LOAD LOG --\n"
			"; return t->se.cfs_rq->rq->prev_steal_time_rq;\n"
			"1182: (85) call unknown#195896080\n"
			"invalid func unknown#195896080\n"
			"-- END PROG LOAD LOG --\n");
	libbpf_log_verdict(verdict, sizeof(verdict));
	assert_string_equal(verdict, "invalid func unknown#195896080, at: return "
			    "t->se.cfs_rq->rq->prev_steal_time_rq; (a kernel type or field it "
			    "reads is missing here)");
}

static void test_clear_forgets(void **state)
{
	char verdict[16];

	(void)state;
	libbpf_log_feed(verifier_refusal);
	libbpf_log_clear();
	assert_null(libbpf_log_failed_prog());
	libbpf_log_verdict(verdict, sizeof(verdict));
	assert_string_equal(verdict, "");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_verifier_refusal_names_program_and_reason, reset),
		cmocka_unit_test_setup(test_source_line_with_location, reset),
		cmocka_unit_test_setup(test_refusal_without_a_log, reset),
		cmocka_unit_test_setup(test_map_failure, reset),
		cmocka_unit_test_setup(test_a_later_failure_replaces_an_earlier, reset),
		cmocka_unit_test_setup(test_clear_forgets, reset),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
