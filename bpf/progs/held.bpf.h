/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * What an attached target already holds (-p): its connections opened before
 * conctrace came, with the objects each holds now, and the threads that
 * serve them. Userspace runs both iterators once, right after attaching and
 * before the first sample. A launched target has nothing before us: these
 * are not loaded then.
 */
#ifndef CONCTRACE_PROGS_HELD_BPF_H
#define CONCTRACE_PROGS_HELD_BPF_H

#include "lib/conns.bpf.h"

#define EPOLL_LINKS_MAX	8	/* epoll sets one socket is in, counted */
#define PMD_REGION	(2ull << 20)	/* what one page of PTEs maps (x86-64) */

/* The epoll items watching file: one per epoll set it was added to. */
static __always_inline __u16 epoll_links(struct file *file)
{
	struct hlist_node *n;
	__u16 count = 0;

	if (!bpf_core_field_exists(file->f_ep))
		return 0;	/* before 5.11: a list_head, and no task storage anyway */
	n = BPF_CORE_READ(file, f_ep, first);
	for (int i = 0; i < EPOLL_LINKS_MAX && n; i++) {
		count++;
		n = BPF_CORE_READ(n, next);
	}
	return count;
}

/*
 * Each open file of the target (the iterator visits a files table once,
 * not once per thread sharing it): a connected socket becomes a record as
 * if first seen now, marked CONN_BEFORE_ATTACH, with its epoll items.
 * Its buffers come with the first snapshot, as for every connection.
 */
SEC("iter/task_file")
int held_sockets(struct bpf_iter__task_file *ctx)
{
	struct task_struct *task = ctx->task;
	struct file *file = ctx->file;
	struct socket *sock;
	struct sock *sk;
	struct conn *c;
	__u16 items;
	__u64 id;

	if (!task || !file || !tgid_is_target(task->tgid))
		return 0;
	sock = bpf_sock_from_file(file);	/* a typed pointer, or NULL */
	if (!sock)
		return 0;
	sk = sock->sk;
	if (classify(sk) != SK_CONN)
		return 0;
	id = socket_file_ino(sock);
	if (!id || conn_lookup(id))
		return 0;	/* an event after attaching found it first */
	c = conn_get(id, (__u64)BPF_CORE_READ(sock, sk), (int)ctx->fd, CONN_BEFORE_ATTACH);
	if (!c)
		return 0;
	c->tgid = task->tgid;	/* conn_get took the current task's: ours */
	items = epoll_links(file);
	c->epoll_items = items;
	c->epoll_items_peak = items;
	return 0;
}

struct stack_vma {
	__u64 sp;
	__u64 start, end;	/* the stack's mapping; 0: none found */
	bool guard;		/* an inaccessible guard mapping just below */
};

static long stack_vma_found(struct task_struct *task, struct vm_area_struct *vma, void *ctx)
{
	struct stack_vma *s = ctx;

	s->start = vma->vm_start;
	s->end = vma->vm_end;
	return 0;
}

static long guard_found(struct task_struct *task, struct vm_area_struct *vma, void *ctx)
{
	struct stack_vma *s = ctx;

	s->guard = vma->vm_end == s->start &&
		   !(vma->vm_flags & (VM_READ | VM_WRITE | VM_EXEC));
	return 0;
}

/* An inaccessible guard mapping just below the stack's (s->start): a
 * thread's (glibc's) or a coroutine's stack has one. */
static __always_inline bool guard_below(struct task_struct *task, struct stack_vma *s)
{
	s->guard = false;
	if (s->start > page_size)
		bpf_find_vma(task, s->start - 1, guard_found, s, 0);
	return s->guard;
}

/*
 * Each thread of the target: one blocked in (or last in) a syscall on a
 * connection's fd serves that connection, as a thread-per-connection
 * server's does, and holds for it what the launched run charges it at
 * its creation: the task, its kernel stack, and in the address space its
 * stack's mapping (with glibc's guard below it) and the page of PTEs that
 * maps the part of that stack in use.
 */
