// SPDX-License-Identifier: MIT
/* libbpf's log, kept for the error that names a refused program (libbpf_log.h). */
#include "tracer/libbpf_log.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/libbpf.h>

#define TAIL_LINES	32
#define LINE_MAX_LEN	512

static struct {
	bool verbose;
	bool in_verifier_log;	/* between BEGIN and END PROG LOAD LOG */
	char tail[TAIL_LINES][LINE_MAX_LEN];
	unsigned int n;		/* lines ever kept: tail[n % TAIL_LINES] is next */
	char failed_prog[128];
	char failed_map[128];
	char load_error[LINE_MAX_LEN];	/* libbpf's "load failed: ..." */
	char verifier_last[LINE_MAX_LEN];	/* the verifier's last word */
	char verifier_source[LINE_MAX_LEN];	/* the source line it was at */
} log_state;

static void copy(char *dst, size_t len, const char *src, size_t n)
{
	if (n >= len)
		n = len - 1;
	memcpy(dst, src, n);
	dst[n] = '\0';
}

/* "prog 'NAME': REST" or "map 'NAME': REST" anywhere in line: NAME and REST */
static bool named(const char *line, const char *kind, char *name, size_t len, const char **rest)
{
	const char *p = strstr(line, kind), *end;

	if (!p)
		return false;
	p += strlen(kind);
	end = strstr(p, "': ");
	if (!end)
		return false;
	copy(name, len, p, (size_t)(end - p));
	*rest = end + 3;
	return true;
}

/* Lines of the verifier's log that only sum it up. */
static bool summary_line(const char *line)
{
	static const char *const skip[] = {
		"processed ", "verification time", "stack depth", "max_states_per_insn",
		"mark_read", "-- END PROG LOAD LOG --",
	};

	if (!*line)
		return true;
	for (size_t i = 0; i < sizeof(skip) / sizeof(skip[0]); i++)
		if (!strncmp(line, skip[i], strlen(skip[i])))
			return true;
	return false;
}

static void keep_line(const char *line, size_t n)
{
	char buf[LINE_MAX_LEN], name[128];
	const char *rest;

	copy(buf, sizeof(buf), line, n);
	copy(log_state.tail[log_state.n++ % TAIL_LINES], LINE_MAX_LEN, buf, strlen(buf));

	if (strstr(buf, "-- BEGIN PROG LOAD LOG --")) {
		log_state.in_verifier_log = true;
		log_state.verifier_last[0] = log_state.verifier_source[0] = '\0';
		return;
	}
	if (log_state.in_verifier_log) {
		if (strstr(buf, "-- END PROG LOAD LOG --"))
			log_state.in_verifier_log = false;
		if (buf[0] == ';')	/* "; the C line @ file:line" */
			copy(log_state.verifier_source, LINE_MAX_LEN, buf + 1 + (buf[1] == ' '),
			     strlen(buf + 1 + (buf[1] == ' ')));
		else if (!summary_line(buf))
			copy(log_state.verifier_last, LINE_MAX_LEN, buf, strlen(buf));
		return;
	}
	if (named(buf, "prog '", name, sizeof(name), &rest)) {
		if (!strncmp(rest, "BPF program load failed", 23) ||
		    !strncmp(rest, "failed to load", 14)) {
			if (strcmp(name, log_state.failed_prog)) {
				/* a new failure: an older verifier log is not its */
				log_state.verifier_last[0] = log_state.verifier_source[0] = '\0';
				log_state.load_error[0] = '\0';
			}
			copy(log_state.failed_prog, sizeof(log_state.failed_prog), name, strlen(name));
			if (!log_state.load_error[0] || !strncmp(rest, "BPF program", 11))
				copy(log_state.load_error, LINE_MAX_LEN, rest, strlen(rest));
		} else if (strstr(rest, "failed") || strstr(rest, "invalid")) {
			/* relocation and attach-target errors, before the kernel */
			copy(log_state.failed_prog, sizeof(log_state.failed_prog), name, strlen(name));
			copy(log_state.load_error, LINE_MAX_LEN, rest, strlen(rest));
		}
	} else if (named(buf, "map '", name, sizeof(name), &rest) && strstr(rest, "failed")) {
		copy(log_state.failed_map, sizeof(log_state.failed_map), name, strlen(name));
		copy(log_state.load_error, LINE_MAX_LEN, rest, strlen(rest));
	}
}

