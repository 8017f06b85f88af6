/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * The state the programs share: maps, the per-thread state they hold, and
 * the global counters userspace reads through the skeleton.
 */
#ifndef CONCTRACE_LIB_MAPS_BPF_H
#define CONCTRACE_LIB_MAPS_BPF_H

#include "lib/kernel.bpf.h"

/* The target process (the loader sets it before load). Here rather than
 * in .rodata with the other settings: every program tests it on every
 * event, and light mode's socket programs read nothing else of .rodata,
 * so beside the counters they do read it costs no cache line of its own
 * (nor a page, where each kernel entry flushes the TLB). */
__u32 target_tgid = 0;
/* Other processes of the target (children of a pre-forking server). */
__u32 nr_extra_targets = 0;
/* Threads alive in the target, and the most at once. */
__s64 live_threads = 0;
__s64 threads_peak = 0;
/* The largest RSS peak, in pages, of a traced address space whose state
 * left the rss map: torn down at its process's exit, or taken over by a
 * later one at its address. Every other one's peak is still in that map
 * (lib/mm.bpf.h). */
__s64 rss_gone_peak_pages = 0;
/* Set by userspace when it begins to stop the target: the address spaces
 * torn down from then on are the run's end, and keep what they were
 * charged, which the report shows (lib/mm.bpf.h, image_torn_down). */
__u32 target_stopping = 0;
/* how the first target process ended, as wait() would give it, + 1 (0: not
 * yet): an attached process is not conctrace's child to wait for */
__u32 target_exit_status = 0;
/* Connections open now (tracked, not yet closed) and the most at once:
 * kept here so that userspace need not keep every connection's times. */
__s64 live_conns = 0;
__s64 conns_peak = 0;
/* The socket snapshot being taken (lib/snapshots): its number and start,
 * set by userspace before it runs the iterators. */
__u32 snapshot_gen = 0;
__u64 snapshot_ns = 0;
/* Open connections (socket pairs aside, as live_conns counts them) the
 * snapshot found alive: where the walk of the target's own descriptors
 * found them all, the machine's sockets need no walk (tracer/snapshot.c). */
__u64 snapshot_found = 0;
/* The most bytes the event ring held unread, as the kernel counted them
 * after a submit: how close the consumer came to losing records, the
 * figure the ring's size is chosen from. */
__u64 ring_backlog_peak = 0;
/* Records that found the ring full and went to the overflow map instead:
 * userspace drains that map when this moves. */
__u64 ring_overflowed = 0;

/* Attaching (-p), the walk of the coroutine stacks held already
 * (progs/held.bpf.h, held_stacks) runs twice: 0 counts, 1 charges. Set by
 * userspace between the two runs. */
__u32 held_stacks_pass = 0;

/* The target processes. Not preallocated: one element per process, added
 * at fork (process context), where 4096 preallocated cost 320 KiB. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 4096);
	__type(key, __u32);
	__type(value, __u8);
} targets SEC(".maps");

/* Live connections by id, in generations (CONN_GENS in conctrace.h): not
 * preallocated, so an element is paid for by its connection; the first
 * generation's max_entries is set by the loader, the next ones are created
 * by userspace (tracer_grow) as the count of open connections reaches half
 * of what the generations present hold. */
struct conn_gen {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, CONN_GEN0);
	__type(key, __u64);
	__type(value, struct conn);
} conns_g0 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, CONN_GENS);
	__type(key, __u32);
	__array(values, struct conn_gen);
} conns SEC(".maps") = {
	.values = { [0] = &conns_g0 },
};

/* Generations present beyond the first (set by userspace after it adds
 * one), the count of open connections at which the next is wanted (0: none
 * is left to add), and whether BPF has asked for it since. */
__u32 extra_gens = 0;
__s64 grow_at = 0;
/* Elements in the generations: live_conns leaves out a server's socket
 * pairs, which take elements too. */
__s64 conn_elems = 0;
__u32 grow_asked = 0;
/* Full mode's connections marked CONN_OUTLIVED so far: while any may be
 * open, userspace ends those whose socket a snapshot no longer finds
 * (tracer_snapshot): one that a reset had closed gives no event at its
 * release */
__u64 outlived_marked = 0;

