/* SPDX-License-Identifier: MIT */
/*
 * Closure: how much of the growth of the kernel's own slab caches over the
 * run conctrace attributes to the target's open connections.
 */
#ifndef CONCTRACE_CLOSURE_H
#define CONCTRACE_CLOSURE_H

#include <stdbool.h>
#include <linux/types.h>

#include "conctrace.h"

/* Caches of their own (not merged with others), so their counts are ours. */
enum closure_cache {
	CC_TCP, CC_TCPV6, CC_SOCK_INODE, CC_FILP, CC_DENTRY, CC_TASK, CC_IO_KIOCB,
	CC_COUNT,
};

extern const char *const closure_cache_names[CC_COUNT];

struct slab_counts {
	bool valid;
	long long objects[CC_COUNT];	/* -1: cache absent or merged */
	unsigned int slab_size[CC_COUNT];
};

/* Objects of each cache that an open connection holds. */
void conn_closure_objects(const struct conn *c, __u64 out[CC_COUNT]);

struct closure {
	long long growth_objects[CC_COUNT];
	__u64 attributed_objects[CC_COUNT];
	long long growth_bytes;
	__u64 attributed_bytes;
};

/* The target's memory cgroup (--cgroup) against the same connections. */
struct closure_memcg {
	bool valid;
	int version;
	const char *path;
	long long kernel_growth;	/* kernel memory charged since the start */
	long long sock_growth;		/* socket buffers charged since the start */
	__u64 attributed_objects;	/* open connections' objects, stacks, requests */
	__u64 attributed_buffers;	/* their queues and forward-alloc reserves */
};

void closure_compute(const struct slab_counts *start, const struct slab_counts *end,
		     const __u64 attributed[CC_COUNT], struct closure *out);

/* On a plateau of the connections' objects, the end counters are read
 * again no more often than this (closure_read_due). */
#define CLOSURE_PLATEAU_S 1.0

/* Where the end counters were last read: when, and what the open
 * connections held then, their buffers among it. */
struct closure_mark {
	bool taken;
	double t;
	__u64 kernel_bytes, buffers;
};

/*
 * Whether a sample at t, whose open connections hold objects_bytes, is
 * where the end counters are read: where those objects are the most yet,
 * and on a plateau its latest sample, for the kernel's frees to have
 * settled, there at most once every CLOSURE_PLATEAU_S except at the
 * run's last sample. Each read walks the caches' slabs under their locks:
 * an idle run that read them at every sample spent a third of its CPU so.
 */
bool closure_read_due(const struct closure_mark *m, __u64 objects_bytes, double t, bool last);

#endif /* CONCTRACE_CLOSURE_H */
