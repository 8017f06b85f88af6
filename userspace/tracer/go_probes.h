/* SPDX-License-Identifier: MIT */
/*
 * Go's channel probes: tracer/'s own, beside tracer.c (which loads their
 * programs with the skeleton). Depends on tracer/tracer.h only.
 */
#ifndef CONCTRACE_TRACER_GO_PROBES_H
#define CONCTRACE_TRACER_GO_PROBES_H

#include "tracer/tracer.h"

/* Probe runtime.chanparkcommit, runtime.recv and (where g and m are known)
 * runtime.send if exe is a Go binary whose
 * runtime's layout is known; a Go binary probed without it is said in
 * the run's warnings (plan_report), anything else is left alone. */
void go_probes_attach(struct tracer *t, const char *exe);
/* Before load: whether exe is a Go binary, whose probes' maps are then
 * sized to be used; anything else keeps them at one element (their hash
 * buckets are taken at load, about 0.5 MiB). */
bool go_binary(const char *exe);
void go_probes_detach(struct tracer *t);

#endif /* CONCTRACE_TRACER_GO_PROBES_H */
