/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * The syscall programs (left unloaded with --no-syscalls): counts and times by name, attributed through the fd
 * argument and the thread's current connection; accept, connect, close,
 * listen and epoll_ctl also mark a connection's life.
 */
#ifndef CONCTRACE_PROGS_SYSCALLS_BPF_H
#define CONCTRACE_PROGS_SYSCALLS_BPF_H

#include "lib/charging.bpf.h"
#include "lib/stacks.bpf.h"
#include "lib/goroutines.bpf.h"

/*
 * A Go thread back from a futex call or a sleep (go_moved) runs, at this
 * syscall, a goroutine whose last read or write named another connection
 * than the thread's: Go's scheduler switched goroutines meanwhile, where
 * no syscall shows it (a read whose return found its P taken puts its
 * goroutine back on the run queue, and an idle thread, woken or handed
 * another connection's work, takes it), so from here the thread works for
 * the goroutine's own connection. Looked at only then: reading the
 * running goroutine costs three user reads, +45 to +80 ns a Go target's
 * syscall on average (sys_enter's bpf_stats over go_echo, 4 interleaved
 * runs with and without, noisy). A pending thread too: left out, a heavy
 * echo request's burn went to a light connection again in 1 of 20 runs.
 * Before, it did now and then: 3.5 ms against books of 1.4 (test_go.py's
 * echo, 2 runs in 100; none in 108 since).
 */
static __always_inline void go_runs_own(struct task_struct *task, struct thread_state *ts)
{
	__u64 own;

	ts->go_moved = false;
	own = go_conn_of(go_current_g(task), task->tgid);
	if (own && own != ts->cur_conn)
		set_current_at(task, ts, own, sys_entry_at(ts));
}

/* A syscall's entry (on_sys_enter, or on_sys_call where the kernel lets
 * fentry attach): ctx is the program's, for the syscalls flame view's stacks. */
