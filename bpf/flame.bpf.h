/* SPDX-License-Identifier: MIT */
/*
 * --flame, the BPF side: stacks taken where a cost arises and a value
 * summed per (view, connection, stacks). Part of conctrace.bpf.c (one
 * object, one skeleton), included where its helpers are first needed:
 * after the per-thread state and the process counters, before the
 * programs that sample (sys_enter, sched_switch, rss_stat). Every view is
 * opt-in: the loader leaves its programs unloaded and these maps at one
 * entry unless asked.
 */
#ifndef CONCTRACE_FLAME_BPF_H
#define CONCTRACE_FLAME_BPF_H

/* --flame: the views to collect stacks for (bits of enum flame_view), one
 * frame level per connection or not, and what one on-CPU sample stands for */
const volatile __u32 flame_views = 0;
const volatile bool flame_by_conn = false;
const volatile __u64 cpu_sample_ns = 0;

/* Flame stacks: sized by the loader, 1 entry when no view is asked for. */
struct {
	__uint(type, BPF_MAP_TYPE_STACK_TRACE);
	__uint(max_entries, 16384);
	__type(key, __u32);
	__uint(value_size, FLAME_STACK_DEPTH * sizeof(__u64));
} stacks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 65536);
	__type(key, struct stack_key);
	__type(value, __u64);
} flame_counts SEC(".maps");

static __always_inline bool flame_wants(enum flame_view v)
{
	return flame_views & (1u << v);
}

static __always_inline __s32 stack_id(void *ctx, __u64 flags)
{
	long id = bpf_get_stackid(ctx, &stacks, flags);

	if (id < 0) {
		struct proc_counters *pc = proc_counters();

		if (pc && id != -EFAULT)	/* -EFAULT: no user stack, a kernel thread */
			pc->stacks_lost++;
		return -1;
	}
	return (__s32)id;
}

static __always_inline void flame_add_key(struct stack_key *k, __u64 value)
{
	__u64 *v = bpf_map_lookup_elem(&flame_counts, k);

	if (v) {
		__sync_fetch_and_add(v, value);
		return;
	}
	if (bpf_map_update_elem(&flame_counts, k, &value, BPF_NOEXIST)) {
		struct proc_counters *pc;

		v = bpf_map_lookup_elem(&flame_counts, k);	/* another CPU was first */
		if (v)
			__sync_fetch_and_add(v, value);
		else if ((pc = proc_counters()))	/* verifiers before 6.13 want the check */
			pc->stacks_lost++;
	}
}

static __always_inline void flame_add(void *ctx, enum flame_view view, __u64 conn,
				      __u32 extra, __u64 value, bool user, bool kernel)
{
	struct stack_key k = {
		.conn = flame_by_conn ? conn : 0,
		.user_stack = user ? stack_id(ctx, BPF_F_USER_STACK) : -1,
		.kern_stack = kernel ? stack_id(ctx, 0) : -1,
		.view = view,
		.extra = extra,
	};

	flame_add_key(&k, value);
}

static __always_inline __u64 current_conn(void)
{
	struct thread_state *ts = bpf_task_storage_get(&threads, bpf_get_current_task_btf(), 0, 0);

	return ts ? ts->cur_conn : 0;
}

/* Kernel memory the target's threads allocate, where they allocate it. */
SEC("tp_btf/kmem_cache_alloc")
int BPF_PROG(on_kmem_cache_alloc, unsigned long call_site, const void *ptr,
	     struct kmem_cache *s, gfp_t gfp_flags, int node)
{
	if (!ptr || !target_current())
		return 0;
	flame_add(ctx, FV_KMEM, current_conn(), 0, BPF_CORE_READ(s, size), true, true);
	return 0;
}

SEC("tp_btf/kmalloc")
int BPF_PROG(on_kmalloc, unsigned long call_site, const void *ptr, size_t bytes_req,
	     size_t bytes_alloc, gfp_t gfp_flags, int node)
{
	if (!ptr || !target_current())
		return 0;
	flame_add(ctx, FV_KMEM, current_conn(), 0, bytes_alloc, true, true);
	return 0;
}

/* On-CPU: a sample every 1/F s on each CPU (perf_event, opened by the loader). */
SEC("perf_event")
int on_cpu_sample(struct bpf_perf_event_data *ctx)
{
	if (!target_current())
		return 0;
	flame_add(ctx, FV_CPU, current_conn(), 0, cpu_sample_ns, true, true);
	return 0;
}

#endif /* CONCTRACE_FLAME_BPF_H */
