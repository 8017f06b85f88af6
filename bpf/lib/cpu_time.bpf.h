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

/* whom a part of the run goes to, for run_owner: the runtime's bucket, or
 * the current connection (0: the loop's; pending, the one it names next
 * after cur_conn, the same one for a thread per connection) */
#define RUN_UNSET	(~0ULL)
#define RUN_MIXED	(~0ULL - 1)
#define RUN_RUNTIME	(~0ULL - 2)

/* The thread's CPU is no connection's now: the runtime works for itself,
 * or an io_uring loop is back from a call that named a connection. */
static __always_inline bool cpu_not_conns(const struct thread_state *ts)
{
	return runtime_works(ts) || ts->cpu_to_loop;
}

static __always_inline __u64 run_key(struct thread_state *ts)
{
	return cpu_not_conns(ts) ? RUN_RUNTIME : ts->cur_conn;
}

/* a part is charged: the run has one owner so far, or several */
static __always_inline void note_owner(struct thread_state *ts)
{
	__u64 key = run_key(ts);

	if (ts->run_owner == RUN_UNSET)
		ts->run_owner = key;
	else if (ts->run_owner != key)
		ts->run_owner = RUN_MIXED;
}

/* Where the thread's CPU goes now if a connection's: the one it names
 * next (pending) or its current one; NULL: its bucket (the runtime works
 * for itself, or the thread serves no connection) */
static __always_inline __u64 *connection_cpu(struct thread_state *ts)
{
	if (cpu_not_conns(ts))
		return NULL;
	if (ts->pending)
		return &ts->deferred.cpu_ns;
	return ts->cur_conn ? &ts->owed.cpu_ns : NULL;
}

/* ns of CPU goes where the thread's work goes now. The per-CPU counters
 * only for a bucket's: an event loop charges a connection at every change
 * of connection, and their lookup touches two more cache lines (pages,
 * where every kernel entry flushes the TLB) each time */
static __always_inline void place_cpu(struct thread_state *ts, __u64 ns)
{
	__u64 *cpu = connection_cpu(ts);
	struct proc_counters *pc;

	if (cpu)
		*cpu += ns;
	else if ((pc = proc_counters()))
		idle_bucket(pc, ts)->cpu_ns += ns;
}

/* clock ns at the thread's learnt scale: the kernel's time they stand for */
static __always_inline __u64 at_scale(const struct thread_state *ts, __u64 ns)
{
	return ts->clock_scale ? (ns * ts->clock_scale) >> 16 : ns;
}

/*
 * On-CPU time goes to the connection that was current while it ran (or,
 * pending, to the one named next; or, the runtime working for itself, to
 * the thread's bucket). What earlier runs' parts overshot the kernel's
 * figure (a debt) or fell short of it (a credit) is settled a quarter of
 * each charge at a time: spread over what the thread does next, not
 * landed on its next part (settle_run).
 */
static __always_inline void charge_cpu(struct thread_state *ts, __u64 ns)
{
	struct proc_counters *pc;

	if (ts->cpu_debt) {
		__u64 pay = ns >> 2 < ts->cpu_debt ? ns >> 2 : ts->cpu_debt;

		ts->cpu_debt -= pay;
		ns -= pay;
	} else if (ts->cpu_credit && (pc = proc_counters())) {
		__u64 give = ns >> 2 < ts->cpu_credit ? ns >> 2 : ts->cpu_credit;

		ts->cpu_credit -= give;
		pc->cpu_unsplit_ns -= give;
		ns += give;
	}
	place_cpu(ts, ns);
}

/* A thread exits: a credit it has not given out is what it did last's,
 * rather than left unsplit for good (a thread per connection: a
 * microsecond or so, the switches' own accounting) */
static __always_inline void give_out_credit(struct thread_state *ts)
{
	__u64 credit = ts->cpu_credit;
	struct proc_counters *pc = proc_counters();

	if (!credit || !pc)
		return;
	ts->cpu_credit = 0;
	pc->cpu_unsplit_ns -= credit;
	place_cpu(ts, credit);
}

