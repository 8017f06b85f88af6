/* SPDX-License-Identifier: MIT */
/*
 * Portability: a tp_btf program whose tracepoint this kernel lacks, or an
 * iterator whose kind it lacks (iter/unix came in 5.17), is left out with
 * a warning, instead of failing the whole load.
 */
#ifndef CONCTRACE_TRACEPOINTS_H
#define CONCTRACE_TRACEPOINTS_H

#include <stddef.h>
#include <bpf/libbpf.h>

/* The BTF type that tells whether the kernel has a program's attach point,
 * from its section name: its kind (BTF_KIND_TYPEDEF for tp_btf/X, the
 * btf_trace_X typedef; BTF_KIND_STRUCT for iter/X, struct bpf_iter__X),
 * with its name in name; 0 for a section this check does not cover. */
int attach_point_btf(const char *sec, char *name, size_t len);

/* Before load: turn off autoload of obj's tp_btf and iter programs whose
 * tracepoint or iterator the running kernel's BTF does not have; warnings
 * start with `who`. */
void drop_missing_attach_points(struct bpf_object *obj, const char *who);

#endif /* CONCTRACE_TRACEPOINTS_H */
