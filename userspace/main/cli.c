// SPDX-License-Identifier: MIT
/* conctrace's command line: options, defaults, usage text. */
#include "main/env.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conctrace.h"
#include "flame/views.h"
#include "live/http_server.h"

static const char usage_text[] =
"Usage: conctrace [OPTIONS] -- CMD [ARGS...]\n"
"       conctrace [OPTIONS] -p PID\n"
"\n"
"Measure what each connection of a server costs, in the kernel: syscalls,\n"
"context switches, CPU time, bytes and memory (the kernel's and the user\n"
"RSS it grew), attributed to the connection they served, with the event\n"
"loop's own share shown beside them.\n"
"\n"
"  -p, --pid PID[,PID...] trace running processes (all threads, later forks);\n"
"                         several pids: comma- or space-separated, or as\n"
"                         -p $(pidof nginx) gives them\n"
"  -d, --duration SECS    stop after SECS (default: when the target exits)\n"
"  -i, --interval SECS    print a one-line live summary every SECS (stderr)\n"
"      --load[=ARGS]      once the target listens, drive it with servers/loadgen\n"
"                         ARGS (default \"" DEFAULT_LOAD_ARGS "\"), then stop it and report\n"
"      --json FILE        write the report as JSON to FILE (\"-\" for stdout)\n"
"      --json-conns N     per-connection objects in the JSON (default 100)\n"
"      --top-conns N      connections listed in the text report (default 5)\n"
"      --max-conns N      connections tracked at once (default 1000000)\n"
"      --no-syscalls      light mode: no syscall tracepoints, which slow every\n"
"                         syscall on the machine; keeps switches, CPU, bytes,\n"
"                         memory and io_uring requests per connection (a Unix\n"
"                         connection's end: the first sample without it)\n"
"      --syscall-time     time each syscall, summed by name and connection (JSON\n"
"                         syscall_ns, conctrace_syscall_seconds_total): two clock\n"
"                         reads a call, about 60 ns a request on epoll_echo\n"
"      --top[=SECS]       live view like top(1), redrawn every SECS (default 1):\n"
"                         rates and the open connections by kernel memory,\n"
"                         switches, syscalls or CPU (keys k x s c, q to stop);\n"
"                         one line per SECS when stdout is not a terminal\n"
"      --prometheus [ADDR:]PORT\n"
"                         serve Prometheus metrics at http://ADDR:PORT/metrics\n"
"                         while tracing; ADDR is 127.0.0.1 unless given (IPv6:\n"
"                         [ADDR]:PORT); per-connection series for --top-conns\n"
"      --bpf-stats        with --prometheus: also export conctrace's own BPF run\n"
"                         time (the kernel's bpf_stats: two clock reads more per\n"
"                         event, about 8% of an epoll server's throughput here)\n"
"      --user USER        run CMD as USER (name or #uid, with USER's groups);\n"
"                         conctrace keeps its privileges to trace it\n"
"      --cgroup           run CMD in a memory cgroup of its own, removed at the\n"
"                         end, and check the connections' kernel memory against\n"
"                         what the kernel charged to it (on cgroup v1 this turns\n"
"                         on the cgroup's socket accounting, as v2 always has)\n"
"\n"
"Flame graphs (where each connection's cost comes from):\n"
"      --flame VIEWS      views, comma-separated (default mem): mem (what a\n"
"                         connection is made of), umem (user memory growth by\n"
"                         user stack), kmem (kernel allocations by stack), offcpu\n"
"                         (blocked time by stack), cpu (on-CPU samples), syscalls\n"
"                         (by user stack), or all; stacks cost overhead: opt-in\n"
"      --folded FILE      folded stacks (flamegraph.pl, speedscope); with several\n"
"                         views one file each: out.folded -> out.cpu.folded\n"
"      --svg FILE         an interactive flame graph (any browser, no network)\n"
"      --by-conn          a frame level per connection (top --json-conns of them\n"
"                         in the mem view)\n"
"      --sample-hz N      on-CPU samples per second per CPU (default 99)\n"
"\n"
"  -v, --verbose          show libbpf's log\n"
"  -h, --help             show this help\n"
"  -V, --version          show the version and check that BPF loads here\n"
"\n"
"A launched CMD runs in a process group of its own (with --cgroup, in its\n"
"cgroup too): stopping it (-d, --load done, Ctrl-C, SIGTERM, q in --top)\n"
"signals all of it, and what has not ended 3 s later is killed: nothing\n"
"CMD started outlives conctrace, but a daemon that left the group without\n"
"--cgroup.\n"
"\n"
"Exit status:\n"
"  0      the run ended as asked: CMD exited 0, or conctrace stopped it and it\n"
"         stopped (died of the signal sent, or exited 0); with -p, whenever\n"
"         tracing worked (the report says how the process ended)\n"
"  N      CMD exited N by itself, or when asked to stop\n"
"  128+N  CMD was killed by signal N that conctrace did not send\n"
"  137    CMD, or a process it started, ignored the stop signal for 3 s and\n"
"         was killed (SIGKILL)\n"
"  1      conctrace failed: BPF would not load, a report could not be written\n"
"  2      bad usage\n"
"  3      --load failed: loadgen refused its arguments, or connections or\n"
"         requests failed (the report says LOAD FAILED)\n"
"  126    CMD cannot be run, or --user cannot be taken\n"
"  127    CMD not found\n"
"  128+N  signal N came before tracing began (CMD then never runs)\n"
"\n"
"Needs root, or CAP_BPF and CAP_PERFMON, and a kernel with BTF\n"
"(CONFIG_DEBUG_INFO_BTF=y).\n"
"\n"
"Examples:\n"
"  sudo ./conctrace -- ./servers/epoll_echo          trace until Ctrl-C\n"
"  sudo ./conctrace --load -- ./servers/epoll_echo   one-command demo\n"
"  sudo ./conctrace --load='-c 500 -n 20' --json r.json -- ./servers/threaded_echo\n"
"  sudo ./conctrace -p $(pidof redis-server) -d 10   attach for 10 seconds\n"
"  sudo ./conctrace --load --flame offcpu --svg off.svg -- ./servers/threaded_echo\n";

