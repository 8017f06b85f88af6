/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * Charging: every cost goes to the thread's current connection, owed in
 * the thread's own storage until it moves on, or to the event loop.
 */
#ifndef CONCTRACE_LIB_CHARGING_BPF_H
#define CONCTRACE_LIB_CHARGING_BPF_H

#include "lib/conns.bpf.h"
#include "lib/cpu_time.bpf.h"

/* What the thread owed goes to a bucket of no single connection. */
static __always_inline void to_bucket(struct thread_state *ts, struct pending *p)
{
	struct proc_counters *pc = proc_counters();
	struct bucket_counts *b;

	if (!pc)
		return;
	b = idle_bucket(pc, ts);
	b->user_bytes += p->user_bytes;
	b->page_table_bytes += p->page_table_bytes;
	b->vmas += p->vmas;
	b->cpu_ns += p->cpu_ns;
	b->runq_ns += p->runq_ns;
	b->ctx_voluntary += p->ctx_voluntary;
	b->ctx_involuntary += p->ctx_involuntary;
#pragma unroll
	for (int i = 0; i < PENDING_SC_SLOTS; i++)
		b->syscalls += p->sc[i].count;
	b->syscall_ns += p->syscall_ns;
}

/* RSS changes owed somewhere: *bytes their net, *most the most that net
 * was since both were cleared. */
static __always_inline void owe_user_bytes(__s64 *bytes, __s64 *most, __s64 delta)
{
	*bytes += delta;
	if (*bytes > *most)
		*most = *bytes;
}

/* Memory a connection's record gains (or gives back): RSS, page tables,
 * VMAs, each net and at its peak (gauges: the last writer wins). RSS's
 * peak is the most its net was on the way (user_most: the most the
 * change was, owe_user_bytes), not only after: a child that grows 4 MiB
 * serving a request and frees them before its connection's next flush
 * left a peak of 0 (test_tree_rss.py's forking server). c: held by the
 * caller (conn_hold). */
static __always_inline void conn_add_memory(struct conn *c, __s64 user_bytes, __s64 user_most,
					    __s64 page_table_bytes, __s32 vmas)
{
	if (user_bytes || user_most) {
		__s64 now = __sync_add_and_fetch(&c->user_bytes, user_bytes);
		__s64 most = now - user_bytes + (user_most > user_bytes ? user_most : user_bytes);

		if (most > c->user_bytes_peak)
			c->user_bytes_peak = most;
	}
	if (page_table_bytes) {
		__s64 now = __sync_add_and_fetch(&c->page_table_bytes, page_table_bytes);

		if (now > c->page_table_bytes_peak)
			c->page_table_bytes_peak = now;
	}
	if (vmas) {
		__s32 now = __sync_add_and_fetch(&c->vmas, vmas);

		if (now > c->vmas_peak)
			c->vmas_peak = now;
	}
}

/*
 * The thread still owes id, whose record another thread made final (sent,
 * id among the ended; or to be sent by its last holder, still writing
 * it): what its events named id for, its bytes and syscalls, goes in an
 * event of its own, for userspace to add to the record whichever comes
 * first, and leaves p. The bucket takes the rest, as before: the CPU,
 * switches and memory of a thread whose current connection had ended
 * elsewhere (Go runs other goroutines on it: given to the ended
 * connection, one light connection of go_echo came out 3.5 times its
 * peers over its books in a CI run). Before, all went to the bucket, and
 * the bytes to no one: a Go server's connection came out one 120 B reply
 * short of the server's books in a CI run, and 37 to 87 of close_race's
 * 300 records a thread's byte short. A full ring: the bucket's, as
 * before.
 */
