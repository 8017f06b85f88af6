// SPDX-License-Identifier: MIT
/* Where code calls or jumps to an address (host/elf_sections.h): the
 * sites conctrace's uprobes take instead of a PLT stub. */
#include <libgen.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "host/elf_sections.h"

#define BASE 0x1000

/* an instruction of opcode op at code[at] whose rel32 lands on to */
static void branch(unsigned char *code, size_t at, unsigned char op, GElf_Addr to)
{
	int32_t rel = (int32_t)(to - (BASE + at + 5));

	code[at] = op;
	memcpy(code + at + 1, &rel, sizeof(rel));
}

/* calls and tail jumps to the target, forwards and backwards, are found
 * where they start; branches elsewhere and other bytes are not */
static void test_finds_calls_and_jumps_to_the_target(void **state)
{
	unsigned char code[64];
	GElf_Off at[8];

	(void)state;
	memset(code, 0x90, sizeof(code));
	branch(code, 1, 0xe8, 0x2000);		/* call target */
	branch(code, 6, 0xe8, 0x2004);		/* call elsewhere */
	code[11] = 0x48, code[12] = 0x89, code[13] = 0xe5;	/* mov %rsp,%rbp */
	branch(code, 20, 0xe9, 0x2000);		/* jmp target */
	branch(code, 30, 0xeb, 0x2000);		/* not a rel32 branch */
	assert_int_equal(code_branches_to(code, sizeof(code), BASE, 0x2000, at, 8), 2);
	assert_int_equal(at[0], 1);
	assert_int_equal(at[1], 20);
	branch(code, 40, 0xe8, 0x800);		/* a target below the code */
	assert_int_equal(code_branches_to(code, sizeof(code), BASE, 0x800, at, 8), 1);
	assert_int_equal(at[0], 40);
}

/* a branch whose rel32 would run past the code's end is not read */
static void test_reads_nothing_past_the_end(void **state)
{
	unsigned char code[8];
	GElf_Off at[1];

	(void)state;
	memset(code, 0x90, sizeof(code));
	branch(code, 3, 0xe8, 0x2000);
	assert_int_equal(code_branches_to(code, 7, BASE, 0x2000, at, 1), 0);
	assert_int_equal(code_branches_to(code, 8, BASE, 0x2000, at, 1), 1);
}

/* more sites than room: all are counted, the first n kept (the caller
 * then probes the target itself) */
static void test_counts_past_the_room_it_has(void **state)
{
	unsigned char code[32];
	GElf_Off at[2] = { 0, 0 };

	(void)state;
	memset(code, 0x90, sizeof(code));
	for (size_t i = 0; i < 5; i++)
		branch(code, i * 5, 0xe8, 0x3000);
	assert_int_equal(code_branches_to(code, sizeof(code), BASE, 0x3000, at, 2), 5);
	assert_int_equal(at[0], 0);
	assert_int_equal(at[1], 5);
	assert_int_equal(code_branches_to(code, sizeof(code), BASE, 0x3000, NULL, 0), 5);
}

/* A real shared object (fixtures/pltcall.c, beside this test binary):
 * its PLT stub for pltcall_ext is found, and the two places that branch to
 * it, a call in pltcall_one and a tail jump in pltcall_two, are the only
 * sites, each at its function's start or a few instructions in. */
static void test_finds_the_calls_of_a_plt_stub_in_a_shared_object(void **state)
{
	char exe[PATH_MAX], path[PATH_MAX + 16];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	GElf_Addr stub, one, two;
	GElf_Off site[4], at_one, at_two;
	int fd;
	Elf *elf;

	(void)state;
	assert_true(n > 0);
	exe[n] = '\0';
	snprintf(path, sizeof(path), "%s/pltcall.so", dirname(exe));
	elf = elf_open_path(path, &fd);
	assert_non_null(elf);
	stub = elf_plt_stub(elf, "pltcall_ext");
	one = elf_function(elf, "pltcall_one");
	two = elf_function(elf, "pltcall_two");
	assert_true(stub && one && two);
	assert_int_equal(elf_plt_stub(elf, "no_such_function"), 0);
	assert_int_equal(elf_branches_to(elf, stub, site, 4), 2);
	at_one = elf_file_offset(elf, one);
	at_two = elf_file_offset(elf, two);
	if (site[0] > site[1]) {
		GElf_Off t = site[0];

		site[0] = site[1];
		site[1] = t;
	}
	assert_in_range(site[0], at_one, at_one + 16);
	assert_in_range(site[1], at_two, at_two + 16);
	assert_int_equal(elf_branches_to(elf, one, site, 4), 0);	/* nothing calls it */
	elf_close_path(elf, fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_finds_calls_and_jumps_to_the_target),
		cmocka_unit_test(test_reads_nothing_past_the_end),
		cmocka_unit_test(test_counts_past_the_room_it_has),
		cmocka_unit_test(test_finds_the_calls_of_a_plt_stub_in_a_shared_object),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
