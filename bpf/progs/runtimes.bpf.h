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
 */
#ifndef CONCTRACE_PROGS_RUNTIMES_BPF_H
#define CONCTRACE_PROGS_RUNTIMES_BPF_H

#include "lib/charging.bpf.h"

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
	struct task_struct *task = target_current();
	struct thread_state *ts;

	if (!task)
		return 0;
	ts = bpf_task_storage_get(&threads, task, 0, 0);
	if (ts && ts->handed)
		set_current(task, ts, 0);	/* the job is done: the pool's again */
	return 0;
}

#endif /* CONCTRACE_PROGS_RUNTIMES_BPF_H */