static __always_inline void send_late(__u64 id, struct pending *p, bool whole)
{
	struct conn_late_event *ev;
	struct conn *c;
	__u64 any = p->bytes_rx | p->bytes_tx;

#pragma unroll
	for (int i = 0; i < PENDING_SC_SLOTS; i++)
		any |= p->sc[i].count;
	if (whole)
		any |= p->cpu_ns | p->runq_ns | p->user_bytes | p->user_bytes_most |
		       p->page_table_bytes | p->vmas | p->ctx_voluntary | p->ctx_involuntary;
	if (!any)
		return;
	c = conn_lookup(id);
	if (c ? !(c->claim & CLAIM_ENDED) : !bpf_map_lookup_elem(&ended, &id))
		return;	/* untracked, or gone from ended's window */
	ev = bpf_ringbuf_reserve(&events, sizeof(*ev), 0);
	if (!ev)
		return;
	ev->type = EV_CONN_LATE;
	ev->tgid = bpf_get_current_pid_tgid() >> 32;
	ev->id = id;
	ev->bytes_rx = p->bytes_rx;
	ev->bytes_tx = p->bytes_tx;
	ev->syscall_ns = p->syscall_ns;
	__builtin_memcpy(ev->sc, p->sc, sizeof(ev->sc));
	ev->whole = whole;
	if (whole) {
		ev->cpu_ns = p->cpu_ns;
		ev->runq_ns = p->runq_ns;
		ev->user_bytes = p->user_bytes;
		ev->user_bytes_most = p->user_bytes_most;
		ev->page_table_bytes = p->page_table_bytes;
		ev->vmas = p->vmas;
		ev->ctx_voluntary = p->ctx_voluntary;
		ev->ctx_involuntary = p->ctx_involuntary;
	} else {
		ev->cpu_ns = ev->runq_ns = 0;
		ev->user_bytes = ev->user_bytes_most = ev->page_table_bytes = 0;
		ev->vmas = 0;
		ev->ctx_voluntary = ev->ctx_involuntary = 0;
	}
	bpf_ringbuf_submit(ev, 0);
	p->bytes_rx = p->bytes_tx = 0;
	p->syscall_ns = 0;
	__builtin_memset(p->sc, 0, sizeof(p->sc));
	if (whole)	/* the rest is the record's too: none for the bucket */
		__builtin_memset(p, 0, sizeof(*p));
}

/*
 * Add what the thread owes to its current connection and clear it; with
 * `finish`, a closed connection's record is final after this (the thread
 * moves on from it). True if the connection is closed. The thread's bucket
 * takes the charges if it is gone (finalized by another thread). `now`:
 * the time, if the caller knows it without reading the clock (0: read it).
 */
VERIFIED_ONCE bool flush(struct thread_state *ts, bool finish, __u64 now)
{
	bool closed = false;
	struct pending *p;
	struct conn *c;
	__u64 id;

	if (!ts)
		return false;
	p = &ts->owed;
	id = ts->cur_conn;
	if (!id)
		return false;
	c = conn_hold(id);
	if (c) {
		if (p->cpu_ns)
			__sync_fetch_and_add(&c->cpu_ns, p->cpu_ns);
		conn_add_memory(c, p->user_bytes, p->user_bytes_most, p->page_table_bytes, p->vmas);
		if (p->runq_ns)
			__sync_fetch_and_add(&c->runq_ns, p->runq_ns);
		if (p->bytes_rx)
			__sync_fetch_and_add(&c->bytes_rx, p->bytes_rx);
		if (p->bytes_tx)
			__sync_fetch_and_add(&c->bytes_tx, p->bytes_tx);
		if (p->ctx_voluntary)
			__sync_fetch_and_add(&c->ctx_voluntary, p->ctx_voluntary);
		if (p->ctx_involuntary)
			__sync_fetch_and_add(&c->ctx_involuntary, p->ctx_involuntary);
#pragma unroll
		for (int i = 0; i < PENDING_SC_SLOTS; i++)
			if (p->sc[i].nr)
				conn_add_syscalls(c, p->sc[i].nr - 1, p->sc[i].count, 0);
		if (p->syscall_ns)
			__sync_fetch_and_add(&c->syscall_ns, p->syscall_ns);
		if (p->sampled) {
			struct buffers b = { p->rx_queue, p->tx_queue, p->forward_alloc,
					     p->teardown };

			conn_set_buffers(c, &b, p->rx_queue_max, p->tx_queue_max,
					 p->forward_alloc_max, p->buffers_max);
			/* as of the flush: the thread's last I/O was just before.
			 * A clock read costs 20 ns on a VM's TSC, and an event
			 * loop flushes at every request: the caller's time */
			conn_buffers_seen(c, &b, now ? now : bpf_ktime_get_ns());
		}
		closed = c->close_ns != 0;
		if (closed && finish)
			conn_finalize(c);
		conn_put(id, c);
	} else {
		send_late(id, p, ts->cur_late);
		to_bucket(ts, p);
	}
	__builtin_memset(p, 0, sizeof(*p));
	return closed;
}

