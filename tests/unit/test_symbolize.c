// SPDX-License-Identifier: MIT
/*
 * Unit tests for frame names (userspace/flame/symbolize.c):
 *  - /proc/PID/maps lines, real and hostile;
 *  - symbol lookup in a test ELF built by the Makefile (tests/unit/fixtures/
 *    symtest.c as PIE, non-PIE, stripped PIE) and mapped, like ld.so would,
 *    at a chosen base: the expected addresses come from nm, not from the
 *    code under test;
 *  - kernel lookup on synthetic kallsyms files, and on the real one;
 *  - this very process, and a child whose frames are named after it exited.
 *
 * Build and run:  make build/tests/test_symbolize && build/tests/test_symbolize
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <libgen.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "flame/symbolize.h"

#define PAGE 4096ULL

/* ---- helpers --------------------------------------------------------------- */

static char fixture_dir[PATH_MAX];

/* the fixtures sit next to this test binary, wherever it is run from */
static int find_fixtures(void **state)
{
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);

	(void)state;
	if (n <= 0)
		return -1;
	exe[n] = '\0';
	snprintf(fixture_dir, sizeof(fixture_dir), "%.2048s", dirname(exe));
	return 0;
}

static char *fixture(const char *name, char *buf, size_t len)
{
	assert_true((size_t)snprintf(buf, len, "%.2048s/%s", fixture_dir, name) < len);
	assert_int_equal(access(buf, R_OK), 0);
	return buf;
}

/* st_value of a symbol, as nm (binutils, not the code under test) reads it */
static unsigned long long nm_addr(const char *path, const char *name, bool dynamic)
{
	char cmd[PATH_MAX + 64], line[512];
	unsigned long long found = 0;
	FILE *p;

	snprintf(cmd, sizeof(cmd), "nm %s--defined-only '%s'", dynamic ? "-D " : "", path);
	p = popen(cmd, "r");
	assert_non_null(p);
	while (fgets(line, sizeof(line), p)) {
		unsigned long long addr;
		char type, sym[256];

		if (sscanf(line, "%llx %c %255s", &addr, &type, sym) == 3 && !strcmp(sym, name))
			found = addr;
	}
	assert_int_equal(pclose(p), 0);
	if (!found)
		fail_msg("nm: no symbol %s in %s", name, path);
	return found;
}

/* Registers every PT_LOAD of path at base, as ld.so maps them: page-aligned
 * start and file offset. Returns how many. */
static int map_like_loader(struct symbolizer *s, pid_t pid, const char *path,
			   unsigned long long base)
{
	int fd = open(path, O_RDONLY), n = 0;
	size_t nph;
	Elf *elf;

	assert_true(fd >= 0);
	assert_int_not_equal(elf_version(EV_CURRENT), EV_NONE);
	elf = elf_begin(fd, ELF_C_READ, NULL);
	assert_non_null(elf);
	assert_int_equal(elf_getphdrnum(elf, &nph), 0);
	for (size_t i = 0; i < nph; i++) {
		GElf_Phdr ph;

		assert_non_null(gelf_getphdr(elf, (int)i, &ph));
		if (ph.p_type != PT_LOAD)
			continue;
		assert_int_equal(symbolizer_add_file(s, pid, path,
			base + (ph.p_vaddr & ~(PAGE - 1)),
			base + ((ph.p_vaddr + ph.p_memsz + PAGE - 1) & ~(PAGE - 1)),
			ph.p_offset & ~(PAGE - 1)), 0);
		n++;
	}
	elf_end(elf);
	close(fd);
	return n;
}

static void check_user(struct symbolizer *s, pid_t pid, unsigned long long addr,
		       bool with_offset, const char *want)
{
	char buf[256];

	assert_string_equal(symbolize_user(s, pid, addr, with_offset, buf, sizeof(buf)), want);
}

static void check_kernel(struct symbolizer *s, unsigned long long addr,
			 bool with_offset, const char *want)
{
	char buf[256];

	assert_string_equal(symbolize_kernel(s, addr, with_offset, buf, sizeof(buf)), want);
}

