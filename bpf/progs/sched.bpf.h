/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * The scheduler: context switches, voluntary and involuntary, and the
 * run's CPU settled at switch-out; run-queue wait from wakeup to
 * switch-in; work handed from thread to thread with a wakeup; threads
 * counted from fork to exit, a new thread starting in the pool's bucket.
 */
#ifndef CONCTRACE_PROGS_SCHED_BPF_H
#define CONCTRACE_PROGS_SCHED_BPF_H

#include "lib/charging.bpf.h"
#include "lib/mm.bpf.h"
#include "lib/stacks.bpf.h"

/* A switch's kind, counted for the process and for whom the thread served:
 * the kernel's own rule (__schedule), voluntary when the task gave up the
 * CPU to sleep, involuntary when preempted. */
static __always_inline void count_switch(struct thread_state *ts, struct proc_counters *pc,
					 bool voluntary)
{
	if (voluntary)
		pc->ctx_voluntary++;
	else
		pc->ctx_involuntary++;
	if (ts->pending && voluntary)
		ts->deferred.ctx_voluntary++;
	else if (ts->pending)
		ts->deferred.ctx_involuntary++;
	else if (!ts->cur_conn && voluntary)
		idle_bucket(pc, ts)->ctx_voluntary++;
	else if (!ts->cur_conn)
		idle_bucket(pc, ts)->ctx_involuntary++;
	else if (voluntary)
		ts->owed.ctx_voluntary++;
	else
		ts->owed.ctx_involuntary++;
}

/* A target thread leaves the CPU: its switch counted, its run's CPU
 * settled, what it owes its connection paid. */
static __always_inline void switch_out(void *ctx, struct task_struct *prev,
				       struct thread_state *ts, struct proc_counters *pc,
				       bool voluntary, bool dying, __u64 now)
{
	bool closed;

	/* the kernel folds an exiting thread's counters into its process's
	 * when it releases the thread (__exit_signal, which clears sighand),
	 * before the thread's last switches: a preemption on the way out
	 * (thousands of threads exiting at once take turns) and the final
	 * one are counted nowhere, and neither do we, so totals match
	 * wait4(). A group leader is released only when reaped: its last
	 * switch is in the kernel's count, and ours. */
	if (prev->sighand)	/* prev is trusted: a typed load, no helper call */
		count_switch(ts, pc, voluntary);
	settle_run(ts, pc, prev, now);
	if (dying) {
		give_out_credit(ts);
		leave_debt(ts, pc);
	}
	if (voluntary) {
		sleep_pending(ts);
		/* once woken, Go may run another goroutine on it */
		if (go_g_m_off)
			ts->go_moved = true;
	} else {
		ts->runnable_since = now;
	}
	if (voluntary && !dying && flame_wants(FV_OFFCPU)) {
		/* prev is still current here: its stacks are where it sleeps */
		ts->off_since = now;
		ts->off_conn = ts->cur_conn;
		ts->off_user_stack = stack_id(ctx, BPF_F_USER_STACK);
		ts->off_kern_stack = stack_id(ctx, 0);
	}
	/* off the CPU, the thread settles what it owes: a report taken while
	 * it sleeps is complete */
	closed = flush(ts, false, now);
	/* a closed connection stays current until its thread moves on: the
	 * next socket's I/O or wait says so, but not always soon (without
	 * syscall hooks, an event loop's last connection would wait for the
	 * end; Go's thread that closed one runs whichever goroutine comes
	 * next, SIGTERM's handler writing the books too). Going to sleep is
	 * moving on: what the thread does after it is no closed one's. */
	if (voluntary && closed)
		move_on(ts, 0);
	else if (voluntary)
		handoff_ends(prev, ts);
	/* a thread that sleeps while serving its own connection may wake to
	 * other work: Go parks a thread whose goroutine blocked and, woken,
	 * it runs whichever goroutine is runnable, one in the middle of
	 * another connection's request too. What it does once woken is
	 * pending: the connection's it names next, or, if it sleeps again
	 * first, this one's (a thread per connection woken in its read names
	 * it at once) */
	if (voluntary && !dying && ts->cur_conn && !ts->handed && !ts->steps)
		ts->pending = true;
}

/* A target thread takes the CPU: its run begins; the time it slept (for
 * --flame offcpu) and the time it waited for a CPU end. */
