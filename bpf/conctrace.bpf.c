// SPDX-License-Identifier: GPL-2.0 OR MIT
/* conctrace: per-connection cost of a server process, measured in the kernel. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "conctrace.h"

char LICENSE[] SEC("license") = "Dual MIT/GPL";

/* Set by the loader before load: the process being traced. */
const volatile __u32 target_tgid = 0;

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct proc_counters);
} proc_counters SEC(".maps");

/* Task switched in on this CPU and when: on-CPU time is measured at switch-out. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} oncpu_since SEC(".maps");

static __always_inline bool is_target(const struct task_struct *t)
{
	return target_tgid && BPF_CORE_READ(t, tgid) == (int)target_tgid;
}

SEC("tp_btf/sched_switch")
int BPF_PROG(on_sched_switch, bool preempt, struct task_struct *prev,
	     struct task_struct *next, unsigned int prev_state)
{
	__u32 zero = 0;
	__u64 now = bpf_ktime_get_ns();
	__u64 *since = bpf_map_lookup_elem(&oncpu_since, &zero);
	struct proc_counters *pc;

	if (!since)
		return 0;
	if (is_target(prev)) {
		pc = bpf_map_lookup_elem(&proc_counters, &zero);
		if (pc) {
			/* the kernel's own rule (__schedule): a switch is voluntary
			 * when the task gave up the CPU to sleep, not when preempted */
			if (!preempt && prev_state)
				pc->ctx_switches_voluntary++;
			else
				pc->ctx_switches_involuntary++;
			if (*since)
				pc->cpu_ns += now - *since;
		}
	}
	*since = is_target(next) ? now : 0;
	return 0;
}