SEC("iter/task")
int held_threads(struct bpf_iter__task *ctx)
{
	struct task_struct *task = ctx->task;
	struct stack_vma s = {};
	struct thread_state *ts;
	struct pt_regs *regs;
	struct socket *sock;
	struct conn *c;
	__u64 nr, id, lo, hi;
	__u16 flags;
	int fd = -1;

	if (!task || !tgid_is_target(task->tgid) || task->pid == task->tgid)
		return 0;	/* the main thread accepts: it serves no one connection */
	regs = (struct pt_regs *)bpf_task_pt_regs(task);
	if (!regs)
		return 0;
	nr = BPF_CORE_READ(regs, orig_ax);
	if (nr >= SYSCALL_MAX)
		return 0;	/* not in a syscall (-1), or none we know */
	flags = syscall_flags[nr & (SYSCALL_MAX - 1)];
	switch (flags & SC_FD_ARG_MASK) {
	case 1: fd = (int)BPF_CORE_READ(regs, di); break;
	case 2: fd = (int)BPF_CORE_READ(regs, si); break;
	case 3: fd = (int)BPF_CORE_READ(regs, dx); break;
	default: return 0;
	}
	sock = fd_to_socket(task, fd);	/* read, not typed: by its inode */
	id = sock ? sock_ino(sock) : 0;
	c = id ? conn_lookup(id) : NULL;
	if (!c || !(c->flags & CONN_BEFORE_ATTACH))
		return 0;
	__sync_fetch_and_add(&c->threads, 1);
	if (bpf_core_field_exists(task->stack_vm_area) && task->stack_vm_area)
		__sync_fetch_and_add(&c->thread_stack_bytes,
				     (__u64)task->stack_vm_area->nr_pages * page_size);
	s.sp = BPF_CORE_READ(regs, sp);
	if (!bpf_find_vma(task, s.sp, stack_vma_found, &s, 0) && s.start) {
		__s32 vmas = 1 + guard_below(task, &s);

		c->vmas += vmas;
		c->vmas_peak += vmas;
		/* the PTE pages under [sp, end): a stack is touched from its top */
		lo = s.sp & ~(PMD_REGION - 1);
		hi = (s.end + PMD_REGION - 1) & ~(PMD_REGION - 1);
		c->page_table_bytes += (__s64)((hi - lo) / PMD_REGION) * page_size;
		c->page_table_bytes_peak = c->page_table_bytes;
	}
	/* what the thread does from now on is this connection's */
	ts = thread_state(task);
	if (ts && !ts->cur_conn)
		ts->cur_conn = id;
	return 0;
}

/*
 * Coroutine stacks. A stackful coroutine server keeps a connection's state
 * on that connection's own stack and registers its socket with epoll
 * pointing there (coro_echo: `.data.ptr = &c`). An epoll item whose user
 * data points into an anonymous mapping no larger than STACK_MAX with an
 * inaccessible guard just below is taken for a stack; if no other
 * connection's item points into the same mapping (the pieces of malloc's
 * arenas can sit above another's PROT_NONE tail, but hold many
 * connections' state), it is that connection's, held as the launched run
 * charged it at the stack's mmap: its mapping and guard, two VMAs, and its
 * share of the PTE pages that map the region it is in (neighbouring stacks
 * share those). Two walks over the same files: the first counts the
 * connections naming each mapping, the second charges those named once.
 */
#define STACK_MAX	(8ull << 20)	/* glibc's default thread stack */

static long anon_rw_found(struct task_struct *task, struct vm_area_struct *vma, void *ctx)
{
	struct stack_vma *s = ctx;

	/* anonymous, private, readable and writable: not a file, not shared */
	if (!vma->vm_file && (vma->vm_flags & (VM_READ | VM_WRITE)) == (VM_READ | VM_WRITE) &&
	    !(vma->vm_flags & VM_SHARED)) {
		s->start = vma->vm_start;
		s->end = vma->vm_end;
	}
	return 0;
}

SEC("iter/task_file")
int held_stacks(struct bpf_iter__task_file *ctx)
{
	struct task_struct *task = ctx->task;
	struct file *file = ctx->file;
	struct stack_vma s = {};
	struct hlist_node *n;
	struct socket *sock;
	struct conn *c;
	__u32 one = 1, *users;
	__u64 id, data;

	if (!task || !file || !tgid_is_target(task->tgid) || !bpf_core_field_exists(file->f_ep))
		return 0;
	sock = bpf_sock_from_file(file);
	id = sock ? socket_file_ino(sock) : 0;
	c = id ? conn_lookup(id) : NULL;
	if (!c || !(c->flags & CONN_BEFORE_ATTACH))
		return 0;
	n = BPF_CORE_READ(file, f_ep, first);
	for (int i = 0; i < EPOLL_LINKS_MAX && n; i++, n = BPF_CORE_READ(n, next)) {
		struct epitem *epi = (void *)n - bpf_core_field_offset(struct epitem, fllink);

		data = BPF_CORE_READ(epi, event.data);
		s.start = 0;
		if (!data || bpf_find_vma(task, data, anon_rw_found, &s, 0) || !s.start ||
		    s.end - s.start > STACK_MAX || !guard_below(task, &s))
			continue;
		users = bpf_map_lookup_elem(&held_stack_users, &s.start);
		if (!held_stacks_pass) {
			if (users)
				__sync_fetch_and_add(users, 1);
			else
				bpf_map_update_elem(&held_stack_users, &s.start, &one, BPF_NOEXIST);
			return 0;	/* one mapping a connection: its first item's */
		}
		if (!users || *users != 1)
			return 0;
		bpf_map_delete_elem(&held_stack_users, &s.start);
		c->vmas += 2;	/* the stack and its guard */
		c->vmas_peak = c->vmas;
		/* its share of the PTE pages of the regions it lies in (its
		 * guard a page, as glibc's and coro.c's are) */
		c->page_table_bytes += (__s64)((s.end - s.start + page_size) * page_size /
					       PMD_REGION);
		c->page_table_bytes_peak = c->page_table_bytes;
		return 0;
	}
	return 0;
}

