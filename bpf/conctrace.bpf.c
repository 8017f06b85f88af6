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
	bool run_known;		/* a run has begun and is not settled */
	__u64 cpu_mark;		/* start of the part not yet charged */
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

static __always_inline bool current_is_target(void)
{
	return tgid_is_target(bpf_get_current_pid_tgid() >> 32);
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

/* The socket inode number: a connection's id. */
static __always_inline __u64 sock_ino(struct socket *sock)
{
	struct socket_alloc *sa = container_of(sock, struct socket_alloc, socket);

	return BPF_CORE_READ(sa, vfs_inode.i_ino);
}

/* The same id through typed loads, for the hot paths (no helper call); 0
 * for a socket without a file (being created or released). */
static __always_inline __u64 socket_file_ino(struct socket *sock)
{
	struct file *file;

	if (!sock)
		return 0;
	file = sock->file;
	if (!file)
		return 0;
	return file->f_inode->i_ino;
}

/* The socket behind fd in the current task, or NULL. */
static __always_inline struct socket *fd_to_socket(int fd)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct fdtable *fdt = BPF_CORE_READ(task, files, fdt);
	struct file **fdarr;
	struct file *file = NULL;
	umode_t mode;

	if (fd < 0 || !fdt || (unsigned int)fd >= BPF_CORE_READ(fdt, max_fds))
		return NULL;
	fdarr = BPF_CORE_READ(fdt, fd);
	bpf_probe_read_kernel(&file, sizeof(file), &fdarr[fd]);
	if (!file)
		return NULL;
	mode = BPF_CORE_READ(file, f_inode, i_mode);
	if ((mode & S_IFMT) != S_IFSOCK)
		return NULL;
	return BPF_CORE_READ(file, private_data);
}

enum sock_kind { SK_OTHER, SK_LISTENER, SK_CONN };

static __always_inline enum sock_kind classify(struct sock *sk)
{
	__u16 family, type, protocol;

	if (!sk)
		return SK_OTHER;
	family = BPF_CORE_READ(sk, __sk_common.skc_family);
	type = BPF_CORE_READ_BITFIELD_PROBED(sk, sk_type);
	if (family == AF_INET || family == AF_INET6) {
		protocol = BPF_CORE_READ_BITFIELD_PROBED(sk, sk_protocol);
		if (protocol != IPPROTO_TCP)
			return SK_OTHER;
	} else if (family == AF_UNIX) {
		if (type != SOCK_STREAM && type != SOCK_SEQPACKET)
			return SK_OTHER;
	} else {
		return SK_OTHER;
	}
	switch (BPF_CORE_READ(sk, __sk_common.skc_state)) {
	case TCP_LISTEN:
		return SK_LISTENER;
	case TCP_CLOSE:
		return SK_OTHER;	/* not connected (yet): socket(), bind() */
	}
	return SK_CONN;
}

static __always_inline void fill_addresses(struct conn *c, struct sock *sk)
{
	c->family = BPF_CORE_READ(sk, __sk_common.skc_family);
	if (c->family == AF_INET) {
		BPF_CORE_READ_INTO(&c->laddr, sk, __sk_common.skc_rcv_saddr);
		BPF_CORE_READ_INTO(&c->raddr, sk, __sk_common.skc_daddr);
	} else if (c->family == AF_INET6) {
		BPF_CORE_READ_INTO(&c->laddr, sk, __sk_common.skc_v6_rcv_saddr);
		BPF_CORE_READ_INTO(&c->raddr, sk, __sk_common.skc_v6_daddr);
	}
	if (c->family != AF_UNIX) {
		c->lport = BPF_CORE_READ(sk, __sk_common.skc_num);
		c->rport = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
		return;
	}
	{
		struct unix_sock *u = (struct unix_sock *)sk;
		struct unix_address *addr = BPF_CORE_READ(u, addr);
		struct sock *peer = BPF_CORE_READ(u, peer);

		if (addr)
			bpf_probe_read_kernel_str(c->unix_path, sizeof(c->unix_path),
						  &addr->name[0].sun_path);
		if (peer)
			c->unix_peer = sock_ino(BPF_CORE_READ(peer, sk_socket));
	}
}

