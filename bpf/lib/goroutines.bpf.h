/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * Go's goroutines: the connection each last named. A goroutine moves
 * between the OS threads the kernel sees, so the connection a thread last
 * read or wrote need not be the one the goroutine running on it serves
 * now (net/http's handler of a heavy request resumed on a thread that was
 * in the middle of a light one's, after waiting for a lock). Where a
 * goroutine hands work to another through a channel (progs/runtimes.bpf.h),
 * the work is for the sender goroutine's own connection: noted here at
 * every socket read and write of a Go target, by goroutine.
 *
 * The running goroutine (its g) is in the thread's TLS, at FS base - 8 on
 * amd64 for a binary without cgo (Go's local-exec TLS slot, runtime.tlsg);
 * a g read so is used only if its m's procid is the thread's id, so a
 * binary that keeps it elsewhere (cgo's initial-exec slot) notes nothing.
 * What it costs a Go target per socket event, above the programs without
 * it (bpf_stats, go_echo with 20 connections, medians of 3 and of 4
 * interleaved runs, on a kernel with pti=on): a read +151 to +237 ns, a
 * write +136 to +156 ns, none elsewhere. Reading g from R14 as the
 * syscall saved it (the register ABI's g: the TLS slot's at 7,317 of
 * 7,317 events) and skipping the map for a thread's last pair cost +84
 * and +21 ns, but its runs put the pool's work on a light connection in
 * 2 of about 25 (this: 0 of 47), for a reason not found: not kept.
 */
#ifndef CONCTRACE_LIB_GOROUTINES_BPF_H
#define CONCTRACE_LIB_GOROUTINES_BPF_H

#include "lib/maps.bpf.h"

#define GO_TLS_G_OFF 8	/* g at FS base - 8 (runtime.tlsg, amd64, no cgo) */

/* The goroutine running on task (the current thread, in the kernel), or 0:
 * not Go, not this layout, or unreadable. */
static __always_inline __u64 go_current_g(struct task_struct *task)
{
	__u64 fs, g = 0, m = 0, procid = 0;

	if (!go_g_m_off || !bpf_core_field_exists(task->thread.fsbase))
		return 0;
	fs = BPF_CORE_READ(task, thread.fsbase);
	if (!fs || bpf_probe_read_user(&g, sizeof(g), (void *)(fs - GO_TLS_G_OFF)) || !g ||
	    bpf_probe_read_user(&m, sizeof(m), (void *)(g + go_g_m_off)) || !m ||
	    bpf_probe_read_user(&procid, sizeof(procid), (void *)(m + go_m_procid_off)) ||
	    procid != (__u64)task->pid)
		return 0;
	return g;
}

/* The running goroutine of task names connection id (a read, a write). */
static __always_inline void go_note_conn(struct task_struct *task, __u64 id)
{
	struct go_sender key = { .g = go_current_g(task), .tgid = task->tgid };
	__u64 *known;

	if (!key.g)
		return;
	known = bpf_map_lookup_elem(&go_conns, &key);
	if (known && *known == id)
		return;	/* the common case: its connection again */
	bpf_map_update_elem(&go_conns, &key, &id, BPF_ANY);
}

/* The connection goroutine g of process tgid last named, or 0. */
static __always_inline __u64 go_conn_of(__u64 g, __u32 tgid)
{
	struct go_sender key = { .g = g, .tgid = tgid };
	__u64 *id = g ? bpf_map_lookup_elem(&go_conns, &key) : NULL;

	return id ? *id : 0;
}

/* The connection a goroutine hands its work for (a channel's park or
 * send), on task: its own, where its reads were seen; else its thread's,
 * unless the thread is pending (its work waits for the connection it
 * names next); 0: none. */
static __always_inline __u64 go_sender_conn(__u64 g, struct task_struct *task)
{
	struct thread_state *ts;
	__u64 conn = go_conn_of(g, task->tgid);

	if (conn)
		return conn;
	ts = bpf_task_storage_get(&threads, task, 0, 0);
	return ts && !ts->pending ? ts->cur_conn : 0;
}

#endif /* CONCTRACE_LIB_GOROUTINES_BPF_H */
