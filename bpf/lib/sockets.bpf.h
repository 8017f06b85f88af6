/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * Sockets, read through BTF: a socket's id (its inode), the socket behind
 * an fd, whether it is a connection, its addresses, its buffers, and
 * whether its file is being released.
 */
#ifndef CONCTRACE_LIB_SOCKETS_BPF_H
#define CONCTRACE_LIB_SOCKETS_BPF_H

#include "lib/kernel.bpf.h"

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

/* The same id for the walks over the machine's sockets (iter/tcp,
 * iter/unix), where none is in cache: from the inode allocated beside the
 * socket, a cache miss fewer than through its file (80 ns less a socket
 * here, at 15,000 connections). 0 without a file, as above. */
static __always_inline __u64 socket_ino_walked(struct socket *sock)
{
	if (!sock || !sock->file)
		return 0;
	return sock_ino(sock);
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

/*
 * A socket's local address: family, IP address (IPv4 in the first 4
 * bytes) and port, or a Unix socket's path (if path is not NULL). The
 * one reader of socket addresses: a connection's record and a listener's
 * event both use it.
 */
static __always_inline __u16 read_local(struct sock *sk, __u8 addr[16], __u16 *port,
					char *path, __u32 path_len)
{
	__u16 family = BPF_CORE_READ(sk, __sk_common.skc_family);

	if (family == AF_INET) {
		BPF_CORE_READ_INTO((__u32 *)addr, sk, __sk_common.skc_rcv_saddr);
	} else if (family == AF_INET6) {
		BPF_CORE_READ_INTO((struct in6_addr *)addr, sk, __sk_common.skc_v6_rcv_saddr);
	} else if (family == AF_UNIX) {
		struct unix_address *ua = BPF_CORE_READ((struct unix_sock *)sk, addr);

		if (ua && path)	/* no path asked: a record keeps it apart */
			bpf_probe_read_kernel_str(path, path_len, &ua->name[0].sun_path);
	}
	*port = family == AF_UNIX ? 0 : BPF_CORE_READ(sk, __sk_common.skc_num);
	return family;
}

/* A connection's addresses: its local one, and its peer (address and
 * port, or a Unix peer's inode and its own address's key). */
static __always_inline void fill_addresses(struct conn *c, struct sock *sk)
{
	c->family = read_local(sk, c->laddr, &c->lport, NULL, 0);
	if (c->family == AF_INET) {
		BPF_CORE_READ_INTO((__u32 *)c->raddr, sk, __sk_common.skc_daddr);
	} else if (c->family == AF_INET6) {
		BPF_CORE_READ_INTO((struct in6_addr *)c->raddr, sk, __sk_common.skc_v6_daddr);
	} else if (c->family == AF_UNIX) {
		struct sock *peer = BPF_CORE_READ((struct unix_sock *)sk, peer);
		struct unix_address *ua = BPF_CORE_READ((struct unix_sock *)sk, addr);

		if (peer)
			c->unix_peer = sock_ino(BPF_CORE_READ(peer, sk_socket));
		c->unix_addr = (__u64)ua;	/* its path: conns.bpf.h, note_unix_path */
		return;
	}
	c->rport = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
}

/* A Unix socket whose end and peer both have no address: socketpair()'s.
 * Accepting gives a socket its listener's address and connect() needs the
 * peer's, so no client connection is one. */
static __always_inline bool unix_pair(struct sock *sk)
{
	struct sock *peer = BPF_CORE_READ((struct unix_sock *)sk, peer);

	return peer && !BPF_CORE_READ((struct unix_sock *)sk, addr) &&
	       !BPF_CORE_READ((struct unix_sock *)peer, addr);
}

struct buffers {
	__u32 rx, tx;
	__s32 fwd;
	bool teardown;	/* after the peer's FIN or a shutdown: closing, not open */
};

/* sk is a typed pointer: plain loads, no helper calls */
static __always_inline void read_buffers(struct sock *sk, struct buffers *b)
{
	b->rx = sk->sk_backlog.rmem_alloc.counter;
	b->tx = sk->sk_wmem_queued;
	b->fwd = sk->sk_forward_alloc;
	/* RCV_SHUTDOWN: the peer's FIN (a Unix peer's close), SEND_SHUTDOWN:
	 * ours; a bitfield on older kernels, a u8 since */
	b->teardown = BPF_CORE_READ_BITFIELD(sk, sk_shutdown) != 0;
}

static __always_inline __u32 buffers_sum(const struct buffers *b)
{
	return b->rx + b->tx + (b->fwd > 0 ? b->fwd : 0);
}

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

/* Another holds the file too (a forking server's child, a dup, another
 * thread inside a call on it, an io_uring request): a close() of this
 * descriptor releases nothing. f read from a descriptor table: probed. */
static __always_inline bool file_shared(struct file *f)
{
	if (!f)
		return false;
	if (bpf_core_field_exists(f->f_ref))	/* FILE_REF_ONEREF is 0 */
		return (__s64)BPF_CORE_READ(f, f_ref.refcnt.counter) > 0;
	return BPF_CORE_READ((struct file___count *)f, f_count.counter) > 1;
}

#endif /* CONCTRACE_LIB_SOCKETS_BPF_H */
