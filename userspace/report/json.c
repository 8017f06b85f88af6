// SPDX-License-Identifier: MIT
/* A small streaming JSON writer (see json.h). */
#include "report/json.h"

#include <inttypes.h>
#include <math.h>
#include <stdlib.h>

#include "report/format.h"

void json_init(struct json *j, FILE *f)
{
	j->f = f;
	j->depth = 0;
	j->need_comma[0] = false;
}

void json_write_escaped(FILE *f, const char *s)
{
	fputc('"', f);
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		size_t n;

		switch (*p) {
		case '"': fputs("\\\"", f); break;
		case '\\': fputs("\\\\", f); break;
		case '\n': fputs("\\n", f); break;
		case '\r': fputs("\\r", f); break;
		case '\t': fputs("\\t", f); break;
		default:
			if (*p < 0x20) {
				fprintf(f, "\\u%04x", *p);
			} else if (*p < 0x80) {
				fputc(*p, f);
			} else if ((n = fmt_utf8_len((const char *)p)) > 1) {
				fwrite(p, 1, n, f);
				p += n - 1;
			} else {
				/* a byte of no character (a path or a name is
				 * any bytes): JSON is UTF-8 */
				fputs("\\ufffd", f);
			}
		}
	}
	fputc('"', f);
}

static void key(struct json *j, const char *k)
{
	if (j->need_comma[j->depth])
		fputc(',', j->f);
	j->need_comma[j->depth] = true;
	if (j->depth) {
		fputc('\n', j->f);
		for (int i = 0; i < j->depth; i++)
			fputs("  ", j->f);
	}
	if (k) {
		json_write_escaped(j->f, k);
		fputs(": ", j->f);
	}
}

static void open_scope(struct json *j, const char *k, char c)
{
	key(j, k);
	fputc(c, j->f);
	if (j->depth + 1 < JSON_MAX_DEPTH)
		j->depth++;
	j->need_comma[j->depth] = false;
}

static void close_scope(struct json *j, char c)
{
	bool had_items = j->need_comma[j->depth];

	if (j->depth > 0)
		j->depth--;
	if (had_items) {
		fputc('\n', j->f);
		for (int i = 0; i < j->depth; i++)
			fputs("  ", j->f);
	}
	fputc(c, j->f);
	if (j->depth == 0)
		fputc('\n', j->f);
}

void json_begin_object(struct json *j, const char *k) { open_scope(j, k, '{'); }
void json_end_object(struct json *j) { close_scope(j, '}'); }
void json_begin_array(struct json *j, const char *k) { open_scope(j, k, '['); }
void json_end_array(struct json *j) { close_scope(j, ']'); }

void json_u64(struct json *j, const char *k, uint64_t v)
{
	key(j, k);
	fprintf(j->f, "%" PRIu64, v);
}

void json_i64(struct json *j, const char *k, int64_t v)
{
	key(j, k);
	fprintf(j->f, "%" PRId64, v);
}

void json_double(struct json *j, const char *k, double v)
{
	char buf[32];

	key(j, k);
	if (!isfinite(v)) {
		fputs("null", j->f);	/* JSON has no NaN or Infinity */
		return;
	}
	/* the shortest of 15 or 17 digits that reads back as the same double */
	snprintf(buf, sizeof(buf), "%.15g", v);
	if (strtod(buf, NULL) != v)
		snprintf(buf, sizeof(buf), "%.17g", v);
	fputs(buf, j->f);
}

void json_string(struct json *j, const char *k, const char *s)
{
	key(j, k);
	json_write_escaped(j->f, s ? s : "");
}

void json_bool(struct json *j, const char *k, bool v)
{
	key(j, k);
	fputs(v ? "true" : "false", j->f);
}

void json_null(struct json *j, const char *k)
{
	key(j, k);
	fputs("null", j->f);
}
