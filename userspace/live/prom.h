/* SPDX-License-Identifier: MIT */
/*
 * Prometheus text exposition format (version 0.0.4): a growing text buffer,
 * escaping, counters, gauges and histograms, and the page of conctrace's
 * metrics built from a snapshot of plain numbers. Pure: no BPF, no
 * sockets, unit-tested alone (exporter.c gathers the snapshot).
 */
#ifndef CONCTRACE_PROM_H
#define CONCTRACE_PROM_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <linux/types.h>

#include "conctrace.h"

#define PROM_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

struct prom_buf {
	char *data;
	size_t len, cap;
	bool oom;		/* an append failed: the page is incomplete */
};

void prom_buf_reset(struct prom_buf *b);
void prom_buf_free(struct prom_buf *b);
void prom_printf(struct prom_buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* A label value: backslash, double quote and newline escaped. */
void prom_escape_label(struct prom_buf *b, const char *s);

/* # HELP (backslash and newline escaped) and # TYPE lines of a family. */
void prom_family(struct prom_buf *b, const char *name, const char *type, const char *help);

/*
 * One sample line. labels: NULL, or name/value pairs ending with NULL;
 * values are escaped. _u64 prints an integer exactly, _ns nanoseconds as
 * exact decimal seconds, _f64 a double (NaN and infinities as Prometheus
 * spells them).
 */
void prom_sample_u64(struct prom_buf *b, const char *name, const char *const *labels, __u64 v);
void prom_sample_i64(struct prom_buf *b, const char *name, const char *const *labels, __s64 v);
void prom_sample_ns(struct prom_buf *b, const char *name, const char *const *labels, __u64 ns);
void prom_sample_f64(struct prom_buf *b, const char *name, const char *const *labels, double v);

/* A histogram of integer observations (bytes, switches). */
#define PROM_MAX_BUCKETS 24
struct prom_hist {
	size_t nbounds;			/* finite upper bounds, ascending */
	__u64 bounds[PROM_MAX_BUCKETS];
	__u64 counts[PROM_MAX_BUCKETS + 1];	/* per bucket, the last is +Inf */
	__u64 sum, count;
};

void prom_hist_init(struct prom_hist *h, const __u64 *bounds, size_t n);
void prom_hist_observe(struct prom_hist *h, __u64 v);
/* name_bucket{le=...} cumulative, with +Inf, then name_sum and name_count. */
void prom_write_hist(struct prom_buf *b, const char *name, const char *help,
		     const struct prom_hist *h);

/* ---- conctrace's page ------------------------------------------------------ */

enum prom_hist_kind { PH_KERNEL_BYTES, PH_USER_BYTES, PH_CTX_SWITCHES, PH_COUNT };

struct prom_conn {		/* one of the top open connections */
	__u64 id;
	char family[8];
	char remote[160];
	__u64 cpu_ns, syscalls, ctx_voluntary, ctx_involuntary;
	__u64 bytes_rx, bytes_tx, kernel_bytes;
};

struct prom_syscall {
	const char *name;
	__u64 count, errors, ns;
};

struct prom_prog {
	char name[64];
	__u64 run_ns, run_cnt;
};

struct prom_snapshot {
	const char *target;		/* the command, or "pid N" */
	pid_t pid;
	double uptime_s;		/* since tracing started */
	struct proc_counters proc;
	__u64 conns_closed;		/* final records received */
	__u64 bytes_rx, bytes_tx;	/* closed + open connections */
	__u64 open_kernel_bytes;	/* what the open connections hold now */
	__u64 open_user_bytes;		/* their RSS growth so far, each its peak */
	__u64 open_ctx_switches;	/* their context switches so far */
	__s64 rss_bytes;		/* target's VmRSS; < 0 unknown */
	__u64 tracer_map_bytes;		/* conctrace's own BPF maps (fdinfo memlock) */
	const struct prom_hist *hist;	/* [PH_COUNT], closed connections */
	const struct prom_syscall *syscalls;
	size_t nsyscalls;
	bool syscall_time;		/* their ns measured (--syscall-time) */
	const struct prom_conn *top;	/* costliest open connections first */
	size_t ntop;
	const struct prom_prog *progs;	/* NULL: BPF stats unavailable */
	size_t nprogs;
	__u64 scrapes, http_refused;	/* the endpoint's own counters */
	__u64 gather_ns;		/* what reading the figures above took */
};

/* The bucket bounds conctrace uses for each histogram. */
void prom_hists_init(struct prom_hist h[PH_COUNT]);

/* The whole /metrics page into b (reset first). */
void prom_format(struct prom_buf *b, const struct prom_snapshot *s);

#endif /* CONCTRACE_PROM_H */
