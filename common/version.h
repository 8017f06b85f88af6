/* SPDX-License-Identifier: MIT */
/*
 * conctrace's version: said by --version (main/) and on the metrics page
 * (live/prom.c), so it sits below both.
 */
#ifndef CONCTRACE_VERSION_H
#define CONCTRACE_VERSION_H

#define CONCTRACE_VERSION "0.1.0"

#endif /* CONCTRACE_VERSION_H */