enum {
	OPT_LOAD = 0x100,
	OPT_JSON,
	OPT_JSON_CONNS,
	OPT_TOP,
	OPT_MAX_CONNS,
	OPT_NO_SYSCALLS,
	OPT_SYSCALL_TIME,
	OPT_CGROUP,
	OPT_USER,
	OPT_FLAME,
	OPT_FOLDED,
	OPT_SVG,
	OPT_BY_CONN,
	OPT_SAMPLE_HZ,
	OPT_PROMETHEUS,
	OPT_BPF_STATS,
	OPT_LIVE,
};

static enum parse_result bad(const char *opt, const char *arg, const char *want)
{
	fprintf(stderr, "conctrace: invalid %s '%s': %s\n", opt, arg, want);
	fprintf(stderr, "Try 'conctrace --help'.\n");
	return ARGS_BAD;
}

static int parse_seconds(const char *s, double *out)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || *end || !(v >= 0 && v <= 1e7))	/* NaN fails too */
		return -1;
	*out = v;
	return 0;
}

static int parse_ulong(const char *s, unsigned long lo, unsigned long hi, unsigned long *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || end == s || *end || s[0] == '-' || v < lo || v > hi)
		return -1;
	*out = v;
	return 0;
}

/* -p's argument: one pid, or several separated by commas or blanks (as
 * `-p "$(pidof nginx)"` gives them); 0, or -1 with *bad the word at fault */
static int add_pids(struct env *env, const char *arg, const char **bad)
{
	static char word[48];
	const char *p = arg;
	unsigned int added = 0;
	unsigned long v;

	*bad = arg;
	while (*p) {
		size_t n;

		p += strspn(p, ", \t\n");
		n = strcspn(p, ", \t\n");
		if (!n)
			break;
		snprintf(word, sizeof(word), "%.*s", (int)n, p);
		*bad = word;
		if (n >= sizeof(word) || parse_ulong(word, 1, 1u << 22, &v))
			return -1;
		if (env->npids == MAX_PIDS) {
			snprintf(word, sizeof(word), "more than %d pids", MAX_PIDS);
			return -1;
		}
		env->pids[env->npids++] = (pid_t)v;
		added++;
		p += n;
	}
	if (!added)
		return -1;
	env->pid = env->pids[0];
	return 0;
}

/* The words right after -p PID that are pids too: the rest of
 * `-p $(pidof nginx)` unquoted, which the shell split; getopt goes on
 * after them, so later options still count. */
static void more_pids(struct env *env, int argc, char **argv)
{
	const char *bad;
	unsigned long v;

	while (optind < argc && !parse_ulong(argv[optind], 1, 1u << 22, &v) &&
	       !add_pids(env, argv[optind], &bad))
		optind++;
}

