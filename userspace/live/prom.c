// SPDX-License-Identifier: MIT
/* Prometheus text exposition format, and conctrace's page (see prom.h). */
#include "live/prom.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/version.h"
#include "report/format.h"

/* ---- buffer ---------------------------------------------------------------- */

void prom_buf_reset(struct prom_buf *b)
{
	b->len = 0;
	b->oom = false;
	if (b->data)
		b->data[0] = '\0';
}

void prom_buf_free(struct prom_buf *b)
{
	free(b->data);
	memset(b, 0, sizeof(*b));
}

static bool reserve(struct prom_buf *b, size_t more)
{
	size_t cap = b->cap ? b->cap : 4096;
	char *p;

	if (b->oom)
		return false;
	while (cap < b->len + more + 1)
		cap *= 2;
	if (cap == b->cap)
		return true;
	p = realloc(b->data, cap);
	if (!p) {
		b->oom = true;
		return false;
	}
	b->data = p;
	b->cap = cap;
	return true;
}

void prom_printf(struct prom_buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || !reserve(b, (size_t)n))
		return;
	va_start(ap, fmt);
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

static void put(struct prom_buf *b, const char *s, size_t n)
{
	if (!reserve(b, n))
		return;
	memcpy(b->data + b->len, s, n);
	b->len += n;
	b->data[b->len] = '\0';
}

/* ---- escaping -------------------------------------------------------------- */

/* Label values escape \, " and newline; HELP text only \ and newline. */
static void escape(struct prom_buf *b, const char *s, bool quote)
{
	for (size_t n; *s; s++) {
		if ((unsigned char)*s >= 0x80) {
			/* the exposition format is UTF-8: a byte of no
			 * character (the target's command line) is U+FFFD */
			n = fmt_utf8_len(s);
			put(b, n > 1 ? s : "\xef\xbf\xbd", n > 1 ? n : 3);
			s += n > 1 ? n - 1 : 0;
		} else if (*s == '\\')
			put(b, "\\\\", 2);
		else if (*s == '\n')
			put(b, "\\n", 2);
		else if (*s == '"' && quote)
			put(b, "\\\"", 2);
		else
			put(b, s, 1);
	}
}

void prom_escape_label(struct prom_buf *b, const char *s)
{
	escape(b, s, true);
}

void prom_family(struct prom_buf *b, const char *name, const char *type, const char *help)
{
	prom_printf(b, "# HELP %s ", name);
	escape(b, help, false);
	prom_printf(b, "\n# TYPE %s %s\n", name, type);
}

/* ---- samples --------------------------------------------------------------- */

static void sample_head(struct prom_buf *b, const char *name, const char *const *labels)
{
	put(b, name, strlen(name));
	if (!labels || !labels[0])
		return;
	put(b, "{", 1);
	for (const char *const *l = labels; l[0] && l[1]; l += 2) {
		if (l != labels)
			put(b, ",", 1);
		prom_printf(b, "%s=\"", l[0]);
		prom_escape_label(b, l[1]);
		put(b, "\"", 1);
	}
	put(b, "}", 1);
}

void prom_sample_u64(struct prom_buf *b, const char *name, const char *const *labels, __u64 v)
{
	sample_head(b, name, labels);
	prom_printf(b, " %llu\n", (unsigned long long)v);
}

void prom_sample_i64(struct prom_buf *b, const char *name, const char *const *labels, __s64 v)
{
	sample_head(b, name, labels);
	prom_printf(b, " %lld\n", (long long)v);
}

void prom_sample_ns(struct prom_buf *b, const char *name, const char *const *labels, __u64 ns)
{
	sample_head(b, name, labels);
	prom_printf(b, " %llu.%09llu\n", (unsigned long long)(ns / 1000000000ull),
		    (unsigned long long)(ns % 1000000000ull));
}

void prom_sample_f64(struct prom_buf *b, const char *name, const char *const *labels, double v)
{
	sample_head(b, name, labels);
	if (isnan(v))
		prom_printf(b, " NaN\n");
	else if (isinf(v))
		prom_printf(b, " %sInf\n", v > 0 ? "+" : "-");
	else
		prom_printf(b, " %.17g\n", v);
}

/* ---- histograms ------------------------------------------------------------ */

void prom_hist_init(struct prom_hist *h, const __u64 *bounds, size_t n)
{
	memset(h, 0, sizeof(*h));
	if (n > PROM_MAX_BUCKETS)
		n = PROM_MAX_BUCKETS;
	memcpy(h->bounds, bounds, n * sizeof(*bounds));
	h->nbounds = n;
}

