// SPDX-License-Identifier: MIT
/*
 * The BPF side's lifecycle: open the skeleton, configure it before load
 * (target, syscall table, map sizes), drop programs whose tracepoint this
 * kernel lacks, load, attach, read counters, destroy.
 */
#include "tracer/tracer.h"

#include <errno.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <linux/perf_event.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>

#include "conctrace.skel.h"
#include "host/procfs.h"
#include "model/syscalls.h"
#include "tracer/conn_gens.h"
#include "tracer/go_probes.h"
#include "tracer/py_probes.h"
#include "tracer/v8_probes.h"
#include "tracer/libbpf_log.h"
#include "tracer/plan.h"
#include "tracer/programs.h"
#include "tracer/snapshot.h"
#include "tracer/uv_probes.h"

#define CAP_PERFMON_BIT	38
#define CAP_BPF_BIT	39
#define CAP_SYS_ADMIN_BIT 21

/* May this process load and attach tracing programs? CAP_BPF with
 * CAP_PERFMON, or CAP_SYS_ADMIN (kernels before 5.8 know only that). */
static bool has_bpf_privileges(void)
{
	struct __user_cap_header_struct {
		__u32 version;
		int pid;
	} hdr = { 0x20080522 /* _LINUX_CAPABILITY_VERSION_3 */, 0 };
	struct { __u32 effective, permitted, inheritable; } data[2] = { 0 };
	__u64 eff;

	if (syscall(SYS_capget, &hdr, data))
		return geteuid() == 0;
	eff = data[0].effective | (__u64)data[1].effective << 32;
	return (eff >> CAP_SYS_ADMIN_BIT & 1) ||
	       ((eff >> CAP_BPF_BIT & 1) && (eff >> CAP_PERFMON_BIT & 1));
}

/* The kernel's release, as uname -r prints it. */
static const char *kernel_release(char *buf, size_t len)
{
	struct utsname u;

	snprintf(buf, len, "%s", uname(&u) ? "unknown" : u.release);
	return buf;
}

/* A failure to say in one line: the capabilities, BTF, or the kernel's
 * own reason (reason, else err's text), with libbpf's last lines. */
static int explain(const char *what, int err, const char *reason)
{
	err = err < 0 ? -err : err;
	if (access("/sys/kernel/btf/vmlinux", R_OK) != 0) {
		fprintf(stderr, "conctrace: kernel lacks BTF (/sys/kernel/btf/vmlinux): "
			"needs a kernel built with CONFIG_DEBUG_INFO_BTF=y\n");
	} else if ((err == EPERM || err == EACCES) && !has_bpf_privileges()) {
		fprintf(stderr, "conctrace: %s: permission denied: run as root (try sudo) "
			"or grant CAP_BPF and CAP_PERFMON\n", what);
	} else {
		fprintf(stderr, "conctrace: %s: %s\n", what,
			reason && reason[0] ? reason : strerror(err));
		libbpf_log_print_tail(stderr, 4, "  libbpf: ");
	}
	return -err;
}

/* A per-CPU variable's offset in the per-CPU section, from BTF; -1 if absent. */
static long percpu_var_offset(const struct btf *btf, const char *name)
{
	const struct btf_var_secinfo *vs;
	const struct btf_type *t;
	int id = btf__find_by_name_kind(btf, ".data..percpu", BTF_KIND_DATASEC);

	if (id <= 0)
		return -1;
	t = btf__type_by_id(btf, id);
	vs = btf_var_secinfos(t);
	for (int i = 0; i < btf_vlen(t); i++, vs++) {
		const struct btf_type *var = btf__type_by_id(btf, vs->type);

		if (!strcmp(btf__name_by_offset(btf, var->name_off), name))
			return (long)vs->offset;
	}
	return -1;
}

/*
 * To sum an mm's per-CPU RSS counters exactly, BPF needs each CPU's
 * per-CPU offset, which x86 keeps in the per-CPU variable this_cpu_off.
 * BPF finds each CPU's runqueues (its struct rq) at a context switch; the
 * two variables' distance within a CPU's area is that of their section
 * offsets. 0 where either is missing: the sums are then approximate.
 */