void libbpf_log_feed(const char *msg)
{
	const char *p = msg;

	while (*p) {
		const char *nl = strchr(p, '\n');
		size_t n = nl ? (size_t)(nl - p) : strlen(p);

		if (!strncmp(p, "libbpf: ", 8)) {
			p += 8;
			n -= 8;
		}
		keep_line(p, n);
		p += n + (nl ? 1 : 0);
	}
}

static int print_libbpf(enum libbpf_print_level level, const char *fmt, va_list args)
{
	static char buf[1 << 16];
	va_list copy_args;
	int n;

	if (log_state.verbose) {
		va_copy(copy_args, args);
		vfprintf(stderr, fmt, copy_args);
		va_end(copy_args);
	}
	if (level == LIBBPF_DEBUG)
		return 0;
	n = vsnprintf(buf, sizeof(buf), fmt, args);
	if (n > 0 && (size_t)n >= sizeof(buf)) {
		/* a long verifier log: its end says why; the start is cut */
		char *big = malloc((size_t)n + 1);

		if (big) {
			va_copy(copy_args, args);
			vsnprintf(big, (size_t)n + 1, fmt, copy_args);
			va_end(copy_args);
			libbpf_log_feed(big);
			free(big);
			return n;
		}
	}
	libbpf_log_feed(buf);
	return n;
}

void libbpf_log_start(bool verbose)
{
	log_state.verbose = verbose;
	libbpf_set_print(print_libbpf);
}

void libbpf_log_clear(void)
{
	bool verbose = log_state.verbose;

	memset(&log_state, 0, sizeof(log_state));
	log_state.verbose = verbose;
}

const char *libbpf_log_failed_prog(void)
{
	return log_state.failed_prog[0] ? log_state.failed_prog : NULL;
}

const char *libbpf_log_failed_map(void)
{
	return log_state.failed_map[0] ? log_state.failed_map : NULL;
}

/* What the kernel's words say it lacks, for the common refusals. */
static const char *hint(const char *verdict)
{
	static const struct {
		const char *says, *means;
	} hints[] = {
		/* libbpf poisons an instruction whose CO-RE relocation found no
		 * match with this call (0xbad2310) */
		{ "unknown#195896080", "a kernel type or field it reads is missing here" },
		{ "unknown func", "a BPF helper this kernel does not have" },
		{ "_or_null", "this verifier wants a NULL check newer ones prove needless "
			      "(a conctrace bug: please report it)" },
		{ "th argument", "this kernel's event has another signature" },
		{ "too large", "a verifier limit this kernel sets lower" },
		{ "Operation not permitted", "this kernel's build forbids the program type" },
	};

	for (size_t i = 0; i < sizeof(hints) / sizeof(hints[0]); i++)
		if (strstr(verdict, hints[i].says))
			return hints[i].means;
	return NULL;
}

void libbpf_log_verdict(char *buf, size_t len)
{
	const char *h;
	size_t n;

	if (log_state.verifier_last[0] && log_state.verifier_source[0])
		snprintf(buf, len, "%s, at: %s", log_state.verifier_last, log_state.verifier_source);
	else if (log_state.verifier_last[0])
		snprintf(buf, len, "%s", log_state.verifier_last);
	else
		snprintf(buf, len, "%s", log_state.load_error);
	n = strlen(buf);
	if ((h = hint(buf)) && n + 1 < len)
		snprintf(buf + n, len - n, " (%s)", h);
}

void libbpf_log_print_tail(FILE *f, int n, const char *prefix)
{
	unsigned int have = log_state.n < TAIL_LINES ? log_state.n : TAIL_LINES;
	unsigned int from = log_state.n - (have < (unsigned int)n ? have : (unsigned int)n);

	for (unsigned int i = from; i < log_state.n; i++)
		fprintf(f, "%s%s\n", prefix, log_state.tail[i % TAIL_LINES]);
}
