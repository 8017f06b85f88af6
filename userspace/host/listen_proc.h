/* SPDX-License-Identifier: MIT */
/*
 * Where a process listens, read from /proc: for --load in light mode, where
 * no listen() syscall is traced. The first TCP (v4, v6) or Unix stream
 * listener among the process's own fds, or else its descendants' (a
 * wrapper's server).
 */
#ifndef CONCTRACE_LISTEN_PROC_H
#define CONCTRACE_LISTEN_PROC_H

#include <stdbool.h>
#include <sys/types.h>

#include "conctrace.h"

/* 0 and *out filled if pid or a descendant has a listening socket, else -1. */
int listen_from_proc(pid_t pid, struct listen_event *out);

/* One line of /proc/net/tcp or tcp6: true if it is a listener, with its
 * inode and address. Pure, for tests. */
bool parse_tcp_listener(const char *line, bool v6, unsigned long *inode, struct listen_event *out);

/* One line of /proc/net/unix: true if it is a listener (with a path). */
bool parse_unix_listener(const char *line, unsigned long *inode, struct listen_event *out);

#endif /* CONCTRACE_LISTEN_PROC_H */