static __s64 rq_to_this_cpu_off(const struct btf *btf)
{
	long rq = percpu_var_offset(btf, "runqueues");
	long tco = percpu_var_offset(btf, "this_cpu_off");

	return rq < 0 || tco < 0 ? 0 : (__s64)tco - rq;
}

/*
 * CONCTRACE_RINGBUF_BYTES: a smaller ring buffer for the tests that make
 * it overflow on purpose (a power of two, at least a page). Not an option:
 * 1 MiB holds ~1,800 closed connections between two polls, and the
 * overflow map the rest of a burst.
 */
static void ringbuf_size_from_env(struct conctrace_bpf *skel)
{
	const char *v = getenv("CONCTRACE_RINGBUF_BYTES");
	unsigned long n;
	char *end;

	if (!v)
		return;
	n = strtoul(v, &end, 10);
	if (*end || n < (unsigned long)sysconf(_SC_PAGESIZE) || (n & (n - 1)) || n > (1ul << 30)) {
		fprintf(stderr, "conctrace: warning: ignoring CONCTRACE_RINGBUF_BYTES=%s "
			"(a power of two from a page to 1 GiB)\n", v);
		return;
	}
	bpf_map__set_max_entries(skel->maps.events, (__u32)n);
}

/*
 * CONCTRACE_RING_OVERFLOW: fewer records in the overflow map, for the
 * tests that make both it and the ring overflow on purpose, so that a
 * lost record is counted. Not an option.
 */
static void overflow_size_from_env(struct conctrace_bpf *skel)
{
	const char *v = getenv("CONCTRACE_RING_OVERFLOW");
	unsigned long n;
	char *end;

	if (!v)
		return;
	n = strtoul(v, &end, 10);
	if (*end || n < 1 || n > (1ul << 24)) {
		fprintf(stderr, "conctrace: warning: ignoring CONCTRACE_RING_OVERFLOW=%s "
			"(1 to 16777216)\n", v);
		return;
	}
	bpf_map__set_max_entries(skel->maps.overflow, (__u32)n);
}

/* The inode of our network namespace, as the kernel numbers it (ns.inum). */
static __u32 own_netns(void)
{
	struct stat st;

	return stat("/proc/self/ns/net", &st) == 0 ? (__u32)st.st_ino : 0;
}

/* The target's program file: the command's, or an attached process's
 * /proc/PID/exe (into buf) */
static const char *target_exe(const struct tracer_opts *o, char *buf, size_t len)
{
	snprintf(buf, len, "/proc/%d/exe", (int)o->target);
	return o->exe ? o->exe : buf;
}

