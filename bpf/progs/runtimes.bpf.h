/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * Runtimes whose work moves between threads where the kernel cannot see
 * it. libuv's threadpool (Node's crypto, zlib and addons' jobs): the loop
 * queues a job (uv_queue_work) and a worker that is busy takes it from the
 * queue when it finishes its last, with no wakeup to hand it over
 * (sched.bpf.h's hand-off sees only a worker woken for it). A uprobe on
 * uv_queue_work ties the request to the connection the loop serves; one
 * on the job's work callback, which userspace attaches when it learns the
 * callback's address (EV_UV_CALLBACK), hands the worker that connection
 * for the job's length. Where the binary keeps its symbol table (Node's
 * own build does), the worker's side is probed from the start instead, at
 * uv__queue_work, which calls every such callback: no job goes by before
 * its callback is learnt. Attached where a binary has libuv
 * (userspace/tracer/uv_probes.c).
 *
 * Go's channels: a goroutine that sends on a channel no one is receiving
 * from parks in the channel's send queue, and the receiver that comes
 * next takes its value from it without sleeping (a pool's worker taking
 * the next job as it finishes the last): no wakeup says whose the work
 * is. A uprobe where a goroutine parks on a channel notes the connection
 * its thread serves, by goroutine; one where a receive takes a parked
 * sender's value hands the receiving thread that sender's connection, as
 * a wakeup would have. Attached in Go binaries whose runtime's layout is
 * known (userspace/tracer/go_probes.c).
 *
 * CPython's asyncio: a connection's coroutine resumes on a pass of the
 * loop after the one that read its data, after other connections' reads
 * (asyncio streams: each read only feeds a buffer and wakes a Task). The
 * syscalls alone look like redis's, which does each request's work right
 * after its read; a uprobe where a Task's step resumes its coroutine
 * tells them apart. Attached in a Python's _asyncio module
 * (userspace/tracer/py_probes.c); and its garbage collector's passes, the
 * runtime's own work, at the interpreter's USDT probes.
 */
#ifndef CONCTRACE_PROGS_RUNTIMES_BPF_H
#define CONCTRACE_PROGS_RUNTIMES_BPF_H

#include "lib/charging.bpf.h"
#include "lib/goroutines.bpf.h"
#include "lib/mm.bpf.h"

/* offsetof(uv_work_t, work_req): libuv 1.x's public ABI on 64-bit (its
 * request fields end in reserved[6] so that it stays put). A build where
 * it moved finds no job under the address it makes: a miss, not a
 * wrong connection. */
#define UV_WORK_REQ_OFFSET	88

/* uv__queue_work is probed: callbacks need not be learnt (uv_probes.c) */
__u32 uv_worker_probed = 0;

/* The first sight of a work callback: userspace is told, to probe it. */
static __always_inline void learn_callback(__u64 addr)
{
	struct uv_callback_event *ev;
	__u8 one = 1;

	if (uv_worker_probed || bpf_map_lookup_elem(&uv_callbacks, &addr) ||
	    bpf_map_update_elem(&uv_callbacks, &addr, &one, BPF_NOEXIST))
		return;
	ev = bpf_ringbuf_reserve(&events, sizeof(*ev), 0);
	if (!ev)
		return;	/* jobs of this kind stay the hand-off's to guess */
	ev->type = EV_UV_CALLBACK;
	ev->tgid = bpf_get_current_pid_tgid() >> 32;
	ev->addr = addr;
	bpf_ringbuf_submit(ev, 0);
}

/* uv_queue_work(loop, req, work_cb, after_work_cb), on the loop's thread */
SEC("uprobe")
int BPF_KPROBE(on_uv_queue_work, void *loop, void *req, void *work_cb)
{
	struct task_struct *task = target_current();
	struct thread_state *ts;
	__u64 key = (__u64)req, conn;

	if (!task || !req || !work_cb)
		return 0;
	ts = thread_state(task);
	if (!ts)
		return 0;
	learn_callback((__u64)work_cb);
	/* pending, the thread serves no connection yet: a job queued from a
	 * timer or at start-up is the pool's */
	conn = ts->pending ? 0 : ts->cur_conn;
	if (conn)
		bpf_map_update_elem(&uv_jobs, &key, &conn, BPF_ANY);
	else
		bpf_map_delete_elem(&uv_jobs, &key);	/* a request reused */
	return 0;
}

/* A job starts on a worker: its connection is the worker's until the
 * callback returns. */
static __always_inline void uv_job_starts(__u64 req)
{
	struct task_struct *task = target_current();
	struct thread_state *ts;
	__u64 *conn, id;

	if (!task)
		return;
	conn = bpf_map_lookup_elem(&uv_jobs, &req);
	if (!conn)
		return;
	id = *conn;
	bpf_map_delete_elem(&uv_jobs, &req);
	ts = thread_state(task);
	if (!ts)
		return;
	ts->woken_for = 0;	/* the job says whose it is: no guess */
	set_current(task, ts, id);
	ts->handed = true;
}