static char *write_temp(const char *text, char *path, size_t len)
{
	int fd;

	snprintf(path, len, "/tmp/test_symbolize.XXXXXX");
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	return path;
}

/* ---- /proc/PID/maps lines ------------------------------------------------ */

static void test_maps_real_lines(void **state)
{
	struct map_entry e;

	(void)state;
	assert_int_equal(maps_parse_line("55d4c8a00000-55d4c8a02000 r-xp 00001000 fd:01 1835114"
					 "                    /usr/bin/cat\n", &e), 0);
	assert_int_equal(e.start, 0x55d4c8a00000ULL);
	assert_int_equal(e.end, 0x55d4c8a02000ULL);
	assert_string_equal(e.perms, "r-xp");
	assert_int_equal(e.pgoff, 0x1000);
	assert_int_equal(e.dev_major, 0xfd);
	assert_int_equal(e.dev_minor, 1);
	assert_int_equal(e.inode, 1835114);
	assert_string_equal(e.path, "/usr/bin/cat");
	assert_false(e.deleted);

	/* anonymous: no path, with or without the trailing padding */
	assert_int_equal(maps_parse_line("7f0000000000-7f0000021000 rw-p 00000000 00:00 0 \n",
					 &e), 0);
	assert_string_equal(e.path, "");
	assert_int_equal(maps_parse_line("7f0000000000-7f0000021000 rw-p 00000000 00:00 0", &e), 0);
	assert_string_equal(e.path, "");

	assert_int_equal(maps_parse_line("7ffc1e1f2000-7ffc1e1f4000 r-xp 00000000 00:00 0"
					 "                          [vdso]", &e), 0);
	assert_string_equal(e.path, "[vdso]");
	assert_int_equal(maps_parse_line("7ffc1e0f0000-7ffc1e111000 rw-p 00000000 00:00 0"
					 "                          [stack]\n", &e), 0);
	assert_string_equal(e.path, "[stack]");
	/* vsyscall: the top of the address space still parses */
	assert_int_equal(maps_parse_line("ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0"
					 "                  [vsyscall]", &e), 0);
	assert_int_equal(e.end, 0xffffffffff601000ULL);

	/* spaces belong to the path; " (deleted)" does not */
	assert_int_equal(maps_parse_line("400000-401000 r-xp 00000000 08:02 42   /opt/my app/bin x"
					 " (deleted)\n", &e), 0);
	assert_string_equal(e.path, "/opt/my app/bin x");
	assert_true(e.deleted);
	assert_int_equal(maps_parse_line("400000-401000 r-xp 00000000 08:02 42 /tmp/a (deleted) b",
					 &e), 0);
	assert_string_equal(e.path, "/tmp/a (deleted) b");
	assert_false(e.deleted);
}

static void test_maps_hostile_lines(void **state)
{
	static const char *const bad[] = {
		"",
		"\n",
		"garbage",
		"400000 r-xp 00000000 08:02 42 /bin/x",			/* no end */
		"400000-401000",						/* no perms */
		"400000-401000 r-xp",						/* no offset */
		"400000-401000 r-xp 00000000",					/* no device */
		"400000-401000 r-xp 00000000 08:02",				/* no inode */
		"400000-401000 r-xp 00000000 0802 42 /bin/x",			/* no ':' */
		"400000-401000 rwxz 00000000 08:02 42 /bin/x",			/* bad perms */
		"400000-401000 r-x 00000000 08:02 42 /bin/x",			/* short perms */
		"401000-400000 r-xp 00000000 08:02 42 /bin/x",			/* end < start */
		"400000-400000 r-xp 00000000 08:02 42 /bin/x",			/* empty */
		"-401000 r-xp 00000000 08:02 42 /bin/x",
		"0x400000-401000 r-xp 00000000 08:02 42 /bin/x",		/* 0x prefix */
		" 400000-401000 r-xp 00000000 08:02 42 /bin/x",			/* leading space */
		"400000--401000 r-xp 00000000 08:02 42 /bin/x",			/* sign */
		"10000000000000000-20000000000000000 r-xp 0 08:02 42 /x",	/* > 64 bits */
		"400000-401000 r-xp 00000000 08:02 99999999999999999999999 /x",	/* inode overflow */
		"400000-401000 r-xp 00000000 08:02 42x /bin/x",			/* junk after inode */
		"400000-401000 r-xp 00000000 08:02 -1 /bin/x",
		"400000-401000 r-xp 00000000 08:02 42 /bin/x\nsecond line",
	};
	struct map_entry e;
	char *line;
	size_t n;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (maps_parse_line(bad[i], &e) != -EINVAL)
			fail_msg("accepted: \"%s\"", bad[i]);

	/* a path longer than PATH_MAX is refused, not truncated into another */
	n = PATH_MAX + 100;
	line = malloc(n + 64);
	assert_non_null(line);
	strcpy(line, "400000-401000 r-xp 00000000 08:02 42 /");
	memset(line + strlen(line), 'a', n);
	line[strlen("400000-401000 r-xp 00000000 08:02 42 /") + n] = '\0';
	assert_int_equal(maps_parse_line(line, &e), -ENAMETOOLONG);
	/* and one that fits exactly is kept whole */
	line[strlen("400000-401000 r-xp 00000000 08:02 42 ") + PATH_MAX - 1] = '\0';
	assert_int_equal(maps_parse_line(line, &e), 0);
	assert_int_equal(strlen(e.path), PATH_MAX - 1);
	free(line);
}

