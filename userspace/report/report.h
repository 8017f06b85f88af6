/* SPDX-License-Identifier: MIT */
/*
 * What a run measured, and the formats that print it.
 *
 * Layer: report/ may include model/ host/ (and common/, conctrace.h): a
 * report puts the model's figures in words, host/ naming io_uring
 * opcodes. Its number formats and output files serve flame/ and live/ too.
 */
#ifndef CONCTRACE_REPORT_H
#define CONCTRACE_REPORT_H

#include <stdio.h>
#include <sys/types.h>

#include "conctrace.h"
#include "model/aggregate.h"
#include "model/closure.h"
#include "model/memory.h"
#include "model/timeline.h"

/* --flame cpu: of the on-CPU time sampled in the target's threads, what
 * ran conctrace's own BPF programs (a sample that lands while one runs),
 * and of that what collected stacks. All zero without the cpu view. */
struct self_cpu {
	__u64 sampled_ns;
	__u64 own_ns;
	__u64 stacks_ns;
};

#define SELF_CPU_FRAME "conctrace (tracing itself)"	/* the cpu flame's tower of it */

struct report {
	const char *target;		/* the command, or "pid N" */
	pid_t pid;
	double duration_s;
	struct agg *agg;
	struct proc_counters proc;
	struct syscall_total syscalls[SYSCALL_MAX];
	long threads_peak;
	/* launched: the held child's CPU from fork until released, before
	 * tracing (conctrace's fork, which the kernel's books for the process,
	 * wait4() and schedstat, count); -1: attached, or unread */
	long long cpu_before_ns;
	/* ... and its context switches then, voluntary and not */
	long long nvcsw_before, nivcsw_before;
	/* launched: what wait4() said of every process conctrace reaped (the
	 * command, with the children it reaped, and orphans of its tree): the
	 * kernel's own books to check the figures against; processes 0: none */
	struct {
		unsigned int processes;
		long long nvcsw, nivcsw, cpu_ns;
	} reaped;
	__u64 peak_open;
	unsigned top_conns;		/* connections listed in text (--top-conns) */
	unsigned json_conns;		/* connection objects in JSON */
	const char *exit_desc;		/* "exited 0", "killed by SIGKILL", NULL */
	const char *load_failure;	/* --load failed: why ("loadgen exited 2 ..."); NULL */
	const struct slab_sizes *slabs;	/* object sizes the memory figures used */
	const struct timeline *timeline;	/* memory samples; may be empty */
	__u64 ring_bytes;		/* the event ring's size */
	__u64 conn_alloc_bytes;		/* a tracked connection's map element, allocated */
	const char *syscall_hooks;	/* "fentry", "tracepoints", "none" (tracer.h) */
	__u64 ring_backlog_peak;	/* the most of it ever unread */
	__u64 ring_overflowed;		/* records that waited in the overflow map */
	/* memory samples' walks: of the target's descriptors alone, and of
	 * every socket of the machine (the report's own included, where any
	 * record is left to walk) */
	__u64 walks_own, walks_machine;
	bool has_closure;
	bool syscall_time;		/* --syscall-time: the syscalls' ns are measured */
	struct closure closure;		/* open connections vs slab growth, at their peak */
	struct closure_memcg memcg;	/* and vs the target's memory cgroup */
	struct self_cpu self_cpu;
};

void report_text(FILE *f, struct report *r);
void report_json(FILE *f, struct report *r);

#endif /* CONCTRACE_REPORT_H */
