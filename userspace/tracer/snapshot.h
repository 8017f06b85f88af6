/* SPDX-License-Identifier: MIT */
/*
 * The samples' walks over sockets (bpf/progs/snapshots.bpf.h): the
 * target's own descriptors where they find every open connection, every
 * socket of the machine otherwise; and the runner of an iterator to its
 * end, which the attach-time walks use too. tracer/'s own, beside
 * tracer.c. Depends on tracer/tracer.h only.
 */
#ifndef CONCTRACE_TRACER_SNAPSHOT_H
#define CONCTRACE_TRACER_SNAPSHOT_H

#include <bpf/btf.h>
#include "tracer/tracer.h"

/* Run an iterator program to its end: its work is its side effects. */
void tracer_run_iter(struct bpf_link *link);

/* Before load: whether the kernel lets a task_file iterator be given one
 * process (6.1 on); if not, snapshot_files is not loaded. */
struct conctrace_bpf;
void snapshot_plan(struct conctrace_bpf *skel, const struct btf *vmlinux);

#endif /* CONCTRACE_TRACER_SNAPSHOT_H */
