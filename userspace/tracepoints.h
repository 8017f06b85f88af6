/* SPDX-License-Identifier: MIT */
/*
 * Portability: a tp_btf program whose tracepoint this kernel lacks, or an
 * iterator whose kind it lacks (iter/unix came in 5.17), is left out with
 * a warning, instead of failing the whole load.
 */
#ifndef CONCTRACE_TRACEPOINTS_H
#define CONCTRACE_TRACEPOINTS_H

#include <bpf/libbpf.h>

/* Before load: turn off autoload of obj's tp_btf and iter programs whose
 * tracepoint or iterator the running kernel's BTF does not have; warnings
 * start with `who`. */
void drop_missing_attach_points(struct bpf_object *obj, const char *who);

#endif /* CONCTRACE_TRACEPOINTS_H */
