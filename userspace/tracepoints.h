/* SPDX-License-Identifier: MIT */
/*
 * Attach points: does the running kernel have what a program hooks? A
 * tracepoint (tp_btf/X), an iterator (iter/X: iter/unix came in 5.17) or
 * a kernel function (fentry/X, fexit/X), and for a tracepoint whose
 * signature changed, the signature the program was written for. Asked of
 * the kernel's BTF before load, so a missing one is left out with a
 * warning instead of failing the whole load.
 */
#ifndef CONCTRACE_TRACEPOINTS_H
#define CONCTRACE_TRACEPOINTS_H

#include <stdbool.h>
#include <stddef.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>

/* The BTF type that tells whether the kernel has a program's attach point,
 * from its section name: its kind (BTF_KIND_TYPEDEF for tp_btf/X, the
 * btf_trace_X typedef; BTF_KIND_STRUCT for iter/X, struct bpf_iter__X;
 * BTF_KIND_FUNC for fentry/X and fexit/X, the function X), with its name
 * in name; 0 for a section this check does not cover. */
int attach_point_btf(const char *sec, char *name, size_t len);

/* Does vmlinux have the attach point of section sec, and, if nargs > 0,
 * does the tracepoint take nargs arguments? True for sections this check
 * does not cover. On false, why says what is missing. */
bool attach_point_present(const struct btf *vmlinux, const char *sec, int nargs,
			  char *why, size_t len);

/* Before load: turn off autoload of obj's programs whose attach point the
 * running kernel's BTF does not have; warnings start with `who`. */
void drop_missing_attach_points(struct bpf_object *obj, const char *who);

#endif /* CONCTRACE_TRACEPOINTS_H */
