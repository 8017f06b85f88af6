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

#endif /* CONCTRACE_LIB_STACKS_BPF_H */