/* A thread's last switch: a debt it leaves (its runs' parts overshot the
 * kernel's figure, and no charge of its came after to pay it back) stays
 * in the parts it went to, already charged or sent; the process counts it,
 * so that the parts, less it, add up to the kernel's total (before, a
 * thread per connection's parts came out 0.1% over the process, 20 us in
 * a run of 20 threads) */
static __always_inline void leave_debt(struct thread_state *ts, struct proc_counters *pc)
{
	pc->cpu_overcharged_ns += ts->cpu_debt;
	ts->cpu_debt = 0;
}

/* The part of truth that is part's share of whole (part <= whole): a
 * 16-bit fraction, so that a run of hours cannot overflow the product */
static __always_inline __u64 share_of(__u64 truth, __u64 part, __u64 whole)
{
	__u64 f;

	if (!whole || part >= whole)
		return truth;
	f = (part << 16) / whole;
	return (truth >> 16) * f + (((truth & 0xffff) * f) >> 16);
}

/*
 * The run had one owner (a thread per connection): the difference is its
 * own. What the parts fell short it gets; what they overshot it gives
 * back as far as it holds any, and the rest is a debt (settle_run).
 */
static __always_inline void settle_own_run(struct thread_state *ts, __u64 truth)
{
	__s64 rest = (__s64)truth - (__s64)ts->run_split;
	__u64 over, back = 0;
	__u64 *held;

	if (rest >= 0) {
		charge_cpu(ts, rest);
		return;
	}
	over = (__u64)-rest;
	held = connection_cpu(ts);
	if (held) {
		back = over < *held ? over : *held;
		*held -= back;
	}
	ts->cpu_debt += over - back;
}

/*
 * The run's parts went to several (an event loop's connections): the
 * part since the last split gets its share of the kernel's figure by the
 * clock's, and the difference for the parts already charged is theirs,
 * not the last one's. Where the kernel counted less, it cancels a credit
 * or is a debt; where more, it cancels a debt or is a credit, unsplit
 * until given out. The two differ by the switch's own accounting (the
 * kernel starts a run's clock before the switch event we see: about a
 * microsecond a run on a pti=on VM), and on a VM whose scheduler clock is
 * filtered (tsc=unstable) by much more: an io_uring loop's runs of 0.1 to
 * 0.5 ms off the clock's by tens to hundreds of us either way, one run of
 * 0.18 ms by the clock counted 2.0 ms. `last`: the clock's time since the
 * last split, at the run's scale.
 */
/* The kernel counted more of the thread's time than its parts: it cancels
 * a debt, or is a credit, unsplit until given out (charge_cpu) */
static __always_inline void counted_more(struct thread_state *ts, struct proc_counters *pc,
					 __u64 more)
{
	__u64 cancel = more < ts->cpu_debt ? more : ts->cpu_debt;

	ts->cpu_debt -= cancel;
	ts->cpu_credit += more - cancel;
	pc->cpu_unsplit_ns += more - cancel;
}

/* Time the kernel counted on a run whose start the programs did not see
 * (run_seen, settle_run): the process's, and a credit of the thread's */
static __always_inline void unseen_run(struct thread_state *ts, struct proc_counters *pc,
				       __u64 ns)
{
	pc->cpu_ns += ns;
	counted_more(ts, pc, ns);
}

static __always_inline void settle_shared_run(struct thread_state *ts, struct proc_counters *pc,
					      __u64 truth, __u64 last)
{
	__u64 charged, less, cancel;

	last = share_of(truth, last, ts->run_split + last);
	charge_cpu(ts, last);
	charged = ts->run_split + last;
	if (truth < charged) {
		less = charged - truth;
		cancel = less < ts->cpu_credit ? less : ts->cpu_credit;
		ts->cpu_credit -= cancel;
		pc->cpu_unsplit_ns -= cancel;
		ts->cpu_debt += less - cancel;
		return;
	}
	/* a scheduler clock that fell behind catches up: what it counts now
	 * was the clock's earlier, an overshoot still owed */
	counted_more(ts, pc, truth - charged);
}

