/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * Socket snapshots, run by userspace at each sample: every tracked
 * socket's buffers, and in light mode the end of connections whose socket
 * is gone.
 */
#ifndef CONCTRACE_PROGS_SNAPSHOTS_BPF_H
#define CONCTRACE_PROGS_SNAPSHOTS_BPF_H

#include "lib/conns.bpf.h"

/*
 * Data can sit in a socket the server never reads, with no event of ours
 * firing. Userspace runs these iterators (like ss -m does its netlink dump)
 * at each sample and before the report, so current and peak buffers are as
 * of then. Each run is a numbered snapshot, begun at snapshot_ns, and
 * marks the connections whose sockets it finds alive (sweep_ended).
 */
static __always_inline void snapshot(struct sock *sk, __u64 id)
{
	struct buffers b;
	struct conn *c;

	if (!id)
		return;
	c = conn_hold(id);
	if (!c)
		return;
	if (c->seen_gen != snapshot_gen && !c->close_ns && !(c->flags & CONN_PAIR))
		__sync_fetch_and_add(&snapshot_found, 1);
	c->seen_gen = snapshot_gen;
	read_buffers(sk, &b);
	if (b.teardown || c->close_ns)
		conn_set_buffers(c, &b, 0, 0, 0, 0);	/* now, not a peak */
	else
		conn_set_buffers(c, &b, b.rx, b.tx, b.fwd, buffers_sum(&b));
	conn_buffers_seen(c, &b, bpf_ktime_get_ns());
	conn_put(id, c);
}

/* The machine's walks: the iterator brought the sock into cache, and the
 * id is read back from it. */
static __always_inline void snapshot_walked(struct sock *sk)
{
	snapshot(sk, socket_ino_walked(sk->sk_socket));
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
		snapshot_walked(&tp->inet_conn.icsk_inet.sk);
	return 0;
}

/*
 * The same from the target's own descriptors: userspace gives the
 * iterator one process (6.1 on), so it visits that process's files, not
 * every TCP socket of the machine and every bucket of the kernel's
 * established hash, empty ones too (a quarter of conctrace's CPU at
 * 15,000 idle connections here). A connection the target no longer holds
 * (another process's now, or ended unseen) is not found: userspace then
 * walks the machine's sockets too.
 */
SEC("iter/task_file")
int snapshot_files(struct bpf_iter__task_file *ctx)
{
	struct file *file = ctx->file;
	struct socket *sock;

	if (!file)
		return 0;
	sock = bpf_sock_from_file(file);	/* a typed pointer, or NULL */
	/* the id from the socket's address, not back from its sock
	 * (sk->sk_socket->file: two cache misses in series before the
	 * lookup could start), so that the lookup and the sock's loads wait
	 * for their misses side by side: 1,000 ns a socket became 750 here,
	 * at 15,000 connections (bpf_stats) */
	if (sock && sock->sk)
		snapshot(sock->sk, sock_ino(sock));
	return 0;
}

SEC("iter/unix")
int snapshot_unix(struct bpf_iter__unix *ctx)
{
	struct unix_sock *u = ctx->unix_sk;

	if (u)
		snapshot_walked(&u->sk);
	return 0;
}

/*
 * Light mode sees no close(). A Unix socket's release fires no tracepoint,
 * and a TCP socket reset by its peer changes no state when it is closed
 * later. After a snapshot, this walks the connection map: a connection of
 * our namespace, known before the snapshot began, whose socket the
 * snapshot did not find alive (released; for TCP, also unhashed by a
 * reset), has ended since the last one. It ends as of this snapshot's
 * start, the earliest time known to be after its end (README: such close
 * times are bounds).
 */
SEC("iter/bpf_map_elem")
int sweep_ended(struct bpf_iter__bpf_map_elem *ctx)
{
	__u64 *key = ctx->key;
	struct conn *c = ctx->value;
	__u64 id;

	if (!key || !c)
		return 0;
	if (c->close_ns || c->seen_gen == snapshot_gen || c->open_ns >= snapshot_ns ||
	    c->netns != tracer_netns)
		return 0;
	if (c->family == AF_UNIX ? !sweep_unix : !sweep_tcp)
		return 0;
	id = *key;
	c = conn_hold(id);	/* the element's own record, held to end it */
	if (!c)
		return 0;
	conn_mark_closed(c, snapshot_ns);
	conn_finalize(c);
	conn_put(id, c);
	return 0;
}

#endif /* CONCTRACE_PROGS_SNAPSHOTS_BPF_H */
