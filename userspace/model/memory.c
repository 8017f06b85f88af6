// SPDX-License-Identifier: MIT
/* Kernel memory per connection (see memory.h). */
#include "model/memory.h"

#include <string.h>

const char *const kmem_category_names[KM_COUNT] = {
	[KM_SOCK] = "sock",
	[KM_INODE] = "inode",
	[KM_FILE] = "file",
	[KM_DENTRY] = "dentry",
	[KM_LSM] = "lsm",
	[KM_EPOLL] = "epoll",
	[KM_THREAD] = "thread",
	[KM_IO_URING] = "io_uring",
	[KM_PAGE_TABLES] = "page_tables",
	[KM_VMAS] = "vmas",
	[KM_RX_QUEUE] = "rx_queue",
	[KM_TX_QUEUE] = "tx_queue",
	[KM_FORWARD_ALLOC] = "forward_alloc",
};

void slab_sizes_list(const struct slab_sizes *s, struct slab_size_entry out[SLAB_SIZE_ENTRIES])
{
	const struct slab_size_entry list[SLAB_SIZE_ENTRIES] = {
		{ "sock_inode_cache", s->sock_inode }, { "filp", s->filp },
		{ "dentry", s->dentry }, { "lsm_inode_cache", s->lsm_inode },
		{ "lsm_file_cache", s->lsm_file }, { "eventpoll_epi", s->epitem },
		{ "eventpoll_pwq", s->eppoll_entry }, { "task_struct", s->task_struct },
		{ "pid", s->pid }, { "io_kiocb", s->io_kiocb },
		{ "vm_area_struct", s->vm_area },
	};

	memcpy(out, list, sizeof(list));
}

__u64 conn_kernel_memory(const struct conn *c, const struct slab_sizes *s,
			 __u64 out[KM_COUNT])
{
	__u64 total = 0;

	memset(out, 0, sizeof(__u64) * KM_COUNT);
	out[KM_SOCK] = c->sock_bytes;
	out[KM_INODE] = s->sock_inode;
	out[KM_FILE] = s->filp;
	out[KM_DENTRY] = s->dentry;
	out[KM_LSM] = s->lsm_inode + s->lsm_file;
	out[KM_EPOLL] = (__u64)c->epoll_items_peak * (s->epitem + s->eppoll_entry);
	out[KM_THREAD] = (__u64)c->threads * (s->task_struct + s->pid) + c->thread_stack_bytes;
	out[KM_IO_URING] = (__u64)c->uring_armed_peak * s->io_kiocb;
	out[KM_PAGE_TABLES] = c->page_table_bytes_peak > 0 ? (__u64)c->page_table_bytes_peak : 0;
	out[KM_VMAS] = c->vmas_peak > 0 ? (__u64)c->vmas_peak * s->vm_area : 0;
	out[KM_RX_QUEUE] = c->rx_queue_peak;
	out[KM_TX_QUEUE] = c->tx_queue_peak;
	out[KM_FORWARD_ALLOC] = c->forward_alloc_peak > 0 ? (__u64)c->forward_alloc_peak : 0;
	for (int k = 0; k < KM_RX_QUEUE; k++)
		total += out[k];
	/* buffers peak together at one sample, not each at its own peak */
	return total + c->buffers_peak;
}

__u64 conn_kernel_memory_held(const struct conn *c, const struct slab_sizes *s,
			      const __u64 peak[KM_COUNT])
{
	__u64 total = 0;

	for (int k = 0; k < KM_RX_QUEUE; k++)
		total += k == KM_IO_URING ? conn_uring_held(c, s->io_kiocb) : peak[k];
	return total + conn_buffers_held(c);
}

/* Where a time-weighted figure of c ends: its teardown, its close, or the
 * last sight of it (an open connection: the report's snapshot); 0 if none
 * is known. */
static __u64 held_until(const struct conn *c, __u64 since)
{
	__u64 end = c->buffers_end ? c->buffers_end : c->close_ns;

	if (!end)
		end = c->buffers_since > since ? c->buffers_since : since;
	return end;
}

__u64 conn_uring_held(const struct conn *c, __u64 io_kiocb)
{
	__u64 since = c->uring_since ? c->uring_since : c->open_ns;
	__u64 end = held_until(c, since), integral = c->uring_integral, span;

	/* BPF's units: requests x (ns >> 10) */
	if (end > since)
		integral += (__u64)c->uring_armed * ((end - since) >> 10);
	span = end > c->open_ns ? (end - c->open_ns) >> 10 : 0;
	if (!span)	/* no time seen: what it holds now */
		return (__u64)c->uring_armed * io_kiocb;
	return (integral * io_kiocb + span / 2) / span;
}

__u64 conn_buffers_held(const struct conn *c)
{
	__u64 end, integral = c->buffers_integral, span;

	if (!c->buffers_since)
		return 0;	/* never seen: nothing known held */
	end = held_until(c, c->buffers_since);
	/* BPF's units: bytes x (ns >> 10) */
	if (end > c->buffers_since)
		integral += (__u64)c->buffers_last * ((end - c->buffers_since) >> 10);
	span = end > c->open_ns ? (end - c->open_ns) >> 10 : 0;
	return span ? (integral + span / 2) / span : 0;
}

__u64 conn_buffer_bytes_now(const struct conn *c)
{
	return c->rx_queue + c->tx_queue + (c->forward_alloc > 0 ? (__u64)c->forward_alloc : 0);
}

__u64 conn_kernel_memory_now(const struct conn *c, const struct slab_sizes *s,
			     const __u64 peak[KM_COUNT])
{
	__u64 km[KM_COUNT], fixed = 0;

	memcpy(km, peak, sizeof(km));
	/* what comes and goes, as it stands rather than at its peak */
	km[KM_EPOLL] = (__u64)c->epoll_items * (s->epitem + s->eppoll_entry);
	km[KM_IO_URING] = (__u64)c->uring_armed * s->io_kiocb;
	km[KM_PAGE_TABLES] = c->page_table_bytes > 0 ? (__u64)c->page_table_bytes : 0;
	km[KM_VMAS] = c->vmas > 0 ? (__u64)c->vmas * s->vm_area : 0;
	for (int k = 0; k < KM_RX_QUEUE; k++)
		fixed += km[k];
	return fixed + conn_buffer_bytes_now(c);
}
