/* SPDX-License-Identifier: MIT */
/* Syscall numbers: names for reports, and what each means for attribution. */
#ifndef CONCTRACE_SYSCALLS_H
#define CONCTRACE_SYSCALLS_H

#include <linux/types.h>

/* This architecture's name for nr, or NULL if unknown. */
const char *syscall_name(unsigned int nr);

/* Fill flags[SYSCALL_MAX] (SC_* from conctrace.h) for the BPF side. */
void syscall_flags_fill(__u16 *flags, unsigned int n);

#endif /* CONCTRACE_SYSCALLS_H */
