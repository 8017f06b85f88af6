/* SPDX-License-Identifier: MIT */
/*
 * V8's own work (Node): its collector's, compilers' and worker threads'
 * probes: tracer/'s own, beside tracer.c
 * (which loads their programs with the skeleton). Depends on
 * tracer/tracer.h only.
 */
#ifndef CONCTRACE_TRACER_V8_PROBES_H
#define CONCTRACE_TRACER_V8_PROBES_H

#include "tracer/tracer.h"

/* Probe V8's collector, compilers and worker threads where exe's symbol
 * table names them (Node's own build does); anything else is left alone,
 * said nowhere. */
void v8_probes_attach(struct tracer *t, const char *exe);
void v8_probes_detach(struct tracer *t);

#endif /* CONCTRACE_TRACER_V8_PROBES_H */
