// SPDX-License-Identifier: MIT
/*
 * conctrace: trace a server and report what each connection cost.
 *
 * Order matters: the target is forked and held before exec, the BPF side is
 * loaded and attached with its pid, and only then may it exec, so no early
 * event is missed. At the end every connection still open is read from the
 * map, the report is printed, and one cleanup path frees every BPF object.
 */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>
#include <bpf/libbpf.h>

#include "common/version.h"
#include "conctrace.h"
#include "flame/flame.h"
#include "flame/folded.h"
#include "flame/symbolize.h"
#include "host/listen_proc.h"
#include "host/memcg.h"
#include "host/procfs.h"
#include "host/slabs.h"
#include "live/exporter.h"
#include "live/live_view.h"
#include "live/snapshot.h"
#include "main/attach.h"
#include "main/env.h"
#include "model/aggregate.h"
#include "model/closure.h"
#include "model/memory.h"
#include "model/timeline.h"
#include "report/format.h"
#include "report/outfile.h"
#include "report/report.h"
#include "target/loaddriver.h"
#include "target/target.h"
#include "tracer/tracer.h"

#define LISTEN_TIMEOUT_S 10.0	/* --load: how long a target may take to listen */
#define EXIT_LOAD_FAILED 3	/* --load: loadgen failed (--help says so) */
#define SETTLE_S	 2.0	/* --load: time for the server to close its side */
/* memory timeline without -i: peaks need samples, as often as every
 * SAMPLE_MIN_S (a short --load run too), their CPU kept to
 * 1/SAMPLE_COST_RATIO of a CPU however many sockets they walk
 * (timeline_next_interval) */
#define SAMPLE_MIN_S	 0.1
#define SAMPLE_COST_RATIO 20.0
/* processes a sample keeps one by one (their peaks, the JSON's list);
 * beyond them the sum still counts every one */
#define TREE_READINGS	 256
/* The launched child may touch a few pages between the reading of its
 * VmHWM and its exec (execvp's path search on its stack): wait4's figure
 * is a process of the tree's only when above the reading by more. */
#define HELD_SLACK_BYTES (64 * 1024)

static volatile sig_atomic_t exiting;
static volatile sig_atomic_t exit_signal;

static void on_signal(int sig)
{
	exiting = 1;
	exit_signal = sig;
}

static void on_sigchld(int sig)
{
	(void)sig;	/* only wakes the poll loop: the loop reaps */
}

struct run {
	struct env env;
	struct target target;
	struct tracer tracer;
	struct agg agg;
	struct loaddriver load;
	struct exporter exporter;	/* --prometheus */
	struct live_view view;		/* --top */
	struct listen_event listen;
	struct run_source source;	/* what the live outputs and samples read */
	struct live_snapshot last;	/* -i: the previous line's, for rates */
	struct syscall_total by_nr[SYSCALL_MAX];
	struct slab_sizes slabs;
	struct timeline timeline;
	struct proc_reading procs[TREE_READINGS];	/* one sample's traced processes */
	long long held_hwm;	/* the launched child's VmHWM before exec: conctrace's fork */
	long long held_cpu_ns;	/* ... and its CPU, fork to release (report.h) */
	long long held_nvcsw, held_nivcsw;	/* ... and its switches */
	struct memcg memcg;			/* --cgroup */
	struct target_user user;		/* --user */
	struct symbolizer *sym;			/* --flame with stacks */
	/* closure: the kernel's counters at the start and at the sample where
	 * open connections held the most, with what they held then */
	struct slab_counts slab_start, slab_end;
	struct memcg_counters memcg_start, memcg_end;
	__u64 closure_attributed[CC_COUNT];
	struct closure_mark closure_mark;
	bool listening;
	__u64 closed;		/* connection records received, internal pairs aside */
	char exe[PATH_MAX];	/* launched: the command's file, as execvp finds it */
	double t0;
};

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* This thread's CPU: the iterators a sample runs count here, in its read()s. */
static double thread_cpu_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Complete a record with what userspace derives, then aggregate it. */
static void account(struct run *run, const struct conn *rec)
{
	struct conn_view v;

	conn_complete(&v, rec, &run->slabs);
	tracer_unix_path(&run->tracer, rec->unix_addr, v.unix_path);
	if (agg_add(&run->agg, &v))
		fprintf(stderr, "conctrace: out of memory: a connection is missing from the report\n");
}

