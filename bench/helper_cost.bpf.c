// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * helper_cost: what each building block of conctrace's hot programs costs
 * on this machine. One program on sys_enter runs one operation ten times
 * for each getppid() of the benchmark process; the loader times getppid()
 * with each operation and with none, and the difference over ten is the
 * operation's cost. "none" against no program at all is the cost of the
 * hook itself: the syscall slow path and the program's invocation.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "helper_cost.h"

char LICENSE[] SEC("license") = "Dual MIT/GPL";

const volatile __u32 target_tgid;
const volatile int op;
const volatile long probe_nr;	/* the syscall timed: getppid */

__u64 sink;

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, __u64);
} task_store SEC(".maps");

/* as conctrace's connection map: not preallocated, sized for a million */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 1000000);
	__type(key, __u64);
	__type(value, __u64);
} hash SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} percpu SEC(".maps");

SEC("tp_btf/sys_enter")
int BPF_PROG(timed, struct pt_regs *regs, long id)
{
	struct task_struct *t = bpf_get_current_task_btf();

	if (t->tgid != target_tgid || id != probe_nr)
		return 0;
	for (int i = 0; i < HC_REPEAT; i++) {
		switch (op) {
		case HC_KTIME:
			sink += bpf_ktime_get_ns();
			break;
		case HC_TASK_STORAGE: {
			__u64 *v = bpf_task_storage_get(&task_store, t, 0,
							BPF_LOCAL_STORAGE_GET_F_CREATE);
			if (v)
				sink += *v;
			break;
		}
		case HC_HASH_LOOKUP: {
			__u64 key = HC_HASH_KEY0 + (i & 3), *v = bpf_map_lookup_elem(&hash, &key);

			if (v)
				sink += *v;
			break;
		}
		case HC_CURRENT_TASK:
			sink += bpf_get_current_task_btf()->pid;
			break;
		case HC_PID_TGID:
			sink += bpf_get_current_pid_tgid();
			break;
		case HC_PERCPU_ARRAY: {
			__u32 zero = 0;
			__u64 *v = bpf_map_lookup_elem(&percpu, &zero);

			if (v)
				sink += *v;
			break;
		}
		case HC_ATOMIC_ADD:
			__sync_fetch_and_add(&sink, 1);
			break;
		}
	}
	return 0;
}