/*
 * Connections seen while the conns map was full (--max-conns), until they
 * close: each is counted once, and stays untracked for its whole life
 * rather than being tracked from the middle with part of its figures.
 * LRU: more than this many open at once may count one twice, never crash.
 * An LRU map is always preallocated, and it matters only once conns is
 * full: 4096 (320 KiB of memlock here) rather than 65,536 (5 MiB) paid by
 * every run.
 */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, __u64);
	__type(value, __u8);
} untracked SEC(".maps");

/*
 * Connections whose final record has gone, by id: an event that still
 * names one (a dup()ed fd, a pre-fork child's copy, an io_uring request
 * holding the file past close()) charges the event loop instead of
 * starting a second record for the same connection. Ids are never reused
 * within a run; LRU: the window is the last this many ended, far beyond
 * the microseconds such late events come after the close (and small: an
 * LRU map is preallocated, every run pays for all of it).
 */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, __u64);
	__type(value, __u8);
} ended SEC(".maps");

#define PENDING_SC_SLOTS LATE_SC_SLOTS	/* what a late event carries, too */

/*
 * What a thread owes its current connection and has not yet added to it.
 * The hot paths (every syscall, every socket read and write) charge here,
 * in the thread's own storage, without a hash lookup; flush() pays one
 * lookup when the thread changes connection, leaves the CPU, or exits.
 */
struct pending {
	__s64 user_bytes;
	/* the most user_bytes was since it was last cleared (0 or more): a
	 * request's memory freed before the flush still is its peak's */
	__s64 user_bytes_most;
	__s64 page_table_bytes;
	__s32 vmas;
	__u64 cpu_ns;
	__u64 runq_ns;
	__u64 bytes_rx;
	__u64 bytes_tx;
	__u32 ctx_voluntary;
	__u32 ctx_involuntary;
	struct conn_syscall sc[PENDING_SC_SLOTS];
	__u64 syscall_ns;	/* the time of every call counted above */
	/* the socket's buffers at the last I/O, and their most since flush */
	bool sampled;
	bool teardown;		/* the last sample found the connection closing */
	__u32 rx_queue, tx_queue;
	__s32 forward_alloc;
	__u32 rx_queue_max, tx_queue_max, buffers_max;
	__s32 forward_alloc_max;
};

/* What a pending thread did (struct thread_state): the costs that have no
 * current connection's figure to wait in, for the connection named next. */
struct deferred {
	__u64 cpu_ns;
	__u64 runq_ns;
	__s64 user_bytes;
	__s64 user_bytes_most;	/* as struct pending's */
	__s64 page_table_bytes;
	__s32 vmas;
	__u32 ctx_voluntary;
	__u32 ctx_involuntary;
};