static struct conctrace_bpf *open_configured(struct tracer *t, const struct tracer_opts *o,
					     const struct btf *vmlinux)
{
	struct conctrace_bpf *skel = conctrace_bpf__open();
	__u16 flags[SYSCALL_MAX] = { 0 };
	char exe[64];

	if (!skel)
		return NULL;
	skel->bss->target_tgid = (__u32)o->target;
	skel->rodata->page_size = (__u32)sysconf(_SC_PAGESIZE);
	skel->rodata->nr_cpus = (__u32)libbpf_num_possible_cpus();
	skel->rodata->rq_to_this_cpu_off = vmlinux ? rq_to_this_cpu_off(vmlinux) : 0;
	syscall_flags_fill(flags, SYSCALL_MAX);
	for (unsigned int i = 0; i < SYSCALL_MAX; i++)
		skel->rodata->syscall_flags[i] = flags[i];
	skel->bss->live_threads = o->initial_threads;
	skel->bss->threads_peak = o->initial_threads;
	t->n_gens_planned = conn_gen_sizes(o->max_conns, conn_gen0_from_env(), t->gen_size);
	bpf_map__set_max_entries(skel->maps.conns_g0, t->gen_size[0]);
	skel->bss->grow_at = t->n_gens_planned > 1 ? t->gen_size[0] / 2 : 0;
	ringbuf_size_from_env(skel);
	overflow_size_from_env(skel);
	skel->rodata->no_syscall_hooks = o->no_syscalls;
	skel->rodata->syscall_time = o->syscall_time;
	skel->rodata->tracer_netns = own_netns();
	if (o->no_syscalls) {
		/* and their stand-ins with them (plan_programs) */
		bpf_program__set_autoload(skel->progs.on_sys_enter, false);
		bpf_program__set_autoload(skel->progs.on_sys_exit, false);
		/* a hand-off is told from an interrupt's wakeup by the
		 * waker's syscall, which light mode does not see */
		bpf_program__set_autoload(skel->progs.on_sched_waking, false);
		/* an iterator over a map: attached once the map exists */
		bpf_program__set_autoattach(skel->progs.sweep_ended, false);
	} else {
		/* close() is seen as a syscall: the sweep is not needed; the
		 * socket's release is, for a forking server's connection whose
		 * child exits without closing it (CONN_OUTLIVED) */
		bpf_program__set_autoload(skel->progs.sweep_ended, false);
	}
	skel->rodata->flame_views = o->flame_views;
	skel->rodata->flame_by_conn = o->flame_by_conn;
	skel->rodata->cpu_sample_ns = o->cpu_sample_hz ? 1000000000ull / o->cpu_sample_hz : 0;
	if (!o->flame_views) {	/* a stack map preallocates: keep it tiny */
		bpf_map__set_max_entries(skel->maps.stacks, 1);
		bpf_map__set_max_entries(skel->maps.stack_scratch, 1);
		bpf_map__set_max_entries(skel->maps.flame_counts, 1);
	}
	if (!(o->flame_views & (1u << FV_KMEM))) {
		bpf_program__set_autoload(skel->progs.on_kmem_cache_alloc, false);
		bpf_program__set_autoload(skel->progs.on_kmalloc, false);
	}
	if (!(o->flame_views & (1u << FV_CPU)))
		bpf_program__set_autoload(skel->progs.on_cpu_sample, false);
	if (!o->held) {
		bpf_program__set_autoload(skel->progs.held_sockets, false);
		bpf_program__set_autoload(skel->progs.held_threads, false);
		bpf_program__set_autoload(skel->progs.held_uring, false);
		bpf_program__set_autoload(skel->progs.held_stacks, false);
		bpf_map__set_max_entries(skel->maps.held_stack_users, 1);
	}
	/* uprobes: attached where a binary has libuv (uv_probes.c) */
	bpf_program__set_autoattach(skel->progs.on_uv_queue_work, false);
	bpf_program__set_autoattach(skel->progs.on_uv_work, false);
	bpf_program__set_autoattach(skel->progs.on_uv_work_done, false);
	bpf_program__set_autoattach(skel->progs.on_uv_queue_work_run, false);
	/* and in a Go binary (go_probes.c), whose maps nothing else fills;
	 * its threads are its runtime's (on_process_fork) */
	skel->rodata->go_target = go_binary(target_exe(o, exe, sizeof(exe)));
	if (!skel->rodata->go_target) {
		bpf_map__set_max_entries(skel->maps.go_senders, 1);
		bpf_map__set_max_entries(skel->maps.go_conns, 1);
		bpf_map__set_max_entries(skel->maps.go_locked_handoffs, 1);
	}
	bpf_program__set_autoattach(skel->progs.on_go_chan_park, false);
	bpf_program__set_autoattach(skel->progs.on_go_chan_recv, false);
	bpf_program__set_autoattach(skel->progs.on_go_chan_send, false);
	/* and in a Python's asyncio (py_probes.c) */
	bpf_program__set_autoattach(skel->progs.on_asyncio_step, false);
	bpf_program__set_autoattach(skel->progs.on_gc_start, false);
	bpf_program__set_autoattach(skel->progs.on_gc_done, false);
	bpf_program__set_autoattach(skel->progs.on_compile_start, false);
	bpf_program__set_autoattach(skel->progs.on_compile_done, false);
	bpf_program__set_autoattach(skel->progs.on_runtime_thread, false);
	bpf_program__set_autoattach(skel->progs.on_py_queue_put, false);
	bpf_program__set_autoattach(skel->progs.on_py_queue_got, false);
	snapshot_plan(skel, vmlinux);
	plan_programs(t, skel->obj, vmlinux);
	/* neither socket-length tracepoints nor fexit: in full mode the bytes
	 * are the syscalls' results */
	t->bytes_from_syscalls = !o->no_syscalls &&
		(plan_all_dropped(t, "on_sock_recv_length") || plan_all_dropped(t, "on_sock_send_length"));
	skel->rodata->bytes_from_syscalls = t->bytes_from_syscalls;
	skel->rodata->outlive_closes = !o->no_syscalls &&
		bpf_program__autoload(skel->progs.on_inet_sock_set_state);
	/* light mode ends a connection its family's iterator no longer finds */
	skel->rodata->sweep_tcp = bpf_program__autoload(skel->progs.snapshot_tcp);
	skel->rodata->sweep_unix = bpf_program__autoload(skel->progs.snapshot_unix);
	return skel;
}

