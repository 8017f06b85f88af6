// SPDX-License-Identifier: MIT
/*
 * Unit tests for conctrace's command line (userspace/main/cli.c): defaults, the
 * traced command keeping its own options, every option's accepted and
 * rejected values, and the combinations that make no sense.
 *
 * parse_args uses getopt, whose state is global: every call goes through
 * parse(), which resets it (glibc: optind = 0 reinitialises fully) and
 * captures what parse_args prints, so tests can check the messages.
 *
 * Build and run:  make build/tests/test_cli && build/tests/test_cli
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <getopt.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conctrace.h"
#include "flame/views.h"
#include "main/env.h"

/* a NULL-terminated argv, as main() gets it */
#define ARGV(...) ((char *[]){ "conctrace", __VA_ARGS__, NULL })

/* ---- running parse_args --------------------------------------------------------- */

static struct env env;
static char out[16384], err[4096];	/* what the last parse() printed */

static void slurp(FILE *f, char *buf, size_t len)
{
	size_t n;

	rewind(f);
	n = fread(buf, 1, len - 1, f);
	buf[n] = '\0';
	fclose(f);
}

static enum parse_result parse(char **argv)
{
	enum parse_result r;
	FILE *o = tmpfile(), *e = tmpfile();
	int saved_out, saved_err, argc = 0;

	assert_non_null(o);
	assert_non_null(e);
	while (argv[argc])
		argc++;
	fflush(stdout);
	fflush(stderr);
	saved_out = dup(STDOUT_FILENO);
	saved_err = dup(STDERR_FILENO);
	assert_true(saved_out >= 0 && saved_err >= 0);
	dup2(fileno(o), STDOUT_FILENO);
	dup2(fileno(e), STDERR_FILENO);

	optind = 0;
	memset(&env, 0xa5, sizeof(env));	/* parse_args must set every field */
	r = parse_args(argc, argv, &env);

	fflush(stdout);
	fflush(stderr);
	dup2(saved_out, STDOUT_FILENO);
	dup2(saved_err, STDERR_FILENO);
	close(saved_out);
	close(saved_err);
	slurp(o, out, sizeof(out));
	slurp(e, err, sizeof(err));
	return r;
}

static void expect_bad(char **argv, const char *in_message)
{
	enum parse_result r = parse(argv);

	if (r != ARGS_BAD) {
		char line[256] = "";

		for (int i = 1; argv[i]; i++) {
			strncat(line, " ", sizeof(line) - strlen(line) - 1);
			strncat(line, argv[i], sizeof(line) - strlen(line) - 1);
		}
		fail_msg("conctrace%s: got %d, want ARGS_BAD", line, r);
	}
	if (in_message && !strstr(err, in_message))
		fail_msg("stderr lacks \"%s\": %s", in_message, err);
}

/* ---- defaults ------------------------------------------------------------------- */

static void test_defaults_with_pid(void **state)
{
	(void)state;
	assert_int_equal(parse(ARGV("-p", "1234")), ARGS_RUN);
	assert_int_equal(env.pid, 1234);
	assert_null(env.cmd);
	assert_true(env.duration_s == 0);
	assert_true(env.interval_s == 0);
	assert_null(env.json_path);
	assert_int_equal(env.max_conns, DEFAULT_MAX_CONNS);
	assert_int_equal(env.max_conns, 1000000);
	assert_int_equal(env.json_conns, 100);
	assert_int_equal(env.top_conns, 5);
	assert_false(env.load);
	assert_string_equal(env.load_args, DEFAULT_LOAD_ARGS);
	assert_string_equal(env.load_args, "-c 1000 -n 10");
	assert_true(env.grace_s == 3);
	assert_false(env.verbose);
	assert_false(env.syscall_time);
	assert_string_equal(out, "");
	assert_string_equal(err, "");
}

