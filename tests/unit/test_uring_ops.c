// SPDX-License-Identifier: MIT
/* One label for an io_uring opcode in every output. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "host/uring_ops.h"

/* an opcode no kernel names gets op_N, as JSON always wrote it, in the
 * text report and in the by-name totals too (they used "?" and dropped it) */
static void test_unnamed_opcode_is_op_n(void **state)
{
	char buf[URING_OP_LABEL_LEN];

	(void)state;
	assert_string_equal(uring_op_label(255, buf, sizeof(buf)), "op_255");
}

/* a named one keeps the kernel's name (where this kernel has BTF) */
static void test_named_opcode_keeps_its_name(void **state)
{
	char buf[URING_OP_LABEL_LEN];

	(void)state;
	if (!uring_op_name(0))
		skip();	/* no io_uring in this kernel's BTF */
	assert_string_equal(uring_op_label(0, buf, sizeof(buf)), "NOP");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_unnamed_opcode_is_op_n),
		cmocka_unit_test(test_named_opcode_keeps_its_name),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
