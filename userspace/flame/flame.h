/* SPDX-License-Identifier: MIT */
/*
 * Flame views (--flame): what each view is called, which BPF collection it
 * needs, and turning the collected stacks and the memory breakdown into
 * folded stacks, one set per view, written as folded text and/or SVG.
 *
 * Layer: flame/ may include model/ host/ tracer/ report/ (and common/,
 * conctrace.h): stacks come from the tracer, frame names from the
 * process's files, the memory view from the model, numbers and output
 * files from report/.
 */
#ifndef CONCTRACE_FLAME_H
#define CONCTRACE_FLAME_H

#include <stdbool.h>
#include <stdio.h>
#include <sys/types.h>
#include <linux/types.h>

#include "conctrace.h"
#include "flame/views.h"
#include "report/report.h"

struct agg;
struct folded;
struct slab_sizes;
struct symbolizer;
struct tracer;

struct flame_input {
	struct tracer *tracer;
	struct symbolizer *sym;
	pid_t pid;
	const char *process;		/* root frame: the target's name */
	struct agg *agg;		/* for the memory composition */
	bool by_conn;
};

/* Build the folded stacks of every view in mask; out[v] stays NULL for
 * views not asked for. A stack that shows one of conctrace's own BPF
 * programs running (a cpu sample that lands in one or in the tracepoint
 * glue that calls it, an allocation one makes) is no cost of the
 * target's: it goes under the process as SELF_CPU_FRAME, then the
 * program's (or the glue's) frame and what it called. self
 * receives the cpu view's totals of it. Returns 0 or -ENOMEM. */
int flame_build(const struct flame_input *in, unsigned int mask, struct folded *out[VIEW_COUNT],
		struct self_cpu *self);

/* Write one view: folded text to folded_path and/or SVG to svg_path
 * (either may be NULL), as outfile_write writes. 0 or -errno with the
 * failing path in *failed and what is wrong in *why. */
int flame_write(enum view v, const struct folded *f, const char *process, const char *folded_path,
		const char *svg_path, const char **failed, const char **why);

#endif /* CONCTRACE_FLAME_H */