void prom_hist_observe(struct prom_hist *h, __u64 v)
{
	size_t i = 0;

	while (i < h->nbounds && v > h->bounds[i])
		i++;
	h->counts[i]++;		/* i == nbounds: only +Inf holds it */
	h->sum += v;
	h->count++;
}

void prom_write_hist(struct prom_buf *b, const char *name, const char *help,
		     const struct prom_hist *h)
{
	char bucket[128], sum[128], count[128], le[32];
	const char *labels[] = { "le", le, NULL };
	__u64 cum = 0;

	snprintf(bucket, sizeof(bucket), "%s_bucket", name);
	snprintf(sum, sizeof(sum), "%s_sum", name);
	snprintf(count, sizeof(count), "%s_count", name);
	prom_family(b, name, "histogram", help);
	for (size_t i = 0; i < h->nbounds; i++) {
		cum += h->counts[i];
		snprintf(le, sizeof(le), "%llu", (unsigned long long)h->bounds[i]);
		prom_sample_u64(b, bucket, labels, cum);
	}
	cum += h->counts[h->nbounds];
	strcpy(le, "+Inf");
	prom_sample_u64(b, bucket, labels, cum);
	prom_sample_u64(b, sum, NULL, h->sum);
	prom_sample_u64(b, count, NULL, h->count);
}

void prom_hists_init(struct prom_hist h[PH_COUNT])
{
	__u64 kb[15], ub[] = { 0, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576,
			       4194304, 16777216 }, sw[16];

	for (size_t i = 0; i < 15; i++)
		kb[i] = 1024ull << i;		/* 1 KiB .. 16 MiB */
	sw[0] = 0;
	for (size_t i = 1; i < 16; i++)
		sw[i] = 1ull << (i - 1);	/* 0, 1, 2, 4 .. 16384 */
	prom_hist_init(&h[PH_KERNEL_BYTES], kb, 15);
	prom_hist_init(&h[PH_USER_BYTES], ub, sizeof(ub) / sizeof(ub[0]));
	prom_hist_init(&h[PH_CTX_SWITCHES], sw, 16);
}

/* ---- conctrace's page ------------------------------------------------------ */

static void counter(struct prom_buf *b, const char *name, const char *help, __u64 v)
{
	prom_family(b, name, "counter", help);
	prom_sample_u64(b, name, NULL, v);
}

static void gauge(struct prom_buf *b, const char *name, const char *help, __s64 v)
{
	prom_family(b, name, "gauge", help);
	prom_sample_i64(b, name, NULL, v);
}

static void seconds(struct prom_buf *b, const char *name, const char *help, __u64 ns)
{
	prom_family(b, name, "counter", help);
	prom_sample_ns(b, name, NULL, ns);
}

static void switches(struct prom_buf *b, const char *name, const char *help,
		     __u64 voluntary, __u64 involuntary)
{
	prom_family(b, name, "counter", help);
	prom_sample_u64(b, name, (const char *const[]){ "kind", "voluntary", NULL }, voluntary);
	prom_sample_u64(b, name, (const char *const[]){ "kind", "involuntary", NULL },
			involuntary);
}

static void syscall_families(struct prom_buf *b, const struct prom_snapshot *s)
{
	static const struct {
		const char *name, *help;
		int field;
	} fam[] = {
		{ "conctrace_syscalls_total",
		  "Syscalls the target made, by name (as strace -c counts them).", 0 },
		{ "conctrace_syscall_errors_total",
		  "Syscalls of the target that returned an error, by name.", 1 },
		{ "conctrace_syscall_seconds_total",
		  "Time the target spent in syscalls, by name.", 2 },
	};

	for (size_t f = 0; f < sizeof(fam) / sizeof(fam[0]); f++) {
		if (fam[f].field == 2 && !s->syscall_time)
			continue;	/* not measured: no series rather than zeros */
		prom_family(b, fam[f].name, "counter", fam[f].help);
		for (size_t i = 0; i < s->nsyscalls; i++) {
			const struct prom_syscall *sc = &s->syscalls[i];
			const char *labels[] = { "name", sc->name, NULL };

			if (fam[f].field == 0)
				prom_sample_u64(b, fam[f].name, labels, sc->count);
			else if (fam[f].field == 1)
				prom_sample_u64(b, fam[f].name, labels, sc->errors);
			else
				prom_sample_ns(b, fam[f].name, labels, sc->ns);
		}
	}
}

