// SPDX-License-Identifier: MIT
/*
 * Output files (userspace/report/outfile.c): the policy as a table (which
 * directory and which entry are refused, replaced or written as they are,
 * whose symlinks are followed, SUDO_UID/SUDO_GID, descriptors named by
 * path), then the writer on a real directory: a symlink and a hard link at
 * the path replaced with their targets untouched, an existing file's mode
 * replaced by 0600, nothing left behind by a failed write or by a check.
 * (As root, the integration tests add other users' files and ownership.)
 *
 * Build and run:  make build/tests/test_outfile && build/tests/test_outfile
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "report/outfile.h"

#define ME	1000
#define SUDOER	1001
#define OTHER	1002
#define DIR_OWNER 0

static struct stat node(mode_t mode, uid_t uid)
{
	struct stat st;

	memset(&st, 0, sizeof(st));
	st.st_mode = mode;
	st.st_uid = uid;
	return st;
}

static const struct outfile_who who = { .me = ME, .owner_valid = true, .owner_uid = SUDOER,
					.owner_gid = SUDOER };

/* ---- the policy ---------------------------------------------------------------- */

static void test_parse_owner(void **state)
{
	static const char *const bad[] = { NULL, "", "-1", "+5", " 5", "5x", "0x10",
					   "4294967295", "99999999999999999999" };
	uid_t u = 7;
	gid_t g = 7;

	(void)state;
	assert_true(outfile_parse_owner("1000", "100", &u, &g));
	assert_int_equal(u, 1000);
	assert_int_equal(g, 100);
	assert_true(outfile_parse_owner("0", "0", &u, &g));
	assert_int_equal(u, 0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		u = 7;
		assert_false(outfile_parse_owner(bad[i], "100", &u, &g));
		assert_false(outfile_parse_owner("100", bad[i], &u, &g));
		assert_int_equal(u, 7);	/* untouched when refused */
	}
}

static void test_own_fd(void **state)
{
	static const struct { const char *path; int fd; } cases[] = {
		{ "/dev/stdin", 0 }, { "/dev/stdout", 1 }, { "/dev/stderr", 2 },
		{ "/dev/fd/7", 7 }, { "/proc/self/fd/63", 63 }, { "/dev/fd/0", 0 },
		{ "/dev/fd/", -1 }, { "/dev/fd/-1", -1 }, { "/dev/fd/1x", -1 },
		{ "/dev/fd/+1", -1 }, { "/dev/stdoutx", -1 }, { "dev/stdout", -1 },
		{ "/proc/1/fd/1", -1 }, { "/dev/fd/99999999999999999999", -1 },
		{ "/dev/fd/4294967296", -1 }, { "out.json", -1 },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		print_message("%s\n", cases[i].path);
		assert_int_equal(outfile_own_fd(cases[i].path), cases[i].fd);
	}
}

enum verdict { REPLACED, IN_PLACE, REFUSED };

