// SPDX-License-Identifier: MIT
/* conctrace: entry point. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <bpf/libbpf.h>
#include "conctrace.skel.h"

#define CONCTRACE_VERSION "0.1.0"

static int quiet_print(enum libbpf_print_level level, const char *fmt, va_list args)
{
	(void)level; (void)fmt; (void)args;
	return 0;
}

/* --version also proves the BPF side loads into this kernel. */
static int print_version(void)
{
	struct conctrace_bpf *skel;
	int err;

	printf("conctrace %s (libbpf %d.%d)\n", CONCTRACE_VERSION,
	       libbpf_major_version(), libbpf_minor_version());
	libbpf_set_print(quiet_print);
	skel = conctrace_bpf__open_and_load();
	err = skel ? 0 : -errno;
	conctrace_bpf__destroy(skel);
	if (err) {
		printf("BPF: cannot load programs: %s%s\n", strerror(-err),
		       err == -EPERM ? " (try sudo)" : "");
		return 1;
	}
	printf("BPF: programs load into this kernel\n");
	return 0;
}

int main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "--version") == 0)
		return print_version();
	fprintf(stderr, "usage: conctrace --version\n");
	return 2;
}