/* ---- a test ELF mapped at a chosen base ---------------------------------- */

/* A binary, loaded at base: the functions of symtest.c by name */
static void check_fixture(const char *name, unsigned long long base, bool dynamic)
{
	struct symbolizer *s = symbolizer_new();
	char path[PATH_MAX], want[PATH_MAX + 64];
	unsigned long long visible, gap, label, after;
	const pid_t pid = 4242;	/* synthetic: never read from /proc */

	assert_non_null(s);
	fixture(name, path, sizeof(path));
	assert_true(map_like_loader(s, pid, path, base) >= 2);
	visible = nm_addr(path, "symtest_visible", dynamic);
	gap = nm_addr(path, "symtest_gap_before", dynamic);
	label = nm_addr(path, "symtest_label", dynamic);
	after = nm_addr(path, "symtest_after_label", dynamic);

	check_user(s, pid, base + visible, false, "symtest_visible");
	check_user(s, pid, base + visible, true, "symtest_visible+0x0");
	check_user(s, pid, base + visible + 3, true, "symtest_visible+0x3");
	/* a sized symbol ends at its size: the 256 bytes after it are no one's */
	check_user(s, pid, base + gap, false, "symtest_gap_before");
	snprintf(want, sizeof(want), "%s+0x%llx", name, gap + 16);
	check_user(s, pid, base + gap + 16, false, want);
	check_user(s, pid, base + gap + 16, true, want);
	/* a label without size runs to the next symbol */
	check_user(s, pid, base + label + 63, true, "symtest_label+0x3f");
	check_user(s, pid, base + after, false, "symtest_after_label");

	/* below and above every mapping */
	check_user(s, pid, base - 1, false, "[unknown]");
	check_user(s, pid, base + (1ULL << 40), false, "[unknown]");
	check_user(s, 4243, base + visible, false, "[unknown]");	/* another pid */
	symbolizer_free(s);
}

static void test_elf_pie_at_aslr_base(void **state)
{
	(void)state;
	check_fixture("symtest-pie", 0x55d4c8a00000ULL, false);
}

static void test_elf_nopie(void **state)
{
	(void)state;
	check_fixture("symtest-nopie", 0, false);
}