/*
 * A syscall's count is charged at its entry and its time at its exit
 * (count 0): calls that never return (exit, exit_group) and calls still
 * blocked when the report is taken (a thread per idle connection in
 * recvfrom) are in the process total, counted at entry, so they are in a
 * bucket too.
 */
static __always_inline void charge_syscall(struct thread_state *ts, __u64 conn_id,
					   __u32 nr, __u32 count, __u64 ns)
{
	struct proc_counters *pc;
	struct conn *c;

	if (conn_id && conn_id == ts->cur_conn) {
		/* owed: the flush takes it to the record, or to the bucket */
		ts->owed.syscall_ns += ns;
		ns = 0;
		if (!count)
			return;
#pragma unroll
		for (int i = 0; i < PENDING_SC_SLOTS; i++) {
			struct conn_syscall *s = &ts->owed.sc[i];

			if (s->nr == nr + 1 || s->nr == 0) {
				s->nr = nr + 1;
				s->count += count;
				return;
			}
		}
		/* more distinct syscalls than slots: pay the lookup now */
		if ((c = conn_hold(conn_id))) {
			conn_add_syscalls(c, nr, count, ns);
			conn_put(conn_id, c);
			return;
		}
		/* its record is final: what the slots hold goes late now,
		 * which frees them (a forking server's child makes seven
		 * distinct calls for its connection) */
		send_late(conn_id, &ts->owed, ts->cur_late);
		if (!ts->owed.sc[0].nr) {
			ts->owed.sc[0].nr = nr + 1;
			ts->owed.sc[0].count = count;
			return;
		}
	} else if ((c = conn_hold(conn_id))) {
		conn_add_syscalls(c, nr, count, ns);	/* e.g. closing another thread's */
		conn_put(conn_id, c);
		return;
	}
	pc = proc_counters();
	if (pc) {
		struct bucket_counts *b = idle_bucket(pc, ts);

		b->syscalls += count;
		b->syscall_ns += ns;
	}
}

/*
 * Take back a syscall's count from where its entry put it: socket I/O
 * names its connection only inside the call (sock_{recv,send}_length), so
 * its entry counted it for the thread's current one, a guess. A record
 * already final keeps it (its connection closed meanwhile: rare), and
 * this says so (false): the count then stays there, not counted twice.
 */
static __always_inline bool uncharge_syscall(struct thread_state *ts, __u64 conn_id, __u32 nr)
{
	struct proc_counters *pc;
	struct conn *c;
	bool taken;

	if (!conn_id) {
		if ((pc = proc_counters()))
			idle_bucket(pc, ts)->syscalls--;	/* per CPU it may wrap: the sum does not */
		return true;
	}
	if (conn_id == ts->cur_conn) {
#pragma unroll
		for (int i = 0; i < PENDING_SC_SLOTS; i++) {
			struct conn_syscall *s = &ts->owed.sc[i];

			if (s->nr == nr + 1 && s->count) {
				s->count--;
				return true;
			}
		}
	}
	c = conn_hold(conn_id);
	if (!c)
		return false;
	taken = conn_take_syscall(c, nr);
	conn_put(conn_id, c);
	return taken;
}

/* The syscall in progress turns out to be conn_id's: its count moves there
 * from where its entry guessed, while the guess still holds it (else it
 * stays, and sys_counted with it: counted once). */
static __always_inline void recount_syscall(struct thread_state *ts, __u64 conn_id)
{
	if (ts->sys_counted == conn_id ||
	    !uncharge_syscall(ts, ts->sys_counted, ts->sys_nr))
		return;
	charge_syscall(ts, conn_id, ts->sys_nr, 1, 0);
	ts->sys_counted = conn_id;
}

/* Bytes a syscall moved for conn_id (bytes_from_syscalls). */
static __always_inline void charge_bytes(struct thread_state *ts, __u64 conn_id, bool rx,
					 __u64 bytes)
{
	struct conn *c;

	if (conn_id == ts->cur_conn) {
		if (rx)
			ts->owed.bytes_rx += bytes;
		else
			ts->owed.bytes_tx += bytes;
	} else if ((c = conn_hold(conn_id))) {
		__sync_fetch_and_add(rx ? &c->bytes_rx : &c->bytes_tx, bytes);
		conn_put(conn_id, c);
	}
}

