// SPDX-License-Identifier: MIT
/*
 * Unit tests for the SVG flame graph (userspace/flame/flame_svg.c): XML escaping of
 * hostile names, a well-formedness check of whole documents, box positions
 * and widths against the values of a synthetic folded set, frames under
 * FLAME_MIN_SHARE left out but kept in their parent's width, value units,
 * colours within their palette.
 *
 * Build and run:  make build/tests/test_flame_svg && build/tests/test_flame_svg
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "flame/flame_svg.h"
#include "flame/folded.h"

/* ---- helpers --------------------------------------------------------------- */

static char *escaped(const char *s)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&buf, &len);

	assert_non_null(out);
	flame_xml_escape(out, s);
	assert_int_equal(fclose(out), 0);
	return buf;
}

static char *svg_of(const struct folded *f, const struct flame_opts *o)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&buf, &len);

	assert_non_null(out);
	assert_int_equal(flame_svg_write(out, f, o), 0);
	assert_int_equal(fclose(out), 0);
	return buf;
}

static void add(struct folded *f, const char *stack, unsigned long long v)
{
	char copy[512], *frames[32], *save = NULL;
	size_t n = 0;

	snprintf(copy, sizeof(copy), "%s", stack);
	for (char *t = strtok_r(copy, ";", &save); t; t = strtok_r(NULL, ";", &save))
		frames[n++] = t;
	assert_int_equal(folded_add(f, (const char *const *)frames, n, v), 0);
}

/* length of the entity at p (the five of XML), 0 if none is there */
static size_t entity_len(const char *p)
{
	static const char *const ent[] = { "&amp;", "&lt;", "&gt;", "&quot;", "&apos;" };

	for (size_t k = 0; k < 5; k++)
		if (!strncmp(p, ent[k], strlen(ent[k])))
			return strlen(ent[k]);
	return 0;
}

/*
 * A small XML well-formedness check, enough for what flame_svg writes:
 * balanced and properly nested elements, quoted attributes, no raw '<' or
 * '&' in text or attributes (only the five entities and numeric ones),
 * CDATA and the XML declaration skipped, no control characters, one root.
 * Returns NULL or what is wrong.
 */
static const char *xml_check(const char *doc)
{
	const char *stack[64];
	int depth = 0, roots = 0;
	const char *p = doc;

	while (*p) {
		if ((unsigned char)*p < 0x20 && !strchr("\t\n\r", *p))
			return "control character";
		if (!strncmp(p, "<?", 2)) {
			p = strstr(p, "?>");
			if (!p)
				return "unterminated <?";
			p += 2;
		} else if (!strncmp(p, "<![CDATA[", 9)) {
			p = strstr(p, "]]>");
			if (!p)
				return "unterminated CDATA";
			p += 3;
		} else if (!strncmp(p, "</", 2)) {
			size_t len = strcspn(p + 2, ">");

			if (!depth)
				return "end tag without start";
			depth--;
			if (strncmp(stack[depth], p + 2, len) ||
			    (stack[depth][len] && !strchr(" \t\n/>", stack[depth][len])))
				return "mismatched end tag";
			p += 2 + len + 1;
		} else if (*p == '<') {
			const char *name = ++p;
			size_t nlen = strcspn(p, " \t\n/>");

			if (!nlen)
				return "empty tag name";
			p += nlen;
			for (;;) {			/* attributes */
				while (*p == ' ' || *p == '\n' || *p == '\t')
					p++;
				if (*p == '>' || !strncmp(p, "/>", 2))
					break;
				p += strcspn(p, "= \t\n>");
				if (*p++ != '=' || *p != '"')
					return "unquoted attribute";
				for (p++; *p != '"'; p++) {
					if (!*p || *p == '<')
						return "bad attribute value";
					if (*p == '&' && !entity_len(p))
						return "raw & in attribute";
				}
				p++;
			}
			if (*p == '/') {
				p += 2;
			} else {
				if (!depth && roots++)
					return "two root elements";
				if (depth == 64)
					return "too deep";
				stack[depth++] = name;
				p++;
			}
		} else if (*p == '&') {
			if (!entity_len(p))
				return "raw & in text";
			p += entity_len(p);
		} else if (*p == '>') {
			return "raw > in text";		/* legal XML, but never ours */
		} else {
			p++;
		}
	}
	if (depth)
		return "unclosed element";
	return roots == 1 ? NULL : "no root element";
}

/* ---- tests ----------------------------------------------------------------- */