static void test_elf_stripped_uses_dynsym(void **state)
{
	struct symbolizer *s = symbolizer_new();
	unsigned long long base = 0x7f1234000000ULL, visible;
	char path[PATH_MAX];
	const pid_t pid = 4242;
	FILE *p;
	char cmd[PATH_MAX + 64], line[512];
	bool has_symtab = false;

	(void)state;
	check_fixture("symtest-stripped", base, true);

	/* really no .symtab: check_fixture found every name in .dynsym, and
	 * the gap after symtest_gap_before was module+offset there too */
	fixture("symtest-stripped", path, sizeof(path));
	snprintf(cmd, sizeof(cmd), "readelf -SW '%s'", path);
	p = popen(cmd, "r");
	assert_non_null(p);
	while (fgets(line, sizeof(line), p))
		has_symtab |= strstr(line, ".symtab") != NULL;
	assert_int_equal(pclose(p), 0);
	assert_false(has_symtab);
	map_like_loader(s, pid, path, base);
	visible = nm_addr(path, "symtest_visible", true);
	check_user(s, pid, base + visible + 1, true, "symtest_visible+0x1");
	symbolizer_free(s);
}

static void test_static_function_in_symtab(void **state)
{
	struct symbolizer *s = symbolizer_new();
	unsigned long long base = 0x5600000000ULL;
	char path[PATH_MAX];

	(void)state;
	fixture("symtest-pie", path, sizeof(path));
	map_like_loader(s, 1, path, base);
	check_user(s, 1, base + nm_addr(path, "symtest_static", false), false, "symtest_static");
	check_user(s, 1, base + nm_addr(path, "main", false), false, "main");
	symbolizer_free(s);
}

/*
 * Hostile ELF files: symtest-pie cut short at every interesting length, and
 * with its header's table offsets and counts pointed past the end. Each must
 * load or be refused, and every lookup still give a frame: no crash (the
 * sanitizer build catches a stray read), no NULL, no empty name.
 */
static void test_hostile_elf_files(void **state)
{
	static const size_t cuts[] = { 1, 4, 16, 52, 63, 64, 65, 200, 1024, 4096, 8192 };
	/* e_phoff 32, e_shoff 40, e_phnum 56, e_shnum 60, e_shstrndx 62 (ELF64) */
	static const struct { size_t off, len; unsigned char byte; } pokes[] = {
		{ 32, 8, 0xff }, { 40, 8, 0xff }, { 56, 2, 0xff }, { 60, 2, 0xff },
		{ 62, 2, 0xff }, { 40, 8, 0x00 }, { 58, 2, 0xff }, { 4, 1, 0x07 },
	};
	char src[PATH_MAX], path[] = "/tmp/test_symbolize_elf.XXXXXX", buf[256];
	unsigned char *elf;
	long size;
	FILE *f;

	(void)state;
	fixture("symtest-pie", src, sizeof(src));
	f = fopen(src, "rb");
	assert_non_null(f);
	fseek(f, 0, SEEK_END);
	size = ftell(f);
	rewind(f);
	elf = malloc((size_t)size);
	assert_non_null(elf);
	assert_int_equal(fread(elf, 1, (size_t)size, f), (size_t)size);
	fclose(f);

	for (size_t i = 0; i < sizeof(cuts) / sizeof(cuts[0]) + sizeof(pokes) / sizeof(pokes[0]); i++) {
		unsigned char *copy = malloc((size_t)size);
		size_t len = (size_t)size;
		struct symbolizer *s = symbolizer_new();
		int fd = mkstemp(path);
		const char *name;

		assert_non_null(copy);
		assert_true(fd >= 0);
		memcpy(copy, elf, (size_t)size);
		if (i < sizeof(cuts) / sizeof(cuts[0])) {
			len = cuts[i] < len ? cuts[i] : len;
		} else {
			size_t p = i - sizeof(cuts) / sizeof(cuts[0]);

			memset(copy + pokes[p].off, pokes[p].byte, pokes[p].len);
		}
		assert_int_equal(write(fd, copy, len), (ssize_t)len);
		close(fd);
		/* refused or loaded, both fine; then lookups across the mapping */
		(void)symbolizer_add_file(s, 9, path, 0x400000, 0x400000 + 0x10000, 0);
		for (unsigned long long a = 0x400000; a < 0x410000; a += 0x1234) {
			name = symbolize_user(s, 9, a, true, buf, sizeof(buf));
			assert_non_null(name);
			assert_true(name[0] != '\0');
		}
		symbolizer_free(s);
		unlink(path);
		free(copy);
		memcpy(path + strlen(path) - 6, "XXXXXX", 6);
	}
	free(elf);
}

