/* SPDX-License-Identifier: MIT */
/*
 * Small /proc files read while tracing: the target's RSS, the memory of
 * conctrace's own BPF maps. Each reader comes with the parser of the text
 * it reads, pure, for the tests.
 *
 * Layer: host/ may include model/ (and common/, conctrace.h). Its files
 * read what the running system says in /proc, /sys, cgroupfs and the
 * kernel's BTF, into the model's types; none loads BPF or prints.
 */
#ifndef CONCTRACE_PROCFS_H
#define CONCTRACE_PROCFS_H

#include <sys/types.h>

/* VmRSS of pid in bytes from a /proc/PID/status text; -1 if absent. */
long long status_vmrss(const char *status);
/* ... and read from /proc/PID/status itself. */
long long proc_vmrss(pid_t pid);

/* The memory a BPF map holds, from its /proc/PID/fdinfo/FD text (the
 * kernel's bpf_map_memory_usage(): entries in use, not max_entries, for a
 * map that is not preallocated); -1 if absent. */
long long fdinfo_memlock(const char *fdinfo);
/* ... and read from /proc/self/fdinfo/FD for one of our map fds. */
long long map_fd_memlock(int fd);

#endif /* CONCTRACE_PROCFS_H */
