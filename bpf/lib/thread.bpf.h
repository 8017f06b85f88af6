/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * Who is traced, and each traced thread's state: the target test every
 * program starts with, the per-thread storage, the process counters.
 */
#ifndef CONCTRACE_LIB_THREAD_BPF_H
#define CONCTRACE_LIB_THREAD_BPF_H

#include "lib/config.bpf.h"
#include "lib/maps.bpf.h"

/* sys_enter_ns of a call whose entry was not timed (no --syscall-time) */
#define SYS_UNTIMED 1

/* When the thread's syscall in progress began, if timed; 0 otherwise (a
 * time to give set_current_at, which then reads the clock if it needs
 * one). */
static __always_inline __u64 sys_entry_at(const struct thread_state *ts)
{
	return ts->sys_enter_ns > SYS_UNTIMED ? ts->sys_enter_ns : 0;
}

/* The thread is in a syscall that is one of `flags` (SC_*). */
static __always_inline bool in_call(const struct thread_state *ts, __u16 flags)
{
	return ts->sys_enter_ns && (syscall_flags[ts->sys_nr & (SYSCALL_MAX - 1)] & flags);
}

/* The thread works for the runtime, not for a connection (runtime_depth,
 * runtime_thread). */
static __always_inline bool runtime_works(const struct thread_state *ts)
{
	return ts->runtime_depth || ts->runtime_thread;
}

static __always_inline struct proc_counters *proc_counters(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&proc, &zero);
}

/* Raise *peak to now; a racing CPU may raise it between our read and
 * write: retry. */
static __always_inline void raise_peak(__s64 *peak, __s64 now)
{
	for (int i = 0; i < 4; i++) {
		__s64 old = *peak;

		if (now <= old || __sync_val_compare_and_swap(peak, old, now) == old)
			break;
	}
}

/* Add delta to *live and raise *peak to it. */
static __always_inline void count_live(__s64 *live, __s64 *peak, __s64 delta)
{
	__s64 now = __sync_add_and_fetch(live, delta);

	if (delta > 0)
		raise_peak(peak, now);
}

/* Where the thread's work goes while it serves no connection. */
static __always_inline struct bucket_counts *idle_bucket(struct proc_counters *pc,
						  struct thread_state *ts)
{
	return ts && ts->idle_pool ? &pc->pool : &pc->loop;
}

static __always_inline bool tgid_is_target(__u32 tgid)
{
	if (tgid == target_tgid)
		return true;
	if (!nr_extra_targets)
		return false;
	return bpf_map_lookup_elem(&targets, &tgid) != NULL;
}

/*
 * The current task if it is the target's, else NULL. The hot programs run
 * for every syscall and socket I/O of every task on the machine: one
 * helper call and a typed load decide, and the task is at hand for its
 * storage without a second call.
 */
static __always_inline struct task_struct *target_current(void)
{
	struct task_struct *t = bpf_get_current_task_btf();

	return tgid_is_target(t->tgid) ? t : NULL;
}

/* The state of the current thread if it is the target's and has one (the
 * task in *task), else NULL: the runtimes' probes, on threads already seen. */
static __always_inline struct thread_state *target_thread(struct task_struct **task)
{
	*task = target_current();
	return *task ? bpf_task_storage_get(&threads, *task, 0, 0) : NULL;
}

static __always_inline bool task_is_target(struct task_struct *t)
{
	return tgid_is_target(t->tgid);	/* a typed load, no helper call */
}

static __always_inline struct thread_state *thread_state(struct task_struct *t)
{
	struct thread_state *ts;

	ts = bpf_task_storage_get(&threads, t, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (!ts) {
		struct proc_counters *pc = proc_counters();

		if (pc)
			pc->no_thread_state++;
	}
	return ts;
}

#endif /* CONCTRACE_LIB_THREAD_BPF_H */
