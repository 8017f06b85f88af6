/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * --flame's own programs: kernel allocations by stack (kmem) and on-CPU
 * samples (cpu). The other views sample inside the scheduler, syscall
 * and rss_stat programs.
 */
#ifndef CONCTRACE_PROGS_FLAME_BPF_H
#define CONCTRACE_PROGS_FLAME_BPF_H

#include "lib/stacks.bpf.h"

/*
 * Kernel memory the target's threads allocate, where they allocate it.
 * The object's address (ptr, NULL for an allocation that failed) is not
 * read: the verifiers of 6.1 and 6.12 refuse a load of a const void *
 * argument ("arg1 type UNKNOWN is not a struct"), and the view was lost
 * there. A failed allocation, rare, counts as made.
 */
SEC("tp_btf/kmem_cache_alloc")
int BPF_PROG(on_kmem_cache_alloc, unsigned long call_site, const void *ptr,
	     struct kmem_cache *s, gfp_t gfp_flags, int node)
{
	if (!target_current())
		return 0;
	flame_add(ctx, FV_KMEM, current_conn(), 0, BPF_CORE_READ(s, size), true, true);
	return 0;
}

SEC("tp_btf/kmalloc")
int BPF_PROG(on_kmalloc, unsigned long call_site, const void *ptr, size_t bytes_req,
	     size_t bytes_alloc, gfp_t gfp_flags, int node)
{
	if (!target_current())
		return 0;
	flame_add(ctx, FV_KMEM, current_conn(), 0, bytes_alloc, true, true);
	return 0;
}

/* On-CPU: a sample every 1/F s on each CPU (perf_event, opened by the loader). */
SEC("perf_event")
int on_cpu_sample(struct bpf_perf_event_data *ctx)
{
	if (!target_current())
		return 0;
	flame_add(ctx, FV_CPU, cpu_conn(), 0, cpu_sample_ns, true, true);
	return 0;
}

#endif /* CONCTRACE_PROGS_FLAME_BPF_H */