/*
 * The connection with this id, created on first sight: a server's sockets
 * appear through accept(), connect(), any syscall on their fd, or io_uring.
 */
static __always_inline struct conn *conn_get(__u64 id, struct socket *sock,
					     struct sock *sk, int fd, __u16 flags)
{
	struct conn *c = bpf_map_lookup_elem(&conns, &id);
	struct proc_counters *pc;
	__u32 zero = 0;

	if (c || !id)
		return c;
	if (bpf_map_lookup_elem(&untracked, &id))
		return NULL;
	c = bpf_map_lookup_elem(&conn_scratch, &zero);
	if (!c)
		return NULL;
	__builtin_memset(c, 0, sizeof(*c));
	c->id = id;
	c->open_ns = bpf_ktime_get_ns();
	c->tgid = bpf_get_current_pid_tgid() >> 32;
	c->fd = fd;
	c->flags = flags;
	/* the slot its slab gives the sock: what the object really occupies */
	c->sock_bytes = BPF_CORE_READ(sk, __sk_common.skc_prot, slab, size);
	fill_addresses(c, sk);
	pc = proc_counters();
	if (bpf_map_update_elem(&conns, &id, c, BPF_NOEXIST) == 0) {
		if (pc)
			pc->conns_opened++;
		count_live(&live_conns, &conns_peak, 1);
	} else {
		__u8 one = 1;

		if (bpf_map_update_elem(&untracked, &id, &one, BPF_NOEXIST) == 0 && pc)
			pc->conns_untracked++;
		return NULL;
	}
	return bpf_map_lookup_elem(&conns, &id);
}

/*
 * Resolve a socket to its connection, or 0 if it is none. A tracked
 * connection is found by id whatever its state (a reset one still costs
 * until closed); a new one is created only once connected, unless `force`
 * (accept() returned it: it is a connection even if already reset).
 */
static __always_inline __u64 socket_conn(struct socket *sock, int fd, __u16 flags,
					 bool force)
{
	struct sock *sk;
	__u64 id;

	if (!sock)
		return 0;
	id = sock_ino(sock);
	if (bpf_map_lookup_elem(&conns, &id))
		return id;
	sk = BPF_CORE_READ(sock, sk);
	if (classify(sk) != SK_CONN && !(force && sk))
		return 0;
	if (!conn_get(id, sock, sk, fd, flags))
		return 0;
	return id;
}

/* A connection's last record goes to userspace; then it leaves the map, so
 * a million short connections leave nothing behind. */
static __always_inline void conn_finalize(__u64 id, struct conn *c)
{
	struct conn_event *ev;

	if (!c->close_ns) {
		c->close_ns = bpf_ktime_get_ns();
		count_live(&live_conns, &conns_peak, -1);
	}
	ev = bpf_ringbuf_reserve(&events, sizeof(*ev), 0);
	if (ev) {
		ev->type = EV_CONN_CLOSED;
		ev->pad = 0;
		__builtin_memcpy(&ev->conn, c, sizeof(*c));
		bpf_ringbuf_submit(ev, 0);
	} else {
		struct proc_counters *pc = proc_counters();

		if (pc)
			pc->lost_events++;
	}
	bpf_map_delete_elem(&conns, &id);
}

static __always_inline void conn_add_syscalls(struct conn *c, __u32 nr, __u32 count, __u64 ns)
{
#pragma unroll
	for (int i = 0; i < CONN_SC_SLOTS; i++) {
		struct conn_syscall *s = &c->sc[i];

		/* claim a free slot atomically: io_uring workers may race us */
		if (s->nr == nr + 1 ||
		    (s->nr == 0 && __sync_val_compare_and_swap(&s->nr, 0, nr + 1) == 0) ||
		    s->nr == nr + 1) {
			__sync_fetch_and_add(&s->count, count);
			__sync_fetch_and_add(&s->ns, ns);
			return;
		}
	}
	__sync_fetch_and_add(&c->sc_other, count);
	__sync_fetch_and_add(&c->sc_other_ns, ns);
}

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

/*
 * An event loop serves many connections between two context switches, so
 * CPU time is split here, at every change of current connection, and not
 * at switch-out only; settle_run() then makes the run's total the kernel's.
 * `at`: when the change happened, if known without reading the clock.
 */
