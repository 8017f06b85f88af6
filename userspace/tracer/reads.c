// SPDX-License-Identifier: MIT
/*
 * Reading what BPF holds: the process's counters and syscall totals (per
 * CPU, summed), its globals, Unix paths, the flame's stacks and counts,
 * and the programs' names and costs. tracer.c loads and attaches; this
 * file only reads.
 */
#include "tracer/tracer.h"

#include <stdlib.h>
#include <string.h>
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>

#include "conctrace.skel.h"
#include "tracer/plan.h"

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

int tracer_target_exit_status(struct tracer *t)
{
	return t->skel ? (int)t->skel->bss->target_exit_status - 1 : -1;
}

bool tracer_unix_path(struct tracer *t, __u64 unix_addr, char out[CONN_UNIX_PATH + 1])
{
	struct unix_path p;

	out[0] = '\0';
	if (!unix_addr || !t->skel ||
	    bpf_map__lookup_elem(t->skel->maps.unix_paths, &unix_addr, sizeof(unix_addr),
				 &p, sizeof(p), 0))
		return false;
	memcpy(out, p.path, CONN_UNIX_PATH);
	out[CONN_UNIX_PATH] = '\0';	/* sun_path need not end in one */
	return true;
}

long tracer_threads_peak(struct tracer *t)
{
	return (long)t->skel->bss->threads_peak;
}

bool tracer_process_rss_peak(struct tracer *t, __u64 *bytes)
{
	int fd = bpf_map__fd(t->skel->maps.rss);
	__s64 most = t->skel->bss->rss_gone_peak_pages;
	__u64 key, *prev = NULL;
	struct rss_state st;

	*bytes = 0;
	if (!plan_covered(t, "on_rss_stat"))
		return false;
	while (!bpf_map_get_next_key(fd, prev, &key)) {
		prev = &key;
		if (!bpf_map_lookup_elem(fd, &key, &st) && st.peak_pages > most)
			most = st.peak_pages;
	}
	*bytes = (__u64)most * t->skel->rodata->page_size;
	return true;
}

__u64 tracer_conns_peak(struct tracer *t)
{
	__s64 peak = t->skel->bss->conns_peak;

	return peak > 0 ? (__u64)peak : 0;
}

__u64 tracer_open_conns(struct tracer *t)
{
	__s64 open = __atomic_load_n(&t->skel->bss->live_conns, __ATOMIC_RELAXED);

	return open > 0 ? (__u64)open : 0;
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

void tracer_for_each_code_name(struct tracer *t, void (*fn)(void *ctx, const char *name),
			       void *ctx)
{
	const struct btf *btf = bpf_object__btf(t->skel->obj);
	__u32 n = btf ? btf__type_cnt(btf) : 0;

	for (__u32 id = 1; id < n; id++) {
		const struct btf_type *type = btf__type_by_id(btf, id);

		if (btf_is_func(type))
			fn(ctx, btf__name_by_offset(btf, type->name_off));
	}
}

void tracer_for_each_prog(struct tracer *t,
			  void (*fn)(void *ctx, const char *name, __u64 run_ns, __u64 run_cnt),
			  void *ctx)
{
	struct bpf_program *prog;

	bpf_object__for_each_program(prog, t->skel->obj) {
		struct bpf_prog_info info;
		__u32 len = sizeof(info);
		int fd = bpf_program__fd(prog);

		if (fd < 0)
			continue;	/* not loaded on this kernel */
		memset(&info, 0, sizeof(info));
		if (bpf_obj_get_info_by_fd(fd, &info, &len))
			continue;
		fn(ctx, bpf_program__name(prog), info.run_time_ns, info.run_cnt);
	}
}

int tracer_read_stack(struct tracer *t, __u64 id, __u64 ips[FLAME_STACK_DEPTH])
{
	struct flame_stack s;

	memset(ips, 0, FLAME_STACK_DEPTH * sizeof(__u64));
	if (!id || bpf_map_lookup_elem(bpf_map__fd(t->skel->maps.stacks), &id, &s))
		return -1;
	/* frames past nr are an earlier stack's: not this one's */
	memcpy(ips, s.ips, (s.nr < FLAME_STACK_DEPTH ? s.nr : FLAME_STACK_DEPTH) * sizeof(__u64));
	return 0;
}
