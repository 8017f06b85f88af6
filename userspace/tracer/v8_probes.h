/* SPDX-License-Identifier: MIT */
/*
 * V8's garbage collector probes (Node): tracer/'s own, beside tracer.c
 * (which loads their programs with the skeleton). Depends on
 * tracer/tracer.h only.
 */
#ifndef CONCTRACE_TRACER_V8_PROBES_H
#define CONCTRACE_TRACER_V8_PROBES_H

#include "tracer/tracer.h"

/* Probe the entry and return of V8's Heap::CollectGarbage where exe's
 * symbol table names it (Node's own build does); anything else is left
 * alone, said nowhere. */
void v8_probes_attach(struct tracer *t, const char *exe);
void v8_probes_detach(struct tracer *t);

#endif /* CONCTRACE_TRACER_V8_PROBES_H */
