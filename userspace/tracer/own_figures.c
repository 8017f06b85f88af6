// SPDX-License-Identifier: MIT
/*
 * What conctrace itself holds in the kernel: its maps' memory, read from
 * the kernel (fdinfo memlock), and its event ring's size and backlog.
 */
#include "tracer/tracer.h"
#include <bpf/libbpf.h>
#include "conctrace.skel.h"
#include "host/procfs.h"

__u64 tracer_map_bytes(struct tracer *t)
{
	struct bpf_map *map;
	__u64 total = 0;

	bpf_object__for_each_map(map, t->skel->obj) {
		int fd = bpf_map__fd(map);	/* < 0: not created, a disabled part's */
		long long bytes = fd < 0 ? -1 : map_fd_memlock(fd);

		if (bytes > 0)
			total += (__u64)bytes;
	}
	for (int g = 1; g < t->n_gens; g++) {	/* the first is the skeleton's */
		long long bytes = map_fd_memlock(t->gen_fd[g]);

		if (bytes > 0)
			total += (__u64)bytes;
	}
	return total;
}

__u64 tracer_ring_bytes(struct tracer *t)
{
	return bpf_map__max_entries(t->skel->maps.events);
}

__u64 tracer_ring_overflowed(struct tracer *t)
{
	return __atomic_load_n(&t->skel->bss->ring_overflowed, __ATOMIC_RELAXED);
}

__u64 tracer_ring_backlog_peak(struct tracer *t)
{
	return __atomic_load_n(&t->skel->bss->ring_backlog_peak, __ATOMIC_RELAXED);
}