struct thread_state {
	__u64 cur_conn;		/* 0: no connection (the loop's or pool's bucket) */
	/* A thread woken by one serving a connection works for it (a hand-off,
	 * sched_waking): woken_for is the waker's connection, not yet taken
	 * (at switch-in); handed: cur_conn came so, until the thread sleeps. */
	__u64 woken_for;
	bool handed;
	/* cur_conn is an internal pair (a self-pipe it wrote to): no
	 * connection of the thread's own, which a hand-off would not replace */
	bool cur_pair;
	/* back from waiting for events, or from sending: what the thread does
	 * is owed to the connection it names next (a coroutine resumed before
	 * its own I/O), kept in `deferred` meanwhile (charging.bpf.h,
	 * await_next) */
	bool pending;
	/* its work for no connection is the pool's, not the loop's: a thread
	 * the target created while traced that never waited for events */
	bool idle_pool;
	/* a new thread that has named no connection yet: its first socket
	 * call names one at its entry, before the call can sleep */
	bool unnamed;
	/* a Go target's thread back from a futex call or a sleep, where Go's
	 * scheduler may have switched goroutines: the next syscall looks at
	 * the one it runs (progs/syscalls.bpf.h, go_runs_own) */
	bool go_moved;
	/* its loop resumes coroutines in steps a probe sees (asyncio,
	 * runtimes.bpf.h): a connection's work begins at its step, not at
	 * the read that came first after a wait */
	bool steps;
	/* the runtime works for itself, nested this deep: its collector
	 * (Python's, V8's: a pass starts in whatever code allocates) or V8's
	 * compiler on this thread. Its CPU is the thread's bucket's,
	 * whatever connection is current */
	__u8 runtime_depth;
	/* one of the runtime's own threads (V8's platform workers: marking,
	 * sweeping, compiling, never a connection's JavaScript): the same,
	 * for its life, and it takes no hand-off */
	bool runtime_thread;
	/* cur_conn's socket is another process's too: the thread took it up
	 * after its record was final (a forking server's child, after the
	 * parent's close() ended it), or another process made the record (the
	 * same child, before that close). Once the record is final, all the
	 * thread owes it goes in late events, its CPU and memory with its
	 * bytes (send_late); a thread of the process that closed it keeps
	 * those in its bucket (Go runs other goroutines on it) */
	bool cur_late;
	/* an io_uring loop back from a call that named cur_conn (setsockopt
	 * on one it accepted): its CPU is the loop's again, its memory still
	 * cur_conn's (the connection's slot it sets up), until it changes
	 * connection (sys_exit) */
	bool cpu_to_loop;
	/* in a syscall since (SYS_UNTIMED: in one, its entry not timed);
	 * 0: in none. sys_entry_at() gives it as a time or 0 */
	__u64 sys_enter_ns;
	__u64 sys_conn;		/* connection this syscall is charged to */
	__u64 sys_counted;	/* ... and where its entry counted it */
	__u64 sys_addr;		/* a futex call's address (SC_FUTEX) */
	__u32 sys_nr;
	__s32 sys_fd;
	__u32 sys_arg;		/* epoll_ctl's op; a close()'s: whether the
				 * connection outlives it (outlive_close) */
	bool sys_io;		/* in a socket I/O syscall (SC_IO) */
	bool sys_sent;		/* ... that sent on a connection (sys_conn) */
	/* it submits io_uring requests: an io_uring loop, which names its
	 * connections in its requests, not in its syscalls (charging.bpf.h,
	 * await_next) */
	bool uring_loop;
	/* nvcsw holds the low half of the kernel's count of the thread's
	 * voluntary switches as of its last switch out (sched.bpf.h) */
	bool nvcsw_known;
	/* CPU time of the run on CPU now (lib/cpu_time.bpf.h) */
	__u64 cpu_mark;		/* start of the part not yet charged; 0: no run */
	__u64 steal_mark;	/* stolen_ns() at cpu_mark */
	__u64 run_start;	/* the kernel's figure when the run began */
	__u64 run_split;	/* charged to connections and loop since */
	__u64 run_clock;	/* the clock's time for the run so far */
	__u64 run_owner;	/* whom the run's parts went to (run_key), or RUN_* */
	__u32 clock_scale;	/* the kernel's time per clock ns, 1.0 = 1 << 16 */
	__u32 nvcsw;
	__u64 cpu_debt;		/* overshoot still to pay back (settle_run) */
	__u64 cpu_credit;	/* the kernel's count beyond the parts, to give out */
	__u64 runnable_since;
	struct pending owed;	/* to cur_conn; always empty when it is 0 */
	struct deferred deferred;	/* pending: to the connection named next */
	/* FV_OFFCPU: where the thread went to sleep, and for which connection */
	__u64 off_since;
	__u64 off_conn;
	__u64 off_user_stack, off_kern_stack;
	/* the address space whose RSS changes it last made (rss_state's key
	 * and mm_id): the image an execve() replaces */
	__u64 mm_key;
	__u32 mm_id;
	/* the connection it had current before cur_conn (kept as the thread
	 * moves on): where a collection that begins in none of its
	 * connections' code is charged (runtimes.bpf.h) */
	__u64 last_conn;
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

/*
 * Unix paths, once per address object (struct unix_address, shared by a
 * listener and every socket accepted from it): a record holds the key
 * (conn.unix_addr). Rewritten at each connection's creation, as a freed
 * address's memory may come back for another path; userspace reads a
 * path when the record arrives. 1,024 addresses in use at once (bound
 * clients have one each) before the oldest give way: their paths then show
 * as unknown.
 */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 1024);
	__type(key, __u64);
	__type(value, struct unix_path);
} unix_paths SEC(".maps");

/* Attaching: the connections whose epoll item points into each mapping
 * that looks like a stack, by the mapping's start (held_stacks). Used by
 * the two walks of one attach only; not preallocated, but its buckets are
 * (16 B each: 1 MiB here), so a launched run makes it one entry. Beyond
 * 65,536 stacks the rest are not found. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 1 << 16);
	__type(key, __u64);
	__type(value, __u32);
} held_stack_users SEC(".maps");

/*
 * libuv's threadpool (progs/runtimes.bpf.h): each queued job's request, by
 * address, and the connection current when it was queued, until a worker
 * starts it; and the work callbacks seen, each reported once. Jobs queued
 * at once are few (a pool's backlog); beyond 4,096 they are not tied.
 */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 4096);
	__type(key, __u64);
	__type(value, __u64);
} uv_jobs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 64);
	__type(key, __u64);
	__type(value, __u8);
} uv_callbacks SEC(".maps");