/* a job's work callback, work_cb(req) */
SEC("uprobe")
int BPF_KPROBE(on_uv_work, void *req)
{
	uv_job_starts((__u64)req);
	return 0;
}

/* uv__queue_work(w), w = &req->work_req: the worker's call of work_cb */
SEC("uprobe")
int BPF_KPROBE(on_uv_queue_work_run, void *w)
{
	if (w)
		uv_job_starts((__u64)w - UV_WORK_REQ_OFFSET);
	return 0;
}

SEC("uretprobe")
int BPF_KRETPROBE(on_uv_work_done)
{
	struct task_struct *task;
	struct thread_state *ts = target_thread(&task);

	if (ts && ts->handed)
		set_current(task, ts, 0);	/* the job is done: the pool's again */
	return 0;
}

/*
 * Where Go's runtime keeps what the receive side reads, set by userspace
 * from the binary's Go version (go_probes.c) before it attaches: the
 * offset of hchan.dataqsiz, sudog.isSelect and sudog.c (sudog.g is its
 * first field). 0: not attached.
 */
__u32 go_chan_size_off = 0;
__u32 go_sudog_select_off = 0;
__u32 go_sudog_chan_off = 0;

/*
 * runtime.chanparkcommit(gp, lock), Go's register ABI on amd64 (gp in
 * RAX): a goroutine parks on a channel, a send or a receive that found no
 * one, on the thread that ran it (on that thread's scheduler stack, the
 * channel still locked: no receiver can take it before this runs). Its
 * connection is the goroutine's own, else the thread's, or none
 * (go_sender_conn); every park writes it, so whichever
 * sender a receiver finds parked, the entry is that park's. Parks and
 * hand-overs only: a channel operation that neither parks nor finds a
 * parked sender runs no probe.
 */
SEC("uprobe")
int on_go_chan_park(struct pt_regs *ctx)
{
	struct task_struct *task = target_current();
	struct go_sender key = {};
	__u64 conn;

	if (!task || !ctx->ax)
		return 0;
	key.g = ctx->ax;
	key.tgid = task->tgid;
	conn = go_sender_conn(key.g, task);
	if (!conn || bpf_map_update_elem(&go_senders, &key, &conn, BPF_ANY))
		bpf_map_delete_elem(&go_senders, &key);	/* full: no stale entry either */
	return 0;
}

/*
 * runtime.recv(c, sg, ep, unlockf, skip), c in RAX, sg in RBX: a receive
 * (chanrecv's, or a select's) takes its value from sg, a sender parked in
 * c's send queue, without sleeping, and the work it brings is the
 * sender's connection's: the receiving thread works for it as for a
 * wakeup's (take_handoff's rules: a thread serving a connection of its
 * own, or pending, keeps it). A receive that finds no sender parked may
 * sleep, and the wakeup that ends it hands the work over. Unbuffered
 * channels only: from a full buffer the receiver takes the oldest value,
 * an earlier sender's, and sg's goes to the buffer's tail. A sender
 * parked through a select (isSelect) went by no chanparkcommit, so its
 * goroutine's entry may be an older park's: left alone; so is a sudog
 * that does not point back to c (a layout not the one assumed).
 */
SEC("uprobe")
int on_go_chan_recv(struct pt_regs *ctx)
{
	struct task_struct *task;
	struct go_sender key = {};
	struct thread_state *ts;
	__u64 c = ctx->ax, sg = ctx->bx, size = 1, sg_c = 0, *conn;
	__u8 is_select = 1;

	if (!go_sudog_chan_off || !c || !sg)
		return 0;
	task = target_current();
	if (!task)
		return 0;
	if (bpf_probe_read_user(&size, sizeof(size), (void *)(c + go_chan_size_off)) || size ||
	    bpf_probe_read_user(&key.g, sizeof(key.g), (void *)sg) ||
	    bpf_probe_read_user(&is_select, sizeof(is_select),
				(void *)(sg + go_sudog_select_off)) ||
	    bpf_probe_read_user(&sg_c, sizeof(sg_c), (void *)(sg + go_sudog_chan_off)) ||
	    is_select || sg_c != c)
		return 0;
	key.tgid = bpf_get_current_pid_tgid() >> 32;
	conn = bpf_map_lookup_elem(&go_senders, &key);
	if (!conn || !*conn)
		return 0;
	ts = thread_state(task);
	if (!ts)
		return 0;
	ts->woken_for = *conn;
	take_handoff(task, ts, 0);
	return 0;
}

