// SPDX-License-Identifier: MIT
/*
 * Unit tests for the text report's sentences (userspace/report/report_text.c)
 * that say what a figure means: the closure line on both sides of 100%
 * (issue 19, row 13), and the headline with untracked connections (row 11).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report/report.h"

static char *render(struct report *r)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	assert_non_null(f);
	report_text(f, r);
	fclose(f);
	return text;
}

static void closure_report(struct report *r, struct agg *a, long long growth, __u64 attributed)
{
	memset(r, 0, sizeof(*r));
	agg_init(a, 0);
	r->target = "server";
	r->agg = a;
	r->has_closure = true;
	r->closure.growth_bytes = growth;
	r->closure.attributed_bytes = attributed;
}

static void test_closure_under_100_says_the_rest_is_others(void **state)
{
	struct report r;
	struct agg a;
	char *text;

	(void)state;
	closure_report(&r, &a, 4 << 20, 3 << 20);
	text = render(&r);
	assert_non_null(strstr(text, ": 75% (the rest is other processes'"));
	assert_null(strstr(text, "more than the growth"));
	free(text);
	agg_free(&a);
}

static void test_closure_over_100_says_others_freed(void **state)
{
	struct report r;
	struct agg a;
	char *text;

	(void)state;
	closure_report(&r, &a, 4 << 20, 5 << 20);
	text = render(&r);
	assert_non_null(strstr(text, ": 125% (more than the growth: other processes freed"));
	assert_null(strstr(text, "the rest is other processes'"));
	free(text);
	agg_free(&a);
}

static void test_headline_counts_untracked_connections(void **state)
{
	struct report r;
	struct agg a;
	char *text;

	(void)state;
	closure_report(&r, &a, 0, 0);
	r.has_closure = false;
	a.n = 1;
	r.proc.conns_untracked = 4;
	text = render(&r);
	assert_non_null(strstr(text, "connections: 5 (1 tracked, 4 not: --max-conns)"));
	free(text);
	a.n = 0;
	agg_free(&a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_closure_under_100_says_the_rest_is_others),
		cmocka_unit_test(test_closure_over_100_says_others_freed),
		cmocka_unit_test(test_headline_counts_untracked_connections),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
