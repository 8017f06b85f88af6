// SPDX-License-Identifier: MIT
/*
 * Unit tests for the streaming JSON writer (userspace/report/json.c): exact text of
 * small documents (commas, nesting, indentation, escapes, number limits,
 * NaN as null), and a strict RFC 8259 validator run over a large document.
 *
 * Build and run:  make build/tests/test_json && build/tests/test_json
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report/json.h"

/* ---- a document in memory ------------------------------------------------------ */

struct doc {
	FILE *f;
	char *text;
	size_t len;
	struct json j;
};

static void doc_open(struct doc *d)
{
	d->text = NULL;
	d->len = 0;
	d->f = open_memstream(&d->text, &d->len);
	assert_non_null(d->f);
	json_init(&d->j, d->f);
}

/* the text so far, NUL-terminated; the caller frees it with doc_free */
static const char *doc_close(struct doc *d)
{
	assert_int_equal(fclose(d->f), 0);
	d->f = NULL;
	assert_non_null(d->text);
	return d->text;
}

static void doc_free(struct doc *d)
{
	free(d->text);
	d->text = NULL;
}

/* ---- a strict JSON validator (RFC 8259), decoding strings on the way ---------- */

struct parser {
	const char *p;
	int depth;
	/* the last string parsed, decoded (\u00XX only, enough for this writer) */
	char str[4096];
	size_t str_len;
};

static bool parse_value(struct parser *ps);

