/* SPDX-License-Identifier: MIT */
/*
 * CPython's thread-pool probes (run_in_executor's jobs): tracer/'s own,
 * beside tracer.c (which loads their programs with the skeleton). Depends
 * on tracer/tracer.h only.
 */
#ifndef CONCTRACE_TRACER_PY_JOBS_H
#define CONCTRACE_TRACER_PY_JOBS_H

#include "tracer/tracer.h"

/* Probe SimpleQueue's put and get in the _queue module of the Python
 * whose lib-dynload directory is dynload; a module where they are not
 * found is said in the run's warnings (plan_report). */
void py_jobs_attach(struct tracer *t, const char *dynload);
void py_jobs_detach(struct tracer *t);

#endif /* CONCTRACE_TRACER_PY_JOBS_H */