static void test_refusal_table(void **state)
{
	static const struct {
		mode_t dir;		/* owned by DIR_OWNER */
		bool exists;
		mode_t mode;
		uid_t uid;
		enum verdict want;
	} cases[] = {
		/* a private directory: whatever is there is replaced */
		{ 0755, false, 0, 0, REPLACED },
		{ 0755, true, S_IFREG | 0644, OTHER, REPLACED },
		{ 0755, true, S_IFLNK | 0777, OTHER, REPLACED },
		{ 0700, true, S_IFREG | 0644, ME, REPLACED },
		/* writable by everyone and not sticky: anything can be swapped */
		{ 0777, false, 0, 0, REFUSED },
		{ 0777, true, S_IFREG | 0600, ME, REFUSED },
		{ 0773, false, 0, 0, REFUSED },
		/* sticky and shared (/tmp): others' entries are theirs */
		{ 01777, false, 0, 0, REPLACED },
		{ 01777, true, S_IFREG | 0644, ME, REPLACED },
		{ 01777, true, S_IFREG | 0644, SUDOER, REPLACED },
		{ 01777, true, S_IFREG | 0644, DIR_OWNER, REPLACED },	/* a hard link to root's */
		{ 01777, true, S_IFREG | 0644, OTHER, REFUSED },
		{ 01777, true, S_IFLNK | 0777, OTHER, REFUSED },
		{ 01777, true, S_IFLNK | 0777, ME, REPLACED },
		{ 01770, true, S_IFREG | 0644, OTHER, REFUSED },	/* group-shared */
		{ 01755, true, S_IFREG | 0644, OTHER, REPLACED },	/* sticky, not shared */
		/* what is not a file */
		{ 0755, true, S_IFDIR | 0755, ME, REFUSED },
		{ 0755, true, S_IFBLK | 0660, DIR_OWNER, REFUSED },
		{ 0755, true, S_IFSOCK | 0777, ME, REFUSED },
		{ 0755, true, S_IFCHR | 0666, DIR_OWNER, IN_PLACE },	/* /dev/null */
		{ 0755, true, S_IFCHR | 0620, OTHER, IN_PLACE },	/* a user's terminal */
		{ 0755, true, S_IFIFO | 0600, ME, IN_PLACE },
		{ 0755, true, S_IFIFO | 0600, SUDOER, IN_PLACE },
		{ 0755, true, S_IFIFO | 0666, OTHER, REFUSED },	/* they read it */
		{ 0755, true, S_IFIFO | 0666, DIR_OWNER, REFUSED },
		{ 01777, true, S_IFCHR | 0666, OTHER, REFUSED },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct stat dir = node(S_IFDIR | cases[i].dir, DIR_OWNER);
		struct stat dest = node(cases[i].mode, cases[i].uid);
		bool in_place = true;
		const char *why = outfile_refusal(&dir, cases[i].exists ? &dest : NULL, &who,
						  &in_place);
		enum verdict got = why ? REFUSED : in_place ? IN_PLACE : REPLACED;

		print_message("case %zu: dir %04o, entry %06o uid %u: %s\n", i,
			      (unsigned)cases[i].dir, (unsigned)cases[i].mode,
			      (unsigned)cases[i].uid, why ? why : "written");
		assert_int_equal(got, cases[i].want);
		if (why)	/* one line, a sentence */
			assert_null(strchr(why, '\n'));
	}
}

static void test_link_refusal_table(void **state)
{
	static const struct { mode_t dir; uid_t uid; bool refused; } cases[] = {
		{ 0755, OTHER, false },		/* only the owner writes there */
		{ 01777, ME, false },
		{ 01777, SUDOER, false },
		{ 01777, DIR_OWNER, false },
		{ 01777, OTHER, true },		/* planted in /tmp */
		{ 01775, OTHER, true },
		{ 0777, ME, true },		/* swappable under us */
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct stat dir = node(S_IFDIR | cases[i].dir, DIR_OWNER);
		struct stat link = node(S_IFLNK | 0777, cases[i].uid);

		assert_int_equal(outfile_link_refusal(&dir, &link, &who) != NULL, cases[i].refused);
	}
}

/* ---- the writer, on a real directory -------------------------------------------- */

static char dir[] = "/tmp/test_outfile.XXXXXX";

static int setup(void **state)
{
	(void)state;
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
	char cmd[64];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd);
}

static const char *in_dir(const char *name, char *buf)
{
	snprintf(buf, PATH_MAX, "%s/%s", dir, name);
	return buf;
}

static int fill_text(FILE *f, void *text)
{
	return fputs(text, f) < 0 ? -EIO : 0;
}

static int fill_fails(FILE *f, void *ctx)
{
	(void)ctx;
	fputs("half a repo", f);
	return -ENOSPC;
}

static void write_file(const char *path, const char *text, mode_t mode)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(chmod(path, mode), 0);
}

static void assert_text(const char *path, const char *want)
{
	char buf[256] = "";
	FILE *f = fopen(path, "r");
	size_t n;

	assert_non_null(f);
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	fclose(f);
	assert_string_equal(buf, want);
}

/* Entries in the test directory: no temporary file may stay behind. */
static int entries(void)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	assert_non_null(d);
	while ((e = readdir(d)))
		n += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
	closedir(d);
	return n;
}