static __always_inline int sys_enter(void *ctx, struct pt_regs *regs, long id)
{
	struct task_struct *task = target_current();
	struct thread_state *ts;
	struct syscall_total *tot;
	__u32 nr = (__u32)id;
	__u16 flags;
	__u8 fd_arg;
	int fd = -1;

	if (!task || nr >= SYSCALL_MAX)
		return 0;
	ts = thread_state(task);
	if (!ts)
		return 0;
	run_seen(task, ts);

	/* counted at entry, like strace -c: exit_group never returns */
	tot = bpf_map_lookup_elem(&syscall_totals, &nr);
	if (tot)
		tot->count++;

	flags = syscall_flags[nr & (SYSCALL_MAX - 1)];	/* provable bound */
	fd_arg = flags & SC_FD_ARG_MASK;
	switch (fd_arg) {
	case 1: fd = (int)PT_REGS_PARM1_SYSCALL(regs); break;
	case 2: fd = (int)PT_REGS_PARM2_SYSCALL(regs); break;
	case 3: fd = (int)PT_REGS_PARM3_SYSCALL(regs); break;
	}

	ts->sys_nr = nr;
	ts->sys_fd = fd;
	ts->sys_io = flags & SC_IO;
	ts->sys_sent = false;
	if (flags & SC_EPOLL_CTL)
		ts->sys_arg = (__u32)PT_REGS_PARM2_SYSCALL(regs);
	else if (flags & SC_CLOSE)
		ts->sys_arg = 0;	/* outlive_close, below */
	else if (flags & SC_FUTEX)
		ts->sys_addr = PT_REGS_PARM1_SYSCALL(regs);
	/* the entry's time: for the call's duration; for a wait, which
	 * changes connection here; and for a read that may name another
	 * connection than the current one, whose kernel work (the copy) is
	 * the connection's it reads (redis reads client after client). A
	 * pending thread needs none: what it did since its wait or send goes
	 * to the connection it names, the read too. A change at another
	 * call's entry reads the clock then (set_current_at). */
	ts->sys_enter_ns = syscall_time || (flags & SC_WAIT) ||
			   ((flags & SC_RX) && !ts->pending) ? bpf_ktime_get_ns() : SYS_UNTIMED;
	if (ts->go_moved)
		go_runs_own(task, ts);
	if (flags & SC_WAIT) {
		/* a thread that waits for events is the loop, not the pool */
		ts->idle_pool = false;
		set_current_at(task, ts, 0, ts->sys_enter_ns);
	} else if (fd_arg && (!(flags & SC_IO) || bytes_from_syscalls || ts->unnamed)) {
		/* the hottest calls (read, write, send, recv) skip this walk:
		 * sock_{recv,send}_length fires inside them with the socket
		 * (where the kernel has neither it nor fexit, they walk too;
		 * and a new thread's first, which may sleep before it names
		 * its connection) */
		struct socket *sock = fd_to_socket(task, fd);
		__u64 conn = 0;
		struct conn *c = socket_record(sock, fd, 0, false, &conn);

		/* accepting is the event loop's work; a non-socket fd (a file,
		 * a timerfd) leaves the thread's current connection alone; an
		 * untracked connection (map full) is charged to no tracked one */
		if (c) {
			if (flags & SC_RX)
				read_after_wait(task, ts);
			set_current_record(task, ts, conn, c, sys_entry_at(ts));
			ts->sys_sent = flags & SC_TX;	/* bytes_from_syscalls */
			if ((flags & SC_CLOSE) && outlive_closes)
				ts->sys_arg = outlive_close(c, fd, BPF_CORE_READ(sock, file));
		} else if (sock) {
			enum sock_kind kind = classify(BPF_CORE_READ(sock, sk));
			__u64 id = sock_ino(sock);

			/* a connection whose record went at a close() elsewhere
			 * (a forking server's child shutting it down) is the
			 * thread's from here; another socket is no tracked
			 * connection's */
			if (kind == SK_CONN && take_up_ended(task, ts, id, sys_entry_at(ts)))
				;
			else if (kind != SK_OTHER)
				set_current_at(task, ts, 0, sys_entry_at(ts));
			if (kind == SK_CONN && (flags & SC_CLOSE))
				bpf_map_delete_elem(&untracked, &id);
		}
	}
	ts->sys_conn = ts->cur_conn;
	/* counted where the total is: exit_group never reaches sys_exit */
	charge_syscall(ts, ts->sys_conn, nr, 1, 0);
	ts->sys_counted = ts->sys_conn;
	if (flame_wants(FV_SYSCALLS))
		flame_add(ctx, FV_SYSCALLS, ts->cur_conn, nr, 1, true, false);
	return 0;
}

static __always_inline void report_listen(struct task_struct *task, int fd)
{
	struct socket *sock = fd_to_socket(task, fd);
	struct sock *sk = sock ? BPF_CORE_READ(sock, sk) : NULL;
	struct listen_event *ev;

	if (classify(sk) != SK_LISTENER)
		return;
	ev = bpf_ringbuf_reserve(&events, sizeof(*ev), 0);
	if (!ev) {
		struct proc_counters *pc = proc_counters();

		if (pc)
			pc->lost_events++;
		return;
	}
	__builtin_memset(ev, 0, sizeof(*ev));
	ev->type = EV_LISTEN;
	ev->tgid = bpf_get_current_pid_tgid() >> 32;
	ev->family = read_local(sk, ev->addr, &ev->port, ev->unix_path, sizeof(ev->unix_path));
	bpf_ringbuf_submit(ev, 0);
}

