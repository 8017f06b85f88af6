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
	c->netns = BPF_CORE_READ(sk, __sk_common.skc_net.net, ns.inum);
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

static __always_inline void conn_add_syscalls(struct conn *c, __u32 nr, __u32 count, __u64 ns)
{
#pragma unroll
	for (int i = 0; i < CONN_SC_SLOTS; i++) {
		struct conn_syscall *s = &c->sc[i];

		if (slot_holds(&s->nr, nr + 1)) {
			__sync_fetch_and_add(&s->count, count);
			__sync_fetch_and_add(&s->ns, ns);
			return;
		}
	}
	__sync_fetch_and_add(&c->sc_other, count);
	__sync_fetch_and_add(&c->sc_other_ns, ns);
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