static void detach_cpu_sampling(struct tracer *t)
{
	for (int i = 0; i < t->n_cpu_links; i++)
		bpf_link__destroy(t->cpu_links[i]);
	free(t->cpu_links);
	t->cpu_links = NULL;
	t->n_cpu_links = 0;
}

/* One CPU-clock perf event per CPU, sampling at hz, each running on_cpu_sample. */
static int attach_cpu_sampling(struct tracer *t, unsigned int hz)
{
	int ncpu = libbpf_num_possible_cpus();

	t->cpu_links = calloc((size_t)ncpu, sizeof(*t->cpu_links));
	if (!t->cpu_links)
		return -ENOMEM;
	for (int cpu = 0; cpu < ncpu; cpu++) {
		struct perf_event_attr attr = {
			.type = PERF_TYPE_SOFTWARE,
			.config = PERF_COUNT_SW_CPU_CLOCK,
			.size = sizeof(attr),
			.sample_freq = hz,
			.freq = 1,
		};
		int fd = (int)syscall(__NR_perf_event_open, &attr, -1, cpu, -1, PERF_FLAG_FD_CLOEXEC);
		struct bpf_link *link;

		if (fd < 0) {
			if (errno == ENODEV)
				continue;	/* a possible CPU that is not online */
			return -errno;
		}
		link = bpf_program__attach_perf_event(t->skel->progs.on_cpu_sample, fd);
		if (!link) {
			int err = -errno;

			close(fd);
			return err;
		}
		t->cpu_links[t->n_cpu_links++] = link;	/* the link owns fd now */
	}
	return 0;
}

/*
 * The oldest kernels lack what the core is built on: say so in one line
 * rather than let the load fail with EINVAL. Task-local storage (5.11)
 * holds every thread's state.
 */
static int check_kernel(void)
{
	char rel[128];

	if (libbpf_probe_bpf_map_type(BPF_MAP_TYPE_TASK_STORAGE, NULL) == 0) {
		fprintf(stderr, "conctrace: needs Linux %s or newer (task-local storage, "
			"BPF_MAP_TYPE_TASK_STORAGE); this is %s\n", TRACER_MIN_KERNEL,
			kernel_release(rel, sizeof(rel)));
		return -EOPNOTSUPP;
	}
	return 0;	/* unprivileged, the probe cannot tell: the load will */
}

/*
 * Attach every loaded program that attaches on its own (the map iterator
 * and the perf events are attached apart). 1 with *failed set if an
 * optional one could not be: leave it out and load again, so a stand-in
 * can take its place; negative if a core one could not.
 */
static int attach_programs(struct tracer *t, const char **failed, int *failed_err)
{
	struct bpf_object_skeleton *s = t->skel->skeleton;

	for (int i = 0; i < s->prog_cnt; i++) {
		struct bpf_program *prog = *s->progs[i].prog;
		struct bpf_link **link = s->progs[i].link;

		if (!bpf_program__autoload(prog) || !bpf_program__autoattach(prog) ||
		    bpf_program__type(prog) == BPF_PROG_TYPE_PERF_EVENT)
			continue;
		*link = bpf_program__attach(prog);
		if (*link)
			continue;
		*failed = bpf_program__name(prog);
		*failed_err = errno;
		if (prog_is_core(*failed, t->light)) {
			char what[128];

			snprintf(what, sizeof(what), "cannot attach %s", *failed);
			return explain(what, *failed_err, NULL);
		}
		return 1;
	}
	return 0;
}

/*
 * Open, configure, load and attach; a program the kernel refuses is left
 * out and the whole load is tried again without it (a failed load cannot
 * be resumed), its stand-in in its place if it has one. Each retry drops
 * one program, so this ends.
 */
/* Processes traced beside the first (-p with several): into the target
 * set, as a pre-forked server's workers enter it on fork. */