static void test_xml_escape(void **state)
{
	char *s;

	(void)state;
	s = escaped("a&b<c>\"d'e");
	assert_string_equal(s, "a&amp;b&lt;c&gt;&quot;d&apos;e");
	free(s);
	/* XML 1.0 has no control characters, not even as entities */
	s = escaped("x\x01y\x1b[0mz\x7f");
	assert_string_equal(s, "x?y?[0mz\x7f");
	free(s);
	/* valid UTF-8 stays: 2, 3 and 4 bytes */
	s = escaped("caf\xc3\xa9 \xe2\x9c\x93 \xf0\x9f\x98\x80");
	assert_string_equal(s, "caf\xc3\xa9 \xe2\x9c\x93 \xf0\x9f\x98\x80");
	free(s);
	/* invalid: stray byte, truncated, overlong '/', surrogate, > U+10FFFF */
	s = escaped("a\xff" "b\xc3" "c\xc0\xaf" "d\xed\xa0\x80" "e\xf4\x90\x80\x80" "f");
	assert_string_equal(s, "a?b?c??d???e????f");
	free(s);
	s = escaped(NULL);
	assert_string_equal(s, "");
	free(s);
}

static void test_xml_checker_catches(void **state)
{
	(void)state;
	/* the checker itself must be able to fail */
	assert_null(xml_check("<a x=\"1\"><b/>t&amp;</a>"));
	assert_non_null(xml_check("<a><b></a></b>"));
	assert_non_null(xml_check("<a>x & y</a>"));
	assert_non_null(xml_check("<a x=\"&\"></a>"));
	assert_non_null(xml_check("<a>x < y</a>"));
	assert_non_null(xml_check("<a x=1></a>"));
	assert_non_null(xml_check("<a></a><b></b>"));
	assert_non_null(xml_check("<a>"));
	assert_non_null(xml_check("<a>\x01</a>"));
}

static void test_svg_well_formed_with_hostile_names(void **state)
{
	struct folded *f = folded_new();
	struct flame_opts o = {
		.title = "<script>alert('x')</script> & \"friends\"",
		.subtitle = "]]> inside",
		.palette = FLAME_MEM, .unit = FLAME_BYTES,
	};
	char *svg;
	const char *err;

	(void)state;
	add(f, "main;a&b<c>;\"quoted\" 'single'", 100);
	add(f, "main;]]>;x", 100);
	add(f, "main;bad\xff utf8;\xc3", 100);
	add(f, "main;std::vector<int>::push_back", 100);
	svg = svg_of(f, &o);
	err = xml_check(svg);
	if (err)
		fail_msg("not well-formed: %s", err);
	assert_non_null(strstr(svg, "<title>a&amp;b&lt;c&gt; \xe2\x80\x94 100B (25.00%)</title>"));
	assert_non_null(strstr(svg, "&lt;script&gt;alert(&apos;x&apos;)&lt;/script&gt; &amp; "
				    "&quot;friends&quot;"));
	assert_non_null(strstr(svg, "bad? utf8"));
	/* the script is inside one CDATA section, nothing else is */
	assert_non_null(strstr(svg, "<script><![CDATA[\n"));
	assert_null(strstr(strstr(svg, "<![CDATA[") + 9, "<![CDATA["));
	/* nothing fetched: the only URL is the SVG namespace name */
	assert_non_null(strstr(svg, "xmlns=\"http://www.w3.org/2000/svg\""));
	assert_null(strstr(strstr(svg, "http://") + 1, "http"));
	assert_null(strstr(svg, "href"));
	free(svg);
	folded_free(f);
}

static void test_layout_positions(void **state)
{
	struct folded *f = folded_new();
	struct flame_layout l;
	const struct flame_frame *fr;

	(void)state;
	add(f, "main;handle;read", 300);
	add(f, "main;handle;write", 200);
	add(f, "main;handle", 50);		/* self: the gap right of the children */
	add(f, "main;accept", 100);
	add(f, "idle", 350);
	assert_int_equal(flame_layout_build(f, 0, &l), 0);
	assert_int_equal(l.total, 1000);
	assert_int_equal(l.n, 7);
	assert_int_equal(l.max_depth, 3);
	/* pre-order, children alphabetically: all, idle, main, accept, handle,
	 * read, write */
	static const struct { const char *name; unsigned d; unsigned long long s, v; } want[] = {
		{ "all", 0, 0, 1000 },
		{ "idle", 1, 0, 350 },
		{ "main", 1, 350, 650 },
		{ "accept", 2, 350, 100 },
		{ "handle", 2, 450, 550 },
		{ "read", 3, 450, 300 },
		{ "write", 3, 750, 200 },
	};
	for (size_t i = 0; i < l.n; i++) {
		fr = &l.frames[i];
		assert_string_equal(fr->name, want[i].name);
		assert_int_equal(fr->depth, want[i].d);
		assert_int_equal(fr->start, want[i].s);
		assert_int_equal(fr->value, want[i].v);
	}
	flame_layout_free(&l);
	folded_free(f);
}

