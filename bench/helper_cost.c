// SPDX-License-Identifier: MIT
/*
 * helper_cost [-n CALLS]: the cost, in ns, of each operation conctrace's hot
 * programs are made of (bench/helper_cost.bpf.c), and of a syscall hook
 * itself, measured on this machine by timing getppid(); the cost of a
 * socket's state two ways on a socket event, timed from inside the
 * program; and of a uprobe's hit, by timing a function with the probe on
 * one of its instructions.
 * Run pinned to one CPU (make bench-helpers does). Prints a table;
 * asserts nothing.
 */
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "helper_cost.h"
#include "host/proc_maps.h"
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
	[HC_SK_NONE] = "socket event with an empty program",	/* the baseline: no row */
	[HC_SK_STORAGE] = "bpf_sk_storage_get on a socket event",
	[HC_SK_HASH] = "hash map lookup on a socket event (1M-entry map)",
};

/*
 * The function the uprobe rows time, written out so that its instructions
 * are known: hc_site_call, a call, which x86's uprobes emulate (what
 * conctrace probes where it can: a PLT stub's or a function's callers),
 * and hc_site_mov, a move, which they copy out and single-step, a second
 * trap a hit (the first instruction of many functions: Go's stack check,
 * an indirect jmp in a PLT stub).
 */
void hc_probed(void);
extern const char hc_site_call[], hc_site_mov[];
__asm__(".pushsection .text\n"
	".globl hc_probed\n"
	".type hc_probed, @function\n"
	"hc_probed:\n"
	"hc_site_mov:\n"
	"	mov %rdi, %rax\n"
	"hc_site_call:\n"
	"	call hc_leaf\n"
	"	ret\n"
	"hc_leaf:\n"
	"	ret\n"
	".size hc_probed, . - hc_probed\n"
	".popsection\n");

static const struct {
	const char *name;
	const char *site;
} uprobe_rows[] = {
	{ "uprobe hit on a call (emulated)", hc_site_call },
	{ "uprobe hit on a mov (single-stepped)", hc_site_mov },
};

static int quiet(enum libbpf_print_level level, const char *fmt, va_list args)
{
	(void)level, (void)fmt, (void)args;
	return 0;
}

/* ns per call of fn, the best of three rounds of calls: noise only adds.
 * Inlined where it is called, so that fn is a direct call. */
static inline __attribute__((always_inline)) double best_ns_per_call(void (*fn)(void),
								      long calls)
{
	double best = 1e18;

	for (int round = 0; round < 3; round++) {
		struct timespec a, b;
		double ns;

		clock_gettime(CLOCK_MONOTONIC, &a);
		for (long i = 0; i < calls; i++)
			fn();
		clock_gettime(CLOCK_MONOTONIC, &b);
		ns = ((double)(b.tv_sec - a.tv_sec) * 1e9 + (double)(b.tv_nsec - a.tv_nsec)) / (double)calls;
		if (ns < best)
			best = ns;
	}
	return best;
}

static void getppid_once(void)
{
	syscall(SYS_getppid);
}

static double time_getppid(long calls)
{
	return best_ns_per_call(getppid_once, calls);
}

/* what sets off the socket rows' event: a datagram over a Unix socket
 * pair, read back */
static int sk_pair[2] = { -1, -1 };

static void send_once(void)
{
	char c = 0;

	if (send(sk_pair[0], &c, 1, 0) == 1)
		recv(sk_pair[1], &c, 1, 0);
}

static double time_probed(long calls)
{
	return best_ns_per_call(hc_probed, calls);
}

/* ns per call of hc_probed() with the empty uprobe program on site */
static int with_uprobe(const char *site, long calls, double *ns)
{
	struct helper_cost_bpf *skel = helper_cost_bpf__open_and_load();
	struct bpf_link *link = NULL;
	char path[PATH_MAX];
	unsigned long long off;
	int err = 0;

	if (!skel)
		return -errno;
	if (!maps_file_offset(getpid(), (uintptr_t)site, path, sizeof(path), &off))
		err = -ENOENT;
	else if (!(link = bpf_program__attach_uprobe(skel->progs.uprobe_hit, false, 0, path, off)))
		err = -errno;
	if (!err)
		*ns = time_probed(calls);
	bpf_link__destroy(link);
	helper_cost_bpf__destroy(skel);
	return err;
}