static __always_inline void set_current_at(struct task_struct *task, struct thread_state *ts,
					   __u64 conn_id, __u64 at)
{
	__u64 old = ts->cur_conn;
	struct conn *c;

	if (old == conn_id)
		return;
	split_run(task, ts, at);
	c = flush(ts);
	ts->cur_conn = conn_id;
	/* the thread has moved on from a closed connection: its cost is final */
	if (c && c->close_ns)
		conn_finalize(old, c);
}

/* task: the thread whose state ts is, running now */
static __always_inline void set_current(struct task_struct *task, struct thread_state *ts,
					__u64 conn_id)
{
	set_current_at(task, ts, conn_id, 0);
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

/* ---- syscalls -------------------------------------------------------- */

SEC("tp_btf/sys_enter")
int BPF_PROG(on_sys_enter, struct pt_regs *regs, long id)
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
	if (flags & SC_EPOLL_CTL)
		ts->sys_arg = (__u32)PT_REGS_PARM2_SYSCALL(regs);
	ts->sys_enter_ns = bpf_ktime_get_ns();
	if (flags & SC_WAIT) {
		set_current(task, ts, 0);
	} else if (fd_arg && !(flags & SC_IO)) {
		/* the hottest calls (read, write, send, recv) skip this walk:
		 * sock_{recv,send}_length fires inside them with the socket */
		struct socket *sock = fd_to_socket(fd);
		__u64 conn = socket_conn(sock, fd, 0, false);

		/* accepting is the event loop's work; a non-socket fd (a file,
		 * a timerfd) leaves the thread's current connection alone; an
		 * untracked connection (map full) is charged to no tracked one */
		if (conn) {
			set_current(task, ts, conn);
		} else if (sock) {
			enum sock_kind kind = classify(BPF_CORE_READ(sock, sk));

			if (kind == SK_LISTENER)
				set_current(task, ts, 0);
			else if (kind == SK_CONN) {
				set_current(task, ts, 0);
				if (flags & SC_CLOSE) {
					__u64 id = sock_ino(sock);

					bpf_map_delete_elem(&untracked, &id);
				}
			}
		}
	}
	ts->sys_conn = ts->cur_conn;
	if (flame_wants(FV_SYSCALLS))
		flame_add(ctx, FV_SYSCALLS, ts->cur_conn, nr, 1, true, false);
	return 0;
}

static __always_inline void report_listen(int fd)
{
	struct socket *sock = fd_to_socket(fd);
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
	ev->family = BPF_CORE_READ(sk, __sk_common.skc_family);
	if (ev->family == AF_INET) {
		BPF_CORE_READ_INTO(&ev->addr, sk, __sk_common.skc_rcv_saddr);
	} else if (ev->family == AF_INET6) {
		BPF_CORE_READ_INTO(&ev->addr, sk, __sk_common.skc_v6_rcv_saddr);
	} else {
		struct unix_address *addr = BPF_CORE_READ((struct unix_sock *)sk, addr);

		if (addr)
			bpf_probe_read_kernel_str(ev->unix_path, sizeof(ev->unix_path),
						  &addr->name[0].sun_path);
	}
	ev->port = BPF_CORE_READ(sk, __sk_common.skc_num);
	bpf_ringbuf_submit(ev, 0);
}