/*
 * At switch-out: the run's time is the kernel's, whatever the clock said
 * in between (it runs on while the host steals the CPU, and drifts from
 * the task clock); the clock only apportions it. A debt (the parts
 * overshot) or a credit (they fell short) is settled from the thread's
 * next charges, or cancelled by a later run the clocks disagree on the
 * other way. Nothing is made negative, and connections, the loop and the
 * unsplit credit sum to the process, as the process does to getrusage(),
 * less what the threads still owe.
 * (History: until 2026-12-05 the connection current at the end took the
 * whole difference of an event loop's run too. On a VM whose scheduler
 * clock ran ahead of the clock, a run the clock timed at 0.18 ms counted
 * 2.0 ms, and the light connection current at its end took the 1.8 ms:
 * over its own books 2.5 to 2.7 times its peers in 2 of 46 runs of the
 * asyncio tests.)
 */
static __always_inline void settle_run(struct thread_state *ts, struct proc_counters *pc,
				       struct task_struct *prev, __u64 now)
{
	__u64 steal, tail, truth, last;

	if (!ts->cpu_mark) {
		/* a run we saw neither begin nor anything of: its time since
		 * the last switch-out we saw, as in run_seen */
		if (ts->run_start && prev->se.sum_exec_runtime > ts->run_start) {
			truth = prev->se.sum_exec_runtime - ts->run_start;
			unseen_run(ts, pc, truth);
			ts->run_start += truth;
		}
		return;
	}
	tail = clock_since_mark(prev, ts, now, &steal);
	truth = prev->se.sum_exec_runtime - ts->run_start;
	pc->cpu_ns += truth;
	/* the tail as the parts were charged: at the scale learnt before */
	last = at_scale(ts, tail);
	/* the clock and the kernel's task clock drift apart (seen: the clock
	 * 0.5% fast for an io_uring loop's long runs): learn how far, so the
	 * next runs' parts add up to their totals and little is left unsplit.
	 * Slowly, from runs of a millisecond or more, and not from a run the
	 * two disagree on by more than a tenth: that is an event (the
	 * scheduler's clock jumping, a stall it left out), not a drift.
	 * Learnt at once from every run, they made the next runs' parts short:
	 * with the shortfall left unsplit, up to 1.3% of an asyncio executor
	 * run's CPU, against 0.3% learnt so */
	ts->run_clock += tail;
	if (ts->run_clock >= 1000000) {
		__u64 scale = (truth << 16) / ts->run_clock;

		if (scale <= (1 << 16) && scale >= (1 << 16) - (1 << 16) / 10)
			ts->clock_scale = ts->clock_scale ?
					  ts->clock_scale - (ts->clock_scale >> 3) + (scale >> 3) :
					  scale;
	}
	if (ts->run_owner == RUN_UNSET || ts->run_owner == run_key(ts))
		settle_own_run(ts, truth);
	else
		settle_shared_run(ts, pc, truth, last);
	/* the figure as of this switch-out: where the next run begins,
	 * should its switch-in go unseen (run_seen) */
	ts->run_start += truth;
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
	ts->run_owner = RUN_UNSET;
}

/*
 * The thread is running and we know no start for its run: it was running
 * when we attached, or its switch-in was not seen (it happens, rarely, on
 * this kernel: a switch-out then follows a switch-out). Start the run now.
 * What it ran since the unseen switch-in, from the kernel's figure at the
 * last switch-out we saw (settle_run left it in run_start), is a credit,
 * given out with the thread's next charges (an event loop's: to the
 * connections it serves next, not all to the one current now), the rest
 * at its exit. Before, it was no one's: a forking server's child lost
 * 7.5 ms of its 20 so, from its connection and from the process's total
 * alike, in 1 run of 15. Never seen before (running when we attached):
 * from the figure as of its last update (at most a tick old).
 */
static __always_inline void run_seen(struct task_struct *task, struct thread_state *ts)
{
	__u64 from = ts->run_start;
	struct proc_counters *pc;

	if (ts->cpu_mark)
		return;
	begin_run(task, ts, bpf_ktime_get_ns());
	if (from && from < ts->run_start && (pc = proc_counters()))
		unseen_run(ts, pc, ts->run_start - from);
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
	ns = at_scale(ts, ns);
	note_owner(ts);
	charge_cpu(ts, ns);
	ts->run_split += ns;
	ts->cpu_mark = now;
	ts->steal_mark = steal;
}

#endif /* CONCTRACE_LIB_CPU_TIME_BPF_H */
