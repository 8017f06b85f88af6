/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * Connections, included by conctrace.bpf.c (it uses its maps): a socket's
 * id, a socket from an fd, whether it is a connection, its record created
 * on first sight and sent to userspace when final.
 */
#ifndef CONCTRACE_CONNS_BPF_H
#define CONCTRACE_CONNS_BPF_H

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

/* The socket behind fd in task (the current one), or NULL. */
static __always_inline struct socket *fd_to_socket(struct task_struct *task, int fd)
{
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

#endif /* CONCTRACE_CONNS_BPF_H */