SEC("tp_btf/sys_exit")
int BPF_PROG(on_sys_exit, struct pt_regs *regs, long ret)
{
	struct task_struct *task = target_current();
	struct thread_state *ts;
	struct syscall_total *tot;
	__u64 now, ns, conn;
	__u32 nr;
	__u16 flags;

	if (!task)
		return 0;
	ts = bpf_task_storage_get(&threads, task, 0, 0);
	if (!ts || !ts->sys_enter_ns)
		return 0;	/* entered before we attached */
	now = bpf_ktime_get_ns();
	ns = now - ts->sys_enter_ns;
	ts->sys_enter_ns = 0;
	ts->sys_io = false;
	nr = ts->sys_nr;
	if (nr >= SYSCALL_MAX)
		return 0;
	flags = syscall_flags[nr & (SYSCALL_MAX - 1)];	/* provable bound */

	tot = bpf_map_lookup_elem(&syscall_totals, &nr);
	if (tot) {
		tot->ns += ns;
		if (ret < 0 && ret >= -4095)
			tot->errors++;
	}
	charge_syscall(ts, ts->sys_conn, nr, ns);

	if ((flags & SC_CLOSE) && ret == 0 && ts->sys_conn) {
		struct conn *c = bpf_map_lookup_elem(&conns, &ts->sys_conn);

		if (c && c->fd == ts->sys_fd)
			conn_close(ts, ts->sys_conn, c);
	} else if ((flags & SC_ACCEPT) && ret >= 0) {
		/* what the thread does next (a thread, a stack, epoll_ctl) is
		 * this connection's cost until it touches another socket */
		conn = socket_conn(fd_to_socket((int)ret), (int)ret, CONN_ACCEPTED, true);
		if (conn)
			set_current(task, ts, conn);
	} else if ((flags & SC_CONNECT) && (ret == 0 || ret == -EINPROGRESS)) {
		conn = socket_conn(fd_to_socket(ts->sys_fd), ts->sys_fd, 0, true);
		if (conn)
			set_current(task, ts, conn);
	} else if ((flags & SC_LISTEN) && ret == 0) {
		report_listen(ts->sys_fd);
	} else if ((flags & SC_EPOLL_CTL) && ret == 0 && ts->sys_conn) {
		/* each registration holds an epitem and a poll-queue entry */
		struct conn *c = bpf_map_lookup_elem(&conns, &ts->sys_conn);

		if (c && ts->sys_arg == EPOLL_CTL_ADD) {
			c->epoll_items++;
			if (c->epoll_items > c->epoll_items_peak)
				c->epoll_items_peak = c->epoll_items;
		} else if (c && ts->sys_arg == EPOLL_CTL_DEL && c->epoll_items) {
			c->epoll_items--;
		}
	}
	return 0;
}

/* ---- scheduler ------------------------------------------------------- */

SEC("tp_btf/sched_switch")
int BPF_PROG(on_sched_switch, bool preempt, struct task_struct *prev,
	     struct task_struct *next, unsigned int prev_state)
{
	struct proc_counters *pc;
	struct thread_state *ts;
	struct conn *c;
	__u64 now;

	if (rq_to_this_cpu_off) {
		__u32 zero = 0;
		__u64 *off = bpf_map_lookup_elem(&cpu_off, &zero);

		if (off && !*off) {
			struct rq *r = BPF_CORE_READ(prev, se.cfs_rq, rq);

			/* trust it only if it is this CPU's own */
			if (r && BPF_CORE_READ(r, cpu) == (int)bpf_get_smp_processor_id())
				bpf_probe_read_kernel(off, sizeof(*off),
						      (void *)((__u64)r + rq_to_this_cpu_off));
		}
	}
	if (!task_is_target(prev) && !task_is_target(next))
		return 0;
	pc = proc_counters();
	if (!pc)
		return 0;
	now = bpf_ktime_get_ns();

	if (task_is_target(prev) && (ts = thread_state(prev))) {
		/* the kernel's own rule (__schedule): voluntary when the task
		 * gave up the CPU to sleep, involuntary when preempted */
		bool voluntary = !preempt && prev_state;

		/* a dying thread's counters were folded into its process's
		 * before this last switch: the kernel counts it nowhere, and
		 * neither do we, so totals match getrusage() */
		if (!(prev_state & TASK_DEAD)) {
			if (voluntary)
				pc->ctx_voluntary++;
			else
				pc->ctx_involuntary++;
			if (!ts->cur_conn && voluntary)
				pc->loop_ctx_voluntary++;
			else if (!ts->cur_conn)
				pc->loop_ctx_involuntary++;
			else if (voluntary)
				ts->owed.ctx_voluntary++;
			else
				ts->owed.ctx_involuntary++;
		}
		settle_run(ts, pc, prev, now);
		if (!voluntary)
			ts->runnable_since = now;
		if (voluntary && !(prev_state & TASK_DEAD) && flame_wants(FV_OFFCPU)) {
			/* prev is still current here: its stacks are where it sleeps */
			ts->off_since = now;
			ts->off_conn = ts->cur_conn;
			ts->off_user_stack = stack_id(ctx, BPF_F_USER_STACK);
			ts->off_kern_stack = stack_id(ctx, 0);
		}
		/* off the CPU, the thread settles what it owes: a report
		 * taken while it sleeps is complete */
		c = flush(ts);
		/* a closed connection stays current until its thread moves on,
		 * which without syscall hooks only the next socket's I/O tells:
		 * an event loop's last connection would wait for the end. Going
		 * to sleep is moving on, there. */
		if (no_syscall_hooks && voluntary && c && c->close_ns) {
			__u64 id = ts->cur_conn;

			ts->cur_conn = 0;
			conn_finalize(id, c);
		}
	}
	if (task_is_target(next) && (ts = thread_state(next))) {
		begin_run(next, ts, now);
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
			if (ts->cur_conn)
				ts->owed.runq_ns += ns;
			else
				pc->loop_runq_ns += ns;
		}
	}
	return 0;
}

