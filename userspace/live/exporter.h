/* SPDX-License-Identifier: MIT */
/*
 * --prometheus: the metrics endpoint of a run. Binds before the target
 * starts (a bad address must not launch it), then answers from the tracing
 * loop with bounded, non-blocking work (http_server.h).
 *
 * The page is built from the live counters when asked for, at most once per
 * EXPORTER_REFRESH_S, and never more often than keeps its cost under a
 * tenth of the loop's time (a walk over 10k open connections takes ~45 ms);
 * more scrapes get the same page, so a flood of them costs a copy.
 *
 * Histograms observe each connection once, when a page is built at least
 * EXPORTER_SETTLE_S after the first page built since its record came (or
 * sooner, when AGG_RECENT later records have passed it): what a thread
 * still owed it after its record arrives is in by then (EV_CONN_LATE: a
 * process that takes a connection up after another ended its record
 * brings its CPU, switches and memory). Prometheus's counters never go
 * back, so nothing added later changes an observation: the JSON report
 * has it.
 */
#ifndef CONCTRACE_EXPORTER_H
#define CONCTRACE_EXPORTER_H

#include <stdbool.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <linux/types.h>

#include "live/http_server.h"
#include "live/snapshot.h"
#include "live/prom.h"
#include "model/aggregate.h"
#include "model/memory.h"
#include "model/syscalls.h"
#include "tracer/tracer.h"

#define EXPORTER_REFRESH_S	1.0	/* a page is reused at least this long */
#define EXPORTER_MAX_SHARE	10	/* ... and ten times as long as it took */
#define EXPORTER_TOP_MAX	50	/* per-connection series at most (--top-conns) */
#define EXPORTER_SETTLE_S	2.0	/* a connection's late counts, before it is observed */

struct exporter {
	bool on;
	struct http_server http;
	struct run_source src;
	struct prom_buf page;
	double built_at, refresh_s;
	struct prom_hist hist[PH_COUNT];
	struct live_snapshot last;	/* the last page's: counters never go back */
	/* the page's parts, kept here rather than in statics */
	struct conn_view open_top[EXPORTER_TOP_MAX];
	struct syscall_total totals[SYSCALL_MAX];
	struct prom_syscall syscalls[SYSCALL_MAX];
	char labels[SYSCALL_MAX][SYSCALL_LABEL_LEN];	/* what syscalls[].name points to */
	int stats_fd;			/* bpf_enable_stats(): run time while open */
};

/* Bind and listen; prints where. Returns 0 or -1 (message printed). */
int exporter_start(struct exporter *e, const struct sockaddr_storage *addr, socklen_t len);
/* Tracing runs: start answering; with bpf_stats, turn on the kernel's BPF
 * run-time stats (two clock reads per program run) for conctrace_bpf_*. */
void exporter_attach(struct exporter *e, const struct run_source *src, bool bpf_stats);
/* The aggregation's observer (struct agg): set it, with observe_after_s
 * EXPORTER_SETTLE_S, when the exporter runs. */
void exporter_observe(void *ctx, const struct conn_view *c, const __u64 metric[M_COUNT]);

/* Serve what is ready, without waiting. Call from the tracing loop. */
void exporter_poll(struct exporter *e);
void exporter_stop(struct exporter *e);

#endif /* CONCTRACE_EXPORTER_H */