static int on_event(void *ctx, void *data, size_t len)
{
	struct run *run = ctx;
	__u32 type;

	if (len < sizeof(type))
		return 0;
	memcpy(&type, data, sizeof(type));
	if (type == EV_CONN_CLOSED && len >= sizeof(struct conn_event)) {
		const struct conn_event *ev = data;

		if (!(ev->conn.flags & CONN_PAIR))
			run->closed++;	/* connections, as BPF counts them opened */
		account(run, &ev->conn);
	} else if (type == EV_CONN_LATE && len >= sizeof(struct conn_late_event)) {
		agg_add_late(&run->agg, data);
	} else if (type == EV_LISTEN && len >= sizeof(struct listen_event) && !run->listening) {
		memcpy(&run->listen, data, sizeof(run->listen));
		run->listening = true;
	}
	return 0;
}

static void add_open(void *ctx, const struct conn *open)
{
	account(ctx, open);
}

/* A sample of the loop's, one of -i's (its line printed), or the run's last. */
enum sample_kind { SAMPLE, SAMPLE_LIVE, SAMPLE_LAST };

/*
 * One sample of the run: the memory timeline's point, and the closure's
 * when the open connections' objects peak. With live (-i) the snapshot also
 * reads the syscall totals, for the line printed from it.
 */
static void take_sample(struct run *run, double t, enum sample_kind kind)
{
	bool live = kind == SAMPLE_LIVE;
	struct live_snapshot s = {
		.by_nr = live ? run->by_nr : NULL,
		.procs = run->procs, .procs_cap = TREE_READINGS,
	};
	struct sample point = { .t_s = t - run->t0 };

	live_snapshot_take(&s, &run->source, live ? &run->last : NULL, t);
	/* buffers come and go within the sample itself: objects only */
	if (closure_read_due(&run->closure_mark, s.kernel_bytes - s.buffers, t,
			     kind == SAMPLE_LAST)) {
		/* the kernel's counters right after ours */
		slab_counts_read(&run->slab_end);
		memcg_read(&run->memcg, &run->memcg_end);
		memcpy(run->closure_attributed, s.objects, sizeof(s.objects));
		run->closure_mark = (struct closure_mark){
			.taken = true, .t = t, .kernel_bytes = s.kernel_bytes, .buffers = s.buffers,
		};
	}
	/* user frames resolve through the target's mappings: read them while
	 * it lives (new libraries, new threads' stacks) */
	if (run->sym && s.rss >= 0)
		symbolizer_load_process(run->sym, run->target.pid);
	if (live) {
		struct live_rates r;

		live_rates(&s, &run->last, &r);
		live_print_line(stderr, &s, &r, run->t0);
		run->last = s;
	}
	if (s.rss < 0 && run->timeline.n)
		return;	/* target gone: the last sample stands */
	point.rss_bytes = s.rss > 0 ? (__u64)s.rss : 0;
	point.procs = s.nprocs;
	timeline_note_procs(&run->timeline, run->procs,
			    s.nprocs < TREE_READINGS ? s.nprocs : TREE_READINGS);
	point.kernel_bytes = s.kernel_bytes;
	point.open_conns = s.open;
	point.tracer_bytes = tracer_map_bytes(&run->tracer);
	timeline_add(&run->timeline, &point);
}

/*
 * The peak of a process that grew after the last sample, or exited between
 * two. BPF saw every RSS change and read each exactly. Without its
 * program, what conctrace reaped: wait4()'s ru_maxrss, the most of the
 * kernel's reads of its per-CPU RSS counters, which lack each CPU's
 * unfolded share (less than a batch, 32 pages or 2 per CPU, a counter and
 * CPU, either way: for epoll_echo, from 19 pages below its idle VmHWM to
 * 13 above, where its peak, at shutdown, was 40 above), and only if above
 * the launched child's image before exec (conctrace's own fork).
 */