static int seed_targets(struct tracer *t, const struct tracer_opts *o)
{
	int fd = bpf_map__fd(t->skel->maps.targets);
	__u8 one = 1;

	for (unsigned int i = 0; i < o->n_more_targets; i++) {
		__u32 tgid = (__u32)o->more_targets[i];

		if (tgid == (__u32)o->target)
			continue;
		if (bpf_map_update_elem(fd, &tgid, &one, BPF_NOEXIST) && errno != EEXIST)
			return explain("cannot add a target pid", errno, NULL);
		t->skel->bss->nr_extra_targets++;
	}
	return 0;
}

/* The target set's other processes, as BPF keeps it (tracer.h): a walk of
 * the map's keys, a few a tree. */
unsigned int tracer_extra_targets(struct tracer *t, pid_t *out, unsigned int max)
{
	int fd = t->skel ? bpf_map__fd(t->skel->maps.targets) : -1;
	__u32 key, next, *prev = NULL;
	unsigned int n = 0;

	if (fd < 0)
		return 0;
	while (!bpf_map_get_next_key(fd, prev, &next)) {
		if (n < max)
			out[n] = (pid_t)next;
		n++;
		key = next;
		prev = &key;
	}
	return n;
}

static int load_and_attach(struct tracer *t, const struct tracer_opts *o,
			   const struct btf *vmlinux)
{
	for (int attempt = 0; attempt <= TRACER_MAX_PROGS; attempt++) {
		const char *failed = NULL, *alt[1];
		char why[400], verdict[300];
		int err, attach_err = 0;

		conctrace_bpf__destroy(t->skel);
		t->skel = open_configured(t, o, vmlinux);
		if (!t->skel)
			return explain("cannot open BPF object", errno, NULL);
		if ((err = plan_check_core(t)) || (err = plan_check_light_mode(t)))
			return err;
		libbpf_log_clear();
		err = conctrace_bpf__load(t->skel);
		if (err) {
			failed = libbpf_log_failed_prog();
			libbpf_log_verdict(verdict, sizeof(verdict));
			if (!failed) {
				const char *map = libbpf_log_failed_map();
				char what[160];

				snprintf(what, sizeof(what), "cannot load BPF programs%s%s%s",
					 map ? " (map " : "", map ? map : "", map ? ")" : "");
				return explain(what, err, NULL);
			}
			/* a core program with a stand-in is retried without it */
			if ((prog_is_core(failed, t->light) && !prog_fallbacks(failed, alt, 1)) ||
			    (!has_bpf_privileges() && (err == -EPERM || err == -EACCES))) {
				char what[160];
				const struct prog_role *r = prog_role(failed);

				snprintf(what, sizeof(what), "the kernel refused %s (%s), which conctrace "
					 "cannot run without", failed, r ? r->figure : failed);
				return explain(what, err, verdict);
			}
			snprintf(why, sizeof(why), "the kernel refused %s: %s", failed,
				 verdict[0] ? verdict : strerror(-err));
			plan_drop(t, failed, why);
			continue;
		}
		if ((err = seed_targets(t, o)))
			return err;
		err = attach_programs(t, &failed, &attach_err);
		if (err < 0)
			return err;
		if (err > 0) {
			snprintf(why, sizeof(why), "cannot attach %s: %s", failed,
				 strerror(attach_err));
			plan_drop(t, failed, why);
			continue;
		}
		return 0;
	}
	return explain("cannot load BPF programs", EINVAL, NULL);	/* not reached */
}

/*
 * rss_stat's exact read needs every CPU's per-CPU offset, which the
 * scheduler's program learns at a CPU's first switch after attaching. A
 * launched target's first faults come at once, on a CPU that may not have
 * switched yet (rss_inexact): so make each CPU switch now, by sleeping a
 * moment on each in turn.
 */
static void switch_on_every_cpu(void)
{
	cpu_set_t was, one;
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	struct timespec tick = { .tv_nsec = 1000 };

	if (sched_getaffinity(0, sizeof(was), &was))
		return;
	for (long cpu = 0; cpu < n && cpu < CPU_SETSIZE; cpu++) {
		if (!CPU_ISSET(cpu, &was))
			continue;
		CPU_ZERO(&one);
		CPU_SET(cpu, &one);
		if (!sched_setaffinity(0, sizeof(one), &one))
			nanosleep(&tick, NULL);
	}
	sched_setaffinity(0, sizeof(was), &was);
}

