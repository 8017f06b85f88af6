/* SPDX-License-Identifier: MIT */
/*
 * libuv's threadpool probes: tracer/'s own, beside tracer.c (which loads
 * their programs with the skeleton). Depends on tracer/tracer.h only.
 */
#ifndef CONCTRACE_TRACER_UV_PROBES_H
#define CONCTRACE_TRACER_UV_PROBES_H

#include "tracer/tracer.h"

/* Probe uv_queue_work in exe if it has it, else in the system's libuv if
 * exe needs that. */
void uv_probes_attach(struct tracer *t, const char *exe);
/* A work callback BPF saw first (EV_UV_CALLBACK): probe its entry and return. */
void uv_probes_callback(struct tracer *t, const struct uv_callback_event *ev);
void uv_probes_detach(struct tracer *t);

#endif /* CONCTRACE_TRACER_UV_PROBES_H */