static void note_unsampled_peak(struct run *run)
{
	__u64 peak;

	if (tracer_process_rss_peak(&run->tracer, &peak))
		timeline_note_process_peak(&run->timeline, peak);
	else if (run->target.launched && run->held_hwm >= 0 &&
		 run->target.maxrss_kib * 1024LL > run->held_hwm + HELD_SLACK_BYTES)
		timeline_note_process_peak(&run->timeline, (__u64)run->target.maxrss_kib * 1024);
}

/* Trace until the target ends, time is up, loadgen is done, or a signal. */
static int trace_loop(struct run *run)
{
	struct env *env = &run->env;
	double every = env->interval_s ? env->interval_s : SAMPLE_MIN_S;
	double next_tick = run->t0 + every;
	int err;

	while (!exiting) {
		double t;

		err = tracer_poll(&run->tracer, 100);
		if (err < 0) {
			fprintf(stderr, "conctrace: reading events: %s\n", strerror(-err));
			return 1;
		}
		exporter_poll(&run->exporter);
		t = now_s();
		if (live_view_poll(&run->view, t))
			break;	/* q: stop and report, as Ctrl-C does */
		if (target_poll_exit(&run->target))
			break;
		if (env->duration_s && t - run->t0 >= env->duration_s)
			break;
		if (t >= next_tick) {
			double cpu = thread_cpu_s();

			take_sample(run, t, env->interval_s > 0 ? SAMPLE_LIVE : SAMPLE);
			/* its CPU, not its wall time: time spent waiting for a
			 * CPU costs no one */
			timeline_sample_cost(&run->timeline, thread_cpu_s() - cpu);
			if (env->interval_s)
				next_tick += every;
			else
				next_tick = t + timeline_next_interval(&run->timeline);
		}
		if (!env->load)
			continue;
		if (!run->load.pid) {
			/* light mode traces no listen(): ask /proc */
			if (!run->listening && env->no_syscalls &&
			    !listen_from_proc(run->target.pid, &run->listen))
				run->listening = true;
			if (run->listening) {
				if (loaddriver_start(&run->load, &run->listen, env->load_args))
					break;	/* the load failed: report what there is */
			} else if (t - run->t0 > LISTEN_TIMEOUT_S) {
				fprintf(stderr, "conctrace: --load: the target did not listen within %.0f s\n",
					LISTEN_TIMEOUT_S);
				return 1;
			}
		} else if (loaddriver_poll(&run->load)) {
			/* let the server see the clients' FINs and close its side */
			double until = now_s() + SETTLE_S;

			while (tracer_open_conns(&run->tracer) && now_s() < until && !exiting)
				tracer_poll(&run->tracer, 20);
			break;
		}
	}
	return 0;
}

static void build_report(struct run *run, struct report *r, char *exit_buf, size_t len)
{
	memset(r, 0, sizeof(*r));
	/* data nobody read is memory too; in light mode the snapshot also
	 * ends the Unix connections that are gone, with a record each */
	tracer_snapshot(&run->tracer, true);
	/* records still in the ring buffer, then connections still open */
	while (tracer_poll(&run->tracer, 0) > 0)
		;
	tracer_for_each_open(&run->tracer, add_open, run);
	tracer_read_proc(&run->tracer, &r->proc);
	tracer_read_syscalls(&run->tracer, r->syscalls);
	r->threads_peak = tracer_threads_peak(&run->tracer);
	r->ring_bytes = tracer_ring_bytes(&run->tracer);
	r->conn_alloc_bytes = tracer_conn_alloc_bytes(&run->tracer);
	r->syscall_hooks = tracer_syscall_hooks(&run->tracer);
	r->ring_backlog_peak = tracer_ring_backlog_peak(&run->tracer);
	r->ring_overflowed = tracer_ring_overflowed(&run->tracer);
	r->walks_own = run->tracer.own_walks;
	r->walks_machine = run->tracer.machine_walks;
	r->agg = &run->agg;
	r->pid = run->target.pid;
	r->cpu_before_ns = run->target.launched ? run->held_cpu_ns : -1;
	r->nvcsw_before = run->target.launched ? run->held_nvcsw : -1;
	r->nivcsw_before = run->target.launched ? run->held_nivcsw : -1;
	if (run->target.launched && run->target.exited) {
		r->reaped.processes = run->target.reaped.processes;
		r->reaped.nvcsw = run->target.reaped.nvcsw;
		r->reaped.nivcsw = run->target.reaped.nivcsw;
		r->reaped.cpu_ns = run->target.reaped.cpu_ns;
	}
	r->syscall_time = run->env.syscall_time;
	r->duration_s = now_s() - run->t0;
	r->peak_open = tracer_conns_peak(&run->tracer);
	r->top_conns = run->env.top_conns;
	r->json_conns = run->env.json_conns;
	r->exit_desc = target_exit_desc(&run->target, exit_buf, len);
	r->slabs = &run->slabs;
	r->timeline = &run->timeline;
	if (run->slab_start.valid && run->slab_end.valid) {
		closure_compute(&run->slab_start, &run->slab_end, run->closure_attributed,
				&r->closure);
		r->has_closure = true;
	}
	if (run->memcg_start.valid && run->memcg_end.valid) {
		struct closure_memcg *m = &r->memcg;

		m->valid = true;
		m->version = run->memcg.version;
		m->path = run->memcg.path;
		m->kernel_growth = run->memcg_end.kernel - run->memcg_start.kernel;
		m->sock_growth = run->memcg_end.sock - run->memcg_start.sock;
		m->attributed_buffers = run->closure_mark.buffers;
		m->attributed_objects = run->closure_mark.kernel_bytes - run->closure_mark.buffers;
	}
}

