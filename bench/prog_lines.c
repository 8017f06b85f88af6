// SPDX-License-Identifier: MIT
/*
 * prog_lines ID...: where each source line of loaded BPF programs sits in
 * their JIT-compiled code, for a profiler to name the line a sample's
 * address falls in (bench-profile: perf samples in bpf_prog_* symbols).
 *
 * The kernel keeps, per program, its line table (BTF line info: file, line
 * and source text per instruction range) and the address each range was
 * compiled to (jited_line_info): the pair bpftool prints interleaved with
 * the disassembly when it has a disassembler, which Debian's has not.
 *
 * Output, one line per range, sorted as the kernel gives them:
 *   ADDRESS_HEX PROGRAM FILE:LINE SOURCE_TEXT
 * ADDRESS is absolute (the kernel's), as perf reports a sample's ip; FILE
 * is the path the compiler was given.
 * Exit status: 0, or 1 if a program could not be read (named on stderr).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <unistd.h>

/* The program's source text has tabs and may end a line in spaces: one
 * space each, so that a line of output stays one record. */
static void print_source(const char *s)
{
	int space = 1;

	for (; s && *s; s++) {
		if (*s == '\t' || *s == ' ' || *s == '\n') {
			if (!space)
				putchar(' ');
			space = 1;
		} else {
			putchar(*s);
			space = 0;
		}
	}
	putchar('\n');
}

static int print_lines(__u32 id)
{
	struct bpf_prog_info info = {};
	__u32 len = sizeof(info), nr, rec_size, btf_id;
	struct bpf_line_info *lines = NULL;
	__u64 *addrs = NULL;
	struct btf *btf = NULL;
	char name[BPF_OBJ_NAME_LEN];
	int fd, err = -1;

	fd = bpf_prog_get_fd_by_id(id);
	if (fd < 0 || bpf_obj_get_info_by_fd(fd, &info, &len))
		goto out;
	/* the two tables have an entry per line-info record: the address
	 * table is empty when the JIT is off (nothing to name then) */
	nr = info.nr_line_info < info.nr_jited_line_info ? info.nr_line_info
							  : info.nr_jited_line_info;
	rec_size = info.line_info_rec_size;
	btf_id = info.btf_id;
	memcpy(name, info.name, sizeof(name));
	if (!nr || !btf_id) {
		err = 0;	/* no line info (no BTF, or the JIT off): nothing to print */
		goto out;
	}
	lines = calloc(nr, rec_size);
	addrs = calloc(nr, sizeof(*addrs));
	if (!lines || !addrs)
		goto out;
	memset(&info, 0, sizeof(info));
	info.nr_line_info = nr;
	info.line_info_rec_size = rec_size;
	info.line_info = (__u64)(unsigned long)lines;
	info.nr_jited_line_info = nr;
	info.jited_line_info_rec_size = sizeof(*addrs);
	info.jited_line_info = (__u64)(unsigned long)addrs;
	len = sizeof(info);
	if (bpf_obj_get_info_by_fd(fd, &info, &len))
		goto out;
	btf = btf__load_from_kernel_by_id(btf_id);
	if (!btf)
		goto out;
	for (__u32 i = 0; i < nr; i++) {
		const struct bpf_line_info *l = (const void *)((const char *)lines + i * rec_size);

		printf("%llx %s %s:%u ", (unsigned long long)addrs[i], name,
		       btf__name_by_offset(btf, l->file_name_off) ?: "?",
		       BPF_LINE_INFO_LINE_NUM(l->line_col));
		print_source(btf__name_by_offset(btf, l->line_off));
	}
	err = 0;
out:
	if (err)
		fprintf(stderr, "prog_lines: program %u: %s\n", id, strerror(errno ? errno : EINVAL));
	btf__free(btf);
	free(lines);
	free(addrs);
	if (fd >= 0)
		close(fd);
	return err;
}

int main(int argc, char **argv)
{
	int rc = 0;

	if (argc < 2) {
		fprintf(stderr, "usage: prog_lines PROG_ID...\n");
		return 2;
	}
	for (int i = 1; i < argc; i++) {
		char *end;
		unsigned long id = strtoul(argv[i], &end, 10);

		if (*end || !*argv[i]) {
			fprintf(stderr, "prog_lines: %s: not a program id\n", argv[i]);
			return 2;
		}
		if (print_lines((__u32)id))
			rc = 1;
	}
	return rc;
}
