// SPDX-License-Identifier: MIT
/*
 * Unit tests for the folded stack format (userspace/flame/folded.c): escaping of
 * frame names, summing of equal stacks, the frame-wise sorted output that
 * flamegraph.pl reads, and a table of 100k distinct stacks.
 *
 * Build and run:  make build/tests/test_folded && build/tests/test_folded
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "flame/folded.h"

/* ---- helpers --------------------------------------------------------------- */

/* the whole output of folded_write, as a string the caller frees */
static char *written(const struct folded *f)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&buf, &len);

	assert_non_null(out);
	assert_int_equal(folded_write(f, out), 0);
	assert_int_equal(fclose(out), 0);
	return buf;
}

static void add(struct folded *f, unsigned long long v, size_t n, ...)
{
	const char *frames[16];
	va_list ap;

	assert_true(n <= 16);
	va_start(ap, n);
	for (size_t i = 0; i < n; i++)
		frames[i] = va_arg(ap, const char *);
	va_end(ap);
	assert_int_equal(folded_add(f, frames, n, v), 0);
}

/* ---- tests ----------------------------------------------------------------- */

static void test_empty(void **state)
{
	struct folded *f = folded_new();
	char *out;

	(void)state;
	assert_non_null(f);
	out = written(f);
	assert_string_equal(out, "");
	assert_int_equal(folded_count(f), 0);
	assert_int_equal(folded_total(f), 0);
	free(out);
	folded_free(f);
	folded_free(NULL);		/* like free(): no-op */
}

static void test_sum_equal_stacks(void **state)
{
	struct folded *f = folded_new();
	char *out;

	(void)state;
	add(f, 10, 3, "main", "handle", "read");
	add(f, 5, 2, "main", "handle");
	add(f, 7, 3, "main", "handle", "read");
	assert_int_equal(folded_count(f), 2);
	assert_int_equal(folded_total(f), 22);
	out = written(f);
	assert_string_equal(out, "main;handle 5\nmain;handle;read 17\n");
	free(out);
	folded_free(f);
}

static void test_escaping(void **state)
{
	struct folded *f = folded_new(), *f2;
	char buf[64];
	char *out;

	(void)state;
	/* ';' would split a frame in two; a newline would split the line */
	add(f, 1, 3, "a;b", "line\nbreak\ttab\x7f", "with space");
	/* empty and NULL frames must not vanish: they would merge levels */
	add(f, 2, 3, "", "x", NULL);
	out = written(f);
	assert_string_equal(out, "[unknown];x;[unknown] 2\n"
			    "a:b;line?break?tab?;with space 1\n");
	free(out);

	assert_string_equal(folded_escape_frame("std::a;b\r", buf, sizeof(buf)), "std::a:b?");
	assert_string_equal(folded_escape_frame("", buf, sizeof(buf)), "[unknown]");
	assert_string_equal(folded_escape_frame(NULL, buf, sizeof(buf)), "[unknown]");
	assert_string_equal(folded_escape_frame("abcdef", buf, 4), "abc");
	/* bytes >= 0x80 (UTF-8) are kept as they are */
	assert_string_equal(folded_escape_frame("caf\xc3\xa9", buf, sizeof(buf)), "caf\xc3\xa9");
	/* ...when they make characters: a name cut in the middle of one (a
	 * symbol longer than a frame's buffer), stray bytes, an overlong form,
	 * a surrogate: each byte '?', so the file stays UTF-8 (XML, JSON) */
	assert_string_equal(folded_escape_frame("caf\xc3", buf, sizeof(buf)), "caf?");
	assert_string_equal(folded_escape_frame("\xff\xfe\xc0\xaf\xed\xa0\x80", buf, sizeof(buf)),
			    "???????");
	/* truncation keeps whole characters */
	assert_string_equal(folded_escape_frame("ab\xc3\xa9", buf, 4), "ab");
	assert_string_equal(folded_escape_frame("ab\xc3\xa9", buf, 5), "ab\xc3\xa9");
	f2 = folded_new();
	assert_non_null(f2);
	add(f2, 1, 2, "\xe2\x82", "\xe2\x82\xac\x80");
	out = written(f2);
	assert_string_equal(out, "??;\xe2\x82\xac? 1\n");
	free(out);
	folded_free(f2);
	folded_free(f);
}