static void test_defaults_are_restored_on_each_call(void **state)
{
	(void)state;
	assert_int_equal(parse(ARGV("--top-conns", "9", "--json", "x", "-v", "-p", "7")), ARGS_RUN);
	assert_int_equal(env.top_conns, 9);
	assert_int_equal(parse(ARGV("-p", "7")), ARGS_RUN);
	assert_int_equal(env.top_conns, 5);
	assert_null(env.json_path);
	assert_false(env.verbose);
}

/* ---- the traced command -------------------------------------------------------- */

static void test_command_keeps_its_own_options(void **state)
{
	char **argv = ARGV("--", "./srv", "-p", "1", "--json", "x");

	(void)state;
	assert_int_equal(parse(argv), ARGS_RUN);
	assert_int_equal(env.pid, 0);
	assert_null(env.json_path);
	assert_non_null(env.cmd);
	assert_ptr_equal(env.cmd, &argv[2]);	/* execvp gets argv itself */
	assert_string_equal(env.cmd[0], "./srv");
	assert_string_equal(env.cmd[1], "-p");
	assert_string_equal(env.cmd[2], "1");
	assert_string_equal(env.cmd[3], "--json");
	assert_null(env.cmd[5]);
}

static void test_command_without_double_dash_stops_option_parsing(void **state)
{
	(void)state;
	assert_int_equal(parse(ARGV("-d", "5", "./srv", "-d", "0")), ARGS_RUN);
	assert_true(env.duration_s == 5);
	assert_string_equal(env.cmd[0], "./srv");
	assert_string_equal(env.cmd[1], "-d");
	assert_string_equal(env.cmd[2], "0");
}

static void test_pid_with_empty_command_after_double_dash(void **state)
{
	(void)state;
	assert_int_equal(parse(ARGV("-p", "42", "--")), ARGS_RUN);
	assert_int_equal(env.pid, 42);
	assert_null(env.cmd);
}

/* ---- options ------------------------------------------------------------------ */

static void test_all_options_short_and_long(void **state)
{
	(void)state;
	assert_int_equal(parse(ARGV("-d", "2.5", "-i", "0.5", "-v", "--json", "out.json",
				    "--json-conns", "0", "--top-conns", "10",
				    "--max-conns", "5000", "--", "./srv")), ARGS_RUN);
	assert_true(env.duration_s == 2.5);
	assert_true(env.interval_s == 0.5);
	assert_true(env.verbose);
	assert_string_equal(env.json_path, "out.json");
	assert_int_equal(env.json_conns, 0);
	assert_int_equal(env.top_conns, 10);
	assert_int_equal(env.max_conns, 5000);
	assert_string_equal(env.cmd[0], "./srv");

	assert_int_equal(parse(ARGV("--pid=99", "--duration", "3", "--interval=1", "--verbose",
				    "--syscall-time")),
			 ARGS_RUN);
	assert_true(env.syscall_time);
	assert_int_equal(env.pid, 99);
	assert_true(env.duration_s == 3);
	assert_true(env.interval_s == 1);
	assert_true(env.verbose);
}

static void test_json_to_stdout(void **state)
{
	(void)state;
	assert_int_equal(parse(ARGV("--json", "-", "-p", "1")), ARGS_RUN);
	assert_string_equal(env.json_path, "-");
	assert_int_equal(parse(ARGV("--json=r.json", "-p", "1")), ARGS_RUN);
	assert_string_equal(env.json_path, "r.json");
}

static void test_load_default_args(void **state)
{
	(void)state;
	assert_int_equal(parse(ARGV("--load", "--", "./srv")), ARGS_RUN);
	assert_true(env.load);
	assert_string_equal(env.load_args, "-c 1000 -n 10");
	assert_string_equal(env.cmd[0], "./srv");
}

static void test_load_with_args(void **state)
{
	(void)state;
	assert_int_equal(parse(ARGV("--load=-c 500 -n 20", "--", "./srv")), ARGS_RUN);
	assert_true(env.load);
	assert_string_equal(env.load_args, "-c 500 -n 20");
}