static void skip_ws(struct parser *ps)
{
	while (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r')
		ps->p++;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static bool parse_string(struct parser *ps)
{
	ps->str_len = 0;
	if (*ps->p++ != '"')
		return false;
	for (;;) {
		unsigned char c = (unsigned char)*ps->p++;
		unsigned out = c;

		if (c == '"')
			break;
		if (c < 0x20)		/* raw control characters (and the NUL) are invalid */
			return false;
		if (c == '\\') {
			c = (unsigned char)*ps->p++;
			switch (c) {
			case '"': out = '"'; break;
			case '\\': out = '\\'; break;
			case '/': out = '/'; break;
			case 'b': out = '\b'; break;
			case 'f': out = '\f'; break;
			case 'n': out = '\n'; break;
			case 'r': out = '\r'; break;
			case 't': out = '\t'; break;
			case 'u':
				out = 0;
				for (int i = 0; i < 4; i++) {
					int h = hexval(*ps->p++);

					if (h < 0)
						return false;
					out = out * 16 + (unsigned)h;
				}
				/* the writer needs no more than bytes and U+FFFD */
				if (out > 0xff && out != 0xfffd)
					return false;
				break;
			default:
				return false;
			}
		} else if (c >= 0x80) {
			/* raw UTF-8: a lead byte and its continuations */
			int more = c >= 0xf0 && c <= 0xf4 ? 3 : c >= 0xe0 && c <= 0xef ? 2 :
				   c >= 0xc2 && c <= 0xdf ? 1 : -1;

			if (more < 0)
				return false;
			for (int i = 0; i < more; i++)
				if (((unsigned char)ps->p[i] & 0xc0) != 0x80)
					return false;
		}
		if (out == 0xfffd) {
			out = 0xbd;	/* its UTF-8, then the last byte below */
			if (ps->str_len + 3 < sizeof(ps->str)) {
				ps->str[ps->str_len++] = (char)0xef;
				ps->str[ps->str_len++] = (char)0xbf;
			}
		}
		if (ps->str_len + 1 < sizeof(ps->str))
			ps->str[ps->str_len++] = (char)out;
	}
	ps->str[ps->str_len] = '\0';
	return true;
}

static bool parse_digits(struct parser *ps)
{
	const char *start = ps->p;

	while (*ps->p >= '0' && *ps->p <= '9')
		ps->p++;
	return ps->p > start;
}

static bool parse_number(struct parser *ps)
{
	if (*ps->p == '-')
		ps->p++;
	if (*ps->p == '0')
		ps->p++;
	else if (!(*ps->p >= '1' && *ps->p <= '9') || !parse_digits(ps))
		return false;
	if (*ps->p == '.') {
		ps->p++;
		if (!parse_digits(ps))
			return false;
	}
	if (*ps->p == 'e' || *ps->p == 'E') {
		ps->p++;
		if (*ps->p == '+' || *ps->p == '-')
			ps->p++;
		if (!parse_digits(ps))
			return false;
	}
	return true;
}

static bool parse_literal(struct parser *ps, const char *lit)
{
	size_t n = strlen(lit);

	if (strncmp(ps->p, lit, n))
		return false;
	ps->p += n;
	return true;
}

static bool parse_container(struct parser *ps, char close, bool object)
{
	ps->p++;
	skip_ws(ps);
	if (*ps->p == close) {
		ps->p++;
		return true;
	}
	for (;;) {
		skip_ws(ps);
		if (object) {
			if (*ps->p != '"' || !parse_string(ps))
				return false;
			skip_ws(ps);
			if (*ps->p++ != ':')
				return false;
		}
		if (!parse_value(ps))
			return false;
		skip_ws(ps);
		if (*ps->p == ',') {
			ps->p++;
			continue;
		}
		if (*ps->p++ != close)
			return false;
		return true;
	}
}

static bool parse_value(struct parser *ps)
{
	bool ok;

	skip_ws(ps);
	if (++ps->depth > 64)
		return false;
	switch (*ps->p) {
	case '{': ok = parse_container(ps, '}', true); break;
	case '[': ok = parse_container(ps, ']', false); break;
	case '"': ok = parse_string(ps); break;
	case 't': ok = parse_literal(ps, "true"); break;
	case 'f': ok = parse_literal(ps, "false"); break;
	case 'n': ok = parse_literal(ps, "null"); break;
	default: ok = parse_number(ps);
	}
	ps->depth--;
	return ok;
}

/* exactly one JSON value, surrounded by nothing but whitespace */
static bool json_valid(const char *text)
{
	struct parser ps = { .p = text };

	if (!parse_value(&ps))
		return false;
	skip_ws(&ps);
	return *ps.p == '\0';
}

/* ---- the validator itself must reject what is not JSON -------------------------- */

static void test_validator_rejects_invalid_json(void **state)
{
	static const char *const bad[] = {
		"", "{", "}", "[1,]", "[,1]", "{\"a\" 1}", "{\"a\":1,}", "{a:1}",
		"[1 2]", "nan", "NaN", "-", "01", "1.", ".5", "1e", "[\"\x01\"]",
		"[\"\\x\"]", "[\"\\u12\"]", "\"abc", "[1]]", "truth", "[] []",
	};
	static const char *const good[] = {
		"{}", "[]", "0", "-0", "1.5e+07", "-12", "\"a\\\"b\\u0001\"",
		"{\"a\": [1, {\"b\": null}], \"c\": true}", " [ ] \n",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (json_valid(bad[i]))
			fail_msg("validator accepted %s", bad[i]);
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		if (!json_valid(good[i]))
			fail_msg("validator rejected %s", good[i]);
}

/* ---- exact text --------------------------------------------------------------- */

static void test_empty_object_and_array(void **state)
{
	struct doc d;

	(void)state;
	doc_open(&d);
	json_begin_object(&d.j, NULL);
	json_end_object(&d.j);
	assert_string_equal(doc_close(&d), "{}\n");
	doc_free(&d);

	doc_open(&d);
	json_begin_array(&d.j, NULL);
	json_end_array(&d.j);
	assert_string_equal(doc_close(&d), "[]\n");
	doc_free(&d);
}

static void test_small_document_exact_text(void **state)
{
	struct doc d;
	struct json *j = &d.j;

	(void)state;
	doc_open(&d);
	json_begin_object(j, NULL);
	json_u64(j, "n", 3);
	json_string(j, "name", "epoll_echo");
	json_begin_array(j, "list");
	json_i64(j, NULL, -1);
	json_begin_object(j, NULL);
	json_bool(j, "ok", true);
	json_end_object(j);
	json_begin_array(j, NULL);
	json_end_array(j);
	json_end_array(j);
	json_begin_object(j, "empty");
	json_end_object(j);
	json_null(j, "none");
	json_bool(j, "off", false);
	json_end_object(j);
	assert_string_equal(doc_close(&d),
		"{\n"
		"  \"n\": 3,\n"
		"  \"name\": \"epoll_echo\",\n"
		"  \"list\": [\n"
		"    -1,\n"
		"    {\n"
		"      \"ok\": true\n"
		"    },\n"
		"    []\n"
		"  ],\n"
		"  \"empty\": {},\n"
		"  \"none\": null,\n"
		"  \"off\": false\n"
		"}\n");
	doc_free(&d);
}

static void test_integer_limits(void **state)
{
	struct doc d;
	struct json *j = &d.j;

	(void)state;
	doc_open(&d);
	json_begin_array(j, NULL);
	json_u64(j, NULL, UINT64_MAX);
	json_u64(j, NULL, 0);
	json_i64(j, NULL, INT64_MIN);
	json_i64(j, NULL, INT64_MAX);
	json_i64(j, NULL, -42);
	json_end_array(j);
	assert_string_equal(doc_close(&d),
		"[\n"
		"  18446744073709551615,\n"
		"  0,\n"
		"  -9223372036854775808,\n"
		"  9223372036854775807,\n"
		"  -42\n"
		"]\n");
	doc_free(&d);
}

static void test_doubles_and_non_finite_as_null(void **state)
{
	struct doc d;
	struct json *j = &d.j;

	(void)state;
	doc_open(&d);
	json_begin_object(j, NULL);
	json_double(j, "half", 0.5);
	json_double(j, "neg", -2.25);
	json_double(j, "int", 50.0);
	json_double(j, "nan", NAN);
	json_double(j, "inf", INFINITY);
	json_double(j, "ninf", -INFINITY);
	json_end_object(j);
	assert_string_equal(doc_close(&d),
		"{\n"
		"  \"half\": 0.5,\n"
		"  \"neg\": -2.25,\n"
		"  \"int\": 50,\n"
		"  \"nan\": null,\n"
		"  \"inf\": null,\n"
		"  \"ninf\": null\n"
		"}\n");
	doc_free(&d);
}

static void test_doubles_extremes_are_valid_json(void **state)
{
	static const double v[] = { DBL_MAX, -DBL_MAX, DBL_MIN, 5e-324, -0.0, 1e300, 1e-7, 123456789.0 };
	struct doc d;

	(void)state;
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		doc_open(&d);
		json_begin_array(&d.j, NULL);
		json_double(&d.j, NULL, v[i]);
		json_end_array(&d.j);
		if (!json_valid(doc_close(&d)))
			fail_msg("invalid JSON for %g: %s", v[i], d.text);
		doc_free(&d);
	}
}

/* figures like a mean CPU time in ns must survive the trip through JSON */
static void test_doubles_round_trip_exactly(void **state)
{
	static const double v[] = { 12345678.9, 1234567.5, 0.1, 3.14159265358979, 1e15 + 1 };
	struct doc d;

	(void)state;
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		double back;

		doc_open(&d);
		json_double(&d.j, NULL, v[i]);
		back = strtod(doc_close(&d), NULL);
		if (back != v[i])
			fail_msg("%.17g written as %s", v[i], d.text);
		doc_free(&d);
	}
}

static void test_escapes_exact_text(void **state)
{
	struct doc d;

	(void)state;
	doc_open(&d);
	json_begin_object(&d.j, NULL);
	json_string(&d.j, "s", "q\"b\\n\nt\tr\rc\x01\x1f/\x7f");
	json_string(&d.j, "k\"ey", "v");
	json_string(&d.j, "null_is_empty", NULL);
	json_end_object(&d.j);
	assert_string_equal(doc_close(&d),
		"{\n"
		"  \"s\": \"q\\\"b\\\\n\\nt\\tr\\rc\\u0001\\u001f/\x7f\",\n"
		"  \"k\\\"ey\": \"v\",\n"
		"  \"null_is_empty\": \"\"\n"
		"}\n");
	doc_free(&d);
}

/* in escaped as a JSON string, then read back by the validator */
static void escape_and_parse(const char *in, struct doc *d, struct parser *ps)
{
	doc_open(d);
	json_write_escaped(d->f, in);
	*ps = (struct parser){ .p = doc_close(d) };
	assert_true(parse_string(ps));
	assert_int_equal(*ps->p, '\0');	/* nothing after the closing quote */
}

/* every byte 0x01..0x7f survives escaping: decode it back and compare */
static void test_escape_every_byte_round_trips(void **state)
{
	char in[128];
	struct doc d;
	struct parser ps;

	(void)state;
	for (int i = 1; i < 128; i++)
		in[i - 1] = (char)i;
	in[127] = '\0';
	escape_and_parse(in, &d, &ps);
	assert_int_equal(ps.str_len, 127);
	assert_memory_equal(ps.str, in, 127);
	doc_free(&d);
}

/* JSON is UTF-8, a path or a symbol any bytes: characters are kept, each
 * byte of none (invalid, cut short, overlong, a surrogate) is U+FFFD */
static void test_invalid_utf8_replaced(void **state)
{
	static const struct { const char *in, *out; } cases[] = {
		{ "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x90\x8d", "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x90\x8d\"" },
		{ "\xff", "\"\\ufffd\"" },
		{ "a\xc3", "\"a\\ufffd\"" },			/* cut at the end */
		{ "\xe2\x82x", "\"\\ufffd\\ufffdx\"" },	/* cut in the middle */
		{ "\xc0\xaf", "\"\\ufffd\\ufffd\"" },		/* overlong '/' */
		{ "\xed\xa0\x80", "\"\\ufffd\\ufffd\\ufffd\"" },	/* a surrogate */
	};
	char all[256];
	struct doc d;
	struct parser ps;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		doc_open(&d);
		json_write_escaped(d.f, cases[i].in);
		assert_string_equal(doc_close(&d), cases[i].out);
		doc_free(&d);
	}
	/* every byte at once: the validator takes it */
	for (int i = 1; i < 256; i++)
		all[i - 1] = (char)i;
	all[255] = '\0';
	escape_and_parse(all, &d, &ps);
	doc_free(&d);
}

