/* SPDX-License-Identifier: MIT */
/*
 * Which programs a run loads (plan.c), kept in the tracer's list of what
 * it goes without: a program whose attach point this kernel lacks, or
 * that the kernel refused on an earlier attempt, is left out, and the
 * stand-ins for it (tracer/programs.c) are loaded instead. tracer.c loads
 * by this plan, and adds to it what the kernel refuses.
 */
#ifndef CONCTRACE_TRACER_PLAN_H
#define CONCTRACE_TRACER_PLAN_H

#include <stdbool.h>
#include <stdio.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>

#include "tracer/tracer.h"

/* The program left out of this run under that name, or NULL. */
struct dropped_prog *plan_find(struct tracer *t, const char *name);

/* Leave the program out, for why (the first reason given stands). */
void plan_drop(struct tracer *t, const char *name, const char *why);

/* Before load: turn autoload off for what the plan leaves out, after
 * adding what vmlinux lacks (and CONCTRACE_DROP_PROGS, for the tests);
 * turn stand-ins on only where their program is left out. */
void plan_programs(struct tracer *t, struct bpf_object *obj, const struct btf *vmlinux);

/* Is the program left out, and every stand-in for it too? */
bool plan_all_dropped(struct tracer *t, const char *name);

/* Is the program in this run (t->skel), or a stand-in for it? */
bool plan_covered(struct tracer *t, const char *name);

/* A core program left out with nothing in its place, or light mode with
 * no program that names connections: one line saying so, -EOPNOTSUPP. */
int plan_check_core(struct tracer *t);
int plan_check_light_mode(struct tracer *t);

/* One line per figure lost, each prefixed, with the kernel's reason;
 * verbose: also what a stand-in or userspace replaced. */
void plan_report(struct tracer *t, FILE *f, const char *prefix, bool verbose);

#endif /* CONCTRACE_TRACER_PLAN_H */
