/* SPDX-License-Identifier: MIT */
/*
 * CPython asyncio's probe: tracer/'s own, beside tracer.c (which loads its
 * program with the skeleton). Depends on tracer/tracer.h only.
 */
#ifndef CONCTRACE_TRACER_PY_PROBES_H
#define CONCTRACE_TRACER_PY_PROBES_H

#include "tracer/tracer.h"

/* Probe where a Task's step resumes its coroutine, in the _asyncio module
 * of the Python that exe is; a Python whose module has no such call is
 * said in the run's warnings (plan_report), anything else is left alone. */
void py_probes_attach(struct tracer *t, const char *exe);
void py_probes_detach(struct tracer *t);

#endif /* CONCTRACE_TRACER_PY_PROBES_H */
