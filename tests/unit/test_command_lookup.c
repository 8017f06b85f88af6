// SPDX-License-Identifier: MIT
/*
 * Unit tests for command_lookup() (userspace/target/target.c): the command
 * is found as execvp() would find it, before anything is traced, so a
 * command that cannot run never gets a "tracing pid N" line (issue 19, 9).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "target/target.h"

static char dir[64];

static int make_dir(void **state)
{
	char path[128];
	FILE *f;

	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/cmdlookup.XXXXXX");
	if (!mkdtemp(dir))
		return -1;
	snprintf(path, sizeof(path), "%s/runs", dir);
	f = fopen(path, "w");
	if (!f)
		return -1;
	fclose(f);
	chmod(path, 0755);
	snprintf(path, sizeof(path), "%s/noexec", dir);
	f = fopen(path, "w");
	if (!f)
		return -1;
	fclose(f);
	chmod(path, 0644);
	snprintf(path, sizeof(path), "%s/adir", dir);
	return mkdir(path, 0755);
}

static int remove_dir(void **state)
{
	char cmd[160];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd);
}

static void test_found_along_path(void **state)
{
	char path[256], out[256], want[128];

	(void)state;
	snprintf(path, sizeof(path), "/nonexistent:%s:/bin", dir);
	snprintf(want, sizeof(want), "%s/runs", dir);
	assert_int_equal(command_lookup("runs", path, out, sizeof(out)), 0);
	assert_string_equal(out, want);
	assert_int_equal(command_lookup("sh", "/bin:/usr/bin", out, sizeof(out)), 0);
}

static void test_missing_is_enoent(void **state)
{
	char out[256];

	(void)state;
	assert_int_equal(command_lookup("no-such-command-x", dir, out, sizeof(out)), -ENOENT);
	assert_int_equal(command_lookup("/nonexistent/cmd", NULL, out, sizeof(out)), -ENOENT);
	assert_int_equal(command_lookup("", NULL, out, sizeof(out)), -ENOENT);
	assert_int_equal(command_lookup("adir", dir, out, sizeof(out)), -ENOENT);
}

static void test_a_file_without_an_x_bit_is_eacces(void **state)
{
	char path[128], out[256];

	(void)state;
	snprintf(path, sizeof(path), "%s/noexec", dir);
	/* even root's access(X_OK) needs one x bit on a regular file */
	assert_int_equal(command_lookup(path, NULL, out, sizeof(out)), -EACCES);
	assert_int_equal(command_lookup("noexec", dir, out, sizeof(out)), -EACCES);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_found_along_path),
		cmocka_unit_test(test_missing_is_enoent),
		cmocka_unit_test(test_a_file_without_an_x_bit_is_eacces),
	};

	return cmocka_run_group_tests(tests, make_dir, remove_dir);
}
