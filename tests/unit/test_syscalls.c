// SPDX-License-Identifier: MIT
/*
 * Unit tests for syscall labels (userspace/model/syscalls.c): the one name
 * every output gives a syscall number, known or not. Prometheus refuses a
 * page where two series share a label set, and the tests join the JSON
 * report with the metrics page by name: so every number needs its own
 * label, and the same one everywhere.
 *
 * Build and run:  make build/tests/test_syscalls && build/tests/test_syscalls
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>

#include "conctrace.h"
#include "model/syscalls.h"

static void test_known_number_is_its_name(void **state)
{
	char buf[SYSCALL_LABEL_LEN] = "untouched";

	(void)state;
	assert_string_equal(syscall_label(SYS_read, buf, sizeof(buf)), "read");
	assert_string_equal(syscall_label(SYS_accept4, buf, sizeof(buf)), "accept4");
	assert_string_equal(syscall_label(SYS_epoll_ctl, buf, sizeof(buf)), "epoll_ctl");
	assert_string_equal(buf, "untouched");	/* a name needs no buffer */
}

static void test_number_past_the_table_is_syscall_n(void **state)
{
	char buf[SYSCALL_LABEL_LEN];

	(void)state;
	assert_null(syscall_name(100000));
	assert_ptr_equal(syscall_label(100000, buf, sizeof(buf)), buf);
	assert_string_equal(buf, "syscall_100000");
	assert_string_equal(syscall_label(4294967295u, buf, sizeof(buf)), "syscall_4294967295");
}

/* A gap in this architecture's numbering (x86_64 has none between 335
 * and 423): the label of a number no header names. */
static void test_gap_in_the_table_is_syscall_n(void **state)
{
	char buf[SYSCALL_LABEL_LEN], want[SYSCALL_LABEL_LEN];
	unsigned int nr;

	(void)state;
	for (nr = 0; nr < SYSCALL_MAX && syscall_name(nr); nr++)
		;
	if (nr == SYSCALL_MAX)
		skip();		/* every number below SYSCALL_MAX is named here */
	snprintf(want, sizeof(want), "syscall_%u", nr);
	assert_string_equal(syscall_label(nr, buf, sizeof(buf)), want);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* What Prometheus needs: as many labels as numbers. Two unknown numbers
 * used to share one ("unknown"), an invalid exposition. */
static void test_every_number_has_its_own_label(void **state)
{
	char *labels[SYSCALL_MAX];

	(void)state;
	for (unsigned int nr = 0; nr < SYSCALL_MAX; nr++) {
		char buf[SYSCALL_LABEL_LEN];

		labels[nr] = strdup(syscall_label(nr, buf, sizeof(buf)));
		assert_non_null(labels[nr]);
		assert_true(labels[nr][0] != '\0');
	}
	qsort(labels, SYSCALL_MAX, sizeof(labels[0]), cmp_str);
	for (unsigned int i = 1; i < SYSCALL_MAX; i++)
		assert_string_not_equal(labels[i - 1], labels[i]);
	for (unsigned int i = 0; i < SYSCALL_MAX; i++)
		free(labels[i]);
}

static void test_label_is_the_name_wherever_there_is_one(void **state)
{
	(void)state;
	for (unsigned int nr = 0; nr < SYSCALL_MAX; nr++) {
		char buf[SYSCALL_LABEL_LEN];
		const char *name = syscall_name(nr);

		if (name)
			assert_ptr_equal(syscall_label(nr, buf, sizeof(buf)), name);
	}
}

static void test_small_buffer_truncates(void **state)
{
	char buf[9];

	(void)state;
	assert_string_equal(syscall_label(100000, buf, sizeof(buf)), "syscall_");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_known_number_is_its_name),
		cmocka_unit_test(test_number_past_the_table_is_syscall_n),
		cmocka_unit_test(test_gap_in_the_table_is_syscall_n),
		cmocka_unit_test(test_every_number_has_its_own_label),
		cmocka_unit_test(test_label_is_the_name_wherever_there_is_one),
		cmocka_unit_test(test_small_buffer_truncates),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