/*
 * runtime.send(c, sg, ep, unlockf, skip), c in RAX, sg in RBX: a send
 * finds a receiver parked on c (sg) and hands it the value; the work the
 * value brings is the sender's connection's. A receiver locked to its
 * thread (a pool worker's LockOSThread) runs on that thread alone, which
 * sleeps until Go's scheduler wakes it for the goroutine, and the thread
 * that does the waking need not be the sender's: one that takes the
 * goroutine from the sender's run queue, in the middle of a request of
 * its own, would hand that request's connection over (seen: a heavy job's
 * 3 ms of burn on a light connection). So the hand-off is noted for the
 * receiver's thread (g.lockedm's procid), and the wakeup takes it
 * instead of the waker's connection (on_sched_waking). A receiver not
 * locked runs on whichever thread takes it, which the kernel cannot tell:
 * left to the wakeup, as before. The sudog must point back to c.
 */
SEC("uprobe")
int on_go_chan_send(struct pt_regs *ctx)
{
	__u64 c = ctx->ax, sg = ctx->bx, sg_c = 0, g = 0, m = 0, tid = 0, conn;
	struct task_struct *task;
	__u32 key;

	if (!go_g_lockedm_off || !go_sudog_chan_off || !c || !sg)
		return 0;
	task = target_current();
	if (!task)
		return 0;
	if (bpf_probe_read_user(&sg_c, sizeof(sg_c), (void *)(sg + go_sudog_chan_off)) ||
	    sg_c != c || bpf_probe_read_user(&g, sizeof(g), (void *)sg) || !g ||
	    bpf_probe_read_user(&m, sizeof(m), (void *)(g + go_g_lockedm_off)) || !m ||
	    bpf_probe_read_user(&tid, sizeof(tid), (void *)(m + go_m_procid_off)) ||
	    !tid || tid > 0xffffffff)
		return 0;
	conn = go_sender_conn(ctx->r14, task);	/* the sender's g: R14, the register ABI's */
	key = (__u32)tid;
	bpf_map_update_elem(&go_locked_handoffs, &key, &conn, BPF_ANY);
	return 0;
}

/*
 * A Task's step resumes its coroutine (task_step_impl's call of
 * PyIter_Send, probed at its PLT stub): what the coroutine does is for
 * the connection it names next (its reply), not for the one read last;
 * pending, as after a wait (await_next): if it sleeps or the loop waits
 * before it names one, the loop's. What ran before the step is not the
 * step's: it is the connection's read last (feeding its buffer), or sent
 * to last (the rest of that step, after its reply), or, still pending,
 * the loop's (its pass, or a step that named no connection).
 */
SEC("uprobe")
int BPF_KPROBE(on_asyncio_step)
{
	struct task_struct *task;
	struct thread_state *ts = target_thread(&task);

	if (!ts)
		return 0;
	ts->steps = true;
	loop_pass_ends(task, ts);
	await_next(task, ts, 0, true);	/* the clock, only if it splits */
	return 0;
}

/*
 * Python's thread pools (concurrent.futures, asyncio's run_in_executor):
 * the loop puts a job on the pool's queue.SimpleQueue while serving a
 * connection, and a worker takes it with get(), with no wakeup when it
 * was busy (the futex hand-off sees only a worker woken for it). A
 * uprobe at put (the C method's entry: self, then its arguments' array)
 * notes the connection by the queued object; a uretprobe at get's return
 * (the object) hands the worker that connection for the job. Attached in
 * the _queue module of a Python (userspace/tracer/py_jobs.c).
 */
SEC("uprobe")
int BPF_KPROBE(on_py_queue_put, void *self, void **args)
{
	struct task_struct *task;
	struct thread_state *ts = target_thread(&task);
	struct py_job key = {};
	__u64 conn;

	if (!ts || ts->pending || !ts->cur_conn || ts->cur_pair || runtime_works(ts) ||
	    bpf_probe_read_user(&key.item, sizeof(key.item), args) || !key.item)
		return 0;	/* queued for no connection that we know */
	key.tgid = task->tgid;
	conn = ts->cur_conn;
	bpf_map_update_elem(&py_jobs, &key, &conn, BPF_ANY);
	return 0;
}

SEC("uretprobe")
int BPF_KRETPROBE(on_py_queue_got, void *item)
{
	struct task_struct *task;
	struct thread_state *ts = target_thread(&task);
	struct py_job key = { .item = (__u64)item };
	__u64 *conn, id;

	if (!ts || !item)
		return 0;
	key.tgid = task->tgid;
	conn = bpf_map_lookup_elem(&py_jobs, &key);
	if (!conn)
		return 0;
	id = *conn;
	bpf_map_delete_elem(&py_jobs, &key);
	take_job(task, ts, id);
	return 0;
}

/* The connection the memory of a collection beginning (id) or ending (0)
 * in task's address space is charged to: the collecting thread's growth
 * and its helpers' (rss.bpf.h), wherever the thread's current connection
 * goes meanwhile. */