static __always_inline void mark_runnable(struct task_struct *p)
{
	struct thread_state *ts;

	if (!task_is_target(p))
		return;
	ts = thread_state(p);
	if (ts && !ts->runnable_since)
		ts->runnable_since = bpf_ktime_get_ns();
}

SEC("tp_btf/sched_wakeup")
int BPF_PROG(on_sched_wakeup, struct task_struct *p)
{
	mark_runnable(p);
	return 0;
}

SEC("tp_btf/sched_wakeup_new")
int BPF_PROG(on_sched_wakeup_new, struct task_struct *p)
{
	mark_runnable(p);
	return 0;
}

static __always_inline void count_thread(__s64 delta)
{
	count_live(&live_threads, &threads_peak, delta);
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
		/* a pre-forking server: its workers are the target too */
		if (bpf_map_update_elem(&targets, &ctgid, &one, BPF_NOEXIST) == 0)
			__sync_fetch_and_add(&nr_extra_targets, 1);
	} else {
		/* a thread starts out working for its creator's connection: in a
		 * thread-per-connection server, the one just accepted */
		struct thread_state *pts = bpf_task_storage_get(&threads, parent, 0, 0);
		struct thread_state *cts;

		if (pts && pts->cur_conn) {
			struct conn *c = bpf_map_lookup_elem(&conns, &pts->cur_conn);

			cts = thread_state(child);
			if (cts)
				cts->cur_conn = pts->cur_conn;
			/* the thread is this connection's cost: its task_struct
			 * (sized by userspace) and its kernel stack */
			if (c) {
				__sync_fetch_and_add(&c->threads, 1);
				if (bpf_core_field_exists(child->stack_vm_area) && child->stack_vm_area)
					__sync_fetch_and_add(&c->thread_stack_bytes,
							     (__u64)child->stack_vm_area->nr_pages *
							     page_size);
			}
		}
	}
	count_thread(1);
	return 0;
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(on_process_exit, struct task_struct *p)
{
	struct thread_state *ts;

	if (!task_is_target(p))
		return 0;
	count_thread(-1);
	/* a thread's exit ends the connection it served: settle its CPU and,
	 * if closed, its record */
	ts = bpf_task_storage_get(&threads, p, 0, 0);
	if (!ts)
		return 0;
	set_current(p, ts, 0);	/* p is current: it is exiting */
	return 0;
}

/* ---- bytes and io_uring ----------------------------------------------- */

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
 * still open. (A Unix socket's release has no tracepoint: in light mode
 * those stay open until the end.)
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

SEC("tp_btf/io_uring_submit_req")
int BPF_PROG(on_io_uring_submit_req, struct io_kiocb *req)
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
	sock = fd_to_socket(fd);
	id = socket_conn(sock, fd, CONN_URING, false);
	if (!id) {
		/* an untracked connection's (map full) work is no tracked one's:
		 * leave the connection the thread served before */
		if (sock && classify(BPF_CORE_READ(sock, sk)) == SK_CONN &&
		    (ts = thread_state(task)))
			set_current(task, ts, 0);
		return 0;
	}
	c = bpf_map_lookup_elem(&conns, &id);
	if (!c)
		return 0;
	__sync_fetch_and_add(&c->uring_ops, 1);
	/* armed until its final completion: an io_kiocb held for it */
	if (__sync_add_and_fetch(&c->uring_armed, 1) > c->uring_armed_peak)
		c->uring_armed_peak = c->uring_armed;
