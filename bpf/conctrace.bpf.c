// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * conctrace: what each connection of a server process costs, measured in the
 * kernel.
 *
 * Every event is charged to a connection. Events that name a socket (a
 * syscall's fd argument, sock_recv_length, an io_uring request) are charged
 * to it and make it the thread's "current connection"; events that name
 * none (context switches, CPU time, syscalls without an fd) go to the
 * thread's current connection. Waiting for events (epoll_wait,
 * io_uring_enter) switches the thread to the event-loop bucket, so idle time
 * is never smeared over the last connection served.
 *
 * The syscall programs run for every syscall on the machine: their first
 * instructions compare the caller's tgid with the target and leave.
 *
 * One object, its concerns in files of their own, included in order:
 * conns.bpf.h (sockets to connections), cpu_time.bpf.h (a run's CPU),
 * syscalls.bpf.h, sched.bpf.h (switches, threads), memory.bpf.h (buffer
 * snapshots, RSS), io_uring.bpf.h, flame.bpf.h (--flame stacks); here:
 * the state they share, charging, and socket I/O.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include "conctrace.h"

char LICENSE[] SEC("license") = "Dual MIT/GPL";

#define AF_UNIX		1
#define AF_INET		2
#define AF_INET6	10
#define IPPROTO_TCP	6
#define SOCK_STREAM	1
#define SOCK_SEQPACKET	5
#define TCP_CLOSE	7
#define TCP_LISTEN	10
#define S_IFMT		00170000
#define S_IFSOCK	0140000
#define MSG_PEEK	2
#define TASK_DEAD	0x80	/* include/linux/sched.h, stable since 2.6 */
#define EINPROGRESS	115
#define EFAULT		14
#define EPOLL_CTL_ADD	1
#define EPOLL_CTL_DEL	2

/* Load-time configuration, set by the loader before load. */
const volatile __u32 target_tgid = 0;
const volatile __u16 syscall_flags[SYSCALL_MAX] = {};
const volatile __u32 page_size = 4096;
const volatile __u32 nr_cpus = 1;		/* possible CPUs */
/* a launched target's mm starts empty at exec; an attached one's does not */
const volatile bool rss_from_zero = false;
/* --no-syscalls: no sys_enter/sys_exit, so no wait for events is seen */
const volatile bool no_syscall_hooks = false;
/* this_cpu_off's distance from runqueues in a CPU's per-CPU area (BTF
 * section offsets), 0 if unknown: the sums of RSS counters are then not
 * exact */
const volatile __s64 rq_to_this_cpu_off = 0;

#define MAX_CPUS 512

/* Other processes of the target (children of a pre-forking server). */
__u32 nr_extra_targets = 0;
/* Threads alive in the target, and the most at once. */
__s64 live_threads = 0;
__s64 threads_peak = 0;
/* Connections open now (tracked, not yet closed) and the most at once:
 * kept here so that userspace need not keep every connection's times. */
__s64 live_conns = 0;
__s64 conns_peak = 0;

/* Add delta to *live and raise *peak to it; a racing CPU may raise the
 * peak between our read and write: retry. */
static __always_inline void count_live(__s64 *live, __s64 *peak, __s64 delta)
{
	__s64 now = __sync_add_and_fetch(live, delta);

	for (int i = 0; i < 4 && delta > 0; i++) {
		__s64 old = *peak;

		if (now <= old || __sync_val_compare_and_swap(peak, old, now) == old)
			break;
	}
}

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32);
	__type(value, __u8);
} targets SEC(".maps");

/* Live connections by id; not preallocated, so an idle map costs nothing.
 * max_entries is set by the loader from --max-conns. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, DEFAULT_MAX_CONNS);
	__type(key, __u64);
	__type(value, struct conn);
} conns SEC(".maps");

/*
 * Connections seen while the conns map was full (--max-conns), until they
 * close: each is counted once, and stays untracked for its whole life
 * rather than being tracked from the middle with part of its figures.
 * LRU: more than this many open at once may count one twice, never crash.
 */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, __u64);
	__type(value, __u8);
} untracked SEC(".maps");

#define PENDING_SC_SLOTS 4

/*
 * What a thread owes its current connection and has not yet added to it.
 * The hot paths (every syscall, every socket read and write) charge here,
 * in the thread's own storage, without a hash lookup; flush() pays one
 * lookup when the thread changes connection, leaves the CPU, or exits.
 */
