/* SPDX-License-Identifier: MIT */
/*
 * Aggregation of connection records: distributions, peak concurrency, the
 * costliest connections in full. Pure logic, no BPF: unit-tested alone.
 *
 * Memory does not grow with connections: each metric is a log-bucketed
 * histogram (exact below 128, within 0.8% above; means, minimums and
 * maximums exact), and full records are kept only for the top `keep` by
 * cost, so a run of 200,000 or 100 million connections costs the same.
 *
 * Layer: model/ may include no other layer (common/ and conctrace.h only).
 * It computes figures from records, with no I/O and no BPF, so each of its
 * files is unit-tested alone and every other layer may use it.
 */
#ifndef CONCTRACE_AGGREGATE_H
#define CONCTRACE_AGGREGATE_H

#include <stddef.h>
#include <linux/types.h>

#include "common/histogram.h"
#include "conctrace.h"
#include "model/conn_view.h"
#include "model/memory.h"

enum metric {
	M_SYSCALLS,
	M_CTX_SWITCHES,		/* voluntary + involuntary */
	M_CPU_NS,
	M_BYTES_RX,
	M_BYTES_TX,
	M_KERNEL_BYTES,		/* peak (conn_view.kernel_bytes_peak) */
	M_USER_BYTES,		/* peak of the RSS it grew (net of what it freed) */
	M_KERNEL_HELD,		/* held while open (conn_view.kernel_bytes_held) */
	M_COUNT,
};

extern const char *const metric_names[M_COUNT];

struct dist {
	double mean;
	__u64 p50, p99, max;
};

/* Told of every connection added, once, with its metrics (e.g. the
 * exporter's histograms): at once, or, with observe_after_s, once its late
 * counts have had that long to come (agg_settle). */
typedef void (*agg_observer)(void *ctx, const struct conn_view *c, const __u64 metric[M_COUNT]);

struct agg {
	size_t n;
	struct hist dist[M_COUNT];	/* one histogram per metric */
	__u64 open_at_end;
	agg_observer observer;
	void *observer_ctx;
	/* > 0: a connection's observer waits in its recent slot for the late
	 * counts its record may still get (a process that takes it up after
	 * another ended its record: its CPU, switches, memory), until
	 * agg_settle() has seen it this long, or a newer record takes its
	 * slot. What comes after is in the report, not in what was told */
	double observe_after_s;
	/* per recent slot: 0 nothing untold; its record's untold: < 0 not
	 * yet seen by agg_settle(), else since when */
	double *untold_since;
	size_t untold;			/* slots with a record untold */

	struct conn_view *top;		/* min-heap by cost, at most `keep` */
	size_t ntop, keep;

	__u64 syscalls_by_nr[SYSCALL_MAX];	/* summed over connections */
	__u64 syscalls_other;		/* beyond a connection's slots */
	__u64 uring_by_op[256];
	__u64 kmem_by_cat[KM_COUNT];	/* summed over connections */

	/* connections by family: AF_INET, AF_INET6, AF_UNIX (AGG_FAMILY_*) */
	__u64 by_family[3];
	/* internal pairs (conn_is_pair): counted and summed apart, in no
	 * distribution, top N nor observer; what they cost is the process's
	 * all the same, so sums to the process include these */
	struct agg_pairs {
		__u64 n, open_at_end;
		__u64 sum[M_COUNT];	/* each metric summed (peaks: their sum) */
	} pairs;

	/* the last records by id (a slot per id's hash, the newest stays): a
	 * second record of a connection is merged into its first, not counted
	 * as a second connection. BPF sends one (lib/conns.bpf.h); this is
	 * the check that it did, and the count says if it did not. */
	struct conn_view *recent;
	__u64 merged;			/* second records merged into their first */
	/* counts a thread still owed a connection after its record went
	 * (EV_CONN_LATE), added to it; those waiting for their record (sent
	 * before it: BPF orders neither); and those whose record was not
	 * among the recent ones, in no connection's figures */
	__u64 late, late_unmatched;
	struct conn_late_event *waiting;
	size_t nwaiting;
	/* the kernel's slab sizes, for a late count that moves a record's
	 * kernel memory (page tables, VMAs); NULL: those figures stay */
	const struct slab_sizes *slabs;
};

#define AGG_RECENT	4096		/* records remembered: 2.6 MB, allocated once */
#define AGG_LATE_WAITING 256		/* late counts waiting for their record */

/* by_family's index of a connection's family, -1 for none of them */
int agg_family_index(__u16 family);
extern const __u16 agg_families[3];

void agg_init(struct agg *a, size_t keep);
void agg_free(struct agg *a);

/* Add one connection (closed, or still open), completed by conn_complete():
 * a second record of a recent one is merged into its first (a->merged).
 * Returns 0: nothing is allocated per connection (the top-N heap and the
 * recent records, once). */
int agg_add(struct agg *a, const struct conn_view *c);

/* What a thread still owed a connection after its record was made final
 * (EV_CONN_LATE): added to that record, its distributions, sums and kept
 * entry with it (a->late); if its record has not come yet, when it comes
 * (agg_add); a->late_unmatched if no recent record is its. */
void agg_add_late(struct agg *a, const struct conn_late_event *late);

/* Tell the observer of the connections agg_settle() first saw at least
 * observe_after_s before now (seconds, any clock; INFINITY: all). */
void agg_settle(struct agg *a, double now);

/* Late counts in no connection's figures: unmatched, or still waiting. */
__u64 agg_late_unmatched(const struct agg *a);

__u64 conn_metric(const struct conn_view *c, enum metric m);
/* What orders connections in "top N": CPU time, then syscalls. */
int conn_cost_cmp(const struct conn_view *a, const struct conn_view *b);

/* Distribution of one metric over all connections: mean and max exact,
 * nearest-rank percentiles within histogram.h's bound (exact below 128). */
void agg_dist(const struct agg *a, enum metric m, struct dist *out);

/* The kept connections, costliest first (sorts the heap in place). */
const struct conn_view *agg_top(struct agg *a, size_t *n);

#endif /* CONCTRACE_AGGREGATE_H */