#pragma unroll
	for (int i = 0; i < CONN_URING_SLOTS; i++) {
		struct conn_uring_op *s = &c->uring[i];

		if (s->opcode == opcode + 1 ||
		    (s->opcode == 0 && __sync_val_compare_and_swap(&s->opcode, 0, opcode + 1) == 0) ||
		    s->opcode == opcode + 1) {
			__sync_fetch_and_add(&s->count, 1);
			break;
		}
	}
	ts = thread_state(task);
	if (!ts)
		return 0;
	set_current(task, ts, id);
	if (opcode == bpf_core_enum_value(enum io_uring_op, IORING_OP_CLOSE)) {
		c = bpf_map_lookup_elem(&conns, &id);
		if (c)
			conn_close(ts, id, c);
	}
	return 0;
}

/* ---- buffer snapshots: every tracked socket, when userspace asks -------- */

/*
 * Data can sit in a socket the server never reads, with no event of ours
 * firing. Userspace runs these iterators (like ss -m does its netlink dump)
 * at each --interval and before the report, so current and peak buffers
 * are as of then.
 */
static __always_inline void snapshot(struct sock *sk)
{
	__u64 id = socket_file_ino(sk->sk_socket);
	struct buffers b;
	struct conn *c;

	if (!id)
		return;
	c = bpf_map_lookup_elem(&conns, &id);
	if (!c)
		return;
	read_buffers(sk, &b);
	conn_set_buffers(c, &b, b.rx, b.tx, b.fwd, buffers_sum(&b));
}

SEC("iter/tcp")
int snapshot_tcp(struct bpf_iter__tcp *ctx)
{
	struct sock_common *skc = ctx->sk_common;
	struct tcp_sock *tp;

	if (!skc)
		return 0;
	tp = bpf_skc_to_tcp_sock(skc);
	if (tp)
		snapshot(&tp->inet_conn.icsk_inet.sk);
	return 0;
}

SEC("iter/unix")
int snapshot_unix(struct bpf_iter__unix *ctx)
{
	struct unix_sock *u = ctx->unix_sk;

	if (u)
		snapshot(&u->sk);
	return 0;
}

/* ---- user memory ------------------------------------------------------ */

/*
 * An mm's RSS counters are per-CPU (percpu_counter): the exact value is the
 * global count plus every CPU's unfolded share, which is what the rss_stat
 * event itself reports (percpu_counter_sum_positive). The global count
 * alone moves in batches of 32 pages, which would charge 128 KiB at a time
 * to whichever connection happened to be current.
 */
static __always_inline __s64 counter_sum(struct percpu_counter *fbc, bool *exact)
{
	__s64 sum = fbc->count;
	__u64 counters = (__u64)fbc->counters;
	__u32 zero = 0;

	*exact = rq_to_this_cpu_off != 0;
	for (__u32 cpu = 0; cpu < MAX_CPUS && cpu < nr_cpus && *exact; cpu++) {
		__u64 *off = bpf_map_lookup_percpu_elem(&cpu_off, &zero, cpu);
		__s32 v = 0;

		if (!off || !*off) {
			*exact = false;	/* this CPU has not switched since we attached */
			break;
		}
		bpf_probe_read_kernel(&v, sizeof(v), (void *)(counters + *off));
		sum += v;
	}
	return sum > 0 ? sum : 0;
}

/* typed loads need constant offsets: one case per counter */
static __always_inline __s64 rss_pages(struct mm_struct *mm, int member, bool *exact)
{
	switch (member) {
	case 0: return counter_sum(&mm->rss_stat[0], exact);
	case 1: return counter_sum(&mm->rss_stat[1], exact);
	case 3: return counter_sum(&mm->rss_stat[3], exact);
	}
	*exact = true;
	return 0;
}

/* mm->pgtables_bytes: page-table pages of the address space, in bytes
 * (absent on kernels without an MMU, where there is nothing to count) */
static __always_inline __s64 page_table_bytes(struct mm_struct *mm)
{
	if (!bpf_core_field_exists(mm->pgtables_bytes))
		return 0;
	return BPF_CORE_READ(mm, pgtables_bytes.counter);
}

/*
 * Every change of a target's RSS, in the context of the thread that made
 * it (a page fault, an munmap, an madvise): the delta is charged to that
 * thread's current connection. Thread stacks, coroutine stacks and
 * connection buffers land where they were touched.
 */