struct pending {
	__s64 user_bytes;
	__s64 page_table_bytes;
	__s32 vmas;
	__u64 cpu_ns;
	__u64 runq_ns;
	__u64 bytes_rx;
	__u64 bytes_tx;
	__u32 ctx_voluntary;
	__u32 ctx_involuntary;
	struct conn_syscall sc[PENDING_SC_SLOTS];
	/* the socket's buffers at the last I/O, and their most since flush */
	bool sampled;
	__u32 rx_queue, tx_queue;
	__s32 forward_alloc;
	__u32 rx_queue_max, tx_queue_max, buffers_max;
	__s32 forward_alloc_max;
};

struct thread_state {
	__u64 cur_conn;		/* 0: the event loop */
	__u64 sys_enter_ns;
	__u64 sys_conn;		/* connection this syscall is charged to */
	__u32 sys_nr;
	__s32 sys_fd;
	__u32 sys_arg;		/* epoll_ctl's op */
	bool sys_io;		/* in a socket I/O syscall (SC_IO) */
	/* CPU time of the run on CPU now (cpu_time.bpf.h) */
	__u64 cpu_mark;		/* start of the part not yet charged; 0: no run */
	__u64 steal_mark;	/* stolen_ns() at cpu_mark */
	__u64 run_start;	/* the kernel's figure when the run began */
	__u64 run_split;	/* charged to connections and loop since */
	__u64 run_clock;	/* the clock's time for the run so far */
	__u32 clock_scale;	/* the kernel's time per clock ns, 1.0 = 1 << 16 */
	__u64 cpu_debt;		/* overshoot still to pay back (settle_run) */
	__u64 runnable_since;
	struct pending owed;	/* to cur_conn; always empty when it is 0 */
	/* FV_OFFCPU: where the thread went to sleep, and for which connection */
	__u64 off_since;
	__u64 off_conn;
	__s32 off_user_stack, off_kern_stack;
};

/* Per-thread state lives with the task and dies with it: no cleanup. */
struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct thread_state);
} threads SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct proc_counters);
} proc SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, SYSCALL_MAX);
	__type(key, __u32);
	__type(value, struct syscall_total);
} syscall_totals SEC(".maps");

/* Scratch space for building a connection record (too big for the stack). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct conn);
} conn_scratch SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 8 << 20);
} events SEC(".maps");

/* Resident set of each traced mm, keyed by the mm's address. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u64);
	__type(value, struct rss_state);
} rss SEC(".maps");

/*
 * Each CPU's per-CPU offset, learnt at its first context switch: the CPU's
 * struct rq (runqueues) is in its per-CPU area, and so is this_cpu_off,
 * which holds the offset, a fixed distance away.
 */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} cpu_off SEC(".maps");

/* ---- helpers --------------------------------------------------------- */

static __always_inline struct proc_counters *proc_counters(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&proc, &zero);
}

static __always_inline bool tgid_is_target(__u32 tgid)
{
	if (tgid == target_tgid)
		return true;
	if (!nr_extra_targets)
		return false;
	return bpf_map_lookup_elem(&targets, &tgid) != NULL;
}

/*
 * The current task if it is the target's, else NULL. The hot programs run
 * for every syscall and socket I/O of every task on the machine: one
 * helper call and a typed load decide, and the task is at hand for its
 * storage without a second call.
 */
static __always_inline struct task_struct *target_current(void)
{
	struct task_struct *t = bpf_get_current_task_btf();

	return tgid_is_target(t->tgid) ? t : NULL;
}

static __always_inline bool task_is_target(struct task_struct *t)
{
	return tgid_is_target(t->tgid);	/* a typed load, no helper call */
}