/* io_uring's hash tables of armed requests (poll-armed: a multishot recv
 * waiting for data); 6.1 keeps those armed under the ring's lock apart */
struct io_ring_ctx___locked {
	struct io_hash_table cancel_table_locked;
} __attribute__((preserve_access_index));

#define URING_CHAIN_MAX	64	/* requests per hash bucket, walked */

struct armed_walk {
	struct io_hash_table *table;
	__u32 nbuckets;
};

/* One bucket: each request armed on a connection's socket is held for it. */
static long count_armed(__u32 i, void *ctx)
{
	struct armed_walk *w = ctx;
	struct io_hash_table *table = w->table;	/* our struct: no CO-RE through it */
	struct io_hash_bucket *hbs = BPF_CORE_READ(table, hbs);
	struct hlist_node *n;
	void *bucket;

	if (i >= w->nbuckets || !hbs)
		return 1;
	bucket = (void *)hbs + (__u64)i * bpf_core_type_size(struct io_hash_bucket);
	n = BPF_CORE_READ((struct io_hash_bucket *)bucket, list.first);
	for (int k = 0; k < URING_CHAIN_MAX && n; k++) {
		struct io_kiocb *req = (void *)n - bpf_core_field_offset(struct io_kiocb, hash_node);
		struct file *file = BPF_CORE_READ(req, file);
		struct socket *sock = NULL;
		struct conn *c;
		__u64 id;

		if (file && (BPF_CORE_READ(file, f_inode, i_mode) & S_IFMT) == S_IFSOCK)
			sock = BPF_CORE_READ(file, private_data);
		id = sock ? sock_ino(sock) : 0;
		c = id ? conn_lookup(id) : NULL;
		if (c && (c->flags & CONN_BEFORE_ATTACH)) {
			/* as if submitted now: its final completion disarms it */
			__sync_fetch_and_add(&c->uring_armed, 1);
			c->uring_armed_peak = c->uring_armed;
		}
		n = BPF_CORE_READ(n, next);
	}
	return 0;
}

static __always_inline void walk_armed(struct io_hash_table *table)
{
	struct armed_walk w = { .table = table };
	__u32 bits = BPF_CORE_READ(table, hash_bits);

	if (bits > 16)
		return;
	w.nbuckets = 1u << bits;
	bpf_loop(w.nbuckets, count_armed, &w, 0);
}

/*
 * The target's io_uring instances (after held_sockets made the records):
 * the requests armed on a connection before attaching hold an io_kiocb
 * each, as those submitted since do. A ring's file is "[io_uring]".
 */
SEC("iter/task_file")
int held_uring(struct bpf_iter__task_file *ctx)
{
	struct task_struct *task = ctx->task;
	struct file *file = ctx->file;
	struct io_ring_ctx *ring;
	static const char want[] = "[io_uring]";
	char name[sizeof(want)] = {};

	if (!task || !file || !tgid_is_target(task->tgid))
		return 0;
	bpf_probe_read_kernel_str(name, sizeof(name), BPF_CORE_READ(file, f_path.dentry, d_name.name));
	for (int i = 0; i < sizeof(want); i++)
		if (name[i] != want[i])
			return 0;
	ring = BPF_CORE_READ(file, private_data);
	if (!ring)
		return 0;
	walk_armed(&ring->cancel_table);
	if (bpf_core_field_exists(((struct io_ring_ctx___locked *)ring)->cancel_table_locked))
		walk_armed(&((struct io_ring_ctx___locked *)ring)->cancel_table_locked);
	return 0;
}

#endif /* CONCTRACE_PROGS_HELD_BPF_H */
