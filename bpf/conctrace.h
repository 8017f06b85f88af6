/* SPDX-License-Identifier: MIT */
/*
 * Record layouts shared by the BPF programs (conctrace.bpf.c) and the
 * loader (userspace/). Fixed-width types only: both sides see the same bytes.
 */
#ifndef CONCTRACE_H
#define CONCTRACE_H

/* Process-wide counters, one slot per CPU (summed by userspace). */
struct proc_counters {
	__u64 ctx_switches_voluntary;
	__u64 ctx_switches_involuntary;
	__u64 cpu_ns;
};

#endif /* CONCTRACE_H */