/* an optional argument must be attached: the next word is the command */
static void test_load_does_not_take_the_next_word(void **state)
{
	(void)state;
	assert_int_equal(parse(ARGV("--load", "./srv", "-x")), ARGS_RUN);
	assert_true(env.load);
	assert_string_equal(env.load_args, DEFAULT_LOAD_ARGS);
	assert_string_equal(env.cmd[0], "./srv");
	assert_string_equal(env.cmd[1], "-x");
}

static void test_accepted_boundaries(void **state)
{
	(void)state;
	assert_int_equal(parse(ARGV("-i", "0.05", "-d", "1e7", "-p", "4194304")), ARGS_RUN);
	assert_true(env.interval_s == 0.05);
	assert_true(env.duration_s == 1e7);
	assert_int_equal(env.pid, 4194304);
	assert_int_equal(parse(ARGV("--max-conns", "1", "-p", "1")), ARGS_RUN);
	assert_int_equal(env.max_conns, 1);
	assert_int_equal(parse(ARGV("--max-conns", "100000000", "--top-conns", "0", "-p", "1")),
			 ARGS_RUN);
	assert_int_equal(env.max_conns, 100000000);
	assert_int_equal(env.top_conns, 0);
}

/* ---- bad values ----------------------------------------------------------------- */

static void test_bad_duration(void **state)
{
	(void)state;
	expect_bad(ARGV("-d", "0", "--", "./srv"), "duration");
	expect_bad(ARGV("-d", "abc", "--", "./srv"), "'abc'");
	expect_bad(ARGV("-d", "-1", "--", "./srv"), "duration");
	expect_bad(ARGV("-d", "5s", "--", "./srv"), "duration");
	expect_bad(ARGV("-d", "", "--", "./srv"), "duration");
	expect_bad(ARGV("-d", "1e8", "--", "./srv"), "duration");
	expect_bad(ARGV("-d", "inf", "--", "./srv"), "duration");
	expect_bad(ARGV("--duration=0", "--", "./srv"), "duration");
}

static void test_bad_interval(void **state)
{
	(void)state;
	expect_bad(ARGV("-i", "0.01", "--", "./srv"), "interval");
	expect_bad(ARGV("-i", "0", "--", "./srv"), "interval");
	expect_bad(ARGV("-i", "x", "--", "./srv"), "interval");
}

static void test_nan_seconds_are_rejected(void **state)
{
	(void)state;
	expect_bad(ARGV("-d", "nan", "--", "./srv"), "duration");	/* now: ARGS_RUN, NaN */
	expect_bad(ARGV("-i", "nan", "--", "./srv"), "interval");
}

static void test_bad_pid(void **state)
{
	(void)state;
	expect_bad(ARGV("-p", "-1"), "pid");
	expect_bad(ARGV("-p", "0"), "pid");
	expect_bad(ARGV("-p", "abc"), "pid");
	expect_bad(ARGV("-p", "12abc"), "pid");
	expect_bad(ARGV("-p", "4194305"), "pid");
	expect_bad(ARGV("-p", "99999999999999999999999"), "pid");
}

static void test_bad_counts(void **state)
{
	(void)state;
	expect_bad(ARGV("--max-conns", "0", "-p", "1"), "max-conns");
	expect_bad(ARGV("--max-conns", "100000001", "-p", "1"), "max-conns");
	expect_bad(ARGV("--max-conns", "-5", "-p", "1"), "max-conns");
	expect_bad(ARGV("--max-conns", "1k", "-p", "1"), "max-conns");
	expect_bad(ARGV("--top-conns", "-1", "-p", "1"), "top-conns");
	expect_bad(ARGV("--top-conns", "10001", "-p", "1"), "top-conns");
	expect_bad(ARGV("--json-conns", "10000001", "-p", "1"), "json-conns");
	/* strtoul takes a sign: "-0" is 0 and "-18446744073709551615" is 1 */
	expect_bad(ARGV("--top-conns", "-0", "-p", "1"), "top-conns");
	expect_bad(ARGV("--json-conns", "-18446744073709551615", "-p", "1"), "json-conns");
}