static __always_inline void collection_charged_to(struct task_struct *task, __u64 id)
{
	struct mm_struct *mm = task->mm;
	__u64 key = (__u64)mm;
	struct rss_state *st = bpf_map_lookup_elem(&rss, &key);

	if (st && st->mm_id == mm_id(mm))
		st->collector_conn = id;
}

/*
 * Whom the memory a collection grows is charged to: the objects it keeps
 * and moves are the connections', so the connection whose code allocated
 * past the threshold, the current one. In a coroutine's step that has not
 * named its connection yet, none: the thread's growth waits for the name
 * (pending), as the step's CPU does. V8 also collects in a task of its
 * own (its scavenge job, posted by the allocation that filled 80% of the
 * young generation, run in a later pass of the loop): no connection is
 * current, and the one the thread made current last is where that
 * allocation most likely was. Before, such a collection's growth went to
 * the event loop: 900 idle Node connections held 4,090 to 4,130 B against
 * a slab truth of 4,330 B in 4 of about 140 runs, 170 KB of page tables
 * missing. None for a connection being torn down (its close's, no open
 * connection's peak).
 */
static __always_inline __u64 collection_owner(struct thread_state *ts)
{
	struct conn *c;

	if (ts->cur_conn)
		return current_in_teardown(ts) ? 0 : ts->cur_conn;
	if (ts->pending && ts->steps)
		return 0;
	c = conn_lookup(ts->last_conn);
	return c && !conn_closing(c) ? ts->last_conn : 0;
}

/*
 * The runtime works for itself, from a probe at the entry (begins) or the
 * return of its collector or compiler: the thread's CPU from the first
 * entry to the last return is its bucket's. The two nest (V8 collects
 * while it installs compiled code); a return whose entry was missed (a
 * probe attached mid-call) is ignored.
 */
static __always_inline void runtime_works_for_itself(bool begins, bool collection)
{
	struct task_struct *task;
	struct thread_state *ts = target_thread(&task);

	if (!ts)
		return;
	if (begins) {
		if (!ts->runtime_depth)
			split_run(task, ts, 0);	/* what ran before is the connection's */
		if (ts->runtime_depth < 255)
			ts->runtime_depth++;
	} else {
		if (!ts->runtime_depth)
			return;
		if (ts->runtime_depth == 1)
			split_run(task, ts, 0);	/* and what ran since, the runtime's */
		ts->runtime_depth--;
	}
	if (collection)
		collection_charged_to(task, begins ? collection_owner(ts) : 0);
}

/*
 * A runtime's garbage collector: a pass runs in whatever code allocated
 * past its threshold, mostly a connection's, and walks the objects of the
 * whole process: the runtime's work, not that connection's (a CPython
 * pass after 40 connections' set-up took 0.8 ms of asyncio_streams.py,
 * all charged to one light connection whose own requests took 0.3 ms).
 * CPython's USDT probes python:gc__start and gc__done bound it
 * (py_probes.c); in V8 (Node), the entry and return of
 * Heap::CollectGarbage (v8_probes.c).
 */
SEC("uprobe")
int BPF_KPROBE(on_gc_start)
{
	runtime_works_for_itself(true, true);
	return 0;
}

SEC("uprobe")
int BPF_KPROBE(on_gc_done)
{
	runtime_works_for_itself(false, true);
	return 0;
}

/*
 * V8's compilers on the isolate's thread (installing what TurboFan built
 * in the background, Sparkplug's batches): tiering a hot function up
 * happens in whichever request made it hot, and is the runtime's work.
 * Entry and return by name (v8_probes.c).
 */
SEC("uprobe")
int BPF_KPROBE(on_compile_start)
{
	runtime_works_for_itself(true, false);
	return 0;
}

SEC("uprobe")
int BPF_KPROBE(on_compile_done)
{
	runtime_works_for_itself(false, false);
	return 0;
}

/*
 * One of V8's platform worker threads starts (node's PlatformWorkerThread):
 * it runs V8's background jobs (concurrent marking, sweeping, TurboFan and
 * lazy compiles), never a connection's JavaScript, yet a main thread that
 * posts a job wakes it from inside a connection's request: before, its
 * compiles went to that connection (a light Node connection 3.3x its
 * peers'). Its CPU is the pool bucket's, and it takes no hand-off.
 */
SEC("uprobe")
int BPF_KPROBE(on_runtime_thread)
{
	struct task_struct *task;
	struct thread_state *ts = target_thread(&task);

	if (!ts)
		return 0;
	set_current(task, ts, 0);	/* whatever it was handed at its creation */
	ts->runtime_thread = true;
	return 0;
}

#endif /* CONCTRACE_PROGS_RUNTIMES_BPF_H */
