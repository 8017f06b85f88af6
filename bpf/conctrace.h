/* SPDX-License-Identifier: MIT */
/*
 * Record layouts shared by the BPF programs (conctrace.bpf.c) and the
 * loader (userspace/). Fixed-width types only: both sides see the same bytes.
 */
#ifndef CONCTRACE_H
#define CONCTRACE_H

#ifndef __VMLINUX_H__		/* the BPF side gets these from vmlinux.h */
#include <linux/types.h>
#endif

#define SYSCALL_MAX		512	/* syscall numbers tracked (x86_64 < 470) */
#define CONN_SC_SLOTS		12	/* distinct syscalls kept per connection */
#define CONN_URING_SLOTS	4	/* distinct io_uring opcodes per connection */
#define CONN_UNIX_PATH		108	/* sizeof(sun_path): the whole path */
#define DEFAULT_MAX_CONNS	1000000
/* The connection map is made of generations, hash maps of growing size
 * created as the open connections need them: the first at load, each next
 * CONN_GEN_GROWTH times larger, the last taking what --max-conns leaves.
 * A hash map pays 16 B per bucket for its max_entries up front, so a run
 * pays for the connections it has, not for a million. */
#define CONN_GENS		4
#define CONN_GEN0		32768
#define CONN_GEN_GROWTH		4

/* syscall_flags[nr]: what a syscall means for attribution (set by the loader,
 * which knows this architecture's syscall numbers) */
#define SC_FD_ARG_MASK	0x07	/* 1 + index of the fd argument, 0 = none */
#define SC_WAIT		0x08	/* waits for events: epoll_wait, io_uring_enter ... */
#define SC_ACCEPT	0x10	/* returns a new connection's fd */
#define SC_CLOSE	0x20	/* ends the fd given as argument */
#define SC_LISTEN	0x40	/* makes the socket a listener: tell userspace */
#define SC_CONNECT	0x80	/* connects the fd given as argument */
#define SC_IO		0x100	/* socket I/O: sock_{recv,send}_length names the
				 * connection, so the fd needs no lookup */
#define SC_EPOLL_CTL	0x200	/* epoll_ctl: counts a connection's epoll items */
#define SC_RX		0x400	/* returns the bytes it received */
#define SC_TX		0x800	/* returns the bytes it sent */
#define SC_FUTEX	0x1000	/* futex: waits or wakes at its first argument */

/* conn.flags: how the connection was first seen (reports' "origin") */
#define CONN_ACCEPTED	0x01	/* came from accept()/accept4() */
#define CONN_URING	0x02	/* first seen through io_uring */
#define CONN_CONNECTED	0x04	/* the target connect()ed it */
#define CONN_BEFORE_ATTACH 0x08	/* open when conctrace attached (-p): counts start then */
/* conn.flags: what it is. An internal pair: a Unix stream neither end of
 * which has an address, as only socketpair() makes (a self-pipe, a
 * master/worker channel): no client's connection, accepted or connected.
 * Reported apart (userspace/model/conn_view.h, conn_is_pair). */
#define CONN_PAIR	0x10
/* a close() of it left the file to another holder (a forking server's
 * child, a dup): the connection lives on, and ends at the close() that
 * leaves the file to no one, or at the socket's release (an exit) */
#define CONN_OUTLIVED	0x20

/* A syscall's count in a connection's record. Their time is one sum
 * (conn.syscall_ns): what each name costs is the process's figure
 * (syscall_totals), and a time per slot made every record 96 B larger. */
struct conn_syscall {
	__u32 nr;		/* syscall number + 1; 0 = free slot */
	__u32 count;
};

/* A Unix address's path (map unix_paths, by the kernel's struct
 * unix_address: conn.unix_addr). */
struct unix_path {
	char path[CONN_UNIX_PATH];	/* sun_path; "" when abstract */
};

struct conn_uring_op {
	__u32 opcode;		/* IORING_OP_* + 1; 0 = free slot */
	__u32 count;
};