/* Every frame lies inside its parent, and its siblings do not overlap. */
static void check_nesting(const struct flame_layout *l)
{
	for (size_t i = 1; i < l->n; i++) {
		const struct flame_frame *c = &l->frames[i], *p = NULL;

		for (size_t j = i; j-- > 0;)		/* pre-order: the parent is before */
			if (l->frames[j].depth == c->depth - 1) {
				p = &l->frames[j];
				break;
			}
		assert_non_null(p);
		assert_true(c->start >= p->start);
		assert_true(c->start + c->value <= p->start + p->value);
		if (l->frames[i - 1].depth == c->depth)	/* previous sibling */
			assert_true(l->frames[i - 1].start + l->frames[i - 1].value <= c->start);
	}
}

static void test_tiny_frames_omitted(void **state)
{
	struct folded *f = folded_new();
	struct flame_layout l;
	bool big = false, tiny = false, under_tiny = false;

	(void)state;
	add(f, "main;big", 99800);
	add(f, "main;tiny;deeper", 99);		/* 0.099% of 100000 */
	add(f, "main;z_edge", 100);		/* exactly 0.1%: kept, after the gap */
	add(f, "main", 1);
	assert_int_equal(flame_layout_build(f, FLAME_MIN_SHARE, &l), 0);
	for (size_t i = 0; i < l.n; i++) {
		big |= !strcmp(l.frames[i].name, "big");
		tiny |= !strcmp(l.frames[i].name, "tiny");
		under_tiny |= !strcmp(l.frames[i].name, "deeper");
		if (!strcmp(l.frames[i].name, "main"))	/* still counts them */
			assert_int_equal(l.frames[i].value, 100000);
		if (!strcmp(l.frames[i].name, "z_edge"))
			assert_int_equal(l.frames[i].start, 99800 + 99);
	}
	assert_true(big);
	assert_false(tiny);
	assert_false(under_tiny);
	assert_int_equal(l.n, 4);		/* all, main, big, z_edge */
	check_nesting(&l);
	flame_layout_free(&l);
	folded_free(f);
}

/* sum of the width="" of the boxes at one depth, read back from the SVG */
static double svg_width_sum(const char *svg, unsigned depth, unsigned *count)
{
	char key[32];
	double sum = 0;

	snprintf(key, sizeof(key), "<g data-d=\"%u\" ", depth);
	*count = 0;
	for (const char *p = strstr(svg, key); p; p = strstr(p + 1, key)) {
		const char *w = strstr(strstr(p, "<rect "), " width=\"");

		sum += strtod(w + 8, NULL);
		(*count)++;
	}
	return sum;
}

static void test_svg_widths_sum(void **state)
{
	struct folded *f = folded_new();
	struct flame_opts o = { .unit = FLAME_NS, .width = 1000 };
	unsigned n;
	char name[32], *svg;

	(void)state;
	/* 40 siblings of different values, none under 0.1%: at depth 2 they fill
	 * the parent, which fills the width minus 2 x 10 px of padding */
	for (int i = 0; i < 40; i++) {
		snprintf(name, sizeof(name), "root;child%02d", i);
		add(f, name, 1000 + 37 * (unsigned)i);
	}
	svg = svg_of(f, &o);
	assert_true(fabs(svg_width_sum(svg, 0, &n) - 980) < 0.01);
	assert_int_equal(n, 1);
	assert_true(fabs(svg_width_sum(svg, 1, &n) - 980) < 0.01);
	assert_int_equal(n, 1);
	/* each width is rounded to 0.01 px: 40 of them within 0.2 px */
	assert_true(fabs(svg_width_sum(svg, 2, &n) - 980) < 0.2);
	assert_int_equal(n, 40);
	assert_null(xml_check(svg));
	free(svg);
	folded_free(f);
}