static int with_op(enum hc_op op, long calls, double *ns, double *in_prog)
{
	struct helper_cost_bpf *skel = helper_cost_bpf__open();
	bool on_socket = op >= HC_SK_NONE;
	__u64 zero[1] = { 0 };
	int err;

	if (!skel)
		return -errno;
	bpf_program__set_autoload(skel->progs.timed, !on_socket);
	bpf_program__set_autoload(skel->progs.timed_sk, on_socket);
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
	/* the socket rows are timed from inside alone: a send() and its recv()
	 * take microseconds, whose noise would swamp their ten operations */
	for (long i = 0; !err && on_socket && i < calls / 4; i++)
		send_once();
	if (!err && !on_socket)
		*ns = time_getppid(calls);
	*in_prog = skel->bss->loop_runs ? (double)skel->bss->loop_ns / (double)skel->bss->loop_runs : 0;
	helper_cost_bpf__destroy(skel);
	return err;
}

int main(int argc, char **argv)
{
	long calls = 1000000;
	double bare, unprobed, none = 0, none_in = 0, sk_none_in = 0;
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
	if (socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, sk_pair)) {
		perror("helper_cost: socketpair");
		return 1;
	}
	for (int op = HC_NONE; op < HC_NR_OPS; op++) {
		double ns = 0, in_prog = 0;
		int err = with_op(op, calls, &ns, &in_prog);

		if (err && op >= HC_SK_NONE) {
			/* sock_send_length is 6.3's: the other rows stand */
			fprintf(stderr, "helper_cost: socket rows left out: %s\n", strerror(-err));
			break;
		}
		if (err) {
			err = err < 0 ? -err : err;
			fprintf(stderr, "helper_cost: %s: %s%s\n", op_names[op], strerror(err),
				err == EPERM ? " (run as root)" : "");
			return 1;
		}
		if (op == HC_NONE) {
			none = ns;
			none_in = in_prog;
		} else if (op == HC_SK_NONE) {
			sk_none_in = in_prog;
			continue;
		}
		if (op > HC_SK_NONE)
			printf("| %s | | %.1f |\n", op_names[op], (in_prog - sk_none_in) / HC_REPEAT);
		else
			printf("| %s | %.1f | %.1f |\n", op_names[op],
			       op == HC_NONE ? ns - bare : (ns - none) / HC_REPEAT,
			       op == HC_NONE ? 0.0 : (in_prog - none_in) / HC_REPEAT);
	}
	/* a hit costs microseconds where a syscall costs nanoseconds: fewer calls */
	unprobed = time_probed(calls / 20);
	for (size_t i = 0; i < sizeof(uprobe_rows) / sizeof(uprobe_rows[0]); i++) {
		double ns = 0;
		int err = with_uprobe(uprobe_rows[i].site, calls / 20, &ns);

		if (err) {
			fprintf(stderr, "helper_cost: %s: %s\n", uprobe_rows[i].name, strerror(-err));
			return 1;
		}
		printf("| %s | %.1f | |\n", uprobe_rows[i].name, ns - unprobed);
	}
	printf("\nThe hook row is sys_enter alone; conctrace's full mode also hooks sys_exit.\n"
	       "The last column times the operations' loop from inside the program (two\n"
	       "clock reads around it, the same for every row): no scheduler noise in it.\n"
	       "A socket row runs on sock_send_length, at each send() over a Unix socket\n"
	       "pair, against the same loop there with no operation: timed from inside\n"
	       "alone. A uprobe row is a hit's cost against the function unprobed, its\n"
	       "empty program's run included.\n");
	return 0;
}