/* A syscall's return (on_sys_exit, or on_sys_return), ret its result. */
static __always_inline int sys_exit(long ret)
{
	struct task_struct *task = target_current();
	struct thread_state *ts;
	struct syscall_total *tot;
	__u64 now, ns, conn;
	bool failed;
	__u32 nr;
	__u16 flags;

	if (!task)
		return 0;
	ts = bpf_task_storage_get(&threads, task, 0, 0);
	if (!ts || !ts->sys_enter_ns)
		return 0;	/* entered before we attached */
	/* the return's time, for the call's duration; else 0, and what needs
	 * a time below reads the clock only if it changes connection */
	now = syscall_time ? bpf_ktime_get_ns() : 0;
	/* woken for a connection without leaving the CPU (the waker found it
	 * still on its way to sleep): the hand-off begins here */
	if (ts->woken_for)
		take_handoff(task, ts, now);
	ns = syscall_time ? now - ts->sys_enter_ns : 0;
	ts->sys_enter_ns = 0;
	ts->sys_io = false;
	nr = ts->sys_nr;
	if (nr >= SYSCALL_MAX)
		return 0;
	flags = syscall_flags[nr & (SYSCALL_MAX - 1)];	/* provable bound */
	/* Go's threads park and wake in futex calls, which need not sleep */
	if ((flags & SC_FUTEX) && go_g_m_off)
		ts->go_moved = true;

	/* the name's time and errors: most calls succeed untimed, and then
	 * leave its counters (two more cache lines) untouched */
	failed = ret < 0 && ret >= -4095;
	if (syscall_time || failed) {
		tot = bpf_map_lookup_elem(&syscall_totals, &nr);
		if (tot) {
			tot->ns += ns;
			tot->errors += failed;
		}
	}
	/* its time where its count is: socket I/O moved that where it named
	 * (sockets.bpf.h) */
	if (syscall_time)
		charge_syscall(ts, ts->sys_conn, nr, 0, ns);
	if (bytes_from_syscalls && (flags & (SC_RX | SC_TX)) && ret > 0 && ts->sys_conn)
		charge_bytes(ts, ts->sys_conn, flags & SC_RX, ret);
	/* back from waiting, from a send, from a read that found nothing
	 * (EAGAIN: the coroutine or goroutine behind it parks until its
	 * socket is ready), or from closing its connection (the goroutine
	 * behind it ends): until the thread names a connection (a read, a
	 * write), its work is pending, for that connection: a coroutine
	 * resumed on this pass of the loop runs before its own I/O
	 * (await_next). Go's scheduler switches goroutines where the kernel
	 * sees nothing, and without the EAGAIN a heavy goroutine's burn that
	 * followed a light one's empty read went to the light connection
	 * (up to 7.8 times its peers). If it waits again first, the loop's. Where
	 * the coroutines' steps are seen (asyncio), each step starts so, and
	 * what follows a send is the sender's until the next step. An
	 * io_uring loop names none: it
	 * reaps completions and queues requests in memory, so the work it
	 * does between two io_uring_enter() calls goes to the loop, not to
	 * the connection whose completion the kernel happened to post last,
	 * nor to one it names by a syscall next (await_next) */
	if (flags & SC_WAIT)
		await_next(task, ts, now, true);
	else if ((ts->sys_sent || ((flags & SC_RX) && ret == -EAGAIN) ||
		  ((flags & SC_CLOSE) && ret == 0)) &&
		 ts->sys_conn && ts->sys_conn == ts->cur_conn && !ts->steps && !ts->uring_loop)
		await_next(task, ts, now, false);

	if ((flags & SC_CLOSE) && ret == 0 && ts->sys_conn) {
		struct conn *c = conn_hold(ts->sys_conn);

		/* a forking server closes its copy once it has forked: the
		 * child serves the connection, which ends at the close() that
		 * leaves the file to no one (its descriptor may have another
		 * number there, or be a dup), or at the socket's release if
		 * it exits without one (on_inet_sock_set_state). Before, full
		 * mode ended it here, and the child's work came to it late.
		 * A Unix socket's release fires no event: one that outlives
		 * its close ends there, or at the first sample that no longer
		 * finds its socket (outlived_sweeps). Marked at the entry
		 * (outlive_close), before the other holder can let go */
		if (c && close_ends(c, ts->sys_fd) && !ts->sys_arg)
			conn_close(ts, ts->sys_conn, c);
		conn_put(ts->sys_conn, c);
	} else if ((flags & SC_ACCEPT) && ret >= 0) {
		/* what the thread does next (a thread, a stack, epoll_ctl) is
		 * this connection's cost until it touches another socket */
		conn = socket_conn(fd_to_socket(task, (int)ret), (int)ret, CONN_ACCEPTED, true);
		/* an untracked one (map full): no tracked connection's, even one
		 * handed to the thread while it waited */
		set_current(task, ts, conn);
	} else if ((flags & SC_CONNECT) && (ret == 0 || ret == -EINPROGRESS)) {
		conn = socket_conn(fd_to_socket(task, ts->sys_fd), ts->sys_fd, CONN_CONNECTED, true);
		if (conn)
			set_current(task, ts, conn);
	} else if ((flags & SC_LISTEN) && ret == 0) {
		report_listen(task, ts->sys_fd);
	} else if ((flags & SC_EPOLL_CTL) && ret == 0 && ts->sys_conn) {
		/* each registration holds an epitem and a poll-queue entry */
		struct conn *c = conn_hold(ts->sys_conn);

		if (c && ts->sys_arg == EPOLL_CTL_ADD) {
			c->epoll_items++;
			if (c->epoll_items > c->epoll_items_peak)
				c->epoll_items_peak = c->epoll_items;
		} else if (c && ts->sys_arg == EPOLL_CTL_DEL && c->epoll_items) {
			c->epoll_items--;
		}
		conn_put(ts->sys_conn, c);
	}
	/* An io_uring loop's call that named a connection (setsockopt on
	 * one it just accepted) was that connection's CPU for the call only:
	 * what the loop runs next in userspace is the loop's, as between its
	 * io_uring_enter() calls (await_next), though the memory it touches
	 * stays the connection's (its slot in uring_echo's table: 40 B a
	 * connection). Before, the connection took the loop's next burns:
	 * 11 to 26 ms of one burning connection of uring_echo, 1 run in 15
	 * (test_conctrace's burn test; bpf_printk traces showed setsockopt
	 * naming it after io_uring_enter had handed the loop back) */
	if (ts->uring_loop && !(flags & SC_WAIT) && ts->cur_conn &&
	    ts->cur_conn == ts->sys_conn && !ts->pending) {
		split_run(task, ts, now);
		ts->cpu_to_loop = true;
	}
	return 0;
}

