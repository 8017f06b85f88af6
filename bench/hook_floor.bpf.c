// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * hook_floor: programs that do nothing, on the tracepoints conctrace's
 * default mode attaches. Each compares the caller's tgid with the target's
 * and returns: the least any tracer of one process must do on these hooks.
 * The throughput kept with them attached is the floor conctrace is
 * measured against (scripts/bench-overhead.py).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "Dual MIT/GPL";

const volatile __u32 target_tgid;

static __always_inline int filter(void)
{
	if ((__u32)(bpf_get_current_pid_tgid() >> 32) != target_tgid)
		return 0;
	/* a tracer's work would start here; the barrier keeps the compare,
	 * which the compiler would otherwise fold away (both paths return) */
	barrier();
	return 0;
}

/* the names start with hook_, apart from conctrace's on_ (bpf_stats) */
#define HOOK(tp)				\
SEC("tp_btf/" #tp)				\
int hook_##tp(void *ctx)			\
{						\
	return filter();			\
}

HOOK(sys_enter)
HOOK(sys_exit)
HOOK(sched_switch)
HOOK(sched_wakeup)
HOOK(sched_wakeup_new)
HOOK(sched_process_fork)
HOOK(sched_process_exit)
HOOK(sock_recv_length)
HOOK(sock_send_length)
HOOK(io_uring_submit_req)
HOOK(io_uring_complete)
HOOK(rss_stat)
HOOK(inet_sock_set_state)