static __always_inline void switch_in(struct task_struct *next, struct thread_state *ts,
				      struct proc_counters *pc, __u64 now)
{
	rss_seen_at_switch(next, ts, pc);
	begin_run(next, ts, now);
	if (ts->woken_for)
		take_handoff(next, ts, now);
	if (ts->off_since) {
		struct stack_key k = {
			.conn = flame_by_conn ? ts->off_conn : 0,
			.user_stack = ts->off_user_stack,
			.kern_stack = ts->off_kern_stack,
			.view = FV_OFFCPU,
		};

		flame_add_key(&k, now - ts->off_since);
		ts->off_since = 0;
	}
	if (ts->runnable_since) {
		__u64 ns = now - ts->runnable_since;

		ts->runnable_since = 0;
		pc->runq_ns += ns;
		if (ts->pending)
			ts->deferred.runq_ns += ns;
		else if (ts->cur_conn)
			ts->owed.runq_ns += ns;
		else
			idle_bucket(pc, ts)->runq_ns += ns;
	}
}

/*
 * Whether prev's switch was voluntary, as the kernel counted it:
 * __schedule() adds one to the task's nvcsw or nivcsw before the
 * tracepoint, so a change of nvcsw since its last switch says so. The
 * tracepoint's own words (not preempted, and a sleeper's state) disagree
 * where a task goes to sleep with a signal pending: __schedule() leaves it
 * running, yet counts the switch voluntary, and passes TASK_RUNNING on
 * where try_to_block_task() writes it back (a recent fix) or where the
 * state is read from the task (before 5.18). Those words only for a
 * thread's first switch seen.
 */
static __always_inline bool switch_voluntary(struct thread_state *ts, struct task_struct *prev,
					     bool preempt, unsigned int prev_state)
{
	__u32 n = (__u32)prev->nvcsw;	/* prev is trusted: a typed load */
	bool voluntary = ts->nvcsw_known ? n != ts->nvcsw : !preempt && prev_state;

	ts->nvcsw = n;
	ts->nvcsw_known = true;
	return voluntary;
}

static __always_inline int switched(void *ctx, bool preempt, struct task_struct *prev,
				    struct task_struct *next, unsigned int prev_state)
{
	struct proc_counters *pc;
	struct thread_state *ts;
	__u64 now;

	learn_cpu_offset(prev);	/* for rss_stat: any task will do */
	if (!task_is_target(prev) && !task_is_target(next))
		return 0;
	pc = proc_counters();
	if (!pc)
		return 0;
	now = bpf_ktime_get_ns();
	if (task_is_target(prev) && (ts = thread_state(prev)))
		switch_out(ctx, prev, ts, pc, switch_voluntary(ts, prev, preempt, prev_state),
			   prev_state & TASK_DEAD, now);
	if (task_is_target(next) && (ts = thread_state(next)))
		switch_in(next, ts, pc, now);
	return 0;
}

SEC("tp_btf/sched_switch")
int BPF_PROG(on_sched_switch, bool preempt, struct task_struct *prev,
	     struct task_struct *next, unsigned int prev_state)
{
	return switched(ctx, preempt, prev, next, prev_state);
}

/* the task's state field before 5.14 */
struct task_struct___state {
	long state;
} __attribute__((preserve_access_index));

/*
 * Before 5.18 the event did not pass prev_state: it is the task's own
 * state as __schedule() left it (a sleeper's, or TASK_RUNNING when a
 * pending signal woke it), which the task still holds here.
 */
SEC("tp_btf/sched_switch")
int BPF_PROG(on_sched_switch_stateless, bool preempt, struct task_struct *prev,
	     struct task_struct *next)
{
	unsigned int state;

	if (bpf_core_field_exists(prev->__state))
		state = BPF_CORE_READ(prev, __state);
	else
		state = BPF_CORE_READ((struct task_struct___state *)prev, state);
	return switched(ctx, preempt, prev, next, state);
}

/* p, a target's task, is woken: its wait for a CPU begins */
static __always_inline void mark_runnable(struct task_struct *p)
{
	struct thread_state *ts = thread_state(p);

	if (ts && !ts->runnable_since)
		ts->runnable_since = bpf_ktime_get_ns();
}

