// SPDX-License-Identifier: MIT
/*
 * The BPF side's lifecycle: open the skeleton, configure it before load
 * (target, syscall table, map sizes), drop programs whose tracepoint this
 * kernel lacks, load, attach, read counters, destroy.
 */
#include "tracer.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <linux/perf_event.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>

#include "conctrace.skel.h"
#include "syscalls.h"
#include "timeline.h"
#include "tracepoints.h"

static bool verbose_log;

static int print_libbpf(enum libbpf_print_level level, const char *fmt, va_list args)
{
	if (level == LIBBPF_DEBUG && !verbose_log)
		return 0;
	if (!verbose_log)
		return 0;	/* our own one-line messages say what matters */
	return vfprintf(stderr, fmt, args);
}

static int explain(const char *what, int err)
{
	err = err < 0 ? -err : err;
	if (access("/sys/kernel/btf/vmlinux", R_OK) != 0) {
		fprintf(stderr, "conctrace: kernel lacks BTF (/sys/kernel/btf/vmlinux): "
			"needs a kernel built with CONFIG_DEBUG_INFO_BTF=y\n");
	} else if (err == EPERM || err == EACCES) {
		fprintf(stderr, "conctrace: %s: permission denied: run as root (try sudo) "
			"or grant CAP_BPF and CAP_PERFMON\n", what);
	} else {
		fprintf(stderr, "conctrace: %s: %s%s\n", what, strerror(err),
			verbose_log ? "" : " (run with -v for libbpf's log)");
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
static __s64 rq_to_this_cpu_off(void)
{
	struct btf *btf = btf__load_vmlinux_btf();
	long rq, tco;

	if (!btf)
		return 0;
	rq = percpu_var_offset(btf, "runqueues");
	tco = percpu_var_offset(btf, "this_cpu_off");
	btf__free(btf);
	return rq < 0 || tco < 0 ? 0 : (__s64)tco - rq;
}

/*
 * CONCTRACE_RINGBUF_BYTES: a smaller ring buffer for the tests that make
 * it overflow on purpose (a power of two, at least a page). Not an option:
 * 8 MiB holds ~15,000 closed connections between two polls.
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

/* The inode of our network namespace, as the kernel numbers it (ns.inum). */
static __u32 own_netns(void)
{
	struct stat st;

	return stat("/proc/self/ns/net", &st) == 0 ? (__u32)st.st_ino : 0;
}

static struct conctrace_bpf *open_configured(const struct tracer_opts *o)
{
	struct conctrace_bpf *skel = conctrace_bpf__open();
	__u16 flags[SYSCALL_MAX] = { 0 };

	if (!skel)
		return NULL;
	skel->rodata->target_tgid = (__u32)o->target;
	skel->rodata->page_size = (__u32)sysconf(_SC_PAGESIZE);
	skel->rodata->nr_cpus = (__u32)libbpf_num_possible_cpus();
	skel->rodata->rss_from_zero = o->rss_from_zero;
	skel->rodata->rq_to_this_cpu_off = rq_to_this_cpu_off();
	syscall_flags_fill(flags, SYSCALL_MAX);
	for (unsigned int i = 0; i < SYSCALL_MAX; i++)
		skel->rodata->syscall_flags[i] = flags[i];
	skel->bss->live_threads = o->initial_threads;
	skel->bss->threads_peak = o->initial_threads;
	bpf_map__set_max_entries(skel->maps.conns, (__u32)o->max_conns);
	ringbuf_size_from_env(skel);
	skel->rodata->no_syscall_hooks = o->no_syscalls;
	skel->rodata->tracer_netns = own_netns();
	if (o->no_syscalls) {
		bpf_program__set_autoload(skel->progs.on_sys_enter, false);
		bpf_program__set_autoload(skel->progs.on_sys_exit, false);
		/* an iterator over a map: attached once the map exists */
		bpf_program__set_autoattach(skel->progs.sweep_ended, false);
	} else {
		/* close() is seen as a syscall: the socket's release is not needed */
		bpf_program__set_autoload(skel->progs.on_inet_sock_set_state, false);
		bpf_program__set_autoload(skel->progs.sweep_ended, false);
	}
	skel->rodata->flame_views = o->flame_views;
	skel->rodata->flame_by_conn = o->flame_by_conn;
	skel->rodata->cpu_sample_ns = o->cpu_sample_hz ? 1000000000ull / o->cpu_sample_hz : 0;
	if (!o->flame_views) {	/* a stack map preallocates: keep it tiny */
		bpf_map__set_max_entries(skel->maps.stacks, 1);
		bpf_map__set_max_entries(skel->maps.flame_counts, 1);
	}
	if (!(o->flame_views & (1u << FV_KMEM))) {
		bpf_program__set_autoload(skel->progs.on_kmem_cache_alloc, false);
		bpf_program__set_autoload(skel->progs.on_kmalloc, false);
	}
	if (!(o->flame_views & (1u << FV_CPU)))
		bpf_program__set_autoload(skel->progs.on_cpu_sample, false);
	drop_missing_attach_points(skel->obj, "conctrace");
	/* light mode ends a connection its family's iterator no longer finds */
	skel->rodata->sweep_tcp = bpf_program__autoload(skel->progs.snapshot_tcp);
	skel->rodata->sweep_unix = bpf_program__autoload(skel->progs.snapshot_unix);
	return skel;
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

int tracer_start(struct tracer *t, const struct tracer_opts *o)
{
	int err;

	memset(t, 0, sizeof(*t));
	verbose_log = o->verbose;
	libbpf_set_print(print_libbpf);

	t->skel = open_configured(o);
	if (!t->skel)
		return explain("cannot open BPF object", errno);
	err = conctrace_bpf__load(t->skel);
	if (err) {
		err = explain("cannot load BPF programs", err);
		goto fail;
	}
	err = conctrace_bpf__attach(t->skel);
	if (err) {
		err = explain("cannot attach BPF programs", err);
		goto fail;
	}
	if (o->no_syscalls && bpf_program__autoload(t->skel->progs.sweep_ended)) {
		union bpf_iter_link_info linfo = {
			.map.map_fd = (__u32)bpf_map__fd(t->skel->maps.conns),
		};
		LIBBPF_OPTS(bpf_iter_attach_opts, iopts, .link_info = &linfo,
			    .link_info_len = sizeof(linfo));

		t->sweep = bpf_program__attach_iter(t->skel->progs.sweep_ended, &iopts);
		if (!t->sweep) {
			err = explain("cannot attach the connection-map iterator", errno);
			goto fail;
		}
	}
	if (o->flame_views & (1u << FV_CPU)) {
		err = attach_cpu_sampling(t, o->cpu_sample_hz);
		if (err) {
			err = explain("cannot start on-CPU sampling (perf_event_open)", err);
			goto fail;
		}
	}
	t->rb = ring_buffer__new(bpf_map__fd(t->skel->maps.events), o->on_event, o->ctx, NULL);
	if (!t->rb) {
		err = explain("cannot open the ring buffer", errno);
		goto fail;
	}
	return 0;
fail:
	tracer_stop(t);
	return err;
}

int tracer_poll(struct tracer *t, int timeout_ms)
{
	int n = ring_buffer__poll(t->rb, timeout_ms);

	return n == -EINTR ? 0 : n;
}

void tracer_read_proc(struct tracer *t, struct proc_counters *out)
{
	int ncpu = libbpf_num_possible_cpus();
	struct proc_counters *per = calloc((size_t)ncpu, sizeof(*per));
	__u32 zero = 0;

	memset(out, 0, sizeof(*out));
	if (!per || bpf_map_lookup_elem(bpf_map__fd(t->skel->maps.proc), &zero, per)) {
		free(per);
		return;
	}
	for (int cpu = 0; cpu < ncpu; cpu++) {
		__u64 *dst = (__u64 *)out;
		const __u64 *src = (const __u64 *)&per[cpu];

		for (size_t i = 0; i < sizeof(*out) / sizeof(__u64); i++)
			dst[i] += src[i];
	}
	free(per);
}

void tracer_read_syscalls(struct tracer *t, struct syscall_total out[SYSCALL_MAX])
{
	int ncpu = libbpf_num_possible_cpus();
	struct syscall_total *per = calloc((size_t)ncpu, sizeof(*per));
	int fd = bpf_map__fd(t->skel->maps.syscall_totals);

	memset(out, 0, sizeof(struct syscall_total) * SYSCALL_MAX);
	for (__u32 nr = 0; per && nr < SYSCALL_MAX; nr++) {
		if (bpf_map_lookup_elem(fd, &nr, per))
			continue;
		for (int cpu = 0; cpu < ncpu; cpu++) {
			out[nr].count += per[cpu].count;
			out[nr].errors += per[cpu].errors;
			out[nr].ns += per[cpu].ns;
		}
	}
	free(per);
}

long tracer_threads_peak(struct tracer *t)
{
	return (long)t->skel->bss->threads_peak;
}

__u64 tracer_conns_peak(struct tracer *t)
{
	__s64 peak = t->skel->bss->conns_peak;

	return peak > 0 ? (__u64)peak : 0;
}

__u64 tracer_map_bytes(struct tracer *t)
{
	struct bpf_map *map;
	__u64 total = 0;

	bpf_object__for_each_map(map, t->skel->obj) {
		int fd = bpf_map__fd(map);	/* < 0: not created, a disabled part's */
		long long bytes = fd < 0 ? -1 : map_fd_memlock(fd);

		if (bytes > 0)
			total += (__u64)bytes;
	}
	return total;
}

/* Run an iterator program to its end: its work is its side effects. */
static void run_iter(struct bpf_link *link)
{
	char buf[64];
	int fd;

	if (!link)
		return;
	fd = bpf_iter_create(bpf_link__fd(link));
	if (fd < 0)
		return;
	while (read(fd, buf, sizeof(buf)) > 0)
		;
	close(fd);
}

void tracer_snapshot(struct tracer *t)
{
	struct timespec now;

	/* bpf_ktime_get_ns() is CLOCK_MONOTONIC */
	clock_gettime(CLOCK_MONOTONIC, &now);
	t->skel->bss->snapshot_ns = (__u64)now.tv_sec * 1000000000ull + (__u64)now.tv_nsec;
	t->skel->bss->snapshot_gen++;
	run_iter(t->skel->links.snapshot_tcp);
	run_iter(t->skel->links.snapshot_unix);
	run_iter(t->sweep);	/* light mode only */
}

void tracer_for_each_open(struct tracer *t, void (*fn)(void *ctx, const struct conn *c),
			  void *ctx)
{
	enum { BATCH = 256 };	/* 256 x 552 B: one syscall per 256 connections */
	int fd = bpf_map__fd(t->skel->maps.conns);
	__u64 key, next, *prev = NULL;
	__u64 keys[BATCH], out_batch;
	static struct conn batch[BATCH];
	struct conn c;
	bool started = false;

	for (;;) {
		__u32 n = BATCH;
		int err = bpf_map_lookup_batch(fd, started ? &out_batch : NULL, &out_batch,
					       keys, batch, &n, NULL);

		if (err && errno != ENOENT) {
			if (started)	/* the map changed under us: what we have will do */
				return;
			break;		/* no batch ops here: one entry at a time */
		}
		for (__u32 i = 0; i < n; i++)
			fn(ctx, &batch[i]);
		started = true;
		if (err)
			return;		/* ENOENT: that was the last batch */
	}
	while (bpf_map_get_next_key(fd, prev, &next) == 0) {
		if (bpf_map_lookup_elem(fd, &next, &c) == 0)
			fn(ctx, &c);
		key = next;
		prev = &key;
	}
}

void tracer_for_each_flame(struct tracer *t,
			   void (*fn)(void *ctx, const struct stack_key *k, __u64 value), void *ctx)
{
	int fd = bpf_map__fd(t->skel->maps.flame_counts);
	struct stack_key key, next, *prev = NULL;
	__u64 value;

	while (bpf_map_get_next_key(fd, prev, &next) == 0) {
		if (bpf_map_lookup_elem(fd, &next, &value) == 0)
			fn(ctx, &next, value);
		key = next;
		prev = &key;
	}
}

int tracer_read_stack(struct tracer *t, __s32 id, __u64 ips[FLAME_STACK_DEPTH])
{
	memset(ips, 0, FLAME_STACK_DEPTH * sizeof(__u64));
	if (id < 0)
		return -1;
	return bpf_map_lookup_elem(bpf_map__fd(t->skel->maps.stacks), &id, ips) ? -1 : 0;
}

void tracer_stop(struct tracer *t)
{
	bpf_link__destroy(t->sweep);
	t->sweep = NULL;
	for (int i = 0; i < t->n_cpu_links; i++)
		bpf_link__destroy(t->cpu_links[i]);
	free(t->cpu_links);
	t->cpu_links = NULL;
	t->n_cpu_links = 0;
	ring_buffer__free(t->rb);
	conctrace_bpf__destroy(t->skel);
	t->rb = NULL;
	t->skel = NULL;
}

int tracer_probe(bool verbose)
{
	struct tracer_opts o = { .max_conns = 1, .verbose = verbose };
	struct conctrace_bpf *skel;
	int err;

	verbose_log = verbose;
	libbpf_set_print(print_libbpf);
	skel = open_configured(&o);
	if (!skel)
		return explain("cannot open BPF object", errno);
	err = conctrace_bpf__load(skel);
	conctrace_bpf__destroy(skel);
	if (err)
		return explain("cannot load BPF programs", err);
	printf("BPF: programs load into this kernel\n");
	return 0;
}
