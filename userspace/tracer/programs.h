/* SPDX-License-Identifier: MIT */
/*
 * What each BPF program measures, which ones conctrace cannot run without,
 * and which stand in for another on kernels that lack it (programs.c).
 *
 * Kernels differ in which tracepoints they have, in their signatures, and
 * in what their verifier accepts. Only the core (connections, context
 * switches, CPU time) is required; every other program that a kernel
 * refuses is left out with one warning naming the figure lost, and the
 * rest runs. Pure data and rules: the tracer applies them.
 */
#ifndef CONCTRACE_PROGRAMS_H
#define CONCTRACE_PROGRAMS_H

#include <stdbool.h>

enum prog_need {
	NEED_OPTIONAL,		/* left out with a warning naming what is lost */
	NEED_CORE,		/* nothing is measured without it: fatal */
	NEED_FULL_MODE,		/* core without --no-syscalls (unloaded with it) */
};

struct prog_role {
	const char *name;	/* the BPF program's function name */
	enum prog_need need;
	const char *figure;	/* what a run without it loses, for the warning */
	/* a stand-in: loaded only where the program of this name is not (its
	 * attach point is missing, or the kernel refused it) */
	const char *fallback_for;
	/* a variant written for one signature of a tracepoint that changed:
	 * the number of arguments it takes; 0 if any signature will do */
	int nargs;
	/* light mode finds connections only through these (socket I/O):
	 * without any of them it has nothing to measure */
	bool names_conns;
	/* what does its job where it is left out: nothing is lost, and only
	 * -v says so; NULL for a program whose figure goes with it */
	const char *instead;
};

/* The role of the program called name; NULL if it has none listed (then
 * it is treated as optional, its figure its name). */
const struct prog_role *prog_role(const char *name);

/* Every listed role, n of them. */
const struct prog_role *prog_roles(unsigned int *n);

/* Is the program required in this mode? */
bool prog_is_core(const char *name, bool light_mode);

/* The programs that stand in for name, in order of preference: fills
 * out[] with up to max of them and returns how many. */
unsigned int prog_fallbacks(const char *name, const char **out, unsigned int max);

/* Is name in the comma-separated list (the CONCTRACE_DROP_PROGS test
 * hook: programs to treat as refused)? */
bool prog_listed(const char *list, const char *name);

#endif /* CONCTRACE_PROGRAMS_H */