/* An option that keeps one value given twice: which one was meant? */
static enum parse_result once(const char *opt, bool given)
{
	if (!given)
		return ARGS_RUN;
	fprintf(stderr, "conctrace: %s given twice: give it once\n", opt);
	return ARGS_BAD;
}

enum parse_result parse_args(int argc, char **argv, struct env *env)
{
	static const struct option longopts[] = {
		{ "pid",        required_argument, NULL, 'p' },
		{ "duration",   required_argument, NULL, 'd' },
		{ "interval",   required_argument, NULL, 'i' },
		{ "load",       optional_argument, NULL, OPT_LOAD },
		{ "json",       required_argument, NULL, OPT_JSON },
		{ "json-conns", required_argument, NULL, OPT_JSON_CONNS },
		{ "top-conns",  required_argument, NULL, OPT_TOP },
		{ "max-conns",  required_argument, NULL, OPT_MAX_CONNS },
		{ "no-syscalls", no_argument,      NULL, OPT_NO_SYSCALLS },
		{ "syscall-time", no_argument,     NULL, OPT_SYSCALL_TIME },
		{ "cgroup",     no_argument,       NULL, OPT_CGROUP },
		{ "user",       required_argument, NULL, OPT_USER },
		{ "flame",      required_argument, NULL, OPT_FLAME },
		{ "folded",     required_argument, NULL, OPT_FOLDED },
		{ "svg",        required_argument, NULL, OPT_SVG },
		{ "by-conn",    no_argument,       NULL, OPT_BY_CONN },
		{ "sample-hz",  required_argument, NULL, OPT_SAMPLE_HZ },
		{ "prometheus", required_argument, NULL, OPT_PROMETHEUS },
		{ "bpf-stats",  no_argument,       NULL, OPT_BPF_STATS },
		{ "top",        optional_argument, NULL, OPT_LIVE },
		{ "verbose",    no_argument,       NULL, 'v' },
		{ "help",       no_argument,       NULL, 'h' },
		{ "version",    no_argument,       NULL, 'V' },
		{ 0 },
	};
	const char *why;
	unsigned long v;
	bool sample_hz_given = false;
	int c;

	memset(env, 0, sizeof(*env));
	env->max_conns = DEFAULT_MAX_CONNS;
	env->json_conns = 100;
	env->top_conns = 5;
	env->grace_s = 3;
	env->load_args = DEFAULT_LOAD_ARGS;
	env->sample_hz = 99;	/* not a divisor of the tick: no lockstep with timers */