SEC("tp_btf/sys_enter")
int BPF_PROG(on_sys_enter, struct pt_regs *regs, long id)
{
	return sys_enter(ctx, regs, id);
}

SEC("tp_btf/sys_exit")
int BPF_PROG(on_sys_exit, struct pt_regs *regs, long ret)
{
	return sys_exit(ret);
}

/*
 * The same, from a trampoline on x64_sys_call(), which every 64-bit
 * syscall passes through since the 2024 fix for branch history injection
 * (6.9, and the stable kernels it reached: Debian's 6.1 and 6.12 have it):
 * a stand-in where the kernel lacks or refuses the syscall tracepoints and
 * allows fentry (userspace/tracer/programs.c). Not the default: under
 * emulation it cost no less, and a thread that exits inside the fexit
 * trampoline never leaves it, so the kernel cannot free it once detached
 * (docs/overhead.md).
 */
SEC("fentry/x64_sys_call")
int BPF_PROG(on_sys_call, const struct pt_regs *regs, unsigned int nr)
{
	return sys_enter(ctx, (struct pt_regs *)regs, nr);
}

SEC("fexit/x64_sys_call")
int BPF_PROG(on_sys_return, const struct pt_regs *regs, unsigned int nr, long ret)
{
	return sys_exit(ret);
}

#endif /* CONCTRACE_PROGS_SYSCALLS_BPF_H */