/*
 * Go's channels (progs/runtimes.bpf.h): the connection current on the
 * thread where each goroutine last parked on a channel, by goroutine (its
 * g, in its process), for the receiver that takes a parked sender's
 * value. A goroutine's g is reused, never freed, so the map holds at most
 * one element per goroutine that ever parked while traced. Not
 * preallocated; LRU would not do: under a backlog the oldest entry is the
 * sender parked longest, the very next one received. Full, a send is not
 * recorded (and its goroutine's older entry is dropped): a miss.
 */
struct go_sender {
	__u64 g;
	__u32 tgid;
	__u32 pad;
};

/* A connection id by goroutine: go_senders and go_conns. Their buckets
 * are taken at load, 16 B an element each can hold, and sized to one
 * element where the target is not Go (userspace/tracer/tracer.c). */
#define GO_CONN_BY_GOROUTINE(name)					\
struct {								\
	__uint(type, BPF_MAP_TYPE_HASH);				\
	__uint(map_flags, BPF_F_NO_PREALLOC);				\
	__uint(max_entries, 16384);					\
	__type(key, struct go_sender);					\
	__type(value, __u64);						\
} name SEC(".maps")

GO_CONN_BY_GOROUTINE(go_senders);

/*
 * Go's sends to a receiver parked on a channel whose goroutine is locked
 * to its thread (runtime.LockOSThread: a pool worker), by that thread's id
 * (the kernel's, as gettid() gives it, Go's m.procid): the sender's
 * connection (0: none), taken by the wakeup that runs the receiver
 * (progs/sched.bpf.h, on_sched_waking) whichever thread does the waking.
 * One element per locked thread at most; not preallocated.
 */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 1024);
	__type(key, __u32);
	__type(value, __u64);
} go_locked_handoffs SEC(".maps");

/*
 * The connection each goroutine last named (lib/goroutines.bpf.h), by
 * goroutine (its g, in its process): where a goroutine parks on or sends
 * to a channel, the work it hands over is this connection's, whichever
 * thread it runs on. A g is reused, never freed: one element per
 * goroutine that ever read or wrote a connection while traced. Not
 * preallocated; full, a goroutine not yet in it falls back to its
 * thread's connection.
 */
GO_CONN_BY_GOROUTINE(go_conns);

/* Where Go's runtime keeps g.m, g.lockedm and m.procid, set by userspace
 * from the binary's Go version (userspace/tracer/go_probes.c) before it
 * attaches its probes; 0: goroutines not followed (go_g_m_off), sends to
 * a locked receiver not followed (go_g_lockedm_off). */
__u32 go_g_m_off = 0;
__u32 go_g_lockedm_off = 0;
__u32 go_m_procid_off = 0;

/*
 * Jobs a connection queued on a Python thread pool's queue.SimpleQueue
 * (concurrent.futures, run_in_executor), by the queued object, until a
 * worker takes them (progs/runtimes.bpf.h, on_py_queue_put). Not
 * preallocated (an LRU map would be, 1.3 MiB for every target), and its
 * buckets, 16 B a job it can hold, sized for a backlog of thousands: full
 * (of jobs never taken, queues dropped full), a job is not recorded, a
 * miss.
 */
struct py_job {
	__u64 item;	/* the queued object's address */
	__u32 tgid;
	__u32 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 4096);
	__type(key, struct py_job);
	__type(value, __u64);
} py_jobs SEC(".maps");

/* Scratch space for a connection record (too big for the stack): slot
 * SCRATCH_NEW builds a new one, SCRATCH_SEND holds a copy of a final one
 * for the overflow map (conn_send: 6.1's map helpers take no pointer to
 * plain memory, which is what a global function's argument is). */
enum { SCRATCH_NEW, SCRATCH_SEND, SCRATCH_SLOTS };

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, SCRATCH_SLOTS);
	__type(key, __u32);
	__type(value, struct conn);
} conn_scratch SEC(".maps");

