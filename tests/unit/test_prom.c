// SPDX-License-Identifier: MIT
/*
 * Unit tests for the Prometheus exposition (userspace/live/prom.c): label and
 * HELP escaping, exact integer and seconds values, histograms (buckets
 * cumulative, +Inf equal to _count, _sum exact, boundaries inclusive), and
 * the whole page: every line a comment or a well-formed sample, every
 * family declared once before its samples, counters named _total, no
 * series left unescaped even for a hostile command line.
 *
 * Build and run:  make build/tests/test_prom && build/tests/test_prom
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "live/prom.h"

static struct prom_buf b;

static void reset(void)
{
	prom_buf_reset(&b);
	prom_printf(&b, "%s", "");	/* data is never NULL after this */
}

/* ---- escaping --------------------------------------------------------------- */

static void test_label_escaping(void **state)
{
	static const struct {
		const char *in, *out;
	} cases[] = {
		{ "plain", "plain" },
		{ "", "" },
		{ "a\"b", "a\\\"b" },
		{ "back\\slash", "back\\\\slash" },
		{ "new\nline", "new\\nline" },
		{ "\\n", "\\\\n" },			/* a literal backslash-n stays two chars */
		{ "\"\\\n", "\\\"\\\\\\n" },
		{ "tab\there", "tab\there" },		/* tab needs no escape */
		{ "caf\xc3\xa9 \xe2\x9c\x93", "caf\xc3\xa9 \xe2\x9c\x93" },	/* UTF-8 as is */
		{ "/tmp/s p\"a}ce,=.sock", "/tmp/s p\\\"a}ce,=.sock" },
		/* the format is UTF-8: a byte of no character is U+FFFD */
		{ "a\xff\xc3", "a\xef\xbf\xbd\xef\xbf\xbd" },
		{ "\xe2\x82x\xc3\xa9", "\xef\xbf\xbd\xef\xbf\xbdx\xc3\xa9" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		reset();
		prom_escape_label(&b, cases[i].in);
		assert_string_equal(b.data, cases[i].out);
	}
}

static void test_help_escaping(void **state)
{
	(void)state;
	reset();
	/* HELP escapes backslash and newline, but not quotes */
	prom_family(&b, "x_total", "counter", "say \"hi\"\\ \nbye");
	assert_string_equal(b.data, "# HELP x_total say \"hi\"\\\\ \\nbye\n# TYPE x_total counter\n");
}

/* ---- values ------------------------------------------------------------------ */

static void test_sample_values(void **state)
{
	(void)state;
	reset();
	prom_sample_u64(&b, "a", NULL, 18446744073709551615ull);	/* exact, no float */
	prom_sample_i64(&b, "b", NULL, -42);
	prom_sample_ns(&b, "c", NULL, 0);
	prom_sample_ns(&b, "d", NULL, 1);
	prom_sample_ns(&b, "e", NULL, 1234567890123ull);
	prom_sample_f64(&b, "f", NULL, NAN);
	prom_sample_f64(&b, "g", NULL, -INFINITY);
	prom_sample_f64(&b, "h", NULL, 0.1);
	assert_string_equal(b.data,
			    "a 18446744073709551615\n"
			    "b -42\n"
			    "c 0.000000000\n"
			    "d 0.000000001\n"
			    "e 1234.567890123\n"
			    "f NaN\n"
			    "g -Inf\n"
			    "h 0.10000000000000001\n");
	assert_true(strtod("0.10000000000000001", NULL) == 0.1);	/* round-trips */
}

static void test_labels(void **state)
{
	(void)state;
	reset();
	prom_sample_u64(&b, "m", (const char *const[]){ NULL }, 1);
	prom_sample_u64(&b, "m", (const char *const[]){ "k", "v", NULL }, 2);
	prom_sample_u64(&b, "m", (const char *const[]){ "a", "1", "b", "x\"y", NULL }, 3);
	assert_string_equal(b.data, "m 1\nm{k=\"v\"} 2\nm{a=\"1\",b=\"x\\\"y\"} 3\n");
}

/* A buffer that grows to megabytes keeps every byte. */
static void test_buffer_growth(void **state)
{
	(void)state;
	reset();
	for (int i = 0; i < 100000; i++)
		prom_printf(&b, "line %d\n", i);
	assert_false(b.oom);
	assert_int_equal(strlen(b.data), b.len);
	assert_non_null(strstr(b.data, "line 99999\n"));
	assert_memory_equal(b.data, "line 0\nline 1\n", 14);
}

/* ---- histograms -------------------------------------------------------------- */

static void test_histogram(void **state)
{
	static const __u64 bounds[] = { 0, 10, 100 };
	static const __u64 obs[] = { 0, 0, 1, 10, 11, 100, 101, 5000 };
	struct prom_hist h;

	(void)state;
	prom_hist_init(&h, bounds, 3);
	for (size_t i = 0; i < sizeof(obs) / sizeof(obs[0]); i++)
		prom_hist_observe(&h, obs[i]);
	reset();
	prom_write_hist(&b, "x_bytes", "X.", &h);
	/* le is inclusive: 10 falls in le="10"; counts are cumulative */
	assert_string_equal(b.data,
			    "# HELP x_bytes X.\n"
			    "# TYPE x_bytes histogram\n"
			    "x_bytes_bucket{le=\"0\"} 2\n"
			    "x_bytes_bucket{le=\"10\"} 4\n"
			    "x_bytes_bucket{le=\"100\"} 6\n"
			    "x_bytes_bucket{le=\"+Inf\"} 8\n"
			    "x_bytes_sum 5223\n"
			    "x_bytes_count 8\n");
}

static void test_empty_histogram(void **state)
{
	static const __u64 bounds[] = { 1 };
	struct prom_hist h;

	(void)state;
	prom_hist_init(&h, bounds, 1);
	reset();
	prom_write_hist(&b, "e", "E.", &h);
	assert_non_null(strstr(b.data, "e_bucket{le=\"1\"} 0\ne_bucket{le=\"+Inf\"} 0\n"
				       "e_sum 0\ne_count 0\n"));
}

/* conctrace's bounds: ascending, and a random workload's buckets add up
 * to what a direct count of the same values gives. */
static void test_conctrace_histograms(void **state)
{
	static __u64 v[10000];
	struct prom_hist h[PH_COUNT];
	unsigned int seed = 7;

	(void)state;
	prom_hists_init(h);
	for (int k = 0; k < PH_COUNT; k++) {
		__u64 sum = 0, cum = 0, top = h[k].bounds[h[k].nbounds - 1];

		assert_true(h[k].nbounds >= 8);
		for (size_t i = 1; i < h[k].nbounds; i++)
			assert_true(h[k].bounds[i] > h[k].bounds[i - 1]);
		for (int i = 0; i < 10000; i++) {
			v[i] = (__u64)rand_r(&seed) % (top * 2);
			prom_hist_observe(&h[k], v[i]);
			sum += v[i];
		}
		assert_int_equal(h[k].count, 10000);
		assert_int_equal(h[k].sum, sum);
		for (size_t b = 0; b <= h[k].nbounds; b++) {
			__u64 direct = 0;

			cum += h[k].counts[b];
			for (int i = 0; i < 10000; i++)
				direct += b == h[k].nbounds || v[i] <= h[k].bounds[b];
			assert_int_equal(cum, direct);
		}
	}
}

/* ---- the page ------------------------------------------------------------------ */

static struct prom_hist hists[PH_COUNT];
static const struct prom_syscall syscalls[] = {
	{ "read", 1100, 3, 2500000 },
	{ "write", 1000, 0, 4000000000ull },
};
static const struct prom_conn top[] = {
	{ .id = 42, .family = "unix", .remote = "/tmp/evil\"\n\\.sock", .cpu_ns = 1500,
	  .syscalls = 7, .ctx_voluntary = 2, .ctx_involuntary = 1, .bytes_rx = 10,
	  .bytes_tx = 20, .kernel_bytes = 4096 },
	{ .id = 43, .family = "tcp4", .remote = "127.0.0.1:5000", .cpu_ns = 1000 },
};
static const struct prom_prog progs[] = { { "on_sys_enter", 123456789, 1000 } };

static void fill(struct prom_snapshot *s)
{
	memset(s, 0, sizeof(*s));
	prom_hists_init(hists);
	prom_hist_observe(&hists[PH_KERNEL_BYTES], 3800);
	prom_hist_observe(&hists[PH_KERNEL_BYTES], 30000);
	prom_hist_observe(&hists[PH_CTX_SWITCHES], 3);
	s->target = "./srv --name \"x\"\n";
	s->pid = 1234;
	s->uptime_s = 2.5;
	s->proc.conns_opened = 10;
	s->proc.ctx_voluntary = 5;
	s->proc.ctx_involuntary = 6;
	s->proc.cpu_ns = 3000000001ull;
	s->proc.lost_events = 0;
	s->conns_closed = 7;
	s->bytes_rx = 500;
	s->bytes_tx = 600;
	s->open_kernel_bytes = 3 * 5000;
	s->open_user_bytes = 3 * 8192;
	s->open_ctx_switches = 3 * 4;
	s->rss_bytes = 1 << 20;
	s->tracer_map_bytes = 31 << 20;
	s->hist = hists;
	s->syscalls = syscalls;
	s->nsyscalls = 2;
	s->syscall_time = true;
	s->top = top;
	s->ntop = 2;
	s->progs = progs;
	s->nprogs = 1;
}

static bool valid_name(const char *s, size_t n)
{
	if (!n || !(isalpha((unsigned char)s[0]) || s[0] == '_' || s[0] == ':'))
		return false;
	for (size_t i = 1; i < n; i++)
		if (!(isalnum((unsigned char)s[i]) || s[i] == '_' || s[i] == ':'))
			return false;
	return true;
}

/* The family a sample belongs to: its name less a histogram suffix. */
static void family_of(const char *name, size_t n, const char *declared_hist, char *out)
{
	static const char *const sfx[] = { "_bucket", "_sum", "_count" };

	memcpy(out, name, n);
	out[n] = '\0';
	for (int i = 0; i < 3; i++) {
		size_t l = strlen(sfx[i]);

		if (n > l && !strcmp(out + n - l, sfx[i]) && declared_hist &&
		    !strncmp(declared_hist, out, n - l) && strlen(declared_hist) == n - l) {
			out[n - l] = '\0';
			return;
		}
	}
}

/*
 * Check the page line by line as Prometheus' text parser would: a sample
 * is NAME[{LABEL="VALUE",...}] VALUE, label values hold no raw newline or
 * unescaped quote, each family has HELP then TYPE once, and its samples
 * come right after it, before any other family.
 */
static void check_page(const char *page)
{
	char family[128] = "", type[32] = "", seen[8192] = " ";
	const char *line = page;

	while (*line) {
		const char *nl = strchr(line, '\n'), *p = line;
		char name[128], fam[128];
		size_t n;

		assert_non_null(nl);	/* every line ends with \n */
		if (!strncmp(line, "# HELP ", 7)) {
			const char *sp = strchr(line + 7, ' ');

			assert_true(sp && sp < nl);
			n = (size_t)(sp - line - 7);
			assert_true(valid_name(line + 7, n));
			memcpy(family, line + 7, n);
			family[n] = '\0';
			/* declared once */
			snprintf(name, sizeof(name), " %s ", family);
			if (strstr(seen, name))
				fail_msg("family %s declared twice", family);
			strncat(seen, family, sizeof(seen) - strlen(seen) - 2);
			strcat(seen, " ");
			line = nl + 1;
			nl = strchr(line, '\n');
			assert_non_null(nl);
			snprintf(name, sizeof(name), "# TYPE %s ", family);
			assert_memory_equal(line, name, strlen(name));
			n = (size_t)(nl - line - strlen(name));
			memcpy(type, line + strlen(name), n);
			type[n] = '\0';
			assert_true(!strcmp(type, "counter") || !strcmp(type, "gauge") ||
				    !strcmp(type, "histogram"));
			if (!strcmp(type, "counter")) {
				size_t fl = strlen(family);

				if (fl < 6 || strcmp(family + fl - 6, "_total"))
					fail_msg("counter %s not named _total", family);
			}
			line = nl + 1;
			continue;
		}
		assert_true(line[0] != '#');
		while (p < nl && *p != '{' && *p != ' ')
			p++;
		n = (size_t)(p - line);
		assert_true(valid_name(line, n));
		family_of(line, n, !strcmp(type, "histogram") ? family : NULL, fam);
		if (strcmp(fam, family))
			fail_msg("sample %.*s outside its family (in %s)", (int)n, line, family);
		if (*p == '{') {
			p++;
			while (*p != '}') {
				const char *eq = strchr(p, '=');

				assert_true(eq && eq < nl && valid_name(p, (size_t)(eq - p)));
				assert_true(eq[1] == '"');
				p = eq + 2;
				while (*p != '"') {
					assert_true(p < nl);	/* no raw newline inside */
					if (*p == '\\') {
						assert_true(p[1] == '\\' || p[1] == '"' || p[1] == 'n');
						p++;
					}
					p++;
				}
				p++;
				if (*p == ',')
					p++;
				else
					assert_true(*p == '}');
			}
			p++;
		}
		assert_true(*p == ' ');
		p++;
		{
			char *end;

			strtod(p, &end);
			if (end != nl)
				fail_msg("bad value in: %.*s", (int)(nl - line), line);
		}
		line = nl + 1;
	}
}

static void test_page_is_well_formed(void **state)
{
	struct prom_snapshot s;

	(void)state;
	fill(&s);
	prom_format(&b, &s);
	assert_false(b.oom);
	check_page(b.data);
}

static void test_page_values(void **state)
{
	struct prom_snapshot s;

	(void)state;
	fill(&s);
	prom_format(&b, &s);
	/* hostile command line: escaped, on one line */
	assert_non_null(strstr(b.data, "conctrace_info{version=\"0.1.0\",target="
				       "\"./srv --name \\\"x\\\"\\n\",pid=\"1234\"} 1\n"));
	assert_non_null(strstr(b.data, "\nconctrace_connections_open 3\n"));
	assert_non_null(strstr(b.data, "\nconctrace_connections_total 10\n"));
	assert_non_null(strstr(b.data, "\nconctrace_connections_closed_total 7\n"));
	assert_non_null(strstr(b.data, "\nconctrace_cpu_seconds_total 3.000000001\n"));
	assert_non_null(strstr(b.data, "\nconctrace_context_switches_total{kind=\"voluntary\"} 5\n"
				       "conctrace_context_switches_total{kind=\"involuntary\"} 6\n"));
	assert_non_null(strstr(b.data, "\nconctrace_syscalls_total{name=\"read\"} 1100\n"));
	assert_non_null(strstr(b.data, "\nconctrace_syscall_errors_total{name=\"read\"} 3\n"));
	assert_non_null(strstr(b.data, "\nconctrace_syscall_seconds_total{name=\"write\"} 4.000000000\n"));
	/* not measured (no --syscall-time): no series, rather than zeros */
	s.syscall_time = false;
	prom_format(&b, &s);
	assert_null(strstr(b.data, "conctrace_syscall_seconds_total"));
	assert_non_null(strstr(b.data, "\nconctrace_syscalls_total{name=\"read\"} 1100\n"));
	assert_non_null(strstr(b.data, "\nconctrace_received_bytes_total 500\n"));
	/* what the 3 open connections hold and did so far: the dashboard's
	 * per-connection panels while connections are held */
	assert_non_null(strstr(b.data, "\nconctrace_open_connections_kernel_bytes 15000\n"));
	assert_non_null(strstr(b.data, "# TYPE conctrace_open_connections_user_bytes gauge\n"
				       "conctrace_open_connections_user_bytes 24576\n"));
	assert_non_null(strstr(b.data, "# TYPE conctrace_open_connections_context_switches gauge\n"
				       "conctrace_open_connections_context_switches 12\n"));
	assert_non_null(strstr(b.data, "\nconctrace_target_resident_memory_bytes 1048576\n"));
	assert_non_null(strstr(b.data, "\nconctrace_tracer_map_bytes 32505856\n"));
	assert_non_null(strstr(b.data, "\nconctrace_connection_kernel_bytes_bucket{le=\"4096\"} 1\n"));
	assert_non_null(strstr(b.data, "\nconctrace_connection_kernel_bytes_bucket{le=\"32768\"} 2\n"));
	assert_non_null(strstr(b.data, "\nconctrace_connection_kernel_bytes_sum 33800\n"));
	assert_non_null(strstr(b.data, "\nconctrace_connection_context_switches_count 1\n"));
	assert_non_null(strstr(b.data,
		"\nconctrace_top_connection_cpu_seconds_total{id=\"42\",family=\"unix\","
		"remote=\"/tmp/evil\\\"\\n\\\\.sock\"} 0.000001500\n"));
	assert_non_null(strstr(b.data,
		"\nconctrace_top_connection_context_switches_total{id=\"43\",family=\"tcp4\","
		"remote=\"127.0.0.1:5000\",kind=\"involuntary\"} 0\n"));
	assert_non_null(strstr(b.data,
		"\nconctrace_bpf_run_seconds_total{program=\"on_sys_enter\"} 0.123456789\n"));
	assert_non_null(strstr(b.data, "\nconctrace_lost_events_total 0\n"));
}

/* What is unknown is left out, never exported as a made-up 0. */
static void test_unknown_is_absent(void **state)
{
	struct prom_snapshot s;

	(void)state;
	fill(&s);
	s.progs = NULL;
	s.nprogs = 0;
	s.rss_bytes = -1;
	s.ntop = 0;
	prom_format(&b, &s);
	check_page(b.data);
	assert_null(strstr(b.data, "conctrace_bpf_"));
	assert_null(strstr(b.data, "conctrace_target_resident_memory_bytes"));
	assert_null(strstr(b.data, "conctrace_top_connection_cpu_seconds_total{"));
	/* the family itself stays declared, with no series */
	assert_non_null(strstr(b.data, "# TYPE conctrace_top_connection_cpu_seconds_total counter\n"));
}

/* open = opened - closed, never negative while records race the counter */
static void test_open_never_negative(void **state)
{
	struct prom_snapshot s;

	(void)state;
	fill(&s);
	s.conns_closed = 11;
	prom_format(&b, &s);
	assert_non_null(strstr(b.data, "\nconctrace_connections_open 0\n"));
}

static int teardown(void **state)
{
	(void)state;
	prom_buf_free(&b);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_label_escaping),
		cmocka_unit_test(test_help_escaping),
		cmocka_unit_test(test_sample_values),
		cmocka_unit_test(test_labels),
		cmocka_unit_test(test_buffer_growth),
		cmocka_unit_test(test_histogram),
		cmocka_unit_test(test_empty_histogram),
		cmocka_unit_test(test_conctrace_histograms),
		cmocka_unit_test(test_page_is_well_formed),
		cmocka_unit_test(test_page_values),
		cmocka_unit_test(test_unknown_is_absent),
		cmocka_unit_test(test_open_never_negative),
	};

	return cmocka_run_group_tests(tests, NULL, teardown);
}