static void top_families(struct prom_buf *b, const struct prom_snapshot *s)
{
	static const char *const names[] = {
		"conctrace_top_connection_cpu_seconds_total",
		"conctrace_top_connection_syscalls_total",
		"conctrace_top_connection_context_switches_total",
		"conctrace_top_connection_received_bytes_total",
		"conctrace_top_connection_sent_bytes_total",
		"conctrace_top_connection_kernel_bytes",
	};
	static const char *const helps[] = {
		"CPU time of one of the costliest open connections (--top-conns of them).",
		"Syscalls of one of the costliest open connections.",
		"Context switches of one of the costliest open connections, by kind.",
		"Bytes one of the costliest open connections received.",
		"Bytes one of the costliest open connections sent.",
		"Kernel memory one of the costliest open connections holds now.",
	};

	for (size_t f = 0; f < sizeof(names) / sizeof(names[0]); f++) {
		prom_family(b, names[f], f == 5 ? "gauge" : "counter", helps[f]);
		for (size_t i = 0; i < s->ntop; i++) {
			const struct prom_conn *c = &s->top[i];
			char id[24];
			const char *l[] = { "id", id, "family", c->family, "remote", c->remote,
					    NULL, NULL, NULL };

			snprintf(id, sizeof(id), "%llu", (unsigned long long)c->id);
			switch (f) {
			case 0: prom_sample_ns(b, names[f], l, c->cpu_ns); break;
			case 1: prom_sample_u64(b, names[f], l, c->syscalls); break;
			case 2:
				l[6] = "kind";
				l[7] = "voluntary";
				prom_sample_u64(b, names[f], l, c->ctx_voluntary);
				l[7] = "involuntary";
				prom_sample_u64(b, names[f], l, c->ctx_involuntary);
				break;
			case 3: prom_sample_u64(b, names[f], l, c->bytes_rx); break;
			case 4: prom_sample_u64(b, names[f], l, c->bytes_tx); break;
			default: prom_sample_u64(b, names[f], l, c->kernel_bytes); break;
			}
		}
	}
}

static void bpf_families(struct prom_buf *b, const struct prom_snapshot *s)
{
	if (!s->progs)
		return;	/* stats could not be enabled: absent, never a fake 0 */
	prom_family(b, "conctrace_bpf_run_seconds_total", "counter",
		    "Time conctrace's own BPF programs ran (kernel's bpf_stats), by program.");
	for (size_t i = 0; i < s->nprogs; i++)
		prom_sample_ns(b, "conctrace_bpf_run_seconds_total",
			       (const char *const[]){ "program", s->progs[i].name, NULL },
			       s->progs[i].run_ns);
	prom_family(b, "conctrace_bpf_runs_total", "counter",
		    "Times conctrace's own BPF programs ran, by program.");
	for (size_t i = 0; i < s->nprogs; i++)
		prom_sample_u64(b, "conctrace_bpf_runs_total",
				(const char *const[]){ "program", s->progs[i].name, NULL },
				s->progs[i].run_cnt);
}