static void test_no_frames_is_unknown(void **state)
{
	struct folded *f = folded_new();
	char *out;

	(void)state;
	assert_int_equal(folded_add(f, NULL, 0, 9), 0);
	out = written(f);
	assert_string_equal(out, "[unknown] 9\n");
	free(out);
	folded_free(f);
}

static void test_frame_wise_order(void **state)
{
	struct folded *f = folded_new();
	char *out;

	(void)state;
	/* strcmp would order "a b;x" (' ' < ';') between "a" and "a;y", which
	 * splits the frames under "a" in two runs */
	add(f, 1, 2, "a b", "x");
	add(f, 1, 2, "a", "y");
	add(f, 1, 1, "a");
	add(f, 1, 2, "a", "b");
	add(f, 1, 1, "B");
	add(f, 1, 2, "a.isra.0", "z");
	out = written(f);
	assert_string_equal(out, "B 1\na 1\na;b 1\na;y 1\na b;x 1\na.isra.0;z 1\n");
	free(out);
	assert_true(folded_stack_cmp("a;y", "a b;x") < 0);
	assert_true(folded_stack_cmp("a", "a;y") < 0);
	assert_int_equal(folded_stack_cmp("a;b", "a;b"), 0);
	folded_free(f);
}

struct collect {
	char prev[256];
	size_t n;
	unsigned long long sum;
	int sorted;
};

static void collect(void *ctx, const char *stack, unsigned long long value)
{
	struct collect *c = ctx;

	if (c->n && folded_stack_cmp(c->prev, stack) >= 0)
		c->sorted = 0;
	snprintf(c->prev, sizeof(c->prev), "%s", stack);
	c->n++;
	c->sum += value;
}

static void test_many_stacks(void **state)
{
	struct folded *f = folded_new();
	struct collect c = { .sorted = 1 };
	enum { N = 100000 };
	char a[32], b[32];

	(void)state;
	/* each stack twice, in an order unrelated to the sorted one */
	for (int round = 0; round < 2; round++)
		for (unsigned i = 0; i < N; i++) {
			unsigned k = (i * 7919u) % N;

			snprintf(a, sizeof(a), "f%u", k % 97);
			snprintf(b, sizeof(b), "g%u", k);
			add(f, k + 1, 3, "root", a, b);
		}
	assert_int_equal(folded_count(f), N);
	/* sum of 2 * (k + 1) over k < N */
	assert_int_equal(folded_total(f), (unsigned long long)N * (N + 1));
	folded_for_each(f, collect, &c);
	assert_int_equal(c.n, N);
	assert_int_equal(c.sum, (unsigned long long)N * (N + 1));
	assert_true(c.sorted);
	folded_free(f);
}

static void test_saturation(void **state)
{
	struct folded *f = folded_new();

	(void)state;
	add(f, ULLONG_MAX - 1, 1, "a");
	add(f, 5, 1, "a");
	add(f, 5, 1, "b");
	assert_int_equal(folded_total(f), ULLONG_MAX);
	folded_free(f);
}

static void test_long_stack(void **state)
{
	struct folded *f = folded_new();
	const char *frames[300];
	char name[300][16];
	char *out;

	(void)state;
	/* longer than the first scratch buffer: it must grow */
	for (int i = 0; i < 300; i++) {
		snprintf(name[i], sizeof(name[i]), "frame_%03d", i);
		frames[i] = name[i];
	}
	assert_int_equal(folded_add(f, frames, 300, 3), 0);
	out = written(f);
	assert_int_equal(strlen(out), 300 * 10 - 1 + strlen(" 3\n"));
	assert_memory_equal(out, "frame_000;frame_001;", 20);
	assert_string_equal(out + strlen(out) - 12, "frame_299 3\n");
	free(out);
	folded_free(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_sum_equal_stacks),
		cmocka_unit_test(test_escaping),
		cmocka_unit_test(test_no_frames_is_unknown),
		cmocka_unit_test(test_frame_wise_order),
		cmocka_unit_test(test_many_stacks),
		cmocka_unit_test(test_saturation),
		cmocka_unit_test(test_long_stack),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
