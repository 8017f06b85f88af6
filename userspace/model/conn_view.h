/* SPDX-License-Identifier: MIT */
/*
 * A connection as userspace reads it: the record BPF wrote (bpf/conctrace.h,
 * which holds only what BPF writes) and the figures userspace derives from
 * it, computed in one place, conn_complete(), for every reader: the final
 * report, the live view, the exporter and the timeline.
 *
 * Layer: model/ (pure; see aggregate.h).
 */
#ifndef CONCTRACE_CONN_VIEW_H
#define CONCTRACE_CONN_VIEW_H

#include <stdbool.h>
#include <linux/types.h>

#include "conctrace.h"
#include "model/memory.h"

struct conn_view {
	struct conn rec;		/* as BPF wrote it */
	__u64 syscalls;			/* rec.sc[] and rec.sc_other summed: BPF keeps */
					/* only the slots, sparing an add per call */
	__u64 kernel_bytes_peak;	/* conn_kernel_memory(): objects + buffers at peak */
	__u64 kernel_bytes_now;		/* conn_kernel_memory_now(): what it holds now */
	__u64 kernel_bytes_held;	/* conn_kernel_memory_held(): while open */
	__u64 kmem_peak[KM_COUNT];	/* kernel_bytes_peak by category */
	/* AF_UNIX: this end's path, "" if none or unknown. The record has
	 * only its key (rec.unix_addr); the tracer, which reads BPF's maps,
	 * fills it in where a report shows it (tracer_unix_path) */
	char unix_path[CONN_UNIX_PATH + 1];
};

/* Fill v from a record, with the running kernel's slab sizes. */
void conn_complete(struct conn_view *v, const struct conn *rec, const struct slab_sizes *s);

/*
 * A second record of one connection (a BPF record sent twice, or made
 * anew after its connection's went) merged into its first: counts and
 * times add, peaks take the larger, the later record's state and gauges
 * stand (open, buffers now, the close time).
 */
void conn_view_merge(struct conn_view *into, const struct conn_view *later);

/* What a thread's events named a connection for after its record was
 * made final (EV_CONN_LATE), added to the record: bytes and syscalls; if
 * `whole` (a thread that took the connection up after its record went),
 * CPU, switches and memory too, the kernel figures completed again with
 * the slab sizes s (NULL: left as they were). */
void conn_view_add_late(struct conn_view *into, const struct conn_late_event *late,
			const struct slab_sizes *s);

/*
 * Open: the connection's record is in BPF's map and BPF has not closed it.
 * BPF's live_conns counts exactly these, internal pairs aside (it moves
 * where close_ns is set), so a count of open connections and a walk over
 * them agree.
 */
static inline bool conn_is_open(const struct conn *c)
{
	return !c->close_ns;
}

/* An internal pair (CONN_PAIR: socketpair()'s, neither end with an
 * address): the process's own channel, not a connection it served. Its
 * cost is summed apart from the connections'. */
static inline bool conn_is_pair(const struct conn *c)
{
	return c->flags & CONN_PAIR;
}

/* How the connection was first seen (conn.flags), for reports. */
const char *conn_origin(const struct conn *c);

#endif /* CONCTRACE_CONN_VIEW_H */