void prom_format(struct prom_buf *b, const struct prom_snapshot *s)
{
	const struct proc_counters *p = &s->proc;
	char pid[16];

	prom_buf_reset(b);
	snprintf(pid, sizeof(pid), "%d", (int)s->pid);
	prom_family(b, "conctrace_info", "gauge", "What conctrace traces: always 1.");
	prom_sample_u64(b, "conctrace_info",
			(const char *const[]){ "version", CONCTRACE_VERSION, "target", s->target,
					       "pid", pid, NULL }, 1);
	prom_family(b, "conctrace_trace_duration_seconds", "gauge", "Time since tracing started.");
	prom_sample_ns(b, "conctrace_trace_duration_seconds", NULL,
		       s->uptime_s > 0 ? (__u64)(s->uptime_s * 1e9) : 0);

	gauge(b, "conctrace_connections_open", "Connections of the target open now.",
	      (__s64)(p->conns_opened > s->conns_closed ? p->conns_opened - s->conns_closed : 0));
	counter(b, "conctrace_connections_total", "Connections the target opened or accepted.",
		p->conns_opened);
	counter(b, "conctrace_connections_closed_total",
		"Connections closed, their final figures received.", s->conns_closed);
	counter(b, "conctrace_connections_untracked_total",
		"Connections not tracked: the map was full (--max-conns).", p->conns_untracked);
	counter(b, "conctrace_received_bytes_total",
		"Bytes the target's connections received.", s->bytes_rx);
	counter(b, "conctrace_sent_bytes_total", "Bytes the target's connections sent.",
		s->bytes_tx);
	gauge(b, "conctrace_open_connections_kernel_bytes",
	      "Kernel memory the open connections hold now: objects and socket buffers.",
	      (__s64)s->open_kernel_bytes);
	/* the open connections' side of the closed-connection histograms:
	 * divided by conctrace_connections_open, a mean that exists while
	 * connections are held (gauges: they fall as connections close) */
	gauge(b, "conctrace_open_connections_user_bytes",
	      "User memory (RSS) the open connections grew so far (each one's peak), summed.",
	      (__s64)s->open_user_bytes);
	gauge(b, "conctrace_open_connections_context_switches",
	      "Context switches the open connections had so far, summed.",
	      (__s64)s->open_ctx_switches);
	if (s->rss_bytes >= 0)
		gauge(b, "conctrace_target_resident_memory_bytes",
		      "The traced processes' resident memory (VmRSS), summed.", s->rss_bytes);
	gauge(b, "conctrace_tracer_map_bytes",
	      "Kernel memory conctrace's own BPF maps hold (their fdinfo memlock).",
	      (__s64)s->tracer_map_bytes);
	gauge(b, "conctrace_event_loop_user_bytes",
	      "User memory (RSS) growth charged to the event loop (no single connection).",
	      p->loop.user_bytes);
	gauge(b, "conctrace_pool_user_bytes",
	      "User memory (RSS) growth charged to the worker pool (no single connection).",
	      p->pool.user_bytes);

	switches(b, "conctrace_context_switches_total", "Context switches of the target, by kind.",
		 p->ctx_voluntary, p->ctx_involuntary);
	switches(b, "conctrace_event_loop_context_switches_total",
		 "Context switches charged to the event loop (no single connection), by kind.",
		 p->loop.ctx_voluntary, p->loop.ctx_involuntary);
	switches(b, "conctrace_pool_context_switches_total",
		 "Context switches charged to the worker pool (no single connection), by kind.",
		 p->pool.ctx_voluntary, p->pool.ctx_involuntary);
	seconds(b, "conctrace_cpu_seconds_total", "CPU time of the target.", p->cpu_ns);
	seconds(b, "conctrace_event_loop_cpu_seconds_total",
		"CPU time charged to the event loop (no single connection).", p->loop.cpu_ns);
	seconds(b, "conctrace_pool_cpu_seconds_total",
		"CPU time charged to the worker pool (no single connection).", p->pool.cpu_ns);
	seconds(b, "conctrace_runqueue_wait_seconds_total",
		"Time the target's threads waited runnable for a CPU.", p->runq_ns);
	counter(b, "conctrace_event_loop_syscalls_total",
		"Syscalls charged to the event loop (no single connection).", p->loop.syscalls);
	counter(b, "conctrace_pool_syscalls_total",
		"Syscalls charged to the worker pool (no single connection).", p->pool.syscalls);
	syscall_families(b, s);

	prom_write_hist(b, "conctrace_connection_kernel_bytes",
			"Peak kernel memory of each closed connection.",
			&s->hist[PH_KERNEL_BYTES]);
	prom_write_hist(b, "conctrace_connection_user_bytes",
			"Peak user memory (RSS) each closed connection grew.",
			&s->hist[PH_USER_BYTES]);
	prom_write_hist(b, "conctrace_connection_context_switches",
			"Context switches of each closed connection.",
			&s->hist[PH_CTX_SWITCHES]);
	top_families(b, s);

	counter(b, "conctrace_lost_events_total",
		"Records the ring buffer could not take (never hidden; 0 in normal runs).",
		p->lost_events);
	counter(b, "conctrace_thread_state_unavailable_total",
		"Charges that found no per-thread state (0 in normal runs).", p->no_thread_state);
	bpf_families(b, s);
	prom_family(b, "conctrace_exporter_gather_seconds", "gauge",
		    "Time the tracing loop spent reading the figures of this page "
		    "(counters, the walk over open connections).");
	prom_sample_ns(b, "conctrace_exporter_gather_seconds", NULL, s->gather_ns);
	counter(b, "conctrace_scrapes_total", "Metrics pages this endpoint served.", s->scrapes);
	counter(b, "conctrace_http_refused_total",
		"Requests this endpoint refused (malformed, unknown path, bad method).",
		s->http_refused);
}
