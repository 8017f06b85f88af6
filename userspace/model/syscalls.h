/* SPDX-License-Identifier: MIT */
/* Syscall numbers: names for reports, and what each means for attribution. */
#ifndef CONCTRACE_SYSCALLS_H
#define CONCTRACE_SYSCALLS_H

#include <stddef.h>
#include <linux/types.h>

/* This architecture's name for nr, or NULL if unknown. */
const char *syscall_name(unsigned int nr);

/* Room for any label, "syscall_4294967295" with its NUL. */
#define SYSCALL_LABEL_LEN 24

/* What every output calls nr (text and JSON reports, Prometheus labels,
 * flame frames): its name, or "syscall_N" for a number this architecture's
 * headers do not name, written into buf (truncated as snprintf does).
 * One label per number, so two unknown numbers never merge into one
 * series; the same label everywhere, so outputs can be joined on it.
 * Returns the name or buf. */
const char *syscall_label(unsigned int nr, char *buf, size_t len);

/* Fill flags[SYSCALL_MAX] (SC_* from conctrace.h) for the BPF side. */
void syscall_flags_fill(__u16 *flags, unsigned int n);

#endif /* CONCTRACE_SYSCALLS_H */