/*
 * One connection: a stream socket owned by a target process.
 * Its id is the socket's inode number (what /proc/PID/fd and `ss -e` show):
 * never reused while the kernel runs (a 32-bit counter wraps after 4e9).
 * Only what BPF writes: userspace's derived figures (syscall sums, kernel
 * bytes) live in struct conn_view (userspace/model/conn_view.h), so every
 * map element and ring record stays as small as the facts.
 */
struct conn {
	/* Ordered by who touches it. The hash map puts a record 64 B into
	 * its element (allocator's link 8, htab_elem 48, key 8 on 6.x), so
	 * on a cache line: the first two lines hold all a memory sample's
	 * walk reads and writes per socket, and the hold every lookup takes
	 * (claim): with more connections than the caches hold, a sample
	 * misses on 3 lines of each element, not 5 (2 to 10% less of the
	 * walk's time at 15,000 connections). Then the charges a change of
	 * connection flushes; what is set once at its start comes last. */
	__u64 id;
	__u64 open_ns;		/* CLOCK_MONOTONIC (bpf_ktime_get_ns) */
	__u64 close_ns;		/* 0 while open */
	__u32 tgid;
	__s32 fd;		/* -1 when only seen through io_uring / socket events */
	__u16 family;		/* AF_INET, AF_INET6, AF_UNIX */
	__u16 lport;		/* host byte order */
	__u16 rport;
	__u16 flags;
	/* who may still write the record, and whether it is final
	 * (lib/conns.bpf.h, conn_hold): BPF's bookkeeping, not a figure */
	__u32 claim;
	__u32 seen_gen;		/* the last snapshot that found its socket alive */
	__u32 netns;		/* its network namespace (inode number) */
	/* what its buffers held while open, weighted by time: rx + tx +
	 * forward_alloc as last seen (a socket's I/O, a snapshot) and since
	 * when, the integral of what came before (bytes x 1.024 us: ns >> 10,
	 * no overflow in hours of megabytes), and when teardown began (0: not
	 * seen), after which nothing counts */
	__u32 buffers_last;
	__u64 buffers_since;
	__u64 buffers_integral;
	__u64 buffers_end;

	/* kernel memory: objects the connection holds, buffers it fills */
	__u32 rx_queue;		/* sk_rmem_alloc at the last sample */
	__u32 tx_queue;		/* sk_wmem_queued */
	__s32 forward_alloc;	/* sk_forward_alloc: reserved, not yet used */
	__u32 rx_queue_peak;
	__u32 tx_queue_peak;
	__s32 forward_alloc_peak;
	__u32 buffers_peak;	/* most rx + tx + forward_alloc at one sample */
	/* peaks and the held figure leave out teardown: samples taken after
	 * the peer's FIN or a shutdown (the FIN's skb queued, the reservation
	 * taken for it) are no cost of the open connection */
	__u32 sock_bytes;	/* its sock's slab slot: sk->sk_prot->slab->size */

	__u64 cpu_ns;
	__u64 runq_ns;		/* runnable but waiting for a CPU */
	__u64 bytes_rx;
	__u64 bytes_tx;
	__u64 ctx_voluntary;
	__u64 ctx_involuntary;
	__u64 syscall_ns;	/* every syscall's time, slots and other */
	__u64 sc_other;		/* syscalls that found no free slot */
	struct conn_syscall sc[CONN_SC_SLOTS];

	/* user memory: RSS growth (minus shrink) while it was current */
	__s64 user_bytes;
	__s64 user_bytes_peak;	/* the most that net ever was */
	/* the address space grown for it meanwhile: page-table bytes and VMAs
	 * (a thread's stack mapping costs both), net and at their peak */
	__s64 page_table_bytes;
	__s64 page_table_bytes_peak;
	__s32 vmas;
	__s32 vmas_peak;
	__u16 epoll_items;	/* registered in an epoll set now */
	__u16 epoll_items_peak;
	__u32 threads;		/* threads created to serve it */
	__u64 thread_stack_bytes;	/* their kernel stacks */

