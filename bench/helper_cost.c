// SPDX-License-Identifier: MIT
/*
 * helper_cost [-n CALLS]: the cost, in ns, of each operation conctrace's hot
 * programs are made of (bench/helper_cost.bpf.c), and of a syscall hook
 * itself, measured on this machine by timing getppid(). Run pinned to one
 * CPU (make bench-helpers does). Prints a table; asserts nothing.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/syscall.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "helper_cost.h"
#include "helper_cost.skel.h"

static const char *const op_names[HC_NR_OPS] = {
	[HC_NONE] = "hook with an empty program (vs none)",
	[HC_KTIME] = "bpf_ktime_get_ns",
	[HC_TASK_STORAGE] = "bpf_task_storage_get",
	[HC_HASH_LOOKUP] = "hash map lookup (1M-entry map)",
	[HC_CURRENT_TASK] = "bpf_get_current_task_btf",
	[HC_PID_TGID] = "bpf_get_current_pid_tgid",
	[HC_PERCPU_ARRAY] = "per-CPU array lookup",
	[HC_ATOMIC_ADD] = "atomic add",
	[HC_HASH_MISS] = "hash map lookup of a key it lacks (1M-entry map)",
	[HC_GEN_HIT] = "connection map lookup, 1 generation, found",
	[HC_GEN_MISS] = "connection map lookup, 2 generations, not found",
};

static int quiet(enum libbpf_print_level level, const char *fmt, va_list args)
{
	(void)level, (void)fmt, (void)args;
	return 0;
}

/* ns per getppid(), the best of three rounds: noise only adds */
static double time_getppid(long calls)
{
	double best = 1e18;

	for (int round = 0; round < 3; round++) {
		struct timespec a, b;
		double ns;

		clock_gettime(CLOCK_MONOTONIC, &a);
		for (long i = 0; i < calls; i++)
			syscall(SYS_getppid);
		clock_gettime(CLOCK_MONOTONIC, &b);
		ns = ((double)(b.tv_sec - a.tv_sec) * 1e9 + (double)(b.tv_nsec - a.tv_nsec)) / (double)calls;
		if (ns < best)
			best = ns;
	}
	return best;
}

static int with_op(enum hc_op op, long calls, double *ns, double *in_prog)
{
	struct helper_cost_bpf *skel = helper_cost_bpf__open();
	__u64 zero[1] = { 0 };
	int err;

	if (!skel)
		return -errno;
	skel->rodata->target_tgid = (__u32)getpid();
	skel->rodata->op = op;
	skel->rodata->probe_nr = SYS_getppid;
	skel->data->n_gens = op == HC_GEN_MISS ? 2 : 1;
	err = helper_cost_bpf__load(skel);
	if (!err)
		err = helper_cost_bpf__attach(skel);
	for (__u64 key = HC_HASH_KEY0; !err && key < HC_HASH_KEY0 + 4; key++) {
		err = bpf_map_update_elem(bpf_map__fd(skel->maps.hash), &key, zero, BPF_ANY);
		if (!err)
			err = bpf_map_update_elem(bpf_map__fd(skel->maps.gen0), &key, zero, BPF_ANY);
	}
	if (!err)
		*ns = time_getppid(calls);
	*in_prog = skel->bss->loop_runs ? (double)skel->bss->loop_ns / (double)skel->bss->loop_runs : 0;
	helper_cost_bpf__destroy(skel);
	return err;
}

int main(int argc, char **argv)
{
	long calls = 1000000;
	double bare, none = 0, none_in = 0;
	int opt;

	while ((opt = getopt(argc, argv, "n:h")) != -1) {
		switch (opt) {
		case 'n':
			calls = strtol(optarg, NULL, 10);
			if (calls > 0)
				break;
			/* fall through */
		default:
			fprintf(stderr, "usage: helper_cost [-n CALLS]  (as root, pinned: "
				"taskset -c 0 helper_cost)\n");
			return opt == 'h' ? 0 : 2;
		}
	}
	libbpf_set_print(quiet);
	bare = time_getppid(calls);
	printf("getppid() without a hook: %.1f ns\n\n", bare);
	printf("| operation | ns | ns inside the program |\n|---|---|---|\n");
	for (int op = HC_NONE; op < HC_NR_OPS; op++) {
		double ns = 0, in_prog = 0;
		int err = with_op(op, calls, &ns, &in_prog);

		if (err) {
			err = err < 0 ? -err : err;
			fprintf(stderr, "helper_cost: %s: %s%s\n", op_names[op], strerror(err),
				err == EPERM ? " (run as root)" : "");
			return 1;
		}
		if (op == HC_NONE) {
			none = ns;
			none_in = in_prog;
		}
		printf("| %s | %.1f | %.1f |\n", op_names[op],
		       op == HC_NONE ? ns - bare : (ns - none) / HC_REPEAT,
		       op == HC_NONE ? 0.0 : (in_prog - none_in) / HC_REPEAT);
	}
	printf("\nThe hook row is sys_enter alone; conctrace's full mode also hooks sys_exit.\n"
	       "The last column times the operations' loop from inside the program (two\n"
	       "clock reads around it, the same for every row): no scheduler noise in it.\n");
	return 0;
}
