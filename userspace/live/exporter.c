// SPDX-License-Identifier: MIT
/* The --prometheus endpoint: gathers a snapshot of the run (see exporter.h). */
#include "live/exporter.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <bpf/bpf.h>

#include "model/syscalls.h"
#include "report/format.h"

static double mono_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Every connection as it is aggregated (agg's observer), observed once,
 * EXPORTER_SETTLE_S or more after its record came; those still open at the
 * end are not final figures. */
void exporter_observe(void *ctx, const struct conn_view *c, const __u64 metric[M_COUNT])
{
	struct exporter *e = ctx;

	if (!e->on || conn_is_open(&c->rec))
		return;
	prom_hist_observe(&e->hist[PH_KERNEL_BYTES], metric[M_KERNEL_BYTES]);
	prom_hist_observe(&e->hist[PH_USER_BYTES], metric[M_USER_BYTES]);
	prom_hist_observe(&e->hist[PH_CTX_SWITCHES], metric[M_CTX_SWITCHES]);
}

struct progs_read {
	struct prom_prog *out;
	size_t n, max;
};

static void add_prog(void *ctx, const char *name, __u64 run_ns, __u64 run_cnt)
{
	struct progs_read *r = ctx;

	if (r->n == r->max)
		return;
	snprintf(r->out[r->n].name, sizeof(r->out[r->n].name), "%s", name);
	r->out[r->n].run_ns = run_ns;
	r->out[r->n].run_cnt = run_cnt;
	r->n++;
}

static size_t read_progs(struct exporter *e, struct prom_prog *out, size_t max)
{
	struct progs_read r = { .out = out, .max = max };

	tracer_for_each_prog(e->src.tracer, add_prog, &r);
	return r.n;
}

static void build_page(struct exporter *e, double now)
{
	struct live_snapshot w = {
		.order = conn_cost_cmp, .top = e->open_top, .by_nr = e->totals,
		.want = e->src.top_conns < EXPORTER_TOP_MAX ? e->src.top_conns : EXPORTER_TOP_MAX,
	};
	struct prom_prog progs[64];
	struct prom_conn top[EXPORTER_TOP_MAX];
	struct prom_snapshot s = { 0 };

	/* the histograms: the connections whose late counts have had their
	 * time (exporter_observe) */
	agg_settle(e->src.agg, now);
	live_snapshot_take(&w, &e->src, e->built_at ? &e->last : NULL, now);
	s.syscall_time = e->src.tracer->syscall_time;
	for (unsigned int nr = 0; nr < SYSCALL_MAX; nr++) {
		if (!e->totals[nr].count)
			continue;
		e->syscalls[s.nsyscalls] = (struct prom_syscall){
			.name = syscall_label(nr, e->labels[nr], sizeof(e->labels[nr])),
			.count = e->totals[nr].count, .errors = e->totals[nr].errors,
			.ns = e->totals[nr].ns,
		};
		s.nsyscalls++;
	}
	for (size_t i = 0; i < w.ntop; i++) {
		const struct conn_view *v = &w.top[i];
		const struct conn *c = &v->rec;

		top[i] = (struct prom_conn){
			.id = c->id, .cpu_ns = c->cpu_ns, .syscalls = v->syscalls,
			.ctx_voluntary = c->ctx_voluntary, .ctx_involuntary = c->ctx_involuntary,
			.bytes_rx = c->bytes_rx, .bytes_tx = c->bytes_tx,
			.kernel_bytes = v->kernel_bytes_now,
		};
		snprintf(top[i].family, sizeof(top[i].family), "%s", fmt_family(c->family));
		fmt_conn_addr(c, NULL, false, top[i].remote, sizeof(top[i].remote));
	}
	s.proc = w.proc;
	s.target = e->src.target;
	s.pid = e->src.pid;
	s.uptime_s = now - e->src.t0;
	s.conns_closed = w.closed;
	/* counters never go back: w.rx and w.tx hold to the last page's */
	s.bytes_rx = w.rx;
	s.bytes_tx = w.tx;
	s.open_kernel_bytes = w.kernel_bytes;
	s.open_user_bytes = w.user_bytes;
	s.open_ctx_switches = w.ctx_switches;
	s.rss_bytes = w.rss;
	s.tracer_map_bytes = tracer_map_bytes(e->src.tracer);
	s.hist = e->hist;
	s.syscalls = e->syscalls;
	s.top = top;
	s.ntop = w.ntop;
	if (e->stats_fd >= 0) {
		s.progs = progs;
		s.nprogs = read_progs(e, progs, sizeof(progs) / sizeof(progs[0]));
	}
	s.scrapes = e->http.served;
	s.http_refused = e->http.refused;
	s.gather_ns = (__u64)((mono_s() - now) * 1e9);
	prom_format(&e->page, &s);
	e->last = w;
	e->built_at = now;
	/* a page over a huge connection map takes a while: keep its share of
	 * the tracing loop under 1/EXPORTER_MAX_SHARE, whatever the scrape rate */
	e->refresh_s = (mono_s() - now) * EXPORTER_MAX_SHARE;
	if (e->refresh_s < EXPORTER_REFRESH_S)
		e->refresh_s = EXPORTER_REFRESH_S;
}

static int handle(void *ctx, const char *path, const char **body, size_t *len)
{
	static const char index_page[] = "conctrace: metrics at /metrics\n";
	struct exporter *e = ctx;
	double now = mono_s();

	if (!strcmp(path, "/")) {
		*body = index_page;
		*len = sizeof(index_page) - 1;
		return 200;
	}
	if (strcmp(path, "/metrics"))
		return 404;
	if (!e->page.data || now - e->built_at >= e->refresh_s)
		build_page(e, now);
	if (e->page.oom)
		return 500;
	*body = e->page.data;
	*len = e->page.len;
	return 200;
}

int exporter_start(struct exporter *e, const struct sockaddr_storage *addr, socklen_t len)
{
	char host[INET6_ADDRSTRLEN] = "?";
	int err;

	memset(e, 0, sizeof(*e));
	e->stats_fd = -1;
	err = http_server_start(&e->http, addr, len, PROM_CONTENT_TYPE, handle, e);
	if (err) {
		fprintf(stderr, "conctrace: --prometheus: cannot listen: %s\n", strerror(-err));
		return -1;
	}
	if (addr->ss_family == AF_INET6)
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)addr)->sin6_addr, host,
			  sizeof(host));
	else
		inet_ntop(AF_INET, &((const struct sockaddr_in *)addr)->sin_addr, host,
			  sizeof(host));
	fprintf(stderr, "conctrace: serving metrics on http://%s%s%s:%d/metrics\n",
		addr->ss_family == AF_INET6 ? "[" : "", host,
		addr->ss_family == AF_INET6 ? "]" : "", http_server_port(&e->http));
	prom_hists_init(e->hist);
	e->on = true;
	return 0;
}

void exporter_attach(struct exporter *e, const struct run_source *src, bool bpf_stats)
{
	if (!e->on)
		return;
	e->src = *src;
	if (!bpf_stats)
		return;	/* a cost on every event of every program: asked for only */
	/* the kernel counts programs' run time only while someone holds this */
	e->stats_fd = bpf_enable_stats(BPF_STATS_RUN_TIME);
	if (e->stats_fd < 0)
		fprintf(stderr, "conctrace: warning: cannot enable BPF run-time stats (%s): "
			"conctrace_bpf_* metrics left out\n", strerror(errno));
}

void exporter_poll(struct exporter *e)
{
	if (e->on && e->src.tracer)
		http_server_poll(&e->http, mono_s());
}

void exporter_stop(struct exporter *e)
{
	if (!e->on)
		return;
	http_server_stop(&e->http);
	if (e->stats_fd >= 0)
		close(e->stats_fd);
	prom_buf_free(&e->page);
	e->on = false;
}
