/* SPDX-License-Identifier: MIT */
/*
 * The connection map's generations: tracer/'s own, beside tracer.c (which
 * loads the map's first generation with the skeleton). Depends on
 * tracer/tracer.h only.
 */
#ifndef CONCTRACE_TRACER_CONN_GENS_H
#define CONCTRACE_TRACER_CONN_GENS_H

#include "tracer/tracer.h"

/* The first generation's size: CONN_GEN0, or the tests' smaller one. */
__u32 conn_gen0_from_env(void);
/* Light mode's sweep of generation g; 0 or -1 (refused). */
int tracer_attach_sweep(struct tracer *t, int g);
/* Add generations while the open connections ask for them. */
void tracer_grow(struct tracer *t);
/* Light mode's sweep from userspace, where the kernel refuses the
 * iterator, and full mode's of its outlived connections (CONN_OUTLIVED):
 * returns, in full mode, those it left open. */
size_t tracer_sweep_from_userspace(struct tracer *t);

#endif /* CONCTRACE_TRACER_CONN_GENS_H */