static bool json_to_stdout(const struct env *env)
{
	return env->json_path && !strcmp(env->json_path, "-");
}

static int fill_json(FILE *f, void *r)
{
	report_json(f, r);
	return ferror(f) ? -EIO : 0;
}

static int write_reports(struct run *run, struct report *r)
{
	bool json_stdout = json_to_stdout(&run->env);
	const char *why;

	report_text(json_stdout ? stderr : stdout, r);
	if (!run->env.json_path)
		return 0;
	if (json_stdout) {
		report_json(stdout, r);
		return 0;
	}
	if (outfile_write(run->env.json_path, fill_json, r, &why)) {
		fprintf(stderr, "conctrace: cannot write %s: %s\n", run->env.json_path, why);
		return 1;
	}
	return 0;
}

static int check_output(const char *opt, const char *path)
{
	const char *why;

	if (!outfile_check(path, &why))
		return 0;
	fprintf(stderr, "conctrace: cannot write %s (%s): %s\n", path, opt, why);
	return -1;
}

/* Every file the run will write, judged before anything is traced: a
 * path that cannot be written is said now, not after the run it would
 * lose. With several views, each view's own file. */
static int check_outputs(const struct env *env)
{
	const char *flames[][2] = { { "--folded", env->folded_path }, { "--svg", env->svg_path } };
	char path[PATH_MAX];

	if (env->json_path && !json_to_stdout(env) && check_output("--json", env->json_path))
		return -1;
	for (size_t i = 0; i < sizeof(flames) / sizeof(flames[0]); i++)
		for (int v = 0; flames[i][1] && v < VIEW_COUNT; v++) {
			if (!(env->flame & (1u << v)))
				continue;
			view_path(flames[i][1], env->flame, v, path, sizeof(path));
			if (check_output(flames[i][0], path))
				return -1;
		}
	return 0;
}

/* The root frame: the target's name, as ps shows it. */
static const char *process_name(const struct run *run, char *buf, size_t len)
{
	const char *slash;

	if (run->env.cmd) {
		slash = strrchr(run->env.cmd[0], '/');
		snprintf(buf, len, "%s", slash ? slash + 1 : run->env.cmd[0]);
	} else {
		char path[64];
		FILE *f;

		snprintf(path, sizeof(path), "/proc/%d/comm", (int)run->target.pid);
		f = fopen(path, "r");
		if (!f || !fgets(buf, (int)len, f))
			snprintf(buf, len, "pid %d", (int)run->target.pid);
		buf[strcspn(buf, "\n")] = '\0';
		if (f)
			fclose(f);
	}
	return buf;
}

/* --flame: the reports, then one folded file and/or SVG per view asked
 * for. The views are built first: the report says how much of the cpu
 * view was conctrace's own programs. */
