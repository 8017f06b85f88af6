/* SPDX-License-Identifier: MIT */
/*
 * libbpf's log, kept (libbpf_log.c): its last lines, the program it last
 * failed to load, and the verifier's verdict on it, so that a refused
 * program is named with the kernel's reason without -v, and the tracer can
 * leave it out and try again. With -v everything is printed as it comes.
 */
#ifndef CONCTRACE_LIBBPF_LOG_H
#define CONCTRACE_LIBBPF_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

/* Route libbpf's messages here; verbose: also print them all. */
void libbpf_log_start(bool verbose);

/* Forget what was kept: before each load attempt. */
void libbpf_log_clear(void);

/* Feed one message (what the print callback does; the tests call it). */
void libbpf_log_feed(const char *msg);

/* The program libbpf last said it failed to load, or NULL. */
const char *libbpf_log_failed_prog(void);

/* The map libbpf last said it failed to create, or NULL. */
const char *libbpf_log_failed_map(void);

/* Why the kernel refused that program, in one line: the verifier's last
 * word with the source line it stopped at, or libbpf's error; "" if
 * nothing was said. */
void libbpf_log_verdict(char *buf, size_t len);

/* Print libbpf's last n warning lines, each prefixed. */
void libbpf_log_print_tail(FILE *f, int n, const char *prefix);

#endif /* CONCTRACE_LIBBPF_LOG_H */