/* What the thread did while pending is its current connection's (or its
 * bucket's, if none): added to what it owes, no lookup. */
static __always_inline void take_deferred(struct thread_state *ts)
{
	struct deferred *d = &ts->deferred;
	struct proc_counters *pc;

	ts->pending = false;
	if (ts->cur_conn) {
		ts->owed.cpu_ns += d->cpu_ns;
		ts->owed.runq_ns += d->runq_ns;
		if (ts->owed.user_bytes + d->user_bytes_most > ts->owed.user_bytes_most)
			ts->owed.user_bytes_most = ts->owed.user_bytes + d->user_bytes_most;
		ts->owed.user_bytes += d->user_bytes;
		ts->owed.page_table_bytes += d->page_table_bytes;
		ts->owed.vmas += d->vmas;
		ts->owed.ctx_voluntary += d->ctx_voluntary;
		ts->owed.ctx_involuntary += d->ctx_involuntary;
	} else if ((pc = proc_counters())) {
		struct bucket_counts *b = idle_bucket(pc, ts);

		b->cpu_ns += d->cpu_ns;
		b->runq_ns += d->runq_ns;
		b->user_bytes += d->user_bytes;
		b->page_table_bytes += d->page_table_bytes;
		b->vmas += d->vmas;
		b->ctx_voluntary += d->ctx_voluntary;
		b->ctx_involuntary += d->ctx_involuntary;
	}
	__builtin_memset(d, 0, sizeof(*d));
}

/*
 * Whether the thread's current connection is being torn down: its last
 * I/O found the peer's FIN or a shutdown (in what the thread owes it, or
 * flushed to its record), or it is closed. A map lookup: for rare events
 * only (the address space growing, a collection beginning).
 */
static __always_inline bool conn_closing(const struct conn *c)
{
	return c->buffers_end || c->close_ns;
}

static __always_inline bool current_in_teardown(struct thread_state *ts)
{
	struct conn *c;

	if (ts->owed.sampled && ts->owed.teardown)
		return true;
	c = conn_lookup(ts->cur_conn);
	return c && conn_closing(c);
}

/*
 * Settle what the thread owes its current connection; make conn_id
 * current, as the thread's own (no hand-off). Pending, what the thread
 * did since its wait or send returned is conn_id's (the work a coroutine
 * resumed on the loop did before its own I/O), or its bucket's if that is
 * none (it waits again, accepts).
 */
static __always_inline void move_on(struct thread_state *ts, __u64 conn_id)
{
	bool pending = ts->pending;

	ts->handed = false;
	ts->unnamed = false;
	/* back to the connection it sent to (a thread per connection):
	 * nothing to settle yet */
	if (!pending || ts->cur_conn != conn_id) {
		ts->cur_pair = false;
		/* the thread moves on from a closed connection: its cost is
		 * final. As of the run's last split (mostly just now, at the
		 * change of connection), or the clock's */
		flush(ts, true, ts->cpu_mark);
		if (ts->cur_conn)
			ts->last_conn = ts->cur_conn;
		ts->cur_conn = conn_id;
		ts->cur_late = false;
		ts->cpu_to_loop = false;
	}
	if (pending)
		take_deferred(ts);
}

/*
 * An event loop serves many connections between two context switches, so
 * CPU time is split here, at every change of current connection, and not
 * at switch-out only; settle_run() then makes the run's total the kernel's.
 * `at`: when the change happened, if known without reading the clock.
 */
static __always_inline void set_current_at(struct task_struct *task, struct thread_state *ts,
					   __u64 conn_id, __u64 at)
{
	if (ts->cur_conn == conn_id && !ts->pending) {
		ts->handed = false;	/* named by the thread itself: its own */
		return;
	}
	/* pending, what ran since the last split goes where the deferred
	 * work goes, conn_id: split later, no clock read now */
	if (!ts->pending)
		split_run(task, ts, at);
	move_on(ts, conn_id);
}

/* set_current_at for a connection whose record c the caller has in hand:
 * whether it is an internal pair goes with it (take_handoff), and whether
 * another process made it (cur_late: a forking server's child that names
 * the connection before its parent's close() ends the record). One cache
 * line of the record, which the flags' read loads anyway. */
