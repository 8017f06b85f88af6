/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * CPU time. The kernel's own figure for a thread, se.sum_exec_runtime (what
 * getrusage() sums), is exact at each context switch. Between two, an
 * event loop serves many connections, and only the clock can split the
 * run between them: begin_run() at switch-in, split_run() at every change
 * of current connection, settle_run() at switch-out makes the parts add up
 * to the kernel's total for the run.
 */
#ifndef CONCTRACE_LIB_CPU_TIME_BPF_H
#define CONCTRACE_LIB_CPU_TIME_BPF_H

#include "lib/thread.bpf.h"

/*
 * Time the host stole from this CPU, as the scheduler last accounted it
 * (at every context switch, tick and wakeup). The kernel leaves it out of
 * a task's run time, so the clock that splits a run between connections
 * leaves it out too. 0 on kernels without paravirtual steal accounting.
 */
static __always_inline __u64 stolen_ns(struct task_struct *t)
{
	if (!bpf_core_field_exists(t->se.cfs_rq) ||
	    !bpf_core_field_exists(struct rq, prev_steal_time_rq))
		return 0;
	return t->se.cfs_rq->rq->prev_steal_time_rq;	/* typed loads: no helper */
}

/* Clock time since cpu_mark less what the host stole meanwhile; *steal:
 * stolen_ns() now, the next steal_mark. */
static __always_inline __u64 clock_since_mark(struct task_struct *task, struct thread_state *ts,
					      __u64 now, __u64 *steal)
{
	__u64 ns = now - ts->cpu_mark, stolen;

	*steal = stolen_ns(task);
	stolen = *steal - ts->steal_mark;
	return ns > stolen ? ns - stolen : 0;
}

/*
 * On-CPU time goes to the connection that was current while it ran (or,
 * pending, to the one named next; or, the runtime working for itself, to
 * the thread's bucket), after
 * the thread has paid back what an earlier run's parts overshot (see
 * settle_run).
 */
static __always_inline void charge_cpu(struct thread_state *ts, __u64 ns)
{
	struct proc_counters *pc = proc_counters();

	if (!pc)
		return;
	if (ts->cpu_debt) {
		__u64 pay = ns < ts->cpu_debt ? ns : ts->cpu_debt;

		ts->cpu_debt -= pay;
		pc->cpu_unsplit_ns -= pay;
		ns -= pay;
	}
	if (runtime_works(ts))
		idle_bucket(pc, ts)->cpu_ns += ns;
	else if (ts->pending)
		ts->deferred.cpu_ns += ns;
	else if (ts->cur_conn)
		ts->owed.cpu_ns += ns;
	else
		idle_bucket(pc, ts)->cpu_ns += ns;
}

/*
 * At switch-out: the run's time is the kernel's, whatever the clock said
 * in between (it runs on while the host steals the CPU, and drifts from
 * the task clock). What the parts fell short goes to the connection
 * current at the end; what they overshot, that connection gives back as
 * far as it holds any of this run, and the rest is a debt the thread pays
 * from its next charges, counted meanwhile as unsplit. Nothing is made
 * negative, and connections, the loop and the unsplit rest always sum to
 * the process, as the process does to getrusage().
 */
static __always_inline void settle_run(struct thread_state *ts, struct proc_counters *pc,
				       struct task_struct *prev, __u64 now)
{
	__u64 steal, tail, truth;
	__s64 rest;

	if (!ts->cpu_mark)
		return;	/* a run we saw neither begin nor anything of */
	tail = clock_since_mark(prev, ts, now, &steal);
	truth = prev->se.sum_exec_runtime - ts->run_start;
	rest = (__s64)truth - (__s64)ts->run_split;
	pc->cpu_ns += truth;
	/* the clock and the kernel's task clock drift apart (seen: the clock
	 * 0.5% fast for an io_uring loop's long runs): learn how far, so the
	 * next run's parts add up to its total and little is left to settle */
	ts->run_clock += tail;
	if (ts->run_clock >= 1000000) {
		__u64 scale = (truth << 16) / ts->run_clock;

		ts->clock_scale = scale > (1 << 16) ? (1 << 16) : scale < (1 << 15) ? (1 << 15) : scale;
	}
	if (rest >= 0) {
		charge_cpu(ts, rest);
	} else {
		__u64 over = (__u64)-rest, back = 0;
		__u64 *held = runtime_works(ts) ? NULL :
			      ts->pending ? &ts->deferred.cpu_ns :
			      ts->cur_conn ? &ts->owed.cpu_ns : NULL;

		if (held) {
			back = over < *held ? over : *held;
			*held -= back;
		}
		ts->cpu_debt += over - back;
		pc->cpu_unsplit_ns += over - back;
	}
	ts->cpu_mark = 0;
}

/* cpu_mark != 0: a run has begun and is not settled */
static __always_inline void begin_run(struct task_struct *task, struct thread_state *ts,
				      __u64 now)
{
	ts->cpu_mark = now;
	ts->steal_mark = stolen_ns(task);
	ts->run_start = task->se.sum_exec_runtime;
	ts->run_split = 0;
	ts->run_clock = 0;
}

/*
 * The thread is running and we know no start for its run: it was running
 * when we attached, or its switch-in was not seen (it happens, rarely, on
 * this kernel: a switch-out then follows a switch-out). Start the run now,
 * from the kernel's figure as of its last update (at most a tick old), so
 * that the run's time is not lost.
 */
static __always_inline void run_seen(struct task_struct *task, struct thread_state *ts)
{
	if (!ts->cpu_mark)
		begin_run(task, ts, bpf_ktime_get_ns());
}

/*
 * The current connection changes mid-run: charge it the run so far. `at`:
 * when the change happened, if known without reading the clock (inside a
 * syscall, its entry: the syscall's own CPU belongs to the connection it
 * serves).
 */
static __always_inline void split_run(struct task_struct *task, struct thread_state *ts,
				      __u64 at)
{
	__u64 now, steal, ns;

	if (!ts->cpu_mark)
		return;
	now = at ? at : bpf_ktime_get_ns();
	if (now <= ts->cpu_mark)
		return;	/* `at` predates a switch-in: nothing of this run yet */
	ns = clock_since_mark(task, ts, now, &steal);
	ts->run_clock += ns;
	if (ts->clock_scale)
		ns = (ns * ts->clock_scale) >> 16;
	charge_cpu(ts, ns);
	ts->run_split += ns;
	ts->cpu_mark = now;
	ts->steal_mark = steal;
}

#endif /* CONCTRACE_LIB_CPU_TIME_BPF_H */
