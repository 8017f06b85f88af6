/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * Connections: a record created on first sight of a connected socket,
 * its small tables and buffers filled in, and sent to userspace when
 * final.
 */
#ifndef CONCTRACE_LIB_CONNS_BPF_H
#define CONCTRACE_LIB_CONNS_BPF_H

#include "lib/sockets.bpf.h"
#include "lib/thread.bpf.h"

/*
 * Half of what the connection map's generations hold is in use: wake
 * userspace to add the next (its poll loop checks too, this is sooner).
 * Asked once per generation; two CPUs racing may both ask, which adds
 * nothing twice (tracer_grow goes by the count, not the asking).
 */
static __always_inline void ask_to_grow(void)
{
	__u32 *ev;

	if (!grow_at || grow_asked || conn_elems < grow_at)
		return;
	grow_asked = 1;
	ev = bpf_ringbuf_reserve(&events, sizeof(*ev), 0);
	if (!ev)
		return;
	*ev = EV_GROW;
	bpf_ringbuf_submit(ev, 0);
}

/* A Unix address's path into unix_paths, under the address's key. Written
 * each time, not only when absent: a freed address's memory may come back
 * as another path's. */
static __always_inline void note_unix_path(__u64 key)
{
	struct unix_address *ua = (struct unix_address *)key;
	struct unix_path p = {};

	bpf_probe_read_kernel_str(p.path, sizeof(p.path), &ua->name[0].sun_path);
	bpf_map_update_elem(&unix_paths, &key, &p, BPF_ANY);
}

/*
 * A record for a connection seen for the first time: a server's sockets
 * appear through accept(), connect(), any syscall on their fd, or io_uring.
 * 0 if it is in the map now (made here, or by a racing CPU); -1 if it is
 * not to be tracked (untracked: the map is full; or ended already).
 *
 * A global function: the verifier checks it once, not inlined at every
 * site that may create a record. Global functions take no typed kernel
 * pointer before 6.8 (__arg_trusted), so the socket comes as an address,
 * read through probe reads.
 */
VERIFIED_ONCE int conn_create(__u64 id, __u64 sk_addr, int fd, __u16 flags)
{
	struct sock *sk = (struct sock *)sk_addr;
	struct proc_counters *pc;
	__u32 slot = SCRATCH_NEW;
	struct conn *c;

	if (!id || bpf_map_lookup_elem(&untracked, &id) || bpf_map_lookup_elem(&ended, &id))
		return -1;
	c = bpf_map_lookup_elem(&conn_scratch, &slot);
	if (!c)
		return -1;
	__builtin_memset(c, 0, sizeof(*c));
	c->id = id;
	c->open_ns = bpf_ktime_get_ns();
	c->tgid = bpf_get_current_pid_tgid() >> 32;
	c->fd = fd;
	c->flags = flags;
	/* the slot its slab gives the sock: what the object really occupies */
	c->sock_bytes = BPF_CORE_READ(sk, __sk_common.skc_prot, slab, size);
	c->netns = BPF_CORE_READ(sk, __sk_common.skc_net.net, ns.inum);
	fill_addresses(c, sk);
	if (c->unix_addr)
		note_unix_path(c->unix_addr);
	if (c->family == AF_UNIX && unix_pair(sk))
		c->flags |= CONN_PAIR;
	pc = proc_counters();
	if (conn_insert(id, c) == 0) {
		/* connections open, and opened: a server's clients, not its pairs */
		if (pc && !(c->flags & CONN_PAIR))
			pc->conns_opened++;
		if (!(c->flags & CONN_PAIR))
			count_live(&live_conns, &conns_peak, 1);
		ask_to_grow();
		return 0;
	}
	if (conn_lookup(id))
		return 0;	/* a racing CPU made it first */
	{
		__u8 one = 1;

		if (bpf_map_update_elem(&untracked, &id, &one, BPF_NOEXIST) == 0 && pc)
			pc->conns_untracked++;
	}
	return -1;
}

/* The connection with this id, created on first sight. */
static __always_inline struct conn *conn_get(__u64 id, __u64 sk_addr, int fd, __u16 flags)
{
	struct conn *c = conn_lookup(id);

	if (c || !id)
		return c;
	if (conn_create(id, sk_addr, fd, flags))
		return NULL;
	return conn_lookup(id);
}

/*
 * Resolve a socket to its connection's record (its id in *id), or NULL if
 * it is none. A tracked connection is found by id whatever its state (a
 * reset one still costs until closed); a new one is created only once
 * connected, unless `force` (accept() returned it: it is a connection
 * even if already reset).
 */
static __always_inline struct conn *socket_record(struct socket *sock, int fd, __u16 flags,
						  bool force, __u64 *id)
{
	struct conn *c;
	struct sock *sk;

	if (!sock)
		return NULL;
	*id = sock_ino(sock);
	c = conn_lookup(*id);
	if (c)
		return c;
	sk = BPF_CORE_READ(sock, sk);
	if (classify(sk) != SK_CONN && !(force && sk))
		return NULL;
	return conn_get(*id, (__u64)sk, fd, flags);
}