	__u64 uring_ops;
	struct conn_uring_op uring[CONN_URING_SLOTS];
	__u32 uring_armed;	/* io_uring requests submitted, not finally completed */
	__u32 uring_armed_peak;
	/* the io_uring requests it held (uring_armed), weighted by time the
	 * same way (requests x 1.024 us), up to teardown: its multishot
	 * receive holds one all the time, a send one for microseconds */
	__u64 uring_since;
	__u64 uring_integral;

	__u8 laddr[16];		/* IPv4 in the first 4 bytes */
	__u8 raddr[16];
	/* AF_UNIX: the peer socket's inode, and the key of this end's path in
	 * unix_paths (0: no address). A path is the whole sun_path, 108 B:
	 * kept once per address (a listener's is every accepted socket's),
	 * not in every record, which then fits the map's 512 B size class */
	__u64 unix_peer;
	__u64 unix_addr;
};

/* What a bucket of no single connection was charged (struct proc_counters):
 * u64-sized fields only, summed over CPUs as such. */
struct bucket_counts {
	__u64 syscalls;
	__u64 syscall_ns;
	__u64 ctx_voluntary;
	__u64 ctx_involuntary;
	__u64 cpu_ns;
	__u64 runq_ns;
	__s64 user_bytes;	/* RSS change */
	__s64 page_table_bytes;	/* and page tables, VMAs */
	__s64 vmas;
};

/* Process-wide counters and the buckets of no single connection: one slot
 * per CPU. */
struct proc_counters {
	__u64 ctx_voluntary;
	__u64 ctx_involuntary;
	__u64 cpu_ns;
	__u64 runq_ns;

	/* what belongs to no single connection: the event loop's (waiting for
	 * events, accept), and the worker pool's (threads the target created,
	 * between the connections handed to them) */
	struct bucket_counts loop;
	struct bucket_counts pool;

	__u64 conns_opened;
	__u64 conns_untracked;	/* connection map full: see --max-conns */
	__u64 lost_events;	/* ring buffer full: records that never arrived */
	__u64 no_thread_state;	/* task storage unavailable (should stay 0) */

	__u64 rss_inexact;	/* RSS changes read without every CPU's share */
	__u64 stacks_lost;	/* flame samples whose stack could not be stored */
	/* CPU time in the process total that no connection nor the loop holds
	 * yet: where the clock gave a run's parts more than the kernel's total
	 * and the excess is still to be taken back (bpf settle_run). Per CPU
	 * it may wrap below zero; the sum does not. */
	__u64 cpu_unsplit_ns;
	/* CPU time the parts hold beyond the process total: what a thread's
	 * runs' parts overshot the kernel's figure and it exited before its
	 * next charges paid back (bpf leave_debt), a few microseconds a
	 * thread. Parts + unsplit - this = the process. */
	__u64 cpu_overcharged_ns;
};

/* Flame views whose stacks the BPF side collects (--flame), a bit each. */
enum flame_view {
	FV_UMEM,		/* RSS growth by user stack */
	FV_KMEM,		/* slab and kmalloc allocations by kernel + user stack */
	FV_OFFCPU,		/* time off CPU after a voluntary switch, by stack */
	FV_CPU,			/* on-CPU samples (perf_event), by stack */
	FV_SYSCALLS,		/* syscalls by user stack */
	FV_COUNT,
};

#define FLAME_STACK_DEPTH 127	/* PERF_MAX_STACK_DEPTH */

/* One flame sample's identity; its value (bytes, ns, count) is summed. */
struct stack_key {
	__u64 conn;		/* 0: the event loop, or --by-conn not asked */
	__u64 user_stack;	/* keys in `stacks` (a hash of the frames); 0: none or lost */
	__u64 kern_stack;
	__u32 view;		/* enum flame_view */
	__u32 extra;		/* FV_SYSCALLS: the syscall number */
};

