// SPDX-License-Identifier: MIT
/* A connection's derived figures (see conn_view.h). */
#include "model/conn_view.h"

#include <string.h>

void conn_complete(struct conn_view *v, const struct conn *rec, const struct slab_sizes *s)
{
	v->rec = *rec;
	v->syscalls = rec->sc_other;
	for (int i = 0; i < CONN_SC_SLOTS; i++)
		v->syscalls += rec->sc[i].count;
	v->unix_path[0] = '\0';	/* the caller's to find (conn_view.h) */
	v->kernel_bytes_peak = conn_kernel_memory(rec, s, v->kmem_peak);
	v->kernel_bytes_now = conn_kernel_memory_now(rec, s, v->kmem_peak);
	v->kernel_bytes_held = conn_kernel_memory_held(rec, s, v->kmem_peak);
}

static void add_syscalls(struct conn *into, const struct conn_syscall *s)
{
	for (int i = 0; i < CONN_SC_SLOTS; i++)
		if (into->sc[i].nr == s->nr || !into->sc[i].nr) {
			into->sc[i].nr = s->nr;
			into->sc[i].count += s->count;
			return;
		}
	into->sc_other += s->count;
}

static void add_uring(struct conn *into, const struct conn_uring_op *op)
{
	for (int i = 0; i < CONN_URING_SLOTS; i++)
		if (into->uring[i].opcode == op->opcode || !into->uring[i].opcode) {
			into->uring[i].opcode = op->opcode;
			into->uring[i].count += op->count;
			return;
		}
}

#define MAX_INTO(f) do { if (l->f > c->f) c->f = l->f; } while (0)

/* The kernel figures of into after its page tables or VMAs grew: its
 * peak the larger of before and now, as conn_view_merge() keeps it. */
static void recount_kernel(struct conn_view *into, const struct slab_sizes *s)
{
	__u64 peak[KM_COUNT], bytes = conn_kernel_memory(&into->rec, s, peak), held;

	if (bytes > into->kernel_bytes_peak) {
		into->kernel_bytes_peak = bytes;
		memcpy(into->kmem_peak, peak, sizeof(into->kmem_peak));
	}
	into->kernel_bytes_now = conn_kernel_memory_now(&into->rec, s, into->kmem_peak);
	held = conn_kernel_memory_held(&into->rec, s, into->kmem_peak);
	if (held > into->kernel_bytes_held)
		into->kernel_bytes_held = held;
}

void conn_view_add_late(struct conn_view *into, const struct conn_late_event *late,
			const struct slab_sizes *s)
{
	struct conn *c = &into->rec;

	for (int i = 0; i < LATE_SC_SLOTS; i++)
		if (late->sc[i].nr) {
			add_syscalls(c, &late->sc[i]);
			into->syscalls += late->sc[i].count;
		}
	c->syscall_ns += late->syscall_ns;
	c->bytes_rx += late->bytes_rx;
	c->bytes_tx += late->bytes_tx;
	if (!late->whole)
		return;
	c->cpu_ns += late->cpu_ns;
	c->runq_ns += late->runq_ns;
	c->ctx_voluntary += late->ctx_voluntary;
	c->ctx_involuntary += late->ctx_involuntary;
	/* the peak as BPF's conn_add_memory() raises it: the net before plus
	 * the most the change was on the way */
	if (late->user_bytes || late->user_bytes_most) {
		__s64 most = late->user_bytes_most > late->user_bytes ? late->user_bytes_most
								      : late->user_bytes;

		if (c->user_bytes + most > c->user_bytes_peak)
			c->user_bytes_peak = c->user_bytes + most;
		c->user_bytes += late->user_bytes;
	}
	if (!late->page_table_bytes && !late->vmas)
		return;
	c->page_table_bytes += late->page_table_bytes;
	if (c->page_table_bytes > c->page_table_bytes_peak)
		c->page_table_bytes_peak = c->page_table_bytes;
	c->vmas += late->vmas;
	if (c->vmas > c->vmas_peak)
		c->vmas_peak = c->vmas;
	if (s)
		recount_kernel(into, s);
}

void conn_view_merge(struct conn_view *into, const struct conn_view *later)
{
	struct conn *c = &into->rec;
	const struct conn *l = &later->rec;

	for (int i = 0; i < CONN_SC_SLOTS; i++)
		if (l->sc[i].nr)
			add_syscalls(c, &l->sc[i]);
	c->sc_other += l->sc_other;
	c->syscall_ns += l->syscall_ns;
	c->ctx_voluntary += l->ctx_voluntary;
	c->ctx_involuntary += l->ctx_involuntary;
	c->cpu_ns += l->cpu_ns;
	c->runq_ns += l->runq_ns;
	c->bytes_rx += l->bytes_rx;
	c->bytes_tx += l->bytes_tx;
	c->uring_ops += l->uring_ops;
	for (int i = 0; i < CONN_URING_SLOTS; i++)
		if (l->uring[i].opcode)
			add_uring(c, &l->uring[i]);
	c->threads += l->threads;
	c->thread_stack_bytes += l->thread_stack_bytes;
	c->user_bytes += l->user_bytes;
	c->page_table_bytes += l->page_table_bytes;
	c->vmas += l->vmas;
	MAX_INTO(user_bytes_peak);
	MAX_INTO(page_table_bytes_peak);
	MAX_INTO(vmas_peak);
	MAX_INTO(epoll_items_peak);
	MAX_INTO(rx_queue_peak);
	MAX_INTO(tx_queue_peak);
	MAX_INTO(forward_alloc_peak);
	MAX_INTO(buffers_peak);
	MAX_INTO(uring_armed_peak);
	c->close_ns = l->close_ns;
	c->epoll_items = l->epoll_items;
	c->rx_queue = l->rx_queue;
	c->tx_queue = l->tx_queue;
	c->forward_alloc = l->forward_alloc;
	c->uring_armed = l->uring_armed;
	into->syscalls += later->syscalls;
	if (later->kernel_bytes_peak > into->kernel_bytes_peak) {
		into->kernel_bytes_peak = later->kernel_bytes_peak;
		memcpy(into->kmem_peak, later->kmem_peak, sizeof(into->kmem_peak));
	}
	into->kernel_bytes_now = later->kernel_bytes_now;
	if (later->kernel_bytes_held > into->kernel_bytes_held)
		into->kernel_bytes_held = later->kernel_bytes_held;
}

#undef MAX_INTO

const char *conn_origin(const struct conn *c)
{
	if (c->flags & CONN_BEFORE_ATTACH)
		return "before_attach";	/* its counts start at attach */
	if (c->flags & CONN_ACCEPTED)
		return "accept";
	if (c->flags & CONN_CONNECTED)
		return "connect";
	if (c->flags & CONN_URING)
		return "io_uring";
	return "seen";	/* first seen in use: a socket event or an fd syscall */
}