/* The same, its id, or 0 if it is none. */
static __always_inline __u64 socket_conn(struct socket *sock, int fd, __u16 flags,
					 bool force)
{
	__u64 id = 0;

	return socket_record(sock, fd, flags, force, &id) ? id : 0;
}

/*
 * A record is final exactly once. Threads of a process (an event loop's,
 * a worker pool's) may each hold a connection as their current one and
 * flush into its record while another closes it; two that both found it
 * closed both sent it (issue 16: a Go net/http pool's connection listed
 * twice, the second record holding the last thread's read, epoll_ctl and
 * close). So every write to a record is made under a hold, and the claim
 * word counts the holders: the last one out of a claimed record sends it,
 * after every write begun before the claim, and a hold taken after the
 * claim fails, its writer charging the event loop instead (the record may
 * already be copied: added to it, those figures would be nobody's).
 */
#define CLAIM_ENDED	0x80000000u	/* final: no new holds */
#define CLAIM_SENT	0x40000000u	/* its record is sent (or being sent) */
#define CLAIM_HOLDERS	0x3fffffffu

/* The id's record to write to, or NULL: absent, or final already. A
 * non-NULL result must be given back with conn_put(). */
static __always_inline struct conn *conn_hold(__u64 id)
{
	struct conn *c;

	if (!id)
		return NULL;
	c = conn_lookup(id);
	if (!c)
		return NULL;
	if (__sync_fetch_and_add(&c->claim, 1) & CLAIM_ENDED) {
		__sync_fetch_and_sub(&c->claim, 1);
		return NULL;	/* its last holder sends it: not us */
	}
	return c;
}

/* After a submit: the ring's unread bytes, if more than ever before (a
 * racing CPU may overwrite a larger figure with its own: a peak within a
 * record or two, never a loss). */
static __always_inline void note_ring_backlog(void)
{
	__u64 unread = bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA);

	if (unread > ring_backlog_peak)
		ring_backlog_peak = unread;
}

/* The record goes to userspace, through the ring or, when that is full,
 * the overflow map; then it leaves the map, so a million short
 * connections leave nothing behind, and its id is remembered as ended so
 * that no later event makes it anew. */
/* A final record the ring had no room for, kept in the overflow map until
 * userspace's next poll; false if that is full too. Through a copy: 6.1's
 * map helpers take no pointer to plain memory, which is what conn_send's
 * argument is. */
static __always_inline bool overflow_keep(__u64 id, const struct conn *c)
{
	__u32 slot = SCRATCH_SEND;
	struct conn *copy = bpf_map_lookup_elem(&conn_scratch, &slot);

	if (!copy)
		return false;
	__builtin_memcpy(copy, c, sizeof(*c));
	if (bpf_map_update_elem(&overflow, &id, copy, BPF_NOEXIST))
		return false;
	__sync_fetch_and_add(&ring_overflowed, 1);
	return true;
}

VERIFIED_ONCE int conn_send(__u64 id, struct conn *c)
{
	struct conn_event *ev;
	__u8 one = 1;

	if (!c)
		return 0;
	ev = bpf_ringbuf_reserve(&events, sizeof(*ev), 0);
	if (ev) {
		ev->type = EV_CONN_CLOSED;
		ev->pad = 0;
		__builtin_memcpy(&ev->conn, c, sizeof(*c));
		bpf_ringbuf_submit(ev, 0);
		note_ring_backlog();
	} else if (!overflow_keep(id, c)) {
		struct proc_counters *pc = proc_counters();

		if (pc)
			pc->lost_events++;
	}
	bpf_map_update_elem(&ended, &id, &one, BPF_ANY);
	conn_delete(id);
	return 0;
}

/* Give back a hold; the last holder of a final record sends it. Only one
 * compare-and-swap from "ended, no holders" to "sent" can succeed. */
static __always_inline void conn_put(__u64 id, struct conn *c)
{
	if (!c)
		return;
	if (__sync_sub_and_fetch(&c->claim, 1) == CLAIM_ENDED &&
	    __sync_val_compare_and_swap(&c->claim, CLAIM_ENDED, CLAIM_ENDED | CLAIM_SENT) ==
	    CLAIM_ENDED)
		conn_send(id, c);
}

/* The connection's close time, set once: true for the one caller that set
 * it (the live count drops once however many threads see the close). */
static __always_inline bool conn_mark_closed(struct conn *c, __u64 at)
{
	if (c->close_ns || __sync_val_compare_and_swap(&c->close_ns, 0, at) != 0)
		return false;
	if (!(c->flags & CONN_PAIR))
		count_live(&live_conns, &conns_peak, -1);
	return true;
}

/* A held connection's record is final: it is sent when the last hold on it
 * is given back (the caller's own conn_put, at the latest). */
static __always_inline void conn_finalize(struct conn *c)
{
	conn_mark_closed(c, bpf_ktime_get_ns());
	__sync_fetch_and_or(&c->claim, CLAIM_ENDED);
}

