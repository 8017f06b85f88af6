// SPDX-License-Identifier: MIT
/*
 * What conctrace itself holds in the kernel: its maps' memory, read from
 * the kernel (fdinfo memlock), and its event ring's size and backlog; and
 * which hooks its syscall figures came through.
 */
#include "tracer/tracer.h"
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include "conctrace.skel.h"
#include "host/procfs.h"
#include "host/slabs.h"
#include "tracer/plan.h"

/*
 * A map whose memory grows with its elements: a hash map allocating each
 * as it is added. The kernel counts every other kind at its size when
 * created (arrays, rings, task storage, preallocated hash maps), so
 * their memlock is read once, not at every sample: the run's memory
 * timeline read 27 fdinfo files a sample, most of an idle conctrace's
 * syscalls and a third of its CPU.
 */
static bool map_grows(const struct bpf_map *map)
{
	enum bpf_map_type type = bpf_map__type(map);

	return (type == BPF_MAP_TYPE_HASH || type == BPF_MAP_TYPE_PERCPU_HASH) &&
	       (bpf_map__map_flags(map) & BPF_F_NO_PREALLOC);
}

/* Every skeleton map's memlock, the growing ones' or the others'. */
static __u64 skeleton_map_bytes(struct tracer *t, bool growing)
{
	struct bpf_map *map;
	__u64 total = 0;

	bpf_object__for_each_map(map, t->skel->obj) {
		int fd = bpf_map__fd(map);	/* < 0: not created, a disabled part's */
		long long bytes;

		if (fd < 0 || map_grows(map) != growing)
			continue;
		bytes = map_fd_memlock(fd);
		if (bytes > 0)
			total += (__u64)bytes;
	}
	return total;
}

void tracer_learn_fixed_maps(struct tracer *t)
{
	t->fixed_map_bytes = skeleton_map_bytes(t, false);
}

__u64 tracer_map_bytes(struct tracer *t)
{
	__u64 total = t->fixed_map_bytes + skeleton_map_bytes(t, true);

	for (int g = 1; g < t->n_gens; g++) {	/* the first is the skeleton's */
		long long bytes = map_fd_memlock(t->gen_fd[g]);

		if (bytes > 0)
			total += (__u64)bytes;
	}
	return total;
}

/* A type's size in the kernel's BTF, 0 if it has none by that name. */
static __u32 kernel_struct_size(const struct btf *btf, const char *name)
{
	__s32 id = btf__find_by_name_kind(btf, name, BTF_KIND_STRUCT);

	return id > 0 ? btf__type_by_id(btf, id)->size : 0;
}

void tracer_learn_conn_elem(struct tracer *t, const struct btf *vmlinux)
{
	__u32 head = vmlinux ? kernel_struct_size(vmlinux, "htab_elem") : 0;

	/* kernel/bpf/hashtab.c: the head, the key and the value each rounded
	 * to 8; memalloc.c (6.1 on) puts an llist_node before it */
	t->conn_elem_bytes = head ? head + 8 + (sizeof(struct conn) + 7) / 8 * 8 +
				    kernel_struct_size(vmlinux, "llist_node") : 0;
}

__u64 tracer_conn_alloc_bytes(struct tracer *t)
{
	return t->conn_elem_bytes ? kmalloc_class_read(t->conn_elem_bytes) : 0;
}

const char *tracer_syscall_hooks(struct tracer *t)
{
	if (t->light)
		return "none";
	/* a stand-in: in the run only where the tracepoints are not */
	return plan_covered(t, "on_sys_call") ? "fentry" : "tracepoints";
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
