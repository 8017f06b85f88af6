/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * Socket events: reads and writes (bytes, and the connection they name),
 * and in light mode a TCP socket's release (its close).
 */
#ifndef CONCTRACE_PROGS_SOCKETS_BPF_H
#define CONCTRACE_PROGS_SOCKETS_BPF_H

#include "lib/charging.bpf.h"
#include "lib/goroutines.bpf.h"

/*
 * Socket I/O names its connection: the socket's inode through typed BTF
 * loads (no helper calls: this runs for every socket read and write).
 * Inside a read/write/send/recv syscall it also tells sys_exit whom to
 * charge; inside io_uring's task work it makes the connection current, so
 * the CPU spent completing its I/O is its own.
 */
static __always_inline void sock_io(struct sock *sk, int ret, int flags, bool rx)
{
	struct task_struct *task = target_current();
	struct thread_state *ts;
	struct socket *sock;
	bool in_syscall;
	__u64 id;

	if (!task)
		return;
	sock = sk->sk_socket;
	id = socket_file_ino(sock);
	if (!id)
		return;
	ts = thread_state(task);
	if (!ts)
		return;
	run_seen(task, ts);
	in_syscall = ts->sys_io && ts->sys_enter_ns;
	if (rx)
		read_after_wait(task, ts);
	if (id != ts->cur_conn) {
		struct conn *c = conn_lookup(id);
		bool recount;

		if (!c) {
			int fd = in_syscall ? ts->sys_fd : -1;

			if (classify(sk) != SK_CONN)
				return;	/* a listener, UDP, netlink: not a connection */
			/* sk by address: conn_create is a global function */
			c = conn_get(id, (__u64)BPF_CORE_READ(sock, sk), fd, 0);
			/* its record went at a close() elsewhere: a syscall of
			 * the thread's own takes it up (take_up_ended); an
			 * io_uring request's completion after the close is the
			 * loop's, as before */
			if (!c && !(in_syscall && bpf_map_lookup_elem(&ended, &id))) {
				/* untracked (map full): its cost is no tracked one's */
				if (in_syscall) {
					recount_syscall(ts, 0);
					ts->sys_conn = 0;
				}
				set_current(task, ts, 0);
				return;
			}
		}
		/* the call's count leaves its entry's guess while the guess is
		 * still current (its pending slot, or the loop's counter) and
		 * joins id once id is current (id's pending slot): neither
		 * side then needs the connection map, which charging a
		 * connection not current would (a lookup and three atomics) */
		recount = in_syscall && ts->sys_counted != id &&
			  uncharge_syscall(ts, ts->sys_counted, ts->sys_nr);
		if (c)
			set_current_record(task, ts, id, c, in_syscall ? sys_entry_at(ts) : 0);
		else
			take_up_ended(task, ts, id, sys_entry_at(ts));
		if (recount) {
			charge_syscall(ts, id, ts->sys_nr, 1, 0);
			ts->sys_counted = id;
		}
	} else if (ts->pending) {
		/* back to the connection it sent to last: what it did since
		 * is this one's (a second reply, a thread per connection) */
		set_current_at(task, ts, id, in_syscall ? sys_entry_at(ts) : 0);
	}
	if (in_syscall) {
		recount_syscall(ts, id);
		ts->sys_conn = id;
		ts->sys_sent = !rx;
	}
	if (go_g_m_off)
		go_note_conn(task, id);	/* a Go target: by goroutine too */
	if (ret > 0 && !(rx && (flags & MSG_PEEK))) {
		if (rx)
			ts->owed.bytes_rx += ret;
		else
			ts->owed.bytes_tx += ret;
	}
	sample_pending(&ts->owed, sk);
}

SEC("tp_btf/sock_recv_length")
int BPF_PROG(on_sock_recv_length, struct sock *sk, int ret, int flags)
{
	sock_io(sk, ret, flags, true);
	return 0;
}

SEC("tp_btf/sock_send_length")
int BPF_PROG(on_sock_send_length, struct sock *sk, int ret, int flags)
{
	sock_io(sk, ret, flags, false);
	return 0;
}

/*
 * Where the kernel lacks the socket-length tracepoints (6.1 does; 6.12
 * has them), the same from the protocols' recvmsg and sendmsg, where the kernel lets fexit programs attach (its
 * build may not): every read and write of a TCP or Unix stream socket,
 * from a syscall or io_uring, goes through one of them. Stand-ins
 * (userspace/tracer/programs.c): loaded only where the tracepoints are missing.
 */
#define SOCK_RECVMSG_FEXIT(fn)							\
SEC("fexit/" #fn)								\
int BPF_PROG(on_##fn, struct socket *sock, struct msghdr *msg, size_t size,	\
	     int flags, int ret)						\
{										\
	if (sock->sk)								\
		sock_io(sock->sk, ret, flags, true);				\
	return 0;								\
}

#define SOCK_SENDMSG_FEXIT(fn)							\
SEC("fexit/" #fn)								\
int BPF_PROG(on_##fn, struct socket *sock, struct msghdr *msg, size_t size, int ret) \
{										\
	if (sock->sk)								\
		sock_io(sock->sk, ret, 0, false);				\
	return 0;								\
}

SOCK_RECVMSG_FEXIT(inet_recvmsg)
SOCK_RECVMSG_FEXIT(inet6_recvmsg)
SOCK_RECVMSG_FEXIT(unix_stream_recvmsg)
SOCK_RECVMSG_FEXIT(unix_seqpacket_recvmsg)
SOCK_SENDMSG_FEXIT(inet_sendmsg)
SOCK_SENDMSG_FEXIT(inet6_sendmsg)
SOCK_SENDMSG_FEXIT(unix_stream_sendmsg)
SOCK_SENDMSG_FEXIT(unix_seqpacket_sendmsg)

/*
 * Light mode sees no close(), but a TCP socket's release changes its
 * state (a FIN, or a reset if data was left unread) in the closing
 * thread's context, with its file's last reference gone: that tells a
 * close() from a shutdown() or a reset from the peer, whose sockets are
 * still open. (A Unix socket's release has no tracepoint, and a reset
 * socket's close changes no state: the snapshot sweep ends those,
 * progs/snapshots.bpf.h.) Full mode ends connections at close(), but for
 * one whose close() left the file to another holder (CONN_OUTLIVED: a
 * forking server's child that exits without closing it, or whatever held
 * the file for a moment), in whichever task lets the file go.
 */
SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(on_inet_sock_set_state, struct sock *sk, int oldstate, int newstate)
{
	struct task_struct *task;
	struct thread_state *ts;
	struct socket *sock;
	struct conn *c;
	struct file *f;
	__u64 id;

	if (newstate != TCP_FIN_WAIT1 && newstate != TCP_LAST_ACK && newstate != TCP_CLOSE)
		return 0;
	task = target_current();
	if (!task && no_syscall_hooks)
		return 0;
	sock = sk->sk_socket;
	if (!sock || !(f = sock->file) || !file_released(f))
		return 0;
	id = f->f_inode->i_ino;
	c = conn_hold(id);
	if (c && !c->close_ns && (no_syscall_hooks || (c->flags & CONN_OUTLIVED))) {
		/* the last holder may be no thread of the target: a reader of
		 * its /proc/PID/fd (ls, lsof, a monitoring agent, the tests)
		 * that held the file through its close() */
		if (!task)
			conn_finalize(c);
		else if ((ts = thread_state(task)))
			conn_close(ts, id, c);
	}
	conn_put(id, c);
	return 0;
}

#endif /* CONCTRACE_PROGS_SOCKETS_BPF_H */