static __always_inline struct thread_state *thread_state(struct task_struct *t)
{
	struct thread_state *ts;

	ts = bpf_task_storage_get(&threads, t, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (!ts) {
		struct proc_counters *pc = proc_counters();

		if (pc)
			pc->no_thread_state++;
	}
	return ts;
}

#include "flame.bpf.h"	/* --flame: stacks, sampled where the costs arise */

#include "conns.bpf.h"	/* sockets to connections: find, create, finalize */

/* ---- socket buffers ------------------------------------------------- */

struct buffers {
	__u32 rx, tx;
	__s32 fwd;
};

/* sk is a typed pointer: plain loads, no helper calls */
static __always_inline void read_buffers(struct sock *sk, struct buffers *b)
{
	b->rx = sk->sk_backlog.rmem_alloc.counter;
	b->tx = sk->sk_wmem_queued;
	b->fwd = sk->sk_forward_alloc;
}

static __always_inline __u32 buffers_sum(const struct buffers *b)
{
	return b->rx + b->tx + (b->fwd > 0 ? b->fwd : 0);
}

static __always_inline void conn_set_buffers(struct conn *c, const struct buffers *b,
					     __u32 rx_max, __u32 tx_max, __s32 fwd_max,
					     __u32 sum_max)
{
	/* gauges: a racing flush may win, and either value was true */
	c->rx_queue = b->rx;
	c->tx_queue = b->tx;
	c->forward_alloc = b->fwd;
	if (rx_max > c->rx_queue_peak)
		c->rx_queue_peak = rx_max;
	if (tx_max > c->tx_queue_peak)
		c->tx_queue_peak = tx_max;
	if (fwd_max > c->forward_alloc_peak)
		c->forward_alloc_peak = fwd_max;
	if (sum_max > c->buffers_peak)
		c->buffers_peak = sum_max;
}

/* ---- charging: to the current connection's pending, or the event loop -- */

/*
 * Add what the thread owes to its current connection and clear it.
 * Returns the connection, or NULL if it is the event loop or gone (closed
 * and finalized by another thread: then the event loop takes the charges).
 */
static __always_inline struct conn *flush(struct thread_state *ts)
{
	struct pending *p = &ts->owed;
	struct proc_counters *pc;
	struct conn *c;
	__u64 id = ts->cur_conn;

	if (!id)
		return NULL;
	c = bpf_map_lookup_elem(&conns, &id);
	if (c) {
		if (p->cpu_ns)
			__sync_fetch_and_add(&c->cpu_ns, p->cpu_ns);
		if (p->user_bytes) {
			__s64 now = __sync_add_and_fetch(&c->user_bytes, p->user_bytes);

			if (now > c->user_bytes_peak)
				c->user_bytes_peak = now;	/* a gauge: last writer wins */
		}
		if (p->page_table_bytes) {
			__s64 now = __sync_add_and_fetch(&c->page_table_bytes, p->page_table_bytes);

			if (now > c->page_table_bytes_peak)
				c->page_table_bytes_peak = now;
		}
		if (p->vmas) {
			__s32 now = __sync_add_and_fetch(&c->vmas, p->vmas);

			if (now > c->vmas_peak)
				c->vmas_peak = now;
		}
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
				conn_add_syscalls(c, p->sc[i].nr - 1, p->sc[i].count, p->sc[i].ns);
		if (p->sampled) {
			struct buffers b = { p->rx_queue, p->tx_queue, p->forward_alloc };

			conn_set_buffers(c, &b, p->rx_queue_max, p->tx_queue_max,
					 p->forward_alloc_max, p->buffers_max);
		}
	} else if ((pc = proc_counters())) {
		pc->loop_user_bytes += p->user_bytes;
		pc->loop_page_table_bytes += p->page_table_bytes;
		pc->loop_vmas += p->vmas;
		pc->loop_cpu_ns += p->cpu_ns;
		pc->loop_runq_ns += p->runq_ns;
		pc->loop_ctx_voluntary += p->ctx_voluntary;
		pc->loop_ctx_involuntary += p->ctx_involuntary;
#pragma unroll
		for (int i = 0; i < PENDING_SC_SLOTS; i++) {
			pc->loop_syscalls += p->sc[i].count;
			pc->loop_syscall_ns += p->sc[i].ns;
		}
	}
	__builtin_memset(p, 0, sizeof(*p));
	return c;
}

#include "cpu_time.bpf.h"	/* a run's CPU: the kernel's total, split by the clock */

static __always_inline void charge_syscall(struct thread_state *ts, __u64 conn_id,
					   __u32 nr, __u64 ns)
{
	struct proc_counters *pc;
	struct conn *c;

	if (conn_id && conn_id == ts->cur_conn) {
#pragma unroll
		for (int i = 0; i < PENDING_SC_SLOTS; i++) {
			struct conn_syscall *s = &ts->owed.sc[i];

			if (s->nr == nr + 1 || s->nr == 0) {
				s->nr = nr + 1;
				s->count++;
				s->ns += ns;
				return;
			}
		}
		/* more distinct syscalls than slots: pay the lookup now */
		if ((c = bpf_map_lookup_elem(&conns, &conn_id))) {
			conn_add_syscalls(c, nr, 1, ns);
			return;
		}
	} else if (conn_id && (c = bpf_map_lookup_elem(&conns, &conn_id))) {
		conn_add_syscalls(c, nr, 1, ns);	/* e.g. closing another thread's */
		return;
	}
	pc = proc_counters();
	if (pc) {
		pc->loop_syscalls++;
		pc->loop_syscall_ns += ns;
	}
}

/* Settle what the thread owes its current connection; make conn_id current. */
static __always_inline void move_on(struct thread_state *ts, __u64 conn_id)
{
	__u64 old = ts->cur_conn;
	struct conn *c = flush(ts);

	ts->cur_conn = conn_id;
	/* the thread has moved on from a closed connection: its cost is final */
	if (c && c->close_ns)
		conn_finalize(old, c);
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
	if (ts->cur_conn == conn_id)
		return;
	split_run(task, ts, at);
	move_on(ts, conn_id);
}

/* task: the thread whose state ts is, running now */
static __always_inline void set_current(struct task_struct *task, struct thread_state *ts,
					__u64 conn_id)
{
	set_current_at(task, ts, conn_id, 0);
}

/*
 * An event that ends a connection's work, after which the thread's work
 * is no connection's that we can tell: the run since the last mark is
 * conn_id's, and the loop is current from now on.
 */
static __always_inline void done_with(struct task_struct *task, struct thread_state *ts,
				      __u64 conn_id)
{
	if (ts->cur_conn != conn_id)
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
 * is final at once.
 */
static __always_inline void conn_close(struct thread_state *ts, __u64 id, struct conn *c)
{
	if (!c->close_ns)
		count_live(&live_conns, &conns_peak, -1);
	c->close_ns = bpf_ktime_get_ns();
	if (ts->cur_conn != id)
		conn_finalize(id, c);
}

#include "syscalls.bpf.h"	/* sys_enter, sys_exit */

#include "sched.bpf.h"	/* context switches, run-queue wait, threads */

/* ---- socket I/O: bytes, and the connection it names ------------------- */

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
	if (b.rx > p->rx_queue_max)
		p->rx_queue_max = b.rx;
	if (b.tx > p->tx_queue_max)
		p->tx_queue_max = b.tx;
	if (b.fwd > p->forward_alloc_max)
		p->forward_alloc_max = b.fwd;
	if (sum > p->buffers_max)
		p->buffers_max = sum;
}

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
	if (id != ts->cur_conn) {
		if (!bpf_map_lookup_elem(&conns, &id)) {
			int fd = in_syscall ? ts->sys_fd : -1;

			if (classify(sk) != SK_CONN)
				return;	/* a listener, UDP, netlink: not a connection */
			if (!conn_get(id, sock, sk, fd, 0)) {
				/* untracked (map full): its cost is no tracked one's */
				set_current(task, ts, 0);
				if (in_syscall)
					ts->sys_conn = 0;
				return;
			}
		}
		set_current_at(task, ts, id, in_syscall ? ts->sys_enter_ns : 0);
	}
	if (in_syscall)
		ts->sys_conn = id;
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

/* ---- close() without syscall tracepoints (--no-syscalls) ---------------- */

/* struct file's count before file_ref_t (6.13): 0 once the last is gone */
struct file___count {
	atomic_long_t f_count;
} __attribute__((preserve_access_index));

/* The file is being released: its last reference is gone (__fput). */
static __always_inline bool file_released(struct file *f)
{
	if (bpf_core_field_exists(f->f_ref))
		return (__s64)f->f_ref.refcnt.counter < 0;	/* FILE_REF_NOREF, _DEAD */
	return ((struct file___count *)f)->f_count.counter == 0;
}

/*
 * Light mode sees no close(), but a TCP socket's release changes its
 * state (a FIN, or a reset if data was left unread) in the closing
 * thread's context, with its file's last reference gone: that tells a
 * close() from a shutdown() or a reset from the peer, whose sockets are
 * still open. (A Unix socket's release has no tracepoint, and a reset
 * socket's close changes no state: the snapshot sweep ends those,
 * memory.bpf.h.)
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
	if (!task)
		return 0;
	sock = sk->sk_socket;
	if (!sock || !(f = sock->file) || !file_released(f))
		return 0;
	id = f->f_inode->i_ino;
	c = bpf_map_lookup_elem(&conns, &id);
	if (!c || c->close_ns)
		return 0;
	ts = thread_state(task);
	if (ts)
		conn_close(ts, id, c);
	return 0;
}

#include "memory.bpf.h"	/* buffer snapshots (iterators), and user memory (rss_stat) */
#include "io_uring.bpf.h"	/* io_uring requests, by connection */