static void test_links_replaced_never_written_through(void **state)
{
	char precious[PATH_MAX], sym[PATH_MAX], hard[PATH_MAX];
	const char *why = NULL;
	struct stat st;

	(void)state;
	write_file(in_dir("precious", precious), "precious\n", 0644);
	assert_int_equal(symlink(precious, in_dir("sym.json", sym)), 0);
	assert_int_equal(link(precious, in_dir("hard.json", hard)), 0);
	assert_int_equal(outfile_check(sym, &why), 0);
	assert_int_equal(outfile_check(hard, &why), 0);
	assert_int_equal(outfile_write(sym, fill_text, "report 1\n", &why), 0);
	assert_int_equal(outfile_write(hard, fill_text, "report 2\n", &why), 0);
	assert_text(precious, "precious\n");
	assert_text(sym, "report 1\n");
	assert_text(hard, "report 2\n");
	assert_int_equal(lstat(sym, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(stat(precious, &st), 0);
	assert_int_equal(st.st_nlink, 1);	/* the hard link is gone from hard.json */
	assert_int_equal(st.st_mode & 07777, 0644);
	assert_int_equal(entries(), 3);
}

static void test_existing_mode_replaced(void **state)
{
	char path[PATH_MAX];
	const char *why;
	struct stat st;
	mode_t old = umask(0);	/* a umask takes nothing from 0600 either way */

	(void)state;
	write_file(in_dir("old.json", path), "old\n", 0644);
	assert_int_equal(outfile_write(path, fill_text, "new\n", &why), 0);
	umask(old);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_text(path, "new\n");
}

static void test_failed_write_leaves_the_old_file(void **state)
{
	char path[PATH_MAX], fresh[PATH_MAX];
	const char *why = NULL;
	int before;

	(void)state;
	write_file(in_dir("kept.json", path), "kept\n", 0600);
	before = entries();
	assert_int_equal(outfile_write(path, fill_fails, NULL, &why), -ENOSPC);
	assert_non_null(why);
	assert_text(path, "kept\n");
	assert_int_equal(outfile_write(in_dir("never.json", fresh), fill_fails, NULL, &why),
			 -ENOSPC);
	assert_int_equal(access(fresh, F_OK), -1);
	assert_int_equal(entries(), before);
}

static void test_check_refuses_and_leaves_nothing(void **state)
{
	char path[PATH_MAX], sub[PATH_MAX];
	const char *why = NULL;
	int before = entries();

	(void)state;
	assert_int_equal(outfile_check(in_dir("new.json", path), &why), 0);
	assert_int_equal(access(path, F_OK), -1);
	assert_int_equal(entries(), before);
	assert_int_equal(outfile_check(dir, &why), -EISDIR);
	assert_int_equal(outfile_check(in_dir("nope/x.json", path), &why), -ENOENT);
	assert_string_equal(why, strerror(ENOENT));
	assert_int_equal(outfile_check(in_dir("a/", path), &why), -EISDIR);
	assert_int_equal(outfile_check("/proc/self/fd/999999", &why), -EBADF);
	/* a file on the way is not a directory */
	write_file(in_dir("file", sub), "", 0600);
	assert_int_equal(outfile_check(in_dir("file/x.json", path), &why), -ENOTDIR);
	/* a directory anyone can swap files in */
	assert_int_equal(mkdir(in_dir("open", sub), 0777), 0);
	assert_int_equal(chmod(sub, 0777), 0);
	assert_int_equal(outfile_check(in_dir("open/x.json", path), &why), -EPERM);
	assert_non_null(strstr(why, "not sticky"));
	assert_int_equal(outfile_write(path, fill_text, "x", &why), -EPERM);
	assert_int_equal(access(path, F_OK), -1);
}

static void test_own_descriptor_and_pipe(void **state)
{
	char path[PATH_MAX], buf[32] = "";
	const char *why;
	int p[2];

	(void)state;
	assert_int_equal(pipe(p), 0);
	snprintf(path, sizeof(path), "/dev/fd/%d", p[1]);
	assert_int_equal(outfile_check(path, &why), 0);
	assert_int_equal(outfile_write(path, fill_text, "through\n", &why), 0);
	assert_int_equal(read(p[0], buf, sizeof(buf) - 1), 8);
	assert_string_equal(buf, "through\n");
	snprintf(path, sizeof(path), "/proc/self/fd/%d", p[0]);
	assert_int_equal(outfile_check(path, &why), -EBADF);	/* the read end */
	close(p[0]);
	close(p[1]);
	/* /dev/null is a device: written as it is, never replaced */
	assert_int_equal(outfile_write("/dev/null", fill_text, "gone\n", &why), 0);
	{
		struct stat st;

		assert_int_equal(stat("/dev/null", &st), 0);
		assert_true(S_ISCHR(st.st_mode));
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_owner),
		cmocka_unit_test(test_own_fd),
		cmocka_unit_test(test_refusal_table),
		cmocka_unit_test(test_link_refusal_table),
		cmocka_unit_test(test_links_replaced_never_written_through),
		cmocka_unit_test(test_existing_mode_replaced),
		cmocka_unit_test(test_failed_write_leaves_the_old_file),
		cmocka_unit_test(test_check_refuses_and_leaves_nothing),
		cmocka_unit_test(test_own_descriptor_and_pipe),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
