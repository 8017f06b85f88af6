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
/* the loop's time from inside, summed over the timed calls */
__u64 loop_ns, loop_runs;

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

/* as conctrace's connection map since it comes in generations (its
 * lib/maps.bpf.h conn_lookup): an array of hash maps, newest first */
struct gen {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 32768);
	__type(key, __u64);
	__type(value, __u64);
} gen0 SEC(".maps"), gen1 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 4);
	__type(key, __u32);
	__array(values, struct gen);
} gens SEC(".maps") = {
	.values = { [0] = &gen0, [1] = &gen1 },
};

__u32 n_gens = 1;	/* generations the lookup goes through */

static __always_inline __u64 *gen_lookup(__u64 key)
{
	__u32 n = n_gens;

#pragma unroll
	for (__u32 i = 0; i < 4; i++) {
		__u32 g = n - 1 - i;
		__u64 *v;
		void *m;

		if (i >= n)
			break;
		m = bpf_map_lookup_elem(&gens, &g);
		if (!m)
			break;
		v = bpf_map_lookup_elem(m, &key);
		if (v)
			return v;
	}
	return NULL;
}

/* the i-th of the loop's lookups in the 1M-entry map: one of the four
 * keys the loader put there */
static __always_inline void hash_lookup(int i)
{
	__u64 key = HC_HASH_KEY0 + (i & 3), *v = bpf_map_lookup_elem(&hash, &key);

	if (v)
		sink += *v;
}

SEC("tp_btf/sys_enter")
int BPF_PROG(timed, struct pt_regs *regs, long id)
{
	struct task_struct *t = bpf_get_current_task_btf();

	__u64 t0;

	if (t->tgid != target_tgid || id != probe_nr)
		return 0;
	t0 = bpf_ktime_get_ns();
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
		case HC_HASH_LOOKUP:
			hash_lookup(i);
			break;
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
		case HC_HASH_MISS: {
			__u64 key = HC_HASH_KEY0 + 100 + (i & 3), *v = bpf_map_lookup_elem(&hash, &key);

			if (v)
				sink += *v;
			break;
		}
		case HC_GEN_HIT:
		case HC_GEN_MISS: {
			__u64 key = HC_HASH_KEY0 + (op == HC_GEN_MISS ? 100 : 0) + (i & 3);
			__u64 *v = gen_lookup(key);

			if (v)
				sink += *v;
			break;
		}
		}
	}
	loop_ns += bpf_ktime_get_ns() - t0;
	loop_runs++;
	return 0;
}

/*
 * A connection's state kept with its socket (issue 18's suggestion):
 * bpf_sk_storage_get on the struct sock a socket event hands over,
 * against the hash lookup conctrace makes there now, both timed on the
 * event of each send() of the benchmark process. Loaded only for those
 * rows (helper_cost.c): kernels before 6.3 lack the event.
 */
struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, __u64);
} sk_store SEC(".maps");

SEC("tp_btf/sock_send_length")
int BPF_PROG(timed_sk, struct sock *sk, int ret, int flags)
{
	__u64 t0;

	if ((bpf_get_current_pid_tgid() >> 32) != target_tgid)
		return 0;
	t0 = bpf_ktime_get_ns();
	for (int i = 0; i < HC_REPEAT; i++) {
		if (op == HC_SK_STORAGE) {
			__u64 *v = bpf_sk_storage_get(&sk_store, sk, 0,
						      BPF_SK_STORAGE_GET_F_CREATE);
			if (v)
				sink += *v;
		} else if (op == HC_SK_HASH) {
			hash_lookup(i);
		}
	}
	loop_ns += bpf_ktime_get_ns() - t0;
	loop_runs++;
	return 0;
}

/* set by the loader on the instruction whose uprobe hit it times */
SEC("uprobe")
int BPF_KPROBE(uprobe_hit)
{
	return 0;
}