static void test_not_elf_is_module_offset(void **state)
{
	struct symbolizer *s = symbolizer_new();
	char path[64];

	(void)state;
	write_temp("not an ELF file\n", path, sizeof(path));
	assert_int_equal(symbolizer_add_file(s, 7, path, 0x10000, 0x11000, 0x3000), 0);
	/* the file offset: addr - start + pgoff */
	char want[128];
	snprintf(want, sizeof(want), "%s+0x3010", strrchr(path, '/') + 1);
	check_user(s, 7, 0x10010, false, want);
	assert_int_equal(symbolizer_add_file(s, 7, "/nonexistent/x", 0x20000, 0x21000, 0),
			 -ENOENT);
	assert_int_equal(symbolizer_add_file(s, 7, path, 0x21000, 0x20000, 0), -EINVAL);
	check_user(s, 7, 0x20010, false, "[unknown]");
	/* never NULL, even with nowhere to write */
	assert_string_equal(symbolize_user(s, 7, 0x10010, false, NULL, 0), "[unknown]");
	unlink(path);
	symbolizer_free(s);
}

/* ---- kernel ---------------------------------------------------------------------- */

static void test_kallsyms_synthetic(void **state)
{
	struct symbolizer *s = symbolizer_new();
	char path[64];

	(void)state;
	write_temp("ffffffff81000100 T second_func\n"
		   "ffffffff81000000 T _text\n"
		   "ffffffff81000000 T startup_64\n"
		   "ffffffff81000080 t local_func\n"
		   "ffffffff81000180 D some_data\n"		/* data: not a frame */
		   "ffffffff81000200 W weak_func\n"
		   "ffffffff81000300 T _etext\n"
		   "ffffffffc0000000 t mod_func\t[mymod]\n"
		   "ffffffffc0000400 t bpf_prog_1234_handler\t[bpf]\n"
		   "not a line\n", path, sizeof(path));
	assert_int_equal(symbolizer_load_kallsyms(s, path), 0);
	check_kernel(s, 0xffffffff81000000ULL, false, "startup_64");	/* over "_text" */
	check_kernel(s, 0xffffffff81000010ULL, true, "startup_64+0x10");
	check_kernel(s, 0xffffffff8100007fULL, true, "startup_64+0x7f");
	check_kernel(s, 0xffffffff81000080ULL, false, "local_func");
	check_kernel(s, 0xffffffff810001f0ULL, true, "second_func+0xf0");	/* not some_data */
	check_kernel(s, 0xffffffff81000210ULL, false, "weak_func");
	check_kernel(s, 0xffffffffc0000010ULL, true, "mod_func+0x10");
	check_kernel(s, 0xffffffffc0000400ULL, false, "bpf_prog_1234_handler");
	/* before the first symbol; far past the last one before a gap */
	check_kernel(s, 0xffffffff80000000ULL, false, "[unknown]");
	check_kernel(s, 0xffffffff90000000ULL, false, "[unknown]");
	check_kernel(s, 0xffffffffc1000000ULL, false, "[unknown]");
	unlink(path);
	symbolizer_free(s);
}

static void test_kallsyms_hidden(void **state)
{
	struct symbolizer *s = symbolizer_new();
	char path[64];

	(void)state;
	/* what an unprivileged reader sees with kptr_restrict */
	write_temp("0000000000000000 T _text\n"
		   "0000000000000000 T tcp_sendmsg\n", path, sizeof(path));
	assert_int_equal(symbolizer_load_kallsyms(s, path), -ENODATA);
	check_kernel(s, 0xffffffff81000010ULL, false, "[unknown]");
	check_kernel(s, 0, false, "[unknown]");
	assert_int_equal(symbolizer_load_kallsyms(s, "/nonexistent"), -ENOENT);
	check_kernel(s, 0xffffffff81000010ULL, false, "[unknown]");
	unlink(path);
	symbolizer_free(s);
}