/* Light mode's sweep over generation g of the connection map: an
 * iterator is attached to one map. */
/* Every record to on_event, but EV_GROW, which is the tracer's own. */
static int ring_record(void *ctx, void *data, size_t len)
{
	struct tracer *t = ctx;
	__u32 type;

	if (len < sizeof(type))
		return 0;
	memcpy(&type, data, sizeof(type));
	if (type == EV_GROW) {
		tracer_grow(t);
		return 0;
	}
	if (type == EV_UV_CALLBACK && len >= sizeof(struct uv_callback_event)) {
		uv_probes_callback(t, data);
		return 0;
	}
	return t->on_event ? t->on_event(t->ctx, data, len) : 0;
}

/* tracer_start without the warnings: the probe prints its own. */
static int tracer_start_quiet(struct tracer *t, const struct tracer_opts *o)
{
	struct btf *vmlinux;
	int err;

	memset(t, 0, sizeof(*t));
	t->light = o->no_syscalls;
	t->syscall_time = o->syscall_time;
	t->on_event = o->on_event;
	t->ctx = o->ctx;
	libbpf_log_start(o->verbose);
	if ((err = check_kernel()))
		return err;
	vmlinux = btf__load_vmlinux_btf();	/* NULL: the load fails and says why */
	err = load_and_attach(t, o, vmlinux);
	tracer_learn_conn_elem(t, vmlinux);
	btf__free(vmlinux);
	if (err)
		goto fail;
	t->gen_fd[0] = bpf_map__fd(t->skel->maps.conns_g0);
	t->n_gens = 1;
	tracer_learn_fixed_maps(t);
	if (o->no_syscalls && bpf_program__autoload(t->skel->progs.sweep_ended)) {
		char why[128];

		if (tracer_attach_sweep(t, 0)) {
			snprintf(why, sizeof(why), "cannot attach sweep_ended: %s", strerror(errno));
			plan_drop(t, "sweep_ended", why);
		}
	}
	t->sweep_in_userspace = o->no_syscalls && !t->sweep[0];
	if (o->flame_views & (1u << FV_CPU) && bpf_program__autoload(t->skel->progs.on_cpu_sample)) {
		err = attach_cpu_sampling(t, o->cpu_sample_hz);
		if (err) {
			char why[128];

			detach_cpu_sampling(t);
			snprintf(why, sizeof(why), "cannot open on-CPU sampling (perf_event_open): %s",
				 strerror(-err));
			plan_drop(t, "on_cpu_sample", why);
			err = 0;
		}
	}
	switch_on_every_cpu();
	/* attached: what the target holds already, before the first sample
	 * (a record the threads' walk completes) */
	tracer_run_iter(t->skel->links.held_sockets);
	tracer_run_iter(t->skel->links.held_threads);
	tracer_run_iter(t->skel->links.held_uring);
	/* twice: count the connections naming each stack-like mapping, then
	 * charge those named once (progs/held.bpf.h) */
	tracer_run_iter(t->skel->links.held_stacks);
	t->skel->bss->held_stacks_pass = 1;
	tracer_run_iter(t->skel->links.held_stacks);
	{
		char buf[64];
		const char *exe = target_exe(o, buf, sizeof(buf));

		uv_probes_attach(t, exe);
		go_probes_attach(t, exe);
		py_probes_attach(t, exe);
		v8_probes_attach(t, exe);
	}
	t->rb = ring_buffer__new(bpf_map__fd(t->skel->maps.events), ring_record, t, NULL);
	if (!t->rb) {
		err = explain("cannot open the ring buffer", errno, NULL);
		goto fail;
	}
	return 0;
fail:
	tracer_stop(t);
	return err;
}

int tracer_start(struct tracer *t, const struct tracer_opts *o)
{
	int err = tracer_start_quiet(t, o);

	if (!err)
		plan_report(t, stderr, "conctrace: warning: ", o->verbose);
	return err;
}

/*
 * The records the ring could not take, out of the overflow map and to
 * on_event as the ring would have handed them, if BPF put any there since
 * the last time. The keys are gathered first: a hash map walked while it
 * shrinks may skip or repeat entries. One put there during the walk moves
 * the count again, and waits for the next poll.
 */
