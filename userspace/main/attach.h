/* SPDX-License-Identifier: MIT */
/*
 * -p PID...: checking what is to be attached to, and naming it (attach.c).
 * Layer: main/ (see env.h).
 */
#ifndef CONCTRACE_MAIN_ATTACH_H
#define CONCTRACE_MAIN_ATTACH_H

#include <stddef.h>

#include "main/env.h"
#include "target/target.h"

/* Attach t to env's pids: refused (a line printed, -1) if one does not
 * exist or is a kernel thread; a warning for each that holds no socket. */
int attach_checked(struct target *t, const struct env *env);

/* The processes' threads now, summed. */
long attached_threads(const struct env *env);

/* What the report calls an attached target: its command line as ps shows
 * it ("pid N" for one without), and how many more pids are traced. */
char *attached_name(const struct env *env, char *buf, size_t len);

#endif /* CONCTRACE_MAIN_ATTACH_H */