SEC("tp_btf/rss_stat")
int BPF_PROG(on_rss_stat, struct mm_struct *mm, int member)
{
	struct proc_counters *pc = proc_counters();
	struct rss_state *st, zero = {};
	struct task_struct *task;
	struct thread_state *ts;
	__s64 pages, prev, delta, pt, pt_delta;
	__s32 vmas, vma_delta;
	__u64 key = (__u64)mm;
	bool exact, program_pages;

	if (!current_is_target() || !pc)
		return 0;
	task = bpf_get_current_task_btf();
	if (task->mm != mm)
		return 0;	/* another process's memory (process_vm_*, ptrace) */
	/* an anonymous enum in the kernel, so no CO-RE: its order (file,
	 * anon, swap, shmem) has held since 4.5 */
	if (member < 0 || member > 3 || member == MM_SWAPENTS)
		return 0;	/* swapped out is not resident */
	st = bpf_map_lookup_elem(&rss, &key);
	if (!st) {
		bpf_map_update_elem(&rss, &key, &zero, BPF_NOEXIST);
		st = bpf_map_lookup_elem(&rss, &key);
		if (!st)
			return 0;
		if (!rss_from_zero) {
			/* attached mid-life: these first values are the baseline */
			st->pages[0] = rss_pages(mm, 0, &exact);
			st->pages[1] = rss_pages(mm, 1, &exact);
			st->pages[3] = rss_pages(mm, 3, &exact);
			st->page_table_bytes = page_table_bytes(mm);
			st->map_count = mm->map_count;
			return 0;
		}
	}
	pages = rss_pages(mm, member, &exact);
	if (!exact)
		pc->rss_inexact++;
	prev = __sync_lock_test_and_set(&st->pages[member & 3], pages);
	delta = (pages - prev) * (__s64)page_size;
	/* page tables are allocated by the fault that maps the page, VMAs by
	 * the mmap before it: both are settled by the time RSS moves */
	pt = page_table_bytes(mm);
	pt_delta = pt - __sync_lock_test_and_set(&st->page_table_bytes, pt);
	vmas = mm->map_count;
	vma_delta = vmas - __sync_lock_test_and_set(&st->map_count, vmas);
	if (!delta && !pt_delta && !vma_delta)
		return 0;
	ts = thread_state(task);
	/* file pages are the program's code and files, faulted in (16 at a
	 * time: fault-around) by whatever first runs that code: no
	 * connection's, though one happens to be current */
	program_pages = member == MM_FILEPAGES;
	if (delta > 0 && flame_wants(FV_UMEM))
		flame_add(ctx, FV_UMEM, ts && !program_pages ? ts->cur_conn : 0, 0, delta,
			  true, false);
	if (ts && ts->cur_conn && !program_pages) {
		ts->owed.user_bytes += delta;
		ts->owed.page_table_bytes += pt_delta;
		ts->owed.vmas += vma_delta;
	} else {
		pc->loop_user_bytes += delta;
		pc->loop_page_table_bytes += pt_delta;
		pc->loop_vmas += vma_delta;
	}
	return 0;
}

#define IORING_CQE_F_MORE (1U << 1)	/* uapi */

/*
 * A request's final completion (a multishot one completes many times with
 * IORING_CQE_F_MORE first) frees its io_kiocb: one request fewer armed for
 * the connection its file is.
 */
SEC("tp_btf/io_uring_complete")
int BPF_PROG(on_io_uring_complete, struct io_ring_ctx *ring, void *req,
	     struct io_uring_cqe *cqe)
{
	struct file *file;
	struct conn *c;
	__u64 id;

	if (!current_is_target() || (cqe->flags & IORING_CQE_F_MORE))
		return 0;
	file = BPF_CORE_READ((struct io_kiocb *)req, file);
	if (!file || (BPF_CORE_READ(file, f_inode, i_mode) & S_IFMT) != S_IFSOCK)
		return 0;
	id = BPF_CORE_READ(file, f_inode, i_ino);
	c = bpf_map_lookup_elem(&conns, &id);
	if (c && c->uring_armed)
		__sync_fetch_and_sub(&c->uring_armed, 1);
	return 0;
}