static int write_flames(struct run *run, struct report *r)
{
	struct folded *views[VIEW_COUNT];
	char name[64], folded_path[PATH_MAX], svg_path[PATH_MAX];
	struct flame_input in = {
		.tracer = &run->tracer,
		.sym = run->sym,
		.pid = run->target.pid,
		.process = process_name(run, name, sizeof(name)),
		.agg = &run->agg,
		.by_conn = run->env.by_conn,
	};
	int err = flame_build(&in, run->env.flame, views, &r->self_cpu), status = 0;

	if (err)
		fprintf(stderr, "conctrace: building flame graphs: %s\n", strerror(-err));
	if (write_reports(run, r))
		status = 1;
	for (int v = 0; v < VIEW_COUNT && !err; v++) {
		const char *failed = NULL, *why;
		int werr;

		if (!views[v])
			continue;
		if (run->env.folded_path)
			view_path(run->env.folded_path, run->env.flame, v, folded_path,
				  sizeof(folded_path));
		if (run->env.svg_path)
			view_path(run->env.svg_path, run->env.flame, v, svg_path, sizeof(svg_path));
		werr = flame_write(v, views[v], name, run->env.folded_path ? folded_path : NULL,
				   run->env.svg_path ? svg_path : NULL, &failed, &why);
		if (werr) {
			fprintf(stderr, "conctrace: cannot write %s: %s\n", failed, why);
			status = 1;
			continue;
		}
		fprintf(stderr, "conctrace: %s flame: %zu stacks%s%s%s%s\n", view_names[v],
			folded_count(views[v]),
			run->env.folded_path ? ", " : "", run->env.folded_path ? folded_path : "",
			run->env.svg_path ? ", " : "", run->env.svg_path ? svg_path : "");
	}
	for (int v = 0; v < VIEW_COUNT; v++)
		folded_free(views[v]);
	return err ? 1 : status;
}

static char *describe_target(const struct env *env, char *buf, size_t len)
{
	size_t off = 0;

	if (!env->cmd)
		return attached_name(env, buf, len);
	buf[0] = '\0';
	for (char **a = env->cmd; *a && off + 1 < len; a++)
		off += (size_t)snprintf(buf + off, len - off, "%s%s", a == env->cmd ? "" : " ", *a);
	return buf;
}

static int cgroup_members(void *ctx, int sig)
{
	return memcg_signal(ctx, sig);
}

/* --cgroup: the held child goes into a fresh memory cgroup before it execs,
 * so everything the server allocates is charged there, and stopping the
 * target stops all of it, daemons that left its process group included. */
static int start_memcg(struct run *run)
{
	char name[64];
	const char *why;
	unsigned int r = 0;
	int err;

	/* a name nobody can take first: mkdir refuses an existing group
	 * (never joins it), and a random part leaves nothing to guess */
	if (getrandom(&r, sizeof(r), 0) != sizeof(r))
		r = (unsigned int)now_s();
	snprintf(name, sizeof(name), "conctrace-%d-%08x", (int)getpid(), r);
	err = memcg_create(&run->memcg, name, &why);
	if (!err && (err = memcg_add(&run->memcg, run->target.pid)))
		why = "cannot move the command into its cgroup";
	if (err) {
		fprintf(stderr, "conctrace: --cgroup: %s%s%s: %s\n", why,
			run->memcg.path[0] ? " " : "", run->memcg.path, strerror(-err));
		memcg_destroy(&run->memcg);
		return err;
	}
	run->target.rest = cgroup_members;
	run->target.rest_ctx = &run->memcg;
	return 0;
}

/* Only once the target is reaped: a cgroup holding a process cannot go. */
static void stop_memcg(struct run *run)
{
	char path[sizeof(run->memcg.path)];
	int err;

	memcpy(path, run->memcg.path, sizeof(path));
	err = memcg_destroy(&run->memcg);
	if (err)
		fprintf(stderr, "conctrace: cannot remove cgroup %s: %s\n", path, strerror(-err));
}

/* Before tracing began: undo whatever was set up, in reverse; a launched
 * target that was still held never runs. */