/* --prometheus: off by default, a bare port stays on loopback */
static void test_prometheus(void **state)
{
	const struct sockaddr_in *a = (const struct sockaddr_in *)&env.prom_addr;

	(void)state;
	assert_int_equal(parse(ARGV("-p", "1")), ARGS_RUN);
	assert_false(env.prometheus);
	assert_int_equal(parse(ARGV("--prometheus", "9464", "-p", "1")), ARGS_RUN);
	assert_true(env.prometheus);
	assert_int_equal(a->sin_family, AF_INET);
	assert_int_equal(ntohl(a->sin_addr.s_addr), INADDR_LOOPBACK);
	assert_int_equal(ntohs(a->sin_port), 9464);
	expect_bad(ARGV("--prometheus", "host.example:9464", "-p", "1"), "prometheus address");
	expect_bad(ARGV("--prometheus", "70000", "-p", "1"), "prometheus address");
	expect_bad(ARGV("--prometheus"), "--help");
	/* the kernel's BPF run-time stats cost every event: asked for, and only
	 * where they are exported */
	assert_false(env.bpf_stats);
	assert_int_equal(parse(ARGV("--prometheus", "9464", "--bpf-stats", "-p", "1")), ARGS_RUN);
	assert_true(env.bpf_stats);
	expect_bad(ARGV("--bpf-stats", "-p", "1"), "--prometheus");
}

/* --top: off by default, 1 s alone, =SECS; like --load, never the next word */
static void test_live_view(void **state)
{
	(void)state;
	assert_int_equal(parse(ARGV("-p", "1")), ARGS_RUN);
	assert_true(env.live_s == 0);
	assert_int_equal(parse(ARGV("--top", "-p", "1")), ARGS_RUN);
	assert_true(env.live_s == 1);
	assert_int_equal(parse(ARGV("--top=0.5", "-p", "1")), ARGS_RUN);
	assert_true(env.live_s == 0.5);
	assert_int_equal(parse(ARGV("--top", "sleep", "5")), ARGS_RUN);
	assert_true(env.live_s == 1);
	assert_string_equal(env.cmd[0], "sleep");
	expect_bad(ARGV("--top=0.05", "-p", "1"), "top");
	expect_bad(ARGV("--top=x", "-p", "1"), "top");
}

static void test_unknown_option_and_missing_argument(void **state)
{
	(void)state;
	expect_bad(ARGV("--bogus", "-p", "1"), "--help");
	expect_bad(ARGV("-x", "-p", "1"), "--help");
	expect_bad(ARGV("-p"), "--help");
	expect_bad(ARGV("--json"), "--help");
}

/* ---- help and version ----------------------------------------------------------- */

static void test_help(void **state)
{
	(void)state;
	assert_int_equal(parse(ARGV("--help")), ARGS_HELP);
	assert_true(strncmp(out, "Usage: conctrace", 16) == 0);
	assert_non_null(strstr(out, "--max-conns"));
	assert_non_null(strstr(out, DEFAULT_LOAD_ARGS));
	assert_int_equal(parse(ARGV("-h")), ARGS_HELP);
	/* help wins over a missing target, and options after it are not checked */
	assert_int_equal(parse(ARGV("-h", "-d", "0")), ARGS_HELP);
}

static void test_version(void **state)
{
	(void)state;
	assert_int_equal(parse(ARGV("-V")), ARGS_VERSION);
	assert_int_equal(parse(ARGV("--version")), ARGS_VERSION);
}

/* ---- combinations ---------------------------------------------------------------- */

static void test_nothing_to_trace(void **state)
{
	(void)state;
	expect_bad(ARGV("-d", "1"), "nothing to trace");
	expect_bad(ARGV("--"), "nothing to trace");
	/* argv with the program name only */
	expect_bad((char *[]){ "conctrace", NULL }, "nothing to trace");
}