static int drain_overflow(struct tracer *t)
{
	__u64 now = __atomic_load_n(&t->skel->bss->ring_overflowed, __ATOMIC_ACQUIRE);
	int fd = bpf_map__fd(t->skel->maps.overflow);
	__u64 *ids = NULL, key, *prev = NULL;
	size_t n = 0, cap = 0;
	int handed = 0;

	if (now == t->overflow_drained)
		return 0;
	while (bpf_map_get_next_key(fd, prev, &key) == 0) {
		if (n == cap) {
			size_t c = cap ? 2 * cap : 256;
			__u64 *more = realloc(ids, c * sizeof(*ids));

			if (!more)
				break;	/* the rest at the next poll */
			ids = more;
			cap = c;
		}
		ids[n++] = key;
		prev = &ids[n - 1];
	}
	for (size_t i = 0; i < n; i++) {
		struct conn_event ev = { .type = EV_CONN_CLOSED };

		if (bpf_map_lookup_elem(fd, &ids[i], &ev.conn) || bpf_map_delete_elem(fd, &ids[i]))
			continue;
		handed++;
		if (t->on_event)
			t->on_event(t->ctx, &ev, sizeof(ev));
	}
	free(ids);
	if (n == 0 || handed == (int)n)
		t->overflow_drained = now;
	return handed;
}

int tracer_poll(struct tracer *t, int timeout_ms)
{
	int n = ring_buffer__poll(t->rb, timeout_ms);

	if (n == -EINTR)
		n = 0;
	if (n >= 0)
		n += drain_overflow(t);
	tracer_grow(t);
	return n;
}

void tracer_note_target_stopping(struct tracer *t)
{
	if (t->skel)
		__atomic_store_n(&t->skel->bss->target_stopping, 1, __ATOMIC_RELEASE);
}

void tracer_links_destroy(struct bpf_link **links, int n)
{
	for (int i = 0; i < n; i++) {
		bpf_link__destroy(links[i]);
		links[i] = NULL;
	}
}

void tracer_stop(struct tracer *t)
{
	uv_probes_detach(t);
	go_probes_detach(t);
	py_probes_detach(t);
	v8_probes_detach(t);
	for (int g = 0; g < CONN_GENS; g++) {
		bpf_link__destroy(t->sweep[g]);
		t->sweep[g] = NULL;
		if (g > 0 && g < t->n_gens)
			close(t->gen_fd[g]);	/* the first is the skeleton's */
	}
	t->n_gens = 0;
	detach_cpu_sampling(t);
	ring_buffer__free(t->rb);
	conctrace_bpf__destroy(t->skel);
	t->rb = NULL;
	t->skel = NULL;
}

/* Start in one mode against conctrace itself, say what loads, and stop.
 * flame: full mode with every --flame view, whose stack programs and
 * code paths the verifier sees only then. */
static int probe_mode(bool light, bool flame, bool verbose)
{
	struct tracer_opts o = {
		.target = getpid(), .max_conns = 1, .verbose = verbose, .no_syscalls = light,
		.flame_views = flame ? (1u << FV_COUNT) - 1 : 0, .cpu_sample_hz = flame ? 99 : 0,
	};
	static struct tracer t;
	int err;

	fflush(stdout);		/* its lines before any error's */
	err = tracer_start_quiet(&t, &o);
	printf("%s: %s\n", flame ? "flame mode (full, --flame all)" :
	       light ? "light mode (--no-syscalls)" : "full mode",
	       err ? "does not load (the error above says why)" : "loads");
	if (err)
		return err;
	plan_report(&t, stdout, "  ", true);
	tracer_stop(&t);
	return 0;
}

int tracer_probe(bool verbose)
{
	char rel[128];
	int full, light;

	printf("kernel: Linux %s (conctrace needs %s or newer, and measures every figure "
	       "from %s)\n", kernel_release(rel, sizeof(rel)), TRACER_MIN_KERNEL,
	       TRACER_FULL_KERNEL);
	fflush(stdout);
	if (check_kernel())
		return -EOPNOTSUPP;
	full = probe_mode(false, false, verbose);
	light = probe_mode(true, false, verbose);
	/* --flame is opt-in: said, not the verdict */
	probe_mode(false, true, verbose);
	return full ? full : light;
}