/*
 * Full mode: whether the connection may outlive a close() that left its
 * file to another holder (CONN_OUTLIVED), for something ends it at its
 * socket's release whatever task lets the file go. TCP's release changes
 * its state (on_inet_sock_set_state; a reset one, userspace's sweep). A
 * Unix socket's fires no event: only a sample that no longer finds the
 * socket ends it, where the iterator exists and sees its namespace; else
 * it ends at that close(), its holder's work coming to the record late.
 */
static __always_inline bool outlived_sweeps(const struct conn *c)
{
	if (c->family != AF_UNIX)
		return true;
	return sweep_unix && c->netns == tracer_netns;
}

/* A close() of fd is one that ends c's connection: of its own descriptor,
 * or of any once it has outlived one. Not a close of a dup (c->fd is
 * another descriptor), which never ended the connection. */
static __always_inline bool close_ends(const struct conn *c, int fd)
{
	return c->fd == fd || (c->flags & CONN_OUTLIVED);
}

/*
 * At the entry of a close() of fd, c's connection's: if another holds its
 * file, the connection outlives the close (CONN_OUTLIVED). Marked now, not
 * at the return: the other holder may let the file go before the close
 * returns, and the socket's release then ends only a connection already
 * marked (on_inet_sock_set_state). A close that then fails leaves the
 * connection to end at its socket's release all the same.
 */
static __always_inline bool outlive_close(struct conn *c, int fd, struct file *f)
{
	if (!close_ends(c, fd) || !outlived_sweeps(c) || !file_shared(f))
		return false;
	if (!(c->flags & CONN_OUTLIVED)) {
		__sync_fetch_and_add(&outlived_marked, 1);
		c->flags |= CONN_OUTLIVED;
	}
	return true;
}

/*
 * A record's small tables (syscalls, io_uring opcodes) are slots keyed by
 * a number + 1, 0 when free: true if the slot holds key, claiming it if it
 * was free. The claim is atomic, and a lost race is rechecked: io_uring
 * workers and a process's threads may fill one record at once.
 */
static __always_inline bool slot_holds(__u32 *slot, __u32 key)
{
	return *slot == key ||
	       (*slot == 0 && __sync_val_compare_and_swap(slot, 0, key) == 0) ||
	       *slot == key;
}

VERIFIED_ONCE int conn_add_syscalls(struct conn *c, __u32 nr, __u32 count, __u64 ns)
{
	if (!c)
		return 0;
	if (ns)
		__sync_fetch_and_add(&c->syscall_ns, ns);
	if (!count)
		return 0;	/* a call's exit: its time only */
#pragma unroll
	for (int i = 0; i < CONN_SC_SLOTS; i++) {
		struct conn_syscall *s = &c->sc[i];

		if (slot_holds(&s->nr, nr + 1)) {
			__sync_fetch_and_add(&s->count, count);
			return 0;
		}
	}
	__sync_fetch_and_add(&c->sc_other, count);
	return 0;
}

/* Take back one call of syscall nr (a count its entry put here); false
 * if there is none to take. */
static __always_inline bool conn_take_syscall(struct conn *c, __u32 nr)
{
#pragma unroll
	for (int i = 0; i < CONN_SC_SLOTS; i++) {
		struct conn_syscall *s = &c->sc[i];

		if (s->nr == nr + 1 && s->count) {
			__sync_fetch_and_sub(&s->count, 1);
			return true;
		}
	}
	if (!c->sc_other)
		return false;
	__sync_fetch_and_sub(&c->sc_other, 1);
	return true;
}

/*
 * What the buffers held, integrated over time: the figure last seen held
 * from then until now. A snapshot that catches a burst in flight weighs
 * only until the next I/O shows it gone, not until the next snapshot.
 * Racing writers may lose a segment (last writer wins): small, never a
 * double count. Teardown ends it: what a closing socket queues is no
 * cost of the open connection.
 */
static __always_inline void conn_buffers_seen(struct conn *c, const struct buffers *b, __u64 now)
{
	__u64 since = c->buffers_since ? c->buffers_since : c->open_ns;

	if (c->buffers_end)
		return;
	if (now > since) {	/* a racing writer may be ahead: never back */
		c->buffers_integral += (__u64)c->buffers_last * ((now - since) >> 10);
		c->buffers_since = now;
	}
	if (b->teardown)
		c->buffers_end = now;
	else
		c->buffers_last = buffers_sum(b);
}

/*
 * The io_uring requests held, integrated over time as the buffers are:
 * the level since the last change, from then until now (or until teardown
 * began, after which nothing counts). Called before uring_armed changes.
 */
static __always_inline void conn_uring_seen(struct conn *c, __u64 now)
{
	__u64 since = c->uring_since ? c->uring_since : c->open_ns;
	__u64 end = c->buffers_end && c->buffers_end < now ? c->buffers_end : now;

	if (end > since) {	/* a racing writer may be ahead: never back */
		c->uring_integral += (__u64)c->uring_armed * ((end - since) >> 10);
		c->uring_since = end;
	}
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

#endif /* CONCTRACE_LIB_CONNS_BPF_H */