static void test_top_level_scalar_has_no_comma(void **state)
{
	struct doc d;

	(void)state;
	doc_open(&d);
	json_string(&d.j, NULL, "x");
	assert_string_equal(doc_close(&d), "\"x\"");
	doc_free(&d);
}

/* ---- a large document, checked by the validator ------------------------------ */

static void write_conn(struct json *j, unsigned i)
{
	char path[64];

	snprintf(path, sizeof(path), "/tmp/s\"%u\\.sock\n\x02", i);
	json_begin_object(j, NULL);
	json_u64(j, "id", 1000000 + i);
	json_i64(j, "fd", i % 7 ? (int64_t)i : -1);
	json_string(j, "local", path);
	json_double(j, "ratio", i % 5 ? (double)i / 3.0 : NAN);
	json_bool(j, "closed", i % 2);
	json_begin_array(j, "syscalls");
	for (unsigned k = 0; k < i % 4; k++) {
		json_begin_object(j, NULL);
		json_string(j, "name", "recvfrom");
		json_u64(j, "count", k);
		json_end_object(j);
	}
	json_end_array(j);
	json_begin_object(j, "empty");
	json_end_object(j);
	json_end_object(j);
}

static void test_large_document_is_valid_json(void **state)
{
	struct doc d;
	struct json *j = &d.j;
	const char *text;

	(void)state;
	doc_open(&d);
	json_begin_object(j, NULL);
	json_string(j, "version", "0.1.0");
	json_u64(j, "max", UINT64_MAX);
	json_i64(j, "min", INT64_MIN);
	json_double(j, "nan", NAN);
	json_begin_object(j, "per_connection");
	for (int m = 0; m < 5; m++) {
		char key[16];

		snprintf(key, sizeof(key), "metric%d", m);
		json_begin_object(j, key);
		json_double(j, "mean", 1e6 / (m + 1));
		json_u64(j, "p50", (uint64_t)m);
		json_end_object(j);
	}
	json_end_object(j);
	json_begin_array(j, "conns");
	for (unsigned i = 0; i < 500; i++)
		write_conn(j, i);
	json_end_array(j);
	json_begin_array(j, "nested");
	for (int k = 0; k < 10; k++)
		json_begin_array(j, NULL);
	json_u64(j, NULL, 1);
	for (int k = 0; k < 10; k++)
		json_end_array(j);
	json_u64(j, NULL, 2);
	json_end_array(j);
	json_end_object(j);
	text = doc_close(&d);

	assert_true(d.len > 50000);
	assert_true(json_valid(text));
	/* one trailing newline, after the closing brace */
	assert_string_equal(text + d.len - 2, "}\n");
	doc_free(&d);
}

