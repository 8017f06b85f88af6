/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * io_uring: requests counted by opcode for
 * the connection whose fd they name (and made its thread's current one),
 * and held until their final completion.
 */
#ifndef CONCTRACE_PROGS_IO_URING_BPF_H
#define CONCTRACE_PROGS_IO_URING_BPF_H

#include "lib/charging.bpf.h"

static __always_inline int uring_submitted(struct io_kiocb *req)
{
	struct task_struct *task = target_current();
	struct thread_state *ts;
	struct socket *sock;
	struct conn *c;
	__u32 opcode;
	__u64 id;
	int fd;

	if (!task)
		return 0;
	opcode = req->opcode;
	/* at submission the sqe's fd sits in cqe.fd; the file is not looked
	 * up yet, so resolve the fd ourselves (fixed files stay unattributed) */
	fd = req->cqe.fd;
	sock = fd_to_socket(task, fd);
	id = socket_conn(sock, fd, CONN_URING, false);
	if (!id) {
		/* an untracked connection's (map full) work is no tracked one's:
		 * leave the connection the thread served before */
		if (sock && classify(BPF_CORE_READ(sock, sk)) == SK_CONN &&
		    (ts = thread_state(task)))
			set_current(task, ts, 0);
		return 0;
	}
	c = conn_hold(id);
	if (!c)
		return 0;
	__sync_fetch_and_add(&c->uring_ops, 1);
	/* armed until its final completion: an io_kiocb held for it */
	conn_uring_seen(c, bpf_ktime_get_ns());
	if (__sync_add_and_fetch(&c->uring_armed, 1) > c->uring_armed_peak)
		c->uring_armed_peak = c->uring_armed;
#pragma unroll
	for (int i = 0; i < CONN_URING_SLOTS; i++) {
		struct conn_uring_op *s = &c->uring[i];

		if (slot_holds(&s->opcode, opcode + 1)) {
			__sync_fetch_and_add(&s->count, 1);
			break;
		}
	}
	ts = thread_state(task);
	if (ts) {
		ts->uring_loop = true;
		set_current(task, ts, id);
		if (opcode == bpf_core_enum_value(enum io_uring_op, IORING_OP_CLOSE))
			conn_close(ts, id, c);
	}
	conn_put(id, c);
	return 0;
}

/*
 * A completion is posted after its request's work (in the submitting
 * thread's task work, or in an iou-wrk thread): that work, since the
 * thread's last event, is the connection's. What comes next is another
 * completion's work, or the loop reaping completions in userspace, where
 * no event says which connection it works for: the loop's, until the
 * thread names a connection again. A multishot request's completions
 * come without their request (req NULL): the connection its socket I/O
 * just named is the one.
 */
static __always_inline int uring_completed(void *req, __u32 cqe_flags)
{
	struct task_struct *task = target_current();
	struct thread_state *ts;
	struct file *file = NULL;
	struct conn *c = NULL;
	__u64 id = 0;

	if (!task)
		return 0;
	if (req)
		file = BPF_CORE_READ((struct io_kiocb *)req, file);
	if (file && (BPF_CORE_READ(file, f_inode, i_mode) & S_IFMT) == S_IFSOCK) {
		id = BPF_CORE_READ(file, f_inode, i_ino);
		c = conn_hold(id);
	}
	if (c && !(cqe_flags & IORING_CQE_F_MORE) && c->uring_armed) {
		conn_uring_seen(c, bpf_ktime_get_ns());
		__sync_fetch_and_sub(&c->uring_armed, 1);	/* its final completion */
	}
	conn_put(id, c);
	ts = bpf_task_storage_get(&threads, task, 0, 0);
	if (ts)
		done_with(task, ts, c ? id : ts->cur_conn);
	return 0;
}

SEC("tp_btf/io_uring_submit_req")
int BPF_PROG(on_io_uring_submit_req, struct io_kiocb *req)
{
	return uring_submitted(req);
}

/* The same event on older kernels (6.1), as io_uring_submit_sqe(req,
 * force_nonblock): at the same point, the sqe's fd in cqe.fd */
SEC("tp_btf/io_uring_submit_sqe")
int BPF_PROG(on_io_uring_submit_sqe, struct io_kiocb *req, bool force_nonblock)
{
	return uring_submitted(req);
}

SEC("tp_btf/io_uring_complete")
int BPF_PROG(on_io_uring_complete, struct io_ring_ctx *ring, void *req,
	     struct io_uring_cqe *cqe)
{
	return uring_completed(req, cqe->flags);
}

/* On older kernels (6.1, 6.12) the event takes the cqe's fields one by one. */
SEC("tp_btf/io_uring_complete")
int BPF_PROG(on_io_uring_complete_res, void *ring, void *req, __u64 user_data, int res,
	     unsigned int cflags, __u64 extra1, __u64 extra2)
{
	return uring_completed(req, cflags);
}

#endif /* CONCTRACE_PROGS_IO_URING_BPF_H */
