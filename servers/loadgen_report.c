// SPDX-License-Identifier: MIT
/*
 * loadgen's report: the workers' counters and latency histograms summed
 * once they have stopped, then printed as text, as JSON, or both (text on
 * stdout and JSON to a file).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "common/histogram.h"
#include "loadgen.h"

const char *const err_names[NR_ERRS] = {
	"connect", "reset", "timeout", "bad_reply", "closed",
};

void collect(struct totals *t, bool interrupted)
{
	uint64_t finish = plan.t0;
	unsigned i, k;

	memset(t, 0, sizeof(*t));
	t->hist = &workers[0]->hist;
	for (i = 0; i < env.threads; i++) {
		struct worker *w = workers[i];

		t->s.attempted += w->stats.attempted;
		t->s.established += w->stats.established;
		t->s.failed += w->stats.failed;
		t->s.req_ok += w->stats.req_ok;
		t->s.req_errors += w->stats.req_errors;
		for (k = 0; k < NR_ERRS; k++)
			t->s.errors[k] += w->stats.errors[k];
		t->s.bytes_sent += w->stats.bytes_sent;
		t->s.bytes_recv += w->stats.bytes_recv;
		if (i)
			hist_merge(t->hist, &w->hist);
		if (w->finish_ns > finish)
			finish = w->finish_ns;
	}
	for (k = 0; k < NR_ERRS; k++)
		t->errors += t->s.errors[k];
	t->duration_s = (double)(finish - plan.t0) / (double)NSEC_PER_SEC;
	t->rps = t->duration_s > 0 ? (double)t->s.req_ok / t->duration_s : 0;
	t->interrupted = interrupted;
}

static double us(uint64_t ns)
{
	return (double)ns / 1000.0;
}

static void report_text(FILE *f, const struct totals *t)
{
	const struct hist *h = t->hist;
	unsigned k;

	fprintf(f, "target       %s, %u connections, %u thread%s%s\n", plan.target, env.conns,
		env.threads, env.threads == 1 ? "" : "s", t->interrupted ? " (interrupted)" : "");
	fprintf(f, "connections  attempted %" PRIu64 "  established %" PRIu64 "  failed %" PRIu64 "\n",
		t->s.attempted, t->s.established, t->s.failed);
	fprintf(f, "requests     ok %" PRIu64 "  errors %" PRIu64 "\n", t->s.req_ok, t->s.req_errors);
	fprintf(f, "errors      ");
	for (k = 0; k < NR_ERRS; k++)
		fprintf(f, " %s %" PRIu64 "%s", err_names[k], t->s.errors[k], k + 1 < NR_ERRS ? " " : "\n");
	fprintf(f, "bytes        sent %" PRIu64 "  received %" PRIu64 "\n", t->s.bytes_sent, t->s.bytes_recv);
	fprintf(f, "duration     %.3f s  %.1f requests/s\n", t->duration_s, t->rps);
	fprintf(f, "latency us   min %.1f  mean %.1f  p50 %.1f  p90 %.1f  p99 %.1f  p99.9 %.1f  max %.1f\n",
		us(hist_min(h)), hist_mean(h) / 1000.0, us(hist_percentile(h, 50)),
		us(hist_percentile(h, 90)), us(hist_percentile(h, 99)),
		us(hist_percentile(h, 99.9)), us(hist_max(h)));
}

static void report_json(FILE *f, const struct totals *t)
{
	const struct hist *h = t->hist;
	unsigned k;

	fprintf(f, "{\"connections\":{\"attempted\":%" PRIu64 ",\"established\":%" PRIu64
		",\"failed\":%" PRIu64 "},", t->s.attempted, t->s.established, t->s.failed);
	fprintf(f, "\"requests\":{\"ok\":%" PRIu64 ",\"errors\":%" PRIu64 "},",
		t->s.req_ok, t->s.req_errors);
	fprintf(f, "\"errors\":{");
	for (k = 0; k < NR_ERRS; k++)
		fprintf(f, "\"%s\":%" PRIu64 "%s", err_names[k], t->s.errors[k], k + 1 < NR_ERRS ? "," : "},");
	fprintf(f, "\"bytes\":{\"sent\":%" PRIu64 ",\"received\":%" PRIu64 "},",
		t->s.bytes_sent, t->s.bytes_recv);
	fprintf(f, "\"duration_s\":%.6f,\"requests_per_s\":%.1f,\"interrupted\":%s,",
		t->duration_s, t->rps, t->interrupted ? "true" : "false");
	fprintf(f, "\"latency_us\":{\"min\":%.3f,\"mean\":%.3f,\"p50\":%.3f,\"p90\":%.3f,"
		"\"p99\":%.3f,\"p999\":%.3f,\"max\":%.3f}}\n",
		us(hist_min(h)), hist_mean(h) / 1000.0, us(hist_percentile(h, 50)),
		us(hist_percentile(h, 90)), us(hist_percentile(h, 99)),
		us(hist_percentile(h, 99.9)), us(hist_max(h)));
}

void report(const struct totals *t)
{
	FILE *f;

	if (!env.json) {
		report_text(stdout, t);
		return;
	}
	if (!env.json_path) {
		report_json(stdout, t);
		return;
	}
	report_text(stdout, t);
	f = fopen(env.json_path, "w");
	if (!f) {
		fprintf(stderr, PROG ": cannot write %s: %s\n", env.json_path, strerror(errno));
		return;
	}
	report_json(f, t);
	if (fclose(f) != 0)
		fprintf(stderr, PROG ": cannot write %s: %s\n", env.json_path, strerror(errno));
}