static void test_pid_and_command_together(void **state)
{
	(void)state;
	expect_bad(ARGV("-p", "1", "--", "./srv"), "not both");
}

/* -p $(pidof nginx) unquoted, a comma list, one quoted argument */
static void test_several_pids(void **state)
{
	(void)state;
	assert_int_equal(parse(ARGV("-p", "12", "34", "56", "-d", "10")), ARGS_RUN);
	assert_int_equal(env.npids, 3);
	assert_int_equal(env.pid, 12);
	assert_int_equal(env.pids[2], 56);
	assert_true(env.duration_s == 10);
	assert_null(env.cmd);
	assert_int_equal(parse(ARGV("-p", "12,34")), ARGS_RUN);
	assert_int_equal(env.npids, 2);
	assert_int_equal(env.pids[1], 34);
	assert_int_equal(parse(ARGV("-p", "12 34\n", "-p", "7")), ARGS_RUN);
	assert_int_equal(env.npids, 3);
	assert_int_equal(env.pids[2], 7);
	expect_bad(ARGV("-p", "12,x"), "'x'");
	expect_bad(ARGV("-p", ","), "pid");
	/* after --, a number is a command */
	expect_bad(ARGV("-p", "12", "--", "34"), "not both");
}

/* an option ignored, or a value silently overridden, is an error */
static void test_options_that_would_be_ignored(void **state)
{
	(void)state;
	expect_bad(ARGV("--by-conn", "-p", "1"), "--by-conn");
	expect_bad(ARGV("--sample-hz", "50", "-p", "1"), "--sample-hz");
	expect_bad(ARGV("--sample-hz", "50", "--flame", "mem", "--svg", "x", "-p", "1"),
		   "--flame cpu");
	assert_int_equal(parse(ARGV("--sample-hz", "50", "--flame", "cpu", "--svg", "x", "-p", "1")),
			 ARGS_RUN);
	assert_int_equal(env.sample_hz, 50);
	assert_int_equal(parse(ARGV("--by-conn", "--svg", "x", "-p", "1")), ARGS_RUN);
	expect_bad(ARGV("--json", "a", "--json", "b", "-p", "1"), "--json given twice");
	expect_bad(ARGV("--prometheus", "9100", "--prometheus", "9101", "-p", "1"),
		   "--prometheus given twice");
}

static void test_load_needs_a_command(void **state)
{
	(void)state;
	expect_bad(ARGV("--load", "-p", "1"), "--load");
	expect_bad(ARGV("--load=-c 1", "-p", "1"), "--load");
}

static void test_cgroup_needs_a_command(void **state)
{
	(void)state;
	expect_bad(ARGV("--user", "nobody", "-p", "1"), "--user needs a command");
	assert_int_equal(parse(ARGV("--user", "nobody", "--", "./srv")), ARGS_RUN);
	assert_string_equal(env.user, "nobody");
	expect_bad(ARGV("--cgroup", "-p", "1"), "--cgroup needs a command");
	assert_int_equal(parse(ARGV("--cgroup", "--", "./srv")), ARGS_RUN);
	assert_true(env.cgroup);
}

/* ---- flame graphs ---------------------------------------------------------------- */

static void test_flame_views(void **state)
{
	(void)state;
	assert_int_equal(parse(ARGV("--flame", "cpu,offcpu", "--svg", "f.svg", "--", "./s")), ARGS_RUN);
	assert_int_equal(env.flame, (1u << VIEW_CPU) | (1u << VIEW_OFFCPU));
	assert_string_equal(env.svg_path, "f.svg");
	assert_null(env.folded_path);
	assert_int_equal(parse(ARGV("--flame", "all", "--folded", "f", "--", "./s")), ARGS_RUN);
	assert_int_equal(env.flame, VIEWS_ALL);
	assert_int_equal(env.sample_hz, 99);
}

