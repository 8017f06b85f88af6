/* SPDX-License-Identifier: MIT */
/*
 * One walk over the connections open now: how many, their kernel memory,
 * their bytes, and the first few by some order (for --prometheus and --top).
 */
#ifndef CONCTRACE_OPEN_CONNS_H
#define CONCTRACE_OPEN_CONNS_H

#include <stddef.h>
#include <sys/types.h>
#include <linux/types.h>

#include "conctrace.h"
#include "model/memory.h"
#include "tracer/tracer.h"

struct agg;

/* What the exporter and the live view read of a run: its own state, in place. */
struct run_source {
	struct tracer *tracer;
	struct agg *agg;		/* closed connections */
	const __u64 *closed;		/* final records received */
	const struct slab_sizes *slabs;
	const char *target;
	pid_t pid;
	double t0;			/* CLOCK_MONOTONIC seconds */
	unsigned top;			/* per-connection series wanted (exporter) */
};

/* > 0 when a goes before b */
typedef int (*conn_order_fn)(const struct conn *a, const struct conn *b);

struct open_conns {
	/* in */
	const struct slab_sizes *slabs;
	conn_order_fn order;
	struct conn *top;		/* room for `want`, filled best first */
	size_t want;
	/* out */
	size_t ntop;
	__u64 conns, kernel_bytes, bytes_rx, bytes_tx;
};

/* Walk the map; connections already closed (final record on its way) are
 * left out. Each kept record has its syscalls summed (conn_sum_syscalls). */
void open_conns_walk(struct tracer *t, struct open_conns *o);

#endif /* CONCTRACE_OPEN_CONNS_H */
