/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * --flame, the helpers: stacks taken where a cost arises and a value
 * summed per (view, connection, stacks). Every view is opt-in: the loader
 * leaves the sampling programs unloaded and the stack maps at one entry
 * unless asked.
 */
#ifndef CONCTRACE_LIB_STACKS_BPF_H
#define CONCTRACE_LIB_STACKS_BPF_H

#include "lib/thread.bpf.h"

static __always_inline bool flame_wants(enum flame_view v)
{
	return flame_views & (1u << v);
}

static __always_inline void stack_lost(void)
{
	struct proc_counters *pc = proc_counters();

	if (pc)
		pc->stacks_lost++;
}

/*
 * A stack's key in `stacks`: a hash of its frames and of which side they
 * are (flags). Two stacks share a key with a chance of n^2 / 2^65 (n:
 * stacks in a run), not the stack-trace map's n^2 / (2 x its buckets).
 * Never 0 (none). Verified once: its loop would be at every caller. The
 * map's update stays with the caller: 6.1's map helpers take a map value,
 * not the plain memory a global function's argument is.
 */
VERIFIED_ONCE __u64 stack_hash(const struct flame_stack *s, __u64 flags)
{
	__u64 h = 0x84222325cbf29ce4ull ^ flags;
	__u32 nr;

	if (!s)
		return 0;
	nr = s->nr;
	for (__u32 i = 0; i < FLAME_STACK_DEPTH && i < nr; i++) {
		h = (h ^ s->ips[i]) * 0x9e3779b97f4a7c15ull;
		h ^= h >> 29;
	}
	return h ? h : 1;
}

/* s stored under its key, if new; 0: not stored (the map is full). */
static __always_inline __u64 stack_store(struct flame_stack *s, __u64 flags)
{
	__u64 h = stack_hash(s, flags);

	if (!h || bpf_map_lookup_elem(&stacks, &h))
		return h;
	/* a racing CPU may store it first: then it is there all the same */
	if (bpf_map_update_elem(&stacks, &h, s, BPF_NOEXIST) && !bpf_map_lookup_elem(&stacks, &h))
		return 0;
	return h;
}

/* The current stack's key (flags: bpf_get_stack's, BPF_F_USER_STACK for
 * the user side); 0: none (a kernel thread's user side) or lost. */
static __always_inline __u64 stack_id(void *ctx, __u64 flags)
{
	__u32 zero = 0, *depth = bpf_map_lookup_elem(&stack_depth, &zero), level;
	struct flame_stack *s;
	__u64 id = 0;
	long len;

	if (!depth)
		return 0;
	/* an interrupt's program that comes in between takes the next level
	 * and gives it back before this one goes on */
	level = (*depth)++;
	s = bpf_map_lookup_elem(&stack_scratch, &level);
	if (s) {
		len = bpf_get_stack(ctx, s->ips, sizeof(s->ips), flags);
		if (len > 0) {
			s->nr = len / sizeof(__u64);
			id = stack_store(s, flags);
			if (!id)
				stack_lost();
		} else if (len != -EFAULT && len != 0) {	/* -EFAULT: no user stack, a kernel thread */
			stack_lost();
		}
	} else {
		stack_lost();
	}
	(*depth)--;
	return id;
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
		.user_stack = user ? stack_id(ctx, BPF_F_USER_STACK) : 0,
		.kern_stack = kernel ? stack_id(ctx, 0) : 0,
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

/* Whose the CPU is, as charge_cpu() sees it: no connection's while the
 * runtime works for itself (a sample in V8's collector was shown under
 * the connection current, whose CPU figure held none of it). */
static __always_inline __u64 cpu_conn(void)
{
	struct thread_state *ts = bpf_task_storage_get(&threads, bpf_get_current_task_btf(), 0, 0);

	return ts && !runtime_works(ts) ? ts->cur_conn : 0;
}

#endif /* CONCTRACE_LIB_STACKS_BPF_H */
