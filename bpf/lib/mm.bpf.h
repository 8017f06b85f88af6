/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * An address space's resident set, read exactly: its RSS counters are
 * per-CPU since 6.2, summed here through each CPU's per-CPU offset, which
 * the scheduler's program learns (learn_cpu_offset); and its page tables.
 */
#ifndef CONCTRACE_LIB_MM_BPF_H
#define CONCTRACE_LIB_MM_BPF_H

#include "lib/config.bpf.h"
#include "lib/maps.bpf.h"

/*
 * This CPU's per-CPU offset, once: its struct rq (runqueues) is in its
 * per-CPU area, and this_cpu_off, which holds the offset, lies a fixed
 * distance from it (userspace found the distance in BTF). task is any
 * task switching on this CPU.
 */
static __always_inline void learn_cpu_offset(struct task_struct *task)
{
	__u32 zero = 0;
	__u64 *off;

	if (!rq_to_this_cpu_off)
		return;
	off = bpf_map_lookup_elem(&cpu_off, &zero);
	if (off && !*off) {
		struct rq *r = BPF_CORE_READ(task, se.cfs_rq, rq);

		/* trust it only if it is this CPU's own */
		if (r && BPF_CORE_READ(r, cpu) == (int)bpf_get_smp_processor_id())
			bpf_probe_read_kernel(off, sizeof(*off),
					      (void *)((__u64)r + rq_to_this_cpu_off));
	}
}

/*
 * An mm's RSS counters are per-CPU (percpu_counter): the exact value is the
 * global count plus every CPU's unfolded share, which is what the rss_stat
 * event itself reports (percpu_counter_sum_positive). The global count
 * alone moves in batches of 32 pages, which would charge 128 KiB at a time
 * to whichever connection happened to be current.
 */
static __always_inline __s64 counter_sum(struct percpu_counter *fbc, bool *exact)
{
	__s64 sum = fbc->count;
	__u64 counters = (__u64)fbc->counters;
	__u32 zero = 0;

	*exact = rq_to_this_cpu_off != 0;
	for (__u32 cpu = 0; cpu < MAX_CPUS && cpu < nr_cpus && *exact; cpu++) {
		__u64 *off = bpf_map_lookup_percpu_elem(&cpu_off, &zero, cpu);
		__s32 v = 0;

		if (!off || !*off) {
			*exact = false;	/* this CPU has not switched since we attached */
			break;
		}
		bpf_probe_read_kernel(&v, sizeof(v), (void *)(counters + *off));
		sum += v;
	}
	return sum > 0 ? sum : 0;
}

/* typed loads need constant offsets: one case per counter */
static __always_inline __s64 rss_pages(struct mm_struct *mm, int member, bool *exact)
{
	switch (member) {
	case 0: return counter_sum(&mm->rss_stat[0], exact);
	case 1: return counter_sum(&mm->rss_stat[1], exact);
	case 3: return counter_sum(&mm->rss_stat[3], exact);
	}
	*exact = true;
	return 0;
}

/* Before 6.2, an mm's RSS counters were atomics in struct mm_rss_stat. */
struct mm_rss_stat___atomic {
	atomic_long_t count[4];
} __attribute__((preserve_access_index));

struct mm_struct___atomic_rss {
	struct mm_rss_stat___atomic rss_stat;
} __attribute__((preserve_access_index));

static __always_inline __s64 rss_pages_atomic(struct mm_struct *mm, int member)
{
	struct mm_struct___atomic_rss *old = (void *)mm;
	__s64 v;

	switch (member) {
	case 0: v = BPF_CORE_READ(old, rss_stat.count[0].counter); break;
	case 1: v = BPF_CORE_READ(old, rss_stat.count[1].counter); break;
	case 3: v = BPF_CORE_READ(old, rss_stat.count[3].counter); break;
	default: v = 0;
	}
	return v > 0 ? v : 0;
}

/* mm->pgtables_bytes: page-table pages of the address space, in bytes
 * (absent on kernels without an MMU, where there is nothing to count) */
static __always_inline __s64 page_table_bytes(struct mm_struct *mm)
{
	if (!bpf_core_field_exists(mm->pgtables_bytes))
		return 0;
	return BPF_CORE_READ(mm, pgtables_bytes.counter);
}

/* Which mm lives at an address: mm_structs are freed and their slots reused
 * (an exited worker's, a replaced image's), so the address alone does not
 * say whether a state is this mm's. x86 numbers every mm (ctx_id, never
 * reused while the kernel runs); elsewhere 0, and the address decides. */
static __always_inline __u32 mm_id(struct mm_struct *mm)
{
	if (!bpf_core_field_exists(mm->context.ctx_id))
		return 0;
	return (__u32)BPF_CORE_READ(mm, context.ctx_id);
}

/*
 * True while the task is inside execve() (from before its new image is
 * installed until the call returns). An mm first seen by its own task then
 * is the new image's, empty when exec made it: all of its RSS grew in the
 * target. Any other first sight (a forked copy of its parent, which still
 * holds what the parent grew; a process traced mid-life; conctrace's own
 * child before it execs the command) only gives a baseline.
 */
static __always_inline bool task_in_execve(struct task_struct *t)
{
	if (!bpf_core_field_exists(t->in_execve))
		return false;	/* a baseline then: never more than RSS grew */
	return BPF_CORE_READ_BITFIELD_PROBED(t, in_execve);
}

#endif /* CONCTRACE_LIB_MM_BPF_H */