static __always_inline void set_current_record(struct task_struct *task, struct thread_state *ts,
					       __u64 conn_id, const struct conn *c, __u64 at)
{
	set_current_at(task, ts, conn_id, at);
	ts->cur_pair = c->flags & CONN_PAIR;
	ts->cur_late = c->tgid != task->tgid;
}

/*
 * Back from waiting for events (epoll_wait, `waited`), or from sending on
 * its current connection: what the thread does next is for the connection
 * it names next, or its bucket's if it waits again first. An event loop
 * runs the coroutines its last pass woke, each up to its own reply: what
 * runs after one's send is the next one's, not the connection just
 * served. The connection sent to stays current (syscalls count for it, as
 * before): a thread that sleeps first (a thread per connection, in
 * read()) owes it that (sleep_pending). `at`: the call's return.
 */
static __always_inline void await_next(struct task_struct *task, struct thread_state *ts,
				       __u64 at, bool waited)
{
	if (waited)
		set_current_at(task, ts, 0, at);
	else
		split_run(task, ts, at);
	/* an io_uring loop back from its wait reaps completions and queues
	 * requests in memory: no event names the connection its userspace
	 * works for, so that work is the loop's, and the next connection it
	 * names (setsockopt on one it accepted) owes none of it */
	ts->pending = !(waited && ts->uring_loop);
}

/*
 * Pending for no connection (a loop's pass, a coroutine step that named
 * none), which ends here: what ran since the last split is the loop's.
 * Pending, a change of connection splits nothing (the CPU goes where the
 * deferred work goes, to the connection named next), so the run is split
 * here: else asyncio's set-up steps for 40 connections opened at once,
 * 0.9 ms, went to the first light connection to reply, 2.1 to 2.7 times
 * its peers' (a CI run of 2026-12-04, and 3 of 5 runs here).
 */
static __always_inline void loop_pass_ends(struct task_struct *task, struct thread_state *ts)
{
	if (ts->pending && !ts->cur_conn)
		split_run(task, ts, 0);
}

/*
 * A read after a wait, on a loop whose coroutine steps are seen: what the
 * pass did before it (its timers, sorting the events the wait returned)
 * is the loop's, not that of the connection read first, whose own work
 * begins at its step. Elsewhere the read names the connection the work
 * since the wait was for (redis reads, then serves, inline).
 */
static __always_inline void read_after_wait(struct task_struct *task, struct thread_state *ts)
{
	if (ts->steps && ts->pending && !ts->cur_conn) {
		loop_pass_ends(task, ts);
		set_current_at(task, ts, 0, 0);
	}
}

/* The thread sleeps, pending: not an event loop's wait (that settles it
 * at its entry), so a thread that serves one connection at a time, or a
 * lock: what it did is its current connection's. */
static __always_inline void sleep_pending(struct thread_state *ts)
{
	if (ts->pending)
		take_deferred(ts);
}

/*
 * Python's interpreter state (_PyRuntime, which holds the GIL) as an
 * offset from the executable's code (mm->start_code, where the kernel
 * mapped its executable segment) and a size; set by userspace
 * (py_probes.c) where the target's executable is a Python that exports
 * it. 0: none.
 */
__u64 py_runtime_off = 0;
__u64 py_runtime_size = 0;

/*
 * The thread (task, running) waits or wakes in a futex of the Python
 * interpreter's own state: the GIL, passed from thread to thread by
 * whichever held it. Passing it hands over no work, and a thread waiting
 * for it is still on its job.
 */
static __always_inline bool on_interpreter_lock(struct task_struct *task,
						struct thread_state *ts)
{
	__u64 runtime;

	if (!py_runtime_size || !in_call(ts, SC_FUTEX))
		return false;
	runtime = BPF_CORE_READ(task, mm, start_code) + py_runtime_off;
	return ts->sys_addr - runtime < py_runtime_size;
}

/*
 * A hand-off: the thread was woken by one serving a connection (a pool
 * worker given a job, a loop told a job is done) and works for it until
 * it sleeps or names another. Not taken by a thread that serves a
 * connection of its own (woken from a lock it waited for, mid-work; an
 * internal pair it wrote to is none), nor by one pending (its work waits
 * for the connection it names). `at`: when its work for the connection
 * began, if known without reading the clock.
 */
