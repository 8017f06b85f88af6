/* SPDX-License-Identifier: MIT */
/* The flame views --flame names, and where each one's output goes. */
#ifndef CONCTRACE_VIEWS_H
#define CONCTRACE_VIEWS_H

#include <stddef.h>
#include <linux/types.h>

enum view {
	VIEW_MEM,		/* what a connection is made of: no stacks */
	VIEW_UMEM,		/* user memory growth by user stack */
	VIEW_KMEM,		/* kernel allocations by kernel (and user) stack */
	VIEW_OFFCPU,		/* off-CPU time at voluntary switches, by stack */
	VIEW_CPU,		/* on-CPU samples by stack */
	VIEW_SYSCALLS,		/* syscalls by user stack */
	VIEW_COUNT,
};

#define VIEWS_ALL ((1u << VIEW_COUNT) - 1)

extern const char *const view_names[VIEW_COUNT];

/* "mem,cpu" or "all" into a mask of 1 << VIEW_*. 0, or -1 naming the bad
 * word in *bad (points into arg, length *bad_len). */
int views_parse(const char *arg, unsigned int *mask, const char **bad, size_t *bad_len);

/* The enum flame_view that feeds view v, or -1 (VIEW_MEM needs none). */
int view_bpf(enum view v);

/* The BPF collection (bits of enum flame_view) a mask of views needs. */
__u32 views_bpf(unsigned int mask);

/* Where a view's output goes: PATH itself for one view, else PATH with
 * ".VIEW" before its extension (out.svg -> out.cpu.svg). */
void view_path(const char *path, unsigned int mask, enum view v, char *buf, size_t len);

#endif /* CONCTRACE_VIEWS_H */