/* A stack as bpf_get_stack() took it: nr frames, innermost first; the
 * rest of ips is left from an earlier stack (readers stop at nr). */
struct flame_stack {
	__u32 nr;
	__u32 pad;
	__u64 ips[FLAME_STACK_DEPTH];
};

/* The target's resident set (file + anon + shmem pages), in bytes. */
struct rss_state {
	__s64 pages[4];		/* per mm counter, as last seen */
	__s64 page_table_bytes;	/* mm->pgtables_bytes, as last seen */
	__s32 map_count;	/* mm->map_count: VMAs */
	__u32 mm_id;		/* which mm at this address (x86: its ctx_id) */
	/* the values counting began from (0 for an image exec made): what its
	 * changes added to connections and the loop is the distance from
	 * them, which an exec replacing the image gives back */
	__s64 base_bytes;
	__s64 base_page_table_bytes;
	__s32 base_vmas;
	/* the connection a collection running in this address space now is
	 * charged to (a runtime's garbage collector, progs/runtimes.bpf.h):
	 * its helper threads' growth is that collection's. 0: none */
	__u64 collector_conn;
	/* the most pages its counters held at once since its first sight,
	 * each change read exactly: the process's own RSS peak, which the
	 * kernel's VmHWM and ru_maxrss take from reads of its per-CPU
	 * counters that lack their unfolded shares (userspace reads it) */
	__s64 peak_pages;
};

struct syscall_total {
	__u64 count;
	__u64 errors;		/* returned -errno, as strace -c counts them */
	__u64 ns;
};

enum event_type {
	EV_CONN_CLOSED = 1,	/* struct conn, final figures */
	EV_LISTEN = 2,		/* the target started listening */
	EV_GROW = 3,		/* half the connection map is used: add a generation */
	EV_UV_CALLBACK = 4,	/* struct uv_callback_event: a libuv work callback, new */
	EV_CONN_LATE = 5,	/* struct conn_late_event: counts after a final record */
};

struct listen_event {
	__u32 type;		/* EV_LISTEN */
	__u32 tgid;
	__u16 family;
	__u16 port;
	__u8 addr[16];
	char unix_path[108];
};

/* A work callback libuv's threadpool was first given (uv_queue_work):
 * userspace probes its entry and return in the target's mapping. */
struct uv_callback_event {
	__u32 type;		/* EV_UV_CALLBACK */
	__u32 tgid;
	__u64 addr;		/* the callback's address in tgid */
};

/* What a thread's events named a connection for (its bytes, its
 * syscalls) and had not yet added to its record when another thread made
 * the record final (a Go server closing a connection on one thread while
 * the reply written on another was not yet added): sent after the record,
 * and added to it by userspace. The thread's CPU, switches and memory
 * meanwhile are its bucket's: the connection it still had current had
 * ended elsewhere. Unless the thread took the connection up after its
 * record went (`whole`: its socket's I/O in another process, a forking
 * server's child, after the parent's close() ended it): then all it did
 * is the connection's, and comes here too. */
#define LATE_SC_SLOTS 4
struct conn_late_event {
	__u32 type;		/* EV_CONN_LATE */
	__u32 tgid;
	__u64 id;
	__u64 bytes_rx;
	__u64 bytes_tx;
	__u64 syscall_ns;
	struct conn_syscall sc[LATE_SC_SLOTS];	/* nr + 1 as in struct conn; 0: free */
	/* whole: as struct conn's; user_bytes_most the most user_bytes was
	 * on the way (struct pending's); 0 otherwise */
	__u64 cpu_ns;
	__u64 runq_ns;
	__s64 user_bytes;
	__s64 user_bytes_most;
	__s64 page_table_bytes;
	__s32 vmas;
	__u32 ctx_voluntary;
	__u32 ctx_involuntary;
	__u32 whole;
};

struct conn_event {
	__u32 type;		/* EV_CONN_CLOSED */
	__u32 pad;
	struct conn conn;
};

#endif /* CONCTRACE_H */
