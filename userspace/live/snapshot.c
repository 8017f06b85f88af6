// SPDX-License-Identifier: MIT
/* The run at one instant (see snapshot.h). */
#include "live/snapshot.h"

#include <string.h>

#include "host/procfs.h"
#include "model/aggregate.h"
#include "report/format.h"

struct walk {
	struct live_snapshot *s;
	const struct slab_sizes *slabs;
};

/* Keep the `want` best by order: insertion, `want` is a screenful at most. */
static void keep_top(struct live_snapshot *s, const struct conn_view *v)
{
	size_t i;

	if (!s->want || (s->ntop == s->want && s->order(v, &s->top[s->ntop - 1]) <= 0))
		return;
	if (s->ntop < s->want)
		s->ntop++;
	for (i = s->ntop - 1; i > 0 && s->order(v, &s->top[i - 1]) > 0; i--)
		s->top[i] = s->top[i - 1];
	s->top[i] = *v;
}

static void visit(void *ctx, const struct conn *rec)
{
	struct walk *w = ctx;
	struct live_snapshot *s = w->s;
	struct conn_view v;
	__u64 objects[CC_COUNT];

	if (!conn_is_open(rec))
		return;	/* closing: its final record is on its way */
	conn_complete(&v, rec, w->slabs);
	if (!conn_is_pair(rec))
		s->open++;	/* BPF's count: connections; a pair's cost is the process's */
	s->kernel_bytes += v.kernel_bytes_now;
	s->user_bytes += conn_metric(&v, M_USER_BYTES);
	s->ctx_switches += conn_metric(&v, M_CTX_SWITCHES);
	s->buffers += conn_buffer_bytes_now(rec);
	conn_closure_objects(rec, objects);
	for (int i = 0; i < CC_COUNT; i++)
		s->objects[i] += objects[i];
	s->rx += rec->bytes_rx;
	s->tx += rec->bytes_tx;
	if (!conn_is_pair(rec))
		keep_top(s, &v);
}

/* Most processes a sample reads: the BPF targets map's size (every process
 * the targets forked) beside the named ones. */
#define TREE_MAX 4096

static void read_proc(struct live_snapshot *s, pid_t pid, bool hwm_in_trace)
{
	long long rss, hwm;

	if (!proc_rss_hwm(pid, &rss, &hwm))
		return;	/* gone, or a zombie: its memory is freed */
	s->rss = (s->rss < 0 ? 0 : s->rss) + rss;
	if (s->procs && s->nprocs < s->procs_cap)
		s->procs[s->nprocs] = (struct proc_reading){
			.pid = pid, .rss = (__u64)rss, .hwm = (__u64)hwm,
			.hwm_in_trace = hwm_in_trace,
		};
	s->nprocs++;
}

/* The traced tree's resident memory now: the named processes and every
 * one they forked since tracing began (a wrapper's command, a pre-forking
 * master's workers), each alive one's VmRSS summed. */
static void read_tree(struct live_snapshot *s, const struct run_source *src)
{
	pid_t extra[TREE_MAX];	/* 16 KiB: the exporter's thread reads it too */
	const pid_t *named = src->npids ? src->pids : &src->pid;
	unsigned int nnamed = src->npids ? src->npids : 1;
	unsigned int n = tracer_extra_targets(src->tracer, extra, TREE_MAX);

	s->rss = -1;
	s->nprocs = 0;
	for (unsigned int i = 0; i < nnamed; i++)
		read_proc(s, named[i], !src->attached);
	for (unsigned int i = 0; i < n && i < TREE_MAX; i++) {
		bool is_named = false;

		for (unsigned int k = 0; k < nnamed && !is_named; k++)
			is_named = extra[i] == named[k];
		if (!is_named)	/* -p's others are in the map too */
			read_proc(s, extra[i], true);
	}
}

void live_snapshot_take(struct live_snapshot *s, const struct run_source *src,
			const struct live_snapshot *prev, double t)
{
	struct walk w = { .s = s, .slabs = src->slabs };

	s->t = t;
	s->ntop = 0;
	s->open = s->kernel_bytes = s->buffers = s->syscalls = 0;
	s->user_bytes = s->ctx_switches = 0;
	memset(s->objects, 0, sizeof(s->objects));
	read_tree(s, src);
	tracer_read_proc(src->tracer, &s->proc);
	if (s->by_nr) {
		tracer_read_syscalls(src->tracer, s->by_nr);
		for (int i = 0; i < SYSCALL_MAX; i++)
			s->syscalls += s->by_nr[i].count;
	}
	/* buffers as they stand now (and, in light mode, the ends of the
	 * connections the kernel no longer has: records handed on now) */
	tracer_snapshot(src->tracer, false);
	/* the closed connections' bytes: their histograms' exact sums */
	s->closed = *src->closed;
	s->rx = src->agg->dist[M_BYTES_RX].sum;
	s->tx = src->agg->dist[M_BYTES_TX].sum;
	tracer_for_each_open(src->tracer, visit, &w);
	if (prev && s->rx < prev->rx)
		s->rx = prev->rx;	/* a record in flight: counted next time */
	if (prev && s->tx < prev->tx)
		s->tx = prev->tx;
}

static double per_s(__u64 now, __u64 before, double dt)
{
	return now > before ? (double)(now - before) / dt : 0;
}

void live_rates(const struct live_snapshot *now, const struct live_snapshot *prev,
		struct live_rates *r)
{
	double dt = now->t - prev->t > 0 ? now->t - prev->t : 1;

	r->opened = per_s(now->proc.conns_opened, prev->proc.conns_opened, dt);
	r->closed = per_s(now->closed, prev->closed, dt);
	r->syscalls = per_s(now->syscalls, prev->syscalls, dt);
	r->switches = per_s(now->proc.ctx_voluntary + now->proc.ctx_involuntary,
			    prev->proc.ctx_voluntary + prev->proc.ctx_involuntary, dt);
	r->cpu_pct = per_s(now->proc.cpu_ns, prev->proc.cpu_ns, dt) / 1e7;
	r->rx = per_s(now->rx, prev->rx, dt);
	r->tx = per_s(now->tx, prev->tx, dt);
}

void live_print_line(FILE *f, const struct live_snapshot *s, const struct live_rates *r,
		     double t0)
{
	char b[6][32];

	fprintf(f, "[%7.1fs] open %llu total %llu | syscalls %s/s | switches %s/s | cpu %.1f%%"
		" | rx %s/s tx %s/s | rss %s | conns' kernel memory %s | lost %llu\n",
		s->t - t0, (unsigned long long)s->open,
		(unsigned long long)s->proc.conns_opened,
		fmt_count(r->syscalls, b[0], sizeof(b[0])),
		fmt_count(r->switches, b[1], sizeof(b[1])),
		r->cpu_pct,
		fmt_bytes(r->rx, b[2], sizeof(b[2])),
		fmt_bytes(r->tx, b[3], sizeof(b[3])),
		s->rss >= 0 ? fmt_bytes((double)s->rss, b[4], sizeof(b[4])) : "-",
		fmt_bytes((double)s->kernel_bytes, b[5], sizeof(b[5])),
		(unsigned long long)s->proc.lost_events);
	fflush(f);
}
