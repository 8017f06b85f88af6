/* SPDX-License-Identifier: MIT */
/*
 * Kernel memory per connection: the objects a connection holds, sized by
 * the running kernel's slab caches, plus the socket buffers it filled.
 */
#ifndef CONCTRACE_MEMORY_H
#define CONCTRACE_MEMORY_H

#include <linux/types.h>

#include "conctrace.h"

enum kmem_category {
	KM_SOCK,		/* the sock: tcp_sock, tcp6_sock, unix_sock */
	KM_INODE,		/* socket inode (sock_inode_cache) */
	KM_FILE,		/* struct file (filp) */
	KM_DENTRY,		/* its dentry */
	KM_LSM,			/* security blobs of that inode and file */
	KM_EPOLL,		/* epoll items: epitem + poll-queue entry each */
	KM_THREAD,		/* thread-per-connection: task_struct, pid, stack */
	KM_IO_URING,		/* io_uring requests armed for it: an io_kiocb each */
	KM_PAGE_TABLES,		/* page tables its address-space growth took */
	KM_VMAS,		/* VMAs (vm_area_struct) mapped for it: thread stacks */
	KM_RX_QUEUE,		/* peak sk_rmem_alloc */
	KM_TX_QUEUE,		/* peak sk_wmem_queued */
	KM_FORWARD_ALLOC,	/* peak sk_forward_alloc */
	KM_COUNT,
};

extern const char *const kmem_category_names[KM_COUNT];

/* Slab slot sizes in bytes (0: cache absent, e.g. no LSM blobs). */
struct slab_sizes {
	unsigned int sock_inode, filp, dentry, lsm_inode, lsm_file;
	unsigned int epitem, eppoll_entry, task_struct, pid, io_kiocb, vm_area;
};

/* The caches by their kernel names, for reports. */
struct slab_size_entry {
	const char *cache;
	unsigned int bytes;
};
#define SLAB_SIZE_ENTRIES 11
void slab_sizes_list(const struct slab_sizes *s, struct slab_size_entry out[SLAB_SIZE_ENTRIES]);

/*
 * Peak kernel bytes of c by category into out[], and their total: the
 * fixed objects plus the largest buffer footprint seen at one sample.
 */
__u64 conn_kernel_memory(const struct conn *c, const struct slab_sizes *s,
			 __u64 out[KM_COUNT]);

/* What c's buffers held while open, averaged over time: from its open to
 * its teardown (the peer's FIN, a shutdown), its close, or the last sight
 * of it (an open connection: the report's snapshot). */
__u64 conn_buffers_held(const struct conn *c);

/* What c's io_uring requests (io_kiocb bytes each) held while open,
 * averaged over the same time as its buffers: a multishot receive held all
 * along counts whole, a send in flight for microseconds next to nothing. */
__u64 conn_uring_held(const struct conn *c, __u64 io_kiocb);

/*
 * Kernel bytes c holds while open: its objects (peak's breakdown, their
 * part of it, but its io_uring requests: conn_uring_held()) and
 * conn_buffers_held(); teardown is in neither this nor the peak. An idle
 * connection's figure is its objects: the same in every run.
 */
__u64 conn_kernel_memory_held(const struct conn *c, const struct slab_sizes *s,
			      const __u64 peak[KM_COUNT]);

/* Queued and reserved buffer bytes c holds at the last sample. */
__u64 conn_buffer_bytes_now(const struct conn *c);

/* Kernel bytes c holds now: its objects and its buffers at the last sample;
 * peak is conn_kernel_memory()'s breakdown of c, which it starts from. */
__u64 conn_kernel_memory_now(const struct conn *c, const struct slab_sizes *s,
			     const __u64 peak[KM_COUNT]);

#endif /* CONCTRACE_MEMORY_H */