/*
 * Final records (440 B each with their headers) and listens. 1 MiB, 2,380
 * records: measured
 * under 20,000 churned connections (test_connection_churn) with 8 MiB,
 * the consumer left up to 2.4 MiB unread while a sample's socket walk
 * held it; such bursts go through the overflow map instead of costing
 * every run 8 MiB (ring_backlog_peak says how close a run came).
 */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 20);
} events SEC(".maps");

/*
 * Final records the ring could not take (its consumer was late: a sample
 * walking every socket holds it up), by connection id, until userspace
 * takes them out. Not preallocated: the ring is sized for the usual
 * backlog, and a burst beyond it costs memory only while it lasts. Full
 * too, a record is lost, and counted.
 */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 16384);
	__type(key, __u64);
	__type(value, struct conn);
} overflow SEC(".maps");

/* Resident set of each traced mm, keyed by the mm's address. Not
 * preallocated: an element per address space, added at its first RSS
 * change, where 4096 preallocated cost 580 KiB. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
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

/*
 * Flame stacks, by a hash of their frames (lib/stacks.bpf.h): sized by the
 * loader, 1 entry when no view is asked for. Not a stack-trace map, which
 * keeps one stack per bucket of the frames' hash and refuses a second
 * (bpf_get_stackid without BPF_F_REUSE_STACKID; with it, the first
 * stack's samples would show the second's frames): a hot stack that met
 * a colder one first was lost for the whole run (test_flame.py lost 2,002
 * of a run's syscalls so, in a CI run of 2026-12-04). Preallocated: an
 * on-CPU sample stores from interrupt context.
 */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);
	__type(value, struct flame_stack);
} stacks SEC(".maps");

/* Where a stack is taken before it is stored: one per level of nesting
 * on a CPU (a program, an interrupt's, a non-maskable one's), as a
 * program interrupted mid-stack would find its stack overwritten; and
 * how many levels are in use. One level when no view is asked for (the
 * loader): a CPU's share of it is 1 KiB. */
#define STACK_SCRATCH_LEVELS 4

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, STACK_SCRATCH_LEVELS);
	__type(key, __u32);
	__type(value, struct flame_stack);
} stack_scratch SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} stack_depth SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 65536);
	__type(key, struct stack_key);
	__type(value, __u64);
} flame_counts SEC(".maps");

/* The generation i places from the newest of the n present, or NULL. */
static __always_inline void *conn_gen(__u32 n, __u32 i)
{
	__u32 g = n - 1 - i;

	return i < n ? bpf_map_lookup_elem(&conns, &g) : NULL;
}

/*
 * The connection with this id in any generation, newest first: it takes
 * the new connections, and older ones empty as theirs close. One
 * generation (up to CONN_GEN0 / 2 open) costs one hash lookup, as a
 * single map did; a miss costs one per generation present. The loops are
 * not unrolled: unrolled, the verifier walked every site's four copies,
 * and loading took 0.2 s longer.
 */
static __always_inline struct conn *conn_lookup(__u64 id)
{
	__u32 n = extra_gens + 1;

#pragma nounroll
	for (__u32 i = 0; i < CONN_GENS; i++) {
		void *gen = conn_gen(n, i);
		struct conn *c;

		if (!gen)
			break;
		c = bpf_map_lookup_elem(gen, &id);
		if (c)
			return c;
	}
	return NULL;
}

/* A new connection's record into the newest generation with room. */
static __always_inline int conn_insert(__u64 id, const struct conn *c)
{
	__u32 n = extra_gens + 1;

#pragma nounroll
	for (__u32 i = 0; i < CONN_GENS; i++) {
		void *gen = conn_gen(n, i);

		if (!gen)
			break;
		if (bpf_map_update_elem(gen, &id, c, BPF_NOEXIST) == 0) {
			__sync_fetch_and_add(&conn_elems, 1);
			return 0;
		}
	}
	return -1;
}

static __always_inline void conn_delete(__u64 id)
{
	__u32 n = extra_gens + 1;

#pragma nounroll
	for (__u32 i = 0; i < CONN_GENS; i++) {
		void *gen = conn_gen(n, i);

		if (!gen)
			break;
		if (bpf_map_delete_elem(gen, &id) == 0) {
			__sync_fetch_and_add(&conn_elems, -1);
			return;
		}
	}
}

#endif /* CONCTRACE_LIB_MAPS_BPF_H */