static int give_up(struct run *run, int status)
{
	tracer_stop(&run->tracer);
	target_discard(&run->target);
	memcg_destroy(&run->memcg);
	symbolizer_free(run->sym);
	exporter_stop(&run->exporter);
	agg_free(&run->agg);
	free((char *)run->user.name);
	return status;
}

static void install_signals(void)
{
	struct sigaction sa = { .sa_handler = on_signal };

	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sa.sa_handler = on_sigchld;
	sa.sa_flags = SA_NOCLDSTOP;
	sigaction(SIGCHLD, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
}

int main(int argc, char **argv)
{
	static struct run run;
	struct tracer_opts topts = { 0 };
	struct report report;
	char target_desc[512], exit_buf[64], load_buf[96];
	int err, status = 0;

	switch (parse_args(argc, argv, &run.env)) {
	case ARGS_RUN:
		break;
	case ARGS_HELP:
		return 0;
	case ARGS_BAD:
		return 2;
	case ARGS_VERSION:
		/* no program interpreter (AT_BASE 0): the static build, whose
		 * libbpf is the one built in, whatever the machine has */
		printf("conctrace %s (libbpf %d.%d, %s)\n", CONCTRACE_VERSION,
		       libbpf_major_version(), libbpf_minor_version(),
		       getauxval(AT_BASE) ? "shared library" : "built in: static binary");
		return tracer_probe(run.env.verbose) ? 1 : 0;
	}
	if (check_outputs(&run.env))
		return 1;	/* nothing started yet */
	install_signals();
	slab_sizes_read(&run.slabs);
	agg_init(&run.agg, run.env.json_conns > run.env.top_conns ? run.env.json_conns : run.env.top_conns);
	run.agg.slabs = &run.slabs;
	if (run.env.prometheus &&
	    exporter_start(&run.exporter, &run.env.prom_addr, run.env.prom_addr_len))
		return 1;	/* before the target exists: nothing to stop */

	if (run.env.user && target_user_lookup(run.env.user, &run.user))
		return give_up(&run, 1);
	if (!run.env.cmd && attach_checked(&run.target, &run.env))
		return give_up(&run, 1);
	if (run.env.cmd) {
		err = command_lookup(run.env.cmd[0], getenv("PATH"), run.exe, sizeof(run.exe));
		if (err) {
			fprintf(stderr, "conctrace: %s: %s\n", run.env.cmd[0],
				err == -ENOENT ? "command not found" : strerror(-err));
			return give_up(&run, err == -ENOENT ? 127 : 126);
		}
	}
	if (run.env.cmd && (err = target_spawn_held(&run.target, run.env.cmd, &run.user))) {
		fprintf(stderr, "conctrace: cannot start the command: %s\n", strerror(-err));
		return give_up(&run, 1);
	}
	if (run.env.cgroup && start_memcg(&run))
		return give_up(&run, 1);

	topts.target = run.target.pid;
	topts.max_conns = run.env.max_conns;
	topts.initial_threads = run.target.launched ? 1 : attached_threads(&run.env);
	if (run.env.npids > 1) {
		topts.more_targets = &run.env.pids[1];
		topts.n_more_targets = run.env.npids - 1;
	}
	topts.verbose = run.env.verbose;
	topts.no_syscalls = run.env.no_syscalls;
	topts.syscall_time = run.env.syscall_time;
	topts.held = !run.target.launched;
	topts.exe = run.target.launched ? run.exe : NULL;
	topts.flame_views = views_bpf(run.env.flame);
	topts.flame_by_conn = run.env.by_conn;
	topts.cpu_sample_hz = run.env.sample_hz;
	if (topts.flame_views && !(run.sym = symbolizer_new())) {
		fprintf(stderr, "conctrace: out of memory\n");
		return give_up(&run, 1);
	}
	topts.on_event = on_event;
	topts.ctx = &run;
	if (tracer_start(&run.tracer, &topts))
		return give_up(&run, 1);	/* the target never execs untraced */

	/* Ctrl-C while the programs loaded: the target never runs, and an
	 * attached one is left alone; nothing was traced, so no report */
	if (exiting) {
		fprintf(stderr, "conctrace: interrupted before tracing began\n");
		return give_up(&run, 128 + exit_signal);
	}

	/* the line scripts wait for: from here on, nothing is missed */
	fprintf(stderr, "conctrace: tracing pid %d; Ctrl-C to stop and report\n",
		(int)run.target.pid);
	run.t0 = now_s();
	describe_target(&run.env, target_desc, sizeof(target_desc));
	if (run.env.prometheus) {
		run.agg.observer = exporter_observe;
		run.agg.observer_ctx = &run.exporter;
		run.agg.observe_after_s = EXPORTER_SETTLE_S;
	}
	run.source = (struct run_source){
		.tracer = &run.tracer, .agg = &run.agg, .closed = &run.closed,
		.slabs = &run.slabs, .pid = run.target.pid, .t0 = run.t0, .top_conns = run.env.top_conns,
		.target = target_desc,
		.pids = run.target.launched ? &run.target.pid : run.env.pids,
		.npids = run.target.launched ? 1 : run.env.npids,
		.attached = !run.target.launched,
	};
	run.last.t = run.t0;
	exporter_attach(&run.exporter, &run.source, run.env.bpf_stats);
	if (run.env.live_s)
		live_view_start(&run.view, json_to_stdout(&run.env) ? stderr : stdout,
				run.env.live_s, &run.source);
	timeline_init(&run.timeline);
	timeline_pace(&run.timeline, SAMPLE_MIN_S, SAMPLE_COST_RATIO);
	slab_counts_read(&run.slab_start);
	memcg_read(&run.memcg, &run.memcg_start);
	if (!run.target.launched)
		take_sample(&run, run.t0, SAMPLE);	/* where an attached target starts */
	if (run.target.launched) {
		long long rss;

		/* blocked on its pipe, it grows no more until "go" */
		if (!proc_rss_hwm(run.target.pid, &rss, &run.held_hwm))
			run.held_hwm = -1;
		run.held_cpu_ns = proc_run_ns(run.target.pid);
		if (!proc_switches(run.target.pid, &run.held_nvcsw, &run.held_nivcsw))
			run.held_nvcsw = run.held_nivcsw = -1;
		err = target_release(&run.target);
		if (err && run.target.user_failed) {
			fprintf(stderr, "conctrace: --user: cannot become %s: %s\n",
				run.user.name, strerror(err));
			status = 126;
			goto cleanup;
		} else if (err) {
			fprintf(stderr, "conctrace: %s: %s\n", run.env.cmd[0],
				err == ENOENT ? "command not found" : strerror(err));
			status = err == ENOENT ? 127 : 126;
			goto cleanup;
		}
	}

	status = trace_loop(&run);
	live_view_stop(&run.view);	/* the report goes to the normal screen */
	/* memory as it stands while the target still holds its sockets */
	take_sample(&run, now_s(), SAMPLE_LAST);
	loaddriver_stop(&run.load);
	/* what the target holds as it ends is the report's: no process's
	 * memory is given back from here */
	tracer_note_target_stopping(&run.tracer);
	target_stop(&run.target, exit_signal ? exit_signal : SIGTERM, run.env.grace_s);
	if (!run.target.launched && run.target.exited &&
	    (run.target.status = tracer_target_exit_status(&run.tracer)) >= 0)
		run.target.status_known = true;	/* not our child: BPF saw how */
	note_unsampled_peak(&run);

	build_report(&run, &report, exit_buf, sizeof(exit_buf));
	report.target = target_desc;	/* as named at the start: it may be gone */
	report.load_failure = loaddriver_failure(&run.load, load_buf, sizeof(load_buf));
	if (run.env.flame ? write_flames(&run, &report) : write_reports(&run, &report))
		status = 1;
	if (!status && report.load_failure)
		status = EXIT_LOAD_FAILED;
	if (!status)
		status = target_exit_code(&run.target);
cleanup:
	live_view_stop(&run.view);
	exporter_stop(&run.exporter);
	tracer_stop(&run.tracer);
	target_stop(&run.target, SIGKILL, 0);
	stop_memcg(&run);
	symbolizer_free(run.sym);
	agg_free(&run.agg);
	timeline_free(&run.timeline);
	free((char *)run.user.name);
	return status;
}