	/* '+': stop at the first non-option, so CMD's own options stay its own */
	while ((c = getopt_long(argc, argv, "+p:d:i:vhV", longopts, NULL)) != -1) {
		switch (c) {
		case 'p':
			if (add_pids(env, optarg, &why))
				return bad("pid", why, "expected process ids (\"-p 12\", \"-p 12,34\" "
					   "or \"-p '12 34'\")");
			more_pids(env, argc, argv);
			break;
		case 'd':
			if (parse_seconds(optarg, &env->duration_s) || env->duration_s == 0)
				return bad("duration", optarg, "expected seconds > 0");
			break;
		case 'i':
			if (parse_seconds(optarg, &env->interval_s) || env->interval_s < 0.05)
				return bad("interval", optarg, "expected seconds >= 0.05");
			break;
		case OPT_LOAD:
			env->load = true;
			if (optarg)
				env->load_args = optarg;
			break;
		case OPT_JSON:
			if (once("--json", env->json_path))
				return ARGS_BAD;
			env->json_path = optarg;
			break;
		case OPT_JSON_CONNS:
			if (parse_ulong(optarg, 0, 10000000, &v))
				return bad("json-conns", optarg, "expected a count");
			env->json_conns = (unsigned)v;
			break;
		case OPT_TOP:
			if (parse_ulong(optarg, 0, 10000, &v))
				return bad("top-conns", optarg, "expected a count");
			env->top_conns = (unsigned)v;
			break;
		case OPT_MAX_CONNS:
			if (parse_ulong(optarg, 1, 100000000, &v))
				return bad("max-conns", optarg, "expected 1..100000000");
			env->max_conns = v;
			break;
		case OPT_NO_SYSCALLS:
			env->no_syscalls = true;
			break;
		case OPT_SYSCALL_TIME:
			env->syscall_time = true;
			break;
		case OPT_CGROUP:
			env->cgroup = true;
			break;
		case OPT_USER:
			env->user = optarg;
			break;
		case OPT_FLAME: {
			const char *word;
			size_t len;

			if (views_parse(optarg, &env->flame, &word, &len)) {
				fprintf(stderr, "conctrace: unknown flame view '%.*s': expected mem, umem, "
					"kmem, offcpu, cpu, syscalls or all\n", (int)len, word);
				return ARGS_BAD;
			}
			break;
		}
		case OPT_FOLDED:
			env->folded_path = optarg;
			break;
		case OPT_SVG:
			env->svg_path = optarg;
			break;
		case OPT_BY_CONN:
			env->by_conn = true;
			break;
		case OPT_SAMPLE_HZ:
			if (parse_ulong(optarg, 1, 10000, &v))
				return bad("sample-hz", optarg, "expected 1..10000");
			env->sample_hz = (unsigned)v;
			sample_hz_given = true;
			break;
		case OPT_LIVE:
			env->live_s = 1;
			if (optarg && (parse_seconds(optarg, &env->live_s) || env->live_s < 0.1))
				return bad("top", optarg, "expected seconds >= 0.1");
			break;
		case OPT_PROMETHEUS:
			if (once("--prometheus", env->prometheus))
				return ARGS_BAD;
			if (http_parse_listen_addr(optarg, &env->prom_addr, &env->prom_addr_len, &why))
				return bad("prometheus address", optarg, why);
			env->prometheus = true;
			break;
		case OPT_BPF_STATS:
			env->bpf_stats = true;
			break;
		case 'v':
			env->verbose = true;
			break;
		case 'h':
			fputs(usage_text, stdout);
			return ARGS_HELP;
		case 'V':
			return ARGS_VERSION;
		default:
			fprintf(stderr, "Try 'conctrace --help'.\n");
			return ARGS_BAD;
		}
	}
	if (optind < argc)
		env->cmd = &argv[optind];
	if (!env->cmd && !env->pid) {
		fprintf(stderr, "conctrace: nothing to trace: give -- CMD [ARGS...] or -p PID\n");
		fprintf(stderr, "Try 'conctrace --help'.\n");
		return ARGS_BAD;
	}
	if (env->cmd && env->pid) {
		fprintf(stderr, "conctrace: give either a command or -p PID, not both\n");
		return ARGS_BAD;
	}
	if (env->load && !env->cmd) {
		fprintf(stderr, "conctrace: --load needs a command to launch (it stops the target at the end)\n");
		return ARGS_BAD;
	}
	if (env->by_conn && !env->flame && !env->folded_path && !env->svg_path) {
		fprintf(stderr, "conctrace: --by-conn splits flame graphs: give --flame VIEWS with "
			"--svg FILE or --folded FILE\n");
		return ARGS_BAD;
	}
	if (sample_hz_given && !(env->flame & ((1u << VIEW_CPU)))) {
		fprintf(stderr, "conctrace: --sample-hz paces the cpu flame view: give --flame cpu "
			"(or all) with --svg FILE or --folded FILE\n");
		return ARGS_BAD;
	}
	if (env->flame && !env->folded_path && !env->svg_path) {
		fprintf(stderr, "conctrace: --flame needs somewhere to write: --folded FILE or --svg FILE\n");
		return ARGS_BAD;
	}
	if ((env->folded_path || env->svg_path) && !env->flame)
		env->flame = 1u << VIEW_MEM;
	if ((env->flame & (1u << VIEW_SYSCALLS)) && env->no_syscalls) {
		fprintf(stderr, "conctrace: --flame syscalls needs the syscall tracepoints that "
			"--no-syscalls leaves off\n");
		return ARGS_BAD;
	}
	if (env->syscall_time && env->no_syscalls) {
		fprintf(stderr, "conctrace: --syscall-time needs the syscall tracepoints that "
			"--no-syscalls leaves off\n");
		return ARGS_BAD;
	}
	if (env->bpf_stats && !env->prometheus) {
		fprintf(stderr, "conctrace: --bpf-stats exports through --prometheus: give both\n");
		return ARGS_BAD;
	}
	if (env->user && !env->cmd) {
		fprintf(stderr, "conctrace: --user needs a command to launch\n");
		return ARGS_BAD;
	}
	if (env->cgroup && !env->cmd) {
		fprintf(stderr, "conctrace: --cgroup needs a command to launch: a running process's "
			"past allocations stay charged where they were\n");
		return ARGS_BAD;
	}
	return ARGS_RUN;
}
