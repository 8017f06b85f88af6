/* SPDX-License-Identifier: MIT */
/*
 * The run at one instant: what -i, --top and --prometheus show, and what
 * the memory timeline samples, gathered by one function and read by all.
 * "Open" has one meaning here: conn_is_open() (model/conn_view.h).
 */
#ifndef CONCTRACE_LIVE_SNAPSHOT_H
#define CONCTRACE_LIVE_SNAPSHOT_H

#include <stddef.h>
#include <stdio.h>
#include <sys/types.h>
#include <linux/types.h>

#include "conctrace.h"
#include "model/closure.h"
#include "model/conn_view.h"
#include "model/memory.h"
#include "model/timeline.h"
#include "tracer/tracer.h"

struct agg;

/* What the live outputs read of a run: its own state, in place. */
struct run_source {
	struct tracer *tracer;
	struct agg *agg;		/* closed connections */
	const __u64 *closed;		/* final records received */
	const struct slab_sizes *slabs;
	const char *target;
	pid_t pid;
	const pid_t *pids;		/* the processes named: the launched one, or -p's */
	unsigned int npids;		/* (pids[0] == pid); those they fork join them */
	bool attached;			/* pids ran before tracing: their VmHWM may predate it */
	double t0;			/* CLOCK_MONOTONIC seconds */
	unsigned top_conns;		/* per-connection series wanted (exporter) */
};

/* > 0 when a goes before b */
typedef int (*conn_order_fn)(const struct conn_view *a, const struct conn_view *b);

struct live_snapshot {
	/* in: the open connections wanted in full, best first by `order` */
	conn_order_fn order;
	struct conn_view *top;		/* room for `want` */
	size_t want;
	struct syscall_total *by_nr;	/* [SYSCALL_MAX], or NULL: totals not read */
	struct proc_reading *procs;	/* room for procs_cap, or NULL: the sum only */
	size_t procs_cap;

	/* out */
	double t;			/* CLOCK_MONOTONIC seconds */
	struct proc_counters proc;
	long long rss;			/* every traced process's VmRSS, summed; -1 once all are gone */
	unsigned int nprocs;		/* traced processes alive: the sum's terms (procs[] if given) */
	__u64 closed;			/* final records received */
	__u64 syscalls;			/* process total (with by_nr) */
	__u64 open;			/* connections open now */
	__u64 kernel_bytes;		/* what they hold now (conn_view.kernel_bytes_now) */
	__u64 user_bytes;		/* their RSS growth so far (conn_metric's peak) */
	__u64 ctx_switches;		/* their context switches so far */
	__u64 buffers;			/* of which queued and reserved buffers */
	__u64 objects[CC_COUNT];	/* their objects in the closure's caches */
	__u64 rx, tx;			/* every connection's bytes so far */
	size_t ntop;
};

/*
 * Take s at time t (CLOCK_MONOTONIC s). The process's counters come first
 * and the connections last, so a caller comparing them with the kernel's
 * own counters (the closure) reads those right after. prev, the caller's
 * last snapshot or NULL, keeps rx and tx from going back while a record
 * is between the map and the ring buffer.
 */
void live_snapshot_take(struct live_snapshot *s, const struct run_source *src,
			const struct live_snapshot *prev, double t);

/* Per second between two snapshots of the same caller. */
struct live_rates {
	double opened, closed, syscalls, switches, cpu_pct, rx, tx;
};
void live_rates(const struct live_snapshot *now, const struct live_snapshot *prev,
		struct live_rates *r);

/* The one-line form, for -i and for --top without a terminal. */
void live_print_line(FILE *f, const struct live_snapshot *s, const struct live_rates *r,
		     double t0);

#endif /* CONCTRACE_LIVE_SNAPSHOT_H */