/* nesting deeper than JSON_MAX_DEPTH must not corrupt the document */
static void test_nesting_beyond_max_depth_stays_valid(void **state)
{
	struct doc d;
	struct json *j = &d.j;

	(void)state;
	doc_open(&d);
	json_begin_array(j, NULL);
	for (int k = 0; k < JSON_MAX_DEPTH + 4; k++) {
		json_begin_array(j, NULL);
		json_u64(j, NULL, (uint64_t)k);
	}
	for (int k = 0; k < JSON_MAX_DEPTH + 4; k++) {
		json_end_array(j);
		json_u64(j, NULL, 100 + (uint64_t)k);	/* a sibling after each close */
	}
	json_end_array(j);
	if (!json_valid(doc_close(&d)))
		fail_msg("invalid JSON:\n%s", d.text);
	doc_free(&d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_validator_rejects_invalid_json),
		cmocka_unit_test(test_empty_object_and_array),
		cmocka_unit_test(test_small_document_exact_text),
		cmocka_unit_test(test_integer_limits),
		cmocka_unit_test(test_doubles_and_non_finite_as_null),
		cmocka_unit_test(test_doubles_extremes_are_valid_json),
		cmocka_unit_test(test_doubles_round_trip_exactly),
		cmocka_unit_test(test_escapes_exact_text),
		cmocka_unit_test(test_escape_every_byte_round_trips),
		cmocka_unit_test(test_invalid_utf8_replaced),
		cmocka_unit_test(test_top_level_scalar_has_no_comma),
		cmocka_unit_test(test_large_document_is_valid_json),
		cmocka_unit_test(test_nesting_beyond_max_depth_stays_valid),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