static void test_kallsyms_real(void **state)
{
	struct symbolizer *s = symbolizer_new();
	unsigned long long addr = 0;
	char line[512];
	FILE *f = fopen("/proc/kallsyms", "r");

	(void)state;
	assert_non_null(f);
	while (fgets(line, sizeof(line), f)) {
		unsigned long long a;
		char type, name[256];

		if (sscanf(line, "%llx %c %255s", &a, &type, name) == 3 &&
		    !strcmp(name, "tcp_sendmsg") && (type == 'T' || type == 't'))
			addr = a;
	}
	fclose(f);
	if (!addr) {
		symbolizer_free(s);
		skip();		/* hidden addresses: not root, or kptr_restrict=2 */
	}
	/* the lazy load of the real /proc/kallsyms */
	check_kernel(s, addr + 4, true, "tcp_sendmsg+0x4");
	check_kernel(s, addr, false, "tcp_sendmsg");
	symbolizer_free(s);
}

/* ---- live processes ---------------------------------------------------------- */

__attribute__((noinline)) int symbolize_test_marker(int x)
{
	return x * 2 + 1;
}

static void test_this_process(void **state)
{
	struct symbolizer *s = symbolizer_new();
	unsigned long long marker = (unsigned long long)(uintptr_t)&symbolize_test_marker;
	unsigned long long libc_fn = (unsigned long long)(uintptr_t)&getppid;
	char buf[256];

	(void)state;
	assert_int_equal(symbolizer_load_process(s, getpid()), 0);
	check_user(s, getpid(), marker, false, "symbolize_test_marker");
	check_user(s, getpid(), marker + 1, true, "symbolize_test_marker+0x1");
	/* a shared library, through its .dynsym (aliases: __getppid, getppid) */
	symbolize_user(s, getpid(), libc_fn, false, buf, sizeof(buf));
	assert_non_null(strstr(buf, "getppid"));
	/* the stack is mapped but holds no code */
	snprintf(buf, sizeof(buf), "%s", "");
	symbolize_user(s, getpid(), (unsigned long long)(uintptr_t)buf, false, buf, sizeof(buf));
	assert_memory_equal(buf, "[stack]+0x", 10);
	assert_int_equal(symbolizer_load_process(s, getpid()), 0);	/* refresh */
	check_user(s, getpid(), marker, false, "symbolize_test_marker");
	symbolizer_free(s);
}

static void test_process_after_exit(void **state)
{
	struct symbolizer *s = symbolizer_new();
	unsigned long long marker = (unsigned long long)(uintptr_t)&symbolize_test_marker;
	int pipefd[2], status;
	char c;
	pid_t child;

	(void)state;
	assert_int_equal(pipe(pipefd), 0);
	child = fork();
	assert_true(child >= 0);
	if (child == 0) {
		close(pipefd[1]);
		(void)!read(pipefd[0], &c, 1);	/* until the parent closes it */
		_exit(0);
	}
	close(pipefd[0]);
	/* a forked child has the parent's layout: the same address */
	assert_int_equal(symbolizer_load_process(s, child), 0);
	close(pipefd[1]);
	assert_int_equal(waitpid(child, &status, 0), child);
	assert_int_equal(symbolizer_load_process(s, child), -ENOENT);	/* gone */
	check_user(s, child, marker, false, "symbolize_test_marker");
	/* a pid never seen and gone: every frame still gets a name */
	check_user(s, (pid_t)0x7ffffff0, marker, false, "[unknown]");
	symbolizer_free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_maps_real_lines),
		cmocka_unit_test(test_maps_hostile_lines),
		cmocka_unit_test(test_hostile_elf_files),
		cmocka_unit_test(test_elf_pie_at_aslr_base),
		cmocka_unit_test(test_elf_nopie),
		cmocka_unit_test(test_elf_stripped_uses_dynsym),
		cmocka_unit_test(test_static_function_in_symtab),
		cmocka_unit_test(test_not_elf_is_module_offset),
		cmocka_unit_test(test_kallsyms_synthetic),
		cmocka_unit_test(test_kallsyms_hidden),
		cmocka_unit_test(test_kallsyms_real),
		cmocka_unit_test(test_this_process),
		cmocka_unit_test(test_process_after_exit),
	};

	return cmocka_run_group_tests(tests, find_fixtures, NULL);
}