static void test_flame_output_alone_means_mem(void **state)
{
	(void)state;
	assert_int_equal(parse(ARGV("--folded", "m.folded", "--by-conn", "--", "./s")), ARGS_RUN);
	assert_int_equal(env.flame, 1u << VIEW_MEM);
	assert_true(env.by_conn);
}

static void test_flame_bad(void **state)
{
	(void)state;
	expect_bad(ARGV("--flame", "cpu,heap", "--svg", "x", "--", "./s"), "unknown flame view 'heap'");
	expect_bad(ARGV("--flame", "cpu,", "--svg", "x", "--", "./s"), "unknown flame view ''");
	expect_bad(ARGV("--flame", "cpu", "--", "./s"), "--folded FILE or --svg FILE");
	expect_bad(ARGV("--flame", "syscalls", "--no-syscalls", "--svg", "x", "--", "./s"),
		   "--no-syscalls");
	expect_bad(ARGV("--syscall-time", "--no-syscalls", "--", "./s"), "--no-syscalls");
	expect_bad(ARGV("--sample-hz", "0", "--", "./s"), "sample-hz");
	expect_bad(ARGV("--sample-hz", "20000", "--", "./s"), "sample-hz");
}

static void test_view_paths(void **state)
{
	char buf[256];
	unsigned int two = (1u << VIEW_CPU) | (1u << VIEW_MEM);

	(void)state;
	view_path("out.svg", 1u << VIEW_CPU, VIEW_CPU, buf, sizeof(buf));
	assert_string_equal(buf, "out.svg");
	view_path("out.svg", two, VIEW_CPU, buf, sizeof(buf));
	assert_string_equal(buf, "out.cpu.svg");
	view_path("dir.d/out", two, VIEW_MEM, buf, sizeof(buf));
	assert_string_equal(buf, "dir.d/out.mem");
	view_path("/tmp/.hidden", two, VIEW_MEM, buf, sizeof(buf));
	assert_string_equal(buf, "/tmp/.hidden.mem");
	assert_int_equal(views_bpf(1u << VIEW_MEM), 0);
	assert_int_equal(views_bpf(1u << VIEW_OFFCPU), 1u << FV_OFFCPU);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults_with_pid),
		cmocka_unit_test(test_defaults_are_restored_on_each_call),
		cmocka_unit_test(test_command_keeps_its_own_options),
		cmocka_unit_test(test_command_without_double_dash_stops_option_parsing),
		cmocka_unit_test(test_pid_with_empty_command_after_double_dash),
		cmocka_unit_test(test_all_options_short_and_long),
		cmocka_unit_test(test_json_to_stdout),
		cmocka_unit_test(test_load_default_args),
		cmocka_unit_test(test_load_with_args),
		cmocka_unit_test(test_load_does_not_take_the_next_word),
		cmocka_unit_test(test_accepted_boundaries),
		cmocka_unit_test(test_bad_duration),
		cmocka_unit_test(test_bad_interval),
		cmocka_unit_test(test_nan_seconds_are_rejected),
		cmocka_unit_test(test_bad_pid),
		cmocka_unit_test(test_bad_counts),
		cmocka_unit_test(test_prometheus),
		cmocka_unit_test(test_live_view),
		cmocka_unit_test(test_unknown_option_and_missing_argument),
		cmocka_unit_test(test_help),
		cmocka_unit_test(test_version),
		cmocka_unit_test(test_nothing_to_trace),
		cmocka_unit_test(test_pid_and_command_together),
		cmocka_unit_test(test_several_pids),
		cmocka_unit_test(test_options_that_would_be_ignored),
		cmocka_unit_test(test_load_needs_a_command),
		cmocka_unit_test(test_cgroup_needs_a_command),
		cmocka_unit_test(test_flame_views),
		cmocka_unit_test(test_flame_output_alone_means_mem),
		cmocka_unit_test(test_flame_bad),
		cmocka_unit_test(test_view_paths),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