static __always_inline void take_handoff(struct task_struct *task, struct thread_state *ts,
					 __u64 at)
{
	__u64 id = ts->woken_for;

	ts->woken_for = 0;
	if (ts->pending || ts->runtime_thread || (ts->cur_conn && !ts->handed && !ts->cur_pair))
		return;
	set_current_at(task, ts, id, at);
	ts->handed = true;
}

/*
 * The thread (task, running) sleeps: a connection handed to it is no
 * longer its work, unless it waits for Python's GIL, on its way through
 * the job (a worker of run_in_executor takes the GIL before the job's
 * code runs and again after it, from whichever thread held it).
 */
static __always_inline void handoff_ends(struct task_struct *task, struct thread_state *ts)
{
	if (ts->handed && !on_interpreter_lock(task, ts))
		move_on(ts, 0);
}

/* task: the thread whose state ts is, running now */
static __always_inline void set_current(struct task_struct *task, struct thread_state *ts,
					__u64 conn_id)
{
	set_current_at(task, ts, conn_id, 0);
}

/*
 * The thread's own I/O or call names a connection whose record is final
 * already: in full mode a connection ends at its first close(), and its
 * socket may stay open in another descriptor table. A fork-per-connection
 * server (inetd, Python's socketserver.ForkingTCPServer) closes its copy
 * as soon as it has forked; its child then serves the connection. The
 * thread works for that connection from here: current, its figures sent
 * to the record late and whole (send_late). Before, the child's bytes
 * were no one's and its CPU and memory the event loop's: every connection
 * of a forking server showed 0 bytes. False if id's record is not among
 * the ended (untracked; or gone from ended's window).
 */
static __always_inline bool take_up_ended(struct task_struct *task, struct thread_state *ts,
					  __u64 id, __u64 at)
{
	if (!bpf_map_lookup_elem(&ended, &id))
		return false;
	set_current_at(task, ts, id, at);
	ts->cur_pair = false;
	ts->cur_late = true;
	return true;
}

/*
 * The thread takes a job queued for connection id from a pool's queue,
 * seen by a probe (a worker busy when the job was queued takes it with
 * no wakeup to hand it over): the job is id's until the thread sleeps or
 * names another connection, as a hand-off is; what the thread did before
 * is where it went (pending since a send: its bucket's).
 */
static __always_inline void take_job(struct task_struct *task, struct thread_state *ts, __u64 id)
{
	if (ts->pending) {
		split_run(task, ts, 0);
		set_current_at(task, ts, 0, 0);
	}
	set_current(task, ts, id);
	ts->handed = true;
}

/*
 * An event that ends a connection's work, after which the thread's work
 * is no connection's that we can tell: the run since the last mark is
 * conn_id's, and the loop is current from now on.
 */
static __always_inline void done_with(struct task_struct *task, struct thread_state *ts,
				      __u64 conn_id)
{
	if (ts->cur_conn != conn_id || ts->pending)
		move_on(ts, conn_id);
	split_run(task, ts, 0);
	move_on(ts, 0);
}

/*
 * close() does not end what a connection costs: a thread-per-connection
 * server goes on to free the thread's stack and exit, on its behalf. So a
 * closed connection stays current until its thread moves on (to another
 * connection, to waiting for events, or out of existence), and only then
 * is its record final. A connection closed by a thread not working for it
 * is final at once. c: held by the caller (conn_hold).
 */
static __always_inline void conn_close(struct thread_state *ts, __u64 id, struct conn *c)
{
	conn_mark_closed(c, bpf_ktime_get_ns());
	if (ts->cur_conn != id)
		conn_finalize(c);
}

static __always_inline void sample_pending(struct pending *p, struct sock *sk)
{
	struct buffers b;
	__u32 sum;

	read_buffers(sk, &b);
	sum = buffers_sum(&b);
	p->sampled = true;
	p->rx_queue = b.rx;
	p->tx_queue = b.tx;
	p->forward_alloc = b.fwd;
	p->teardown = b.teardown;
	if (b.teardown)
		return;	/* now, not a peak: the connection is closing */
	if (b.rx > p->rx_queue_max)
		p->rx_queue_max = b.rx;
	if (b.tx > p->tx_queue_max)
		p->tx_queue_max = b.tx;
	if (b.fwd > p->forward_alloc_max)
		p->forward_alloc_max = b.fwd;
	if (sum > p->buffers_max)
		p->buffers_max = sum;
}

#endif /* CONCTRACE_LIB_CHARGING_BPF_H */