static void test_one_pass_needs_frame_wise_order(void **state)
{
	struct folded *f = folded_new();
	struct flame_layout l;
	int a = 0;

	(void)state;
	/* with strcmp order "a b;x" falls between "a" and "a;y": "a" twice */
	add(f, "a", 1);
	add(f, "a b;x", 1);
	add(f, "a;y", 1);
	assert_int_equal(flame_layout_build(f, 0, &l), 0);
	for (size_t i = 0; i < l.n; i++)
		a += !strcmp(l.frames[i].name, "a");
	assert_int_equal(a, 1);
	check_nesting(&l);
	flame_layout_free(&l);
	folded_free(f);
}

static void test_labels_fit(void **state)
{
	struct folded *f = folded_new();
	struct flame_opts o = { .width = 1200 };
	char *svg;

	(void)state;
	/* 10% of 1180 px = 118 px = 16 characters of 7.08 px */
	add(f, "a_function_name_that_is_long", 10);
	add(f, "short", 10);
	add(f, "z_other", 80);
	svg = svg_of(f, &o);
	assert_non_null(strstr(svg, ">a_function_nam..</text>"));
	assert_non_null(strstr(svg, ">short</text>"));
	free(svg);
	folded_free(f);
}

static void test_empty_graph(void **state)
{
	struct folded *f = folded_new();
	struct flame_opts o = { 0 };
	char *svg;

	(void)state;
	svg = svg_of(f, &o);
	assert_null(xml_check(svg));
	assert_non_null(strstr(svg, "No samples"));
	free(svg);
	o.width = -1;
	assert_int_equal(flame_svg_write(stdout, f, &o), -EINVAL);
	o.width = 0;
	o.unit = (enum flame_unit)7;
	assert_int_equal(flame_svg_write(stdout, f, &o), -EINVAL);
	folded_free(f);
}

static void test_units(void **state)
{
	char buf[32];

	(void)state;
	assert_string_equal(flame_format_value(512, FLAME_BYTES, buf, sizeof(buf)), "512B");
	assert_string_equal(flame_format_value(1258291, FLAME_BYTES, buf, sizeof(buf)), "1.2MiB");
	assert_string_equal(flame_format_value(812, FLAME_NS, buf, sizeof(buf)), "812ns");
	assert_string_equal(flame_format_value(3400000, FLAME_NS, buf, sizeof(buf)), "3.40ms");
	assert_string_equal(flame_format_value(2500000000ULL, FLAME_NS, buf, sizeof(buf)), "2.50s");
	assert_string_equal(flame_format_value(1234, FLAME_COUNT, buf, sizeof(buf)), "1234");
	assert_string_equal(flame_format_value(45600, FLAME_COUNT, buf, sizeof(buf)), "45.6k");
}

static void test_colors(void **state)
{
	char a[32], b[32];
	int r, g, bl, distinct = 0;
	char name[16], prev[32] = "";

	(void)state;
	/* deterministic */
	assert_string_equal(flame_color(FLAME_HOT, "tcp_sendmsg", a, sizeof(a)),
			    flame_color(FLAME_HOT, "tcp_sendmsg", b, sizeof(b)));
	for (int i = 0; i < 200; i++) {
		snprintf(name, sizeof(name), "f%d", i);
		/* memory: greens and blues, no red (flamegraph.pl --colors=mem) */
		flame_color(FLAME_MEM, name, a, sizeof(a));
		assert_int_equal(sscanf(a, "rgb(%d,%d,%d)", &r, &g, &bl), 3);
		assert_int_equal(r, 0);
		assert_true(g >= 190 && g <= 240 && bl >= 0 && bl <= 210);
		/* hot: reds to yellows */
		flame_color(FLAME_HOT, name, a, sizeof(a));
		assert_int_equal(sscanf(a, "rgb(%d,%d,%d)", &r, &g, &bl), 3);
		assert_true(r >= 205 && r <= 255 && g <= 230 && bl <= 55);
		distinct += strcmp(a, prev) != 0;
		snprintf(prev, sizeof(prev), "%s", a);
	}
	assert_true(distinct > 190);		/* names are told apart */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_xml_escape),
		cmocka_unit_test(test_xml_checker_catches),
		cmocka_unit_test(test_svg_well_formed_with_hostile_names),
		cmocka_unit_test(test_layout_positions),
		cmocka_unit_test(test_tiny_frames_omitted),
		cmocka_unit_test(test_svg_widths_sum),
		cmocka_unit_test(test_one_pass_needs_frame_wise_order),
		cmocka_unit_test(test_labels_fit),
		cmocka_unit_test(test_empty_graph),
		cmocka_unit_test(test_units),
		cmocka_unit_test(test_colors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