/* p, a thread a Go goroutine is locked to, is woken to run it after a
 * send noted whose work the goroutine was given (progs/runtimes.bpf.h,
 * on_go_chan_send): that connection's, whoever wakes it (0: none). */
static __always_inline bool go_locked_woken(struct task_struct *p)
{
	__u32 tid = p->pid;
	struct thread_state *pts;
	__u64 *conn = bpf_map_lookup_elem(&go_locked_handoffs, &tid), id;

	if (!conn)
		return false;
	id = *conn;
	bpf_map_delete_elem(&go_locked_handoffs, &tid);
	if (id && (pts = thread_state(p)))
		pts->woken_for = id;
	return true;
}

/*
 * A wakeup, in the waker's context: a thread serving a connection that
 * wakes another of the target (a futex, an eventfd, a pipe) hands it work
 * for that connection (take_handoff, at the wakee's switch-in). Only from
 * inside a syscall: an interrupt (a packet, a timer) wakes threads on top
 * of whatever task it interrupted, mostly outside its syscalls, and the
 * CPU's preempt count that would tell is not readable on every kernel
 * (its per-CPU symbol is in kallsyms only with KALLSYMS_ALL). Nor from
 * passing Python's GIL (on_interpreter_lock), nor from a garbage
 * collection (V8's parallel marking on its helper threads): they hand
 * over no connection's work. Light
 * mode sees no syscalls and leaves this program out. It runs for every wakeup
 * on the machine: the wakee's tgid, a typed load, rejects all but the
 * target's first.
 */
SEC("tp_btf/sched_waking")
int BPF_PROG(on_sched_waking, struct task_struct *p)
{
	struct thread_state *wts, *pts;
	struct task_struct *waker;

	if (!task_is_target(p))
		return 0;
	if (go_g_lockedm_off && go_locked_woken(p))
		return 0;
	waker = bpf_get_current_task_btf();
	if (waker == p || !task_is_target(waker))
		return 0;
	wts = bpf_task_storage_get(&threads, waker, 0, 0);
	if (!wts || !wts->cur_conn || wts->pending || !wts->sys_enter_ns ||
	    runtime_works(wts) || on_interpreter_lock(waker, wts))
		return 0;
	pts = thread_state(p);
	/* a thread waiting in accept() is woken by a handshake the waker's
	 * softirq happened to finish (loopback delivers other sockets'
	 * packets on the sender's CPU): a new connection, not the waker's */
	if (pts && !in_call(pts, SC_ACCEPT))
		pts->woken_for = wts->cur_conn;
	return 0;
}

SEC("tp_btf/sched_wakeup")
int BPF_PROG(on_sched_wakeup, struct task_struct *p)
{
	if (task_is_target(p))
		mark_runnable(p);
	return 0;
}

static __always_inline void count_thread(__s64 delta)
{
	count_live(&live_threads, &threads_peak, delta);
}

/* A target's new thread (or pre-forked process) is counted at its first
 * wake-up, which every new task has (wake_up_new_task), as it has an exit.
 * sched_process_fork fires in kernel_clone() only: threads made by
 * create_io_thread() (io_uring's workers, since 5.12) or as user workers
 * (vhost's, 6.4) never pass it, and counted there, 4 io_uring workers
 * were 1 thread at peak, not 5 (tests/tools/iowq_workers) */
SEC("tp_btf/sched_wakeup_new")
int BPF_PROG(on_sched_wakeup_new, struct task_struct *p)
{
	if (!task_is_target(p))
		return 0;
	count_thread(1);
	mark_runnable(p);
	return 0;
}

/* A thread's objects are its creator's connection's cost: its task_struct
 * (sized by userspace) and its kernel stack, made for it in a
 * thread-per-connection server. */
static __always_inline void charge_thread_objects(struct task_struct *parent,
						  struct task_struct *child)
{
	struct thread_state *pts = bpf_task_storage_get(&threads, parent, 0, 0);
	struct conn *c;

	if (!pts || !pts->cur_conn || !(c = conn_hold(pts->cur_conn)))
		return;
	__sync_fetch_and_add(&c->threads, 1);
	if (bpf_core_field_exists(child->stack_vm_area) && child->stack_vm_area)
		__sync_fetch_and_add(&c->thread_stack_bytes,
				     (__u64)child->stack_vm_area->nr_pages * page_size);
	conn_put(pts->cur_conn, c);
}

