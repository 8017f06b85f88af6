// SPDX-License-Identifier: MIT
/*
 * hook_floor [--no-syscalls | --entry-only] -p PID: attach
 * bench/hook_floor.bpf.c's empty programs with PID as their target, until
 * SIGINT or SIGTERM. The throughput a server keeps with them is the floor of
 * conctrace's hooks: what attaching costs before any work is done.
 * --no-syscalls leaves sys_enter/sys_exit off, as conctrace's light mode
 * does; --entry-only leaves sys_exit off: the floor of a syscall mode that
 * counts at entry and times nothing, one hook per syscall instead of two.
 */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/libbpf.h>

#include "hook_floor.skel.h"
#include "tracer/tracepoints.h"

static int quiet(enum libbpf_print_level level, const char *fmt, va_list args)
{
	(void)level, (void)fmt, (void)args;
	return 0;	/* our one-line errors say what matters */
}

static int fail(const char *what, int err)
{
	err = err < 0 ? -err : err;
	fprintf(stderr, "hook_floor: %s: %s%s\n", what, strerror(err),
		err == EPERM || err == EACCES ? " (run as root)" : "");
	return 1;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: hook_floor [--no-syscalls | --entry-only] -p PID\n");
}

int main(int argc, char **argv)
{
	struct hook_floor_bpf *skel;
	bool no_syscalls = false, entry_only = false;
	long pid = 0;
	sigset_t sigs;
	int err, sig;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--no-syscalls")) {
			no_syscalls = true;
		} else if (!strcmp(argv[i], "--entry-only")) {
			entry_only = true;
		} else if (!strcmp(argv[i], "-p") && i + 1 < argc) {
			char *end;

			errno = 0;
			pid = strtol(argv[++i], &end, 10);
			if (errno || *end || pid <= 0 || pid > INT_MAX) {
				fprintf(stderr, "hook_floor: bad PID '%s'\n", argv[i]);
				return 2;
			}
		} else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			usage(stdout);
			return 0;
		} else {
			usage(stderr);
			return 2;
		}
	}
	if (!pid || (no_syscalls && entry_only)) {
		usage(stderr);
		return 2;
	}

	/* blocked before attaching, taken by sigwait: none is lost */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	sigprocmask(SIG_BLOCK, &sigs, NULL);

	libbpf_set_print(quiet);
	skel = hook_floor_bpf__open();
	if (!skel)
		return fail("cannot open BPF object", errno);
	skel->rodata->target_tgid = (__u32)pid;
	if (no_syscalls) {
		bpf_program__set_autoload(skel->progs.hook_sys_enter, false);
		bpf_program__set_autoload(skel->progs.hook_sys_exit, false);
	} else {
		/* as conctrace: sockets' release is hooked in light mode only */
		bpf_program__set_autoload(skel->progs.hook_inet_sock_set_state, false);
		if (entry_only)
			bpf_program__set_autoload(skel->progs.hook_sys_exit, false);
	}
	drop_missing_attach_points(skel->obj, "hook_floor");
	err = hook_floor_bpf__load(skel);
	if (err) {
		hook_floor_bpf__destroy(skel);
		return fail("cannot load BPF programs", err);
	}
	err = hook_floor_bpf__attach(skel);
	if (err) {
		hook_floor_bpf__destroy(skel);
		return fail("cannot attach BPF programs", err);
	}
	fprintf(stderr, "hook_floor: attached\n");

	while (sigwait(&sigs, &sig) != 0)
		;
	hook_floor_bpf__destroy(skel);
	return 0;
}