SEC("tp_btf/sched_process_fork")
int BPF_PROG(on_process_fork, struct task_struct *parent, struct task_struct *child)
{
	__u32 ptgid = parent->tgid;
	__u32 ctgid = child->tgid;
	__u8 one = 1;

	if (!tgid_is_target(ptgid))
		return 0;
	if (ctgid != ptgid) {
		struct thread_state *cts;

		/* a pre-forking server: its workers are the target too */
		if (bpf_map_update_elem(&targets, &ctgid, &one, BPF_NOEXIST) == 0)
			__sync_fetch_and_add(&nr_extra_targets, 1);
		/* A fork-per-connection server's child (inetd, Python's
		 * ForkingTCPServer) starts on the connection its parent just
		 * accepted, and it starts as a new thread does: pending, its
		 * start (the copies its first writes make) the first
		 * connection it names, or the loop's if it sleeps or waits for
		 * events first (a pre-forking server's worker). Its objects
		 * are the connection its creator served, if any. Before, its
		 * start was the event loop's. Not in a Go binary (os/exec's
		 * children exec at once) */
		if (!go_target && (cts = thread_state(child))) {
			cts->pending = true;
			cts->unnamed = true;
			charge_thread_objects(parent, child);
		}
	} else {
		/* a thread's work for no connection is the pool's, never its
		 * creator's connection's. It starts pending: its start (the
		 * stack it touches) is the first connection it names (a thread
		 * per connection reads the one just accepted: unnamed, the read
		 * names it at its entry, not after it slept), or the pool's if
		 * it sleeps first (libuv's threads, made at the first job, wait
		 * for work).
		 * Not in a Go binary: its runtime starts a thread for whichever
		 * goroutine is runnable, so the thread's start (0.5 to 3 ms on
		 * a pti=on guest, the new stack's faults) and its objects are
		 * the runtime's. Pending, the start went to the goroutine's
		 * connection it named first: a light one at 2.6 times its
		 * peers' median over its books (test_go.py's echo); and the
		 * objects, 22 KiB a thread, to the connection its creator
		 * served: 10 threads on 8 of go_echo's 42 connections in a
		 * run, 2.6% under the slab growth of 900 idle ones in another
		 * (test_go.py, test_runtime_memory.py) */
		struct thread_state *cts = thread_state(child);

		if (cts) {
			cts->idle_pool = true;
			cts->pending = !go_target;
			cts->unnamed = true;
		}
		if (!go_target)
			charge_thread_objects(parent, child);
	}
	return 0;
}

#define SIGNAL_GROUP_EXIT 0x04	/* include/linux/sched/signal.h, since 2.6 */

/* The last thread of the first target leaves: its status, as
 * wait_task_zombie() composes it for the parent. */
static __always_inline void note_target_exit(struct task_struct *p)
{
	struct signal_struct *sig = p->signal;

	if (p->tgid != target_tgid || !sig || BPF_CORE_READ(sig, live.counter))
		return;
	target_exit_status = 1 + (__u32)((BPF_CORE_READ(sig, flags) & SIGNAL_GROUP_EXIT) ?
					 BPF_CORE_READ(sig, group_exit_code) :
					 BPF_CORE_READ(p, exit_code));
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(on_process_exit, struct task_struct *p)
{
	struct thread_state *ts;

	if (!task_is_target(p))
		return 0;
	count_thread(-1);
	note_target_exit(p);
	/* a thread's exit ends the connection it served: settle its CPU and,
	 * if closed, its record. What it did since it closed it (pending) is
	 * that connection's, as if it slept: its thread's end */
	ts = bpf_task_storage_get(&threads, p, 0, 0);
	if (!ts)
		return 0;
	sleep_pending(ts);
	/* what the kernel counted beyond the clock's parts (a credit: a run
	 * whose switch-in went unseen, run_seen) is the thread's connection's
	 * too, not the loop's at its last switch: a forking server's child
	 * dies soon after its unseen run */
	give_out_credit(ts);
	set_current(p, ts, 0);	/* p is current: it is exiting */
	return 0;
}

#endif /* CONCTRACE_PROGS_SCHED_BPF_H */
