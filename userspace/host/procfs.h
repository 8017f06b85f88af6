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

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* VmRSS of pid in bytes from a /proc/PID/status text; -1 if absent. */
long long status_vmrss(const char *status);
/* ... and read from /proc/PID/status itself. */
long long proc_vmrss(pid_t pid);
/* VmHWM (the kernel's exact high-water mark of VmRSS since the process's
 * fork or exec) in bytes from a /proc/PID/status text; -1 if absent. */
long long status_vmhwm(const char *status);
/* Both from one read of /proc/PID/status: false if the process is gone or
 * has no memory of its own (a zombie, a kernel thread). */
bool proc_rss_hwm(pid_t pid, long long *rss, long long *hwm);

/* A thread's time on CPU in ns, the first field of a /proc/PID/schedstat
 * text (the kernel's se.sum_exec_runtime, what getrusage() sums); -1 if
 * absent. */
long long schedstat_run_ns(const char *schedstat);
/* ... read for pid's main thread: a single-threaded process's CPU, exact
 * while it sleeps (the held child before release). */
long long proc_run_ns(pid_t pid);

/* A thread's context switches, voluntary and not, from a /proc/PID/status
 * text (voluntary_ctxt_switches, nonvoluntary_ctxt_switches: the kernel's
 * nvcsw and nivcsw, what getrusage() sums); false if either is absent. */
bool status_switches(const char *status, long long *voluntary, long long *involuntary);
/* ... read for pid's main thread: a single-threaded process's switches,
 * exact while it sleeps (the held child before release). */
bool proc_switches(pid_t pid, long long *voluntary, long long *involuntary);

/* The memory a BPF map holds, from its /proc/PID/fdinfo/FD text (the
 * kernel's bpf_map_memory_usage(): entries in use, not max_entries, for a
 * map that is not preallocated); -1 if absent. */
long long fdinfo_memlock(const char *fdinfo);
/* ... and read from /proc/self/fdinfo/FD for one of our map fds. */
long long map_fd_memlock(int fd);

/* A kernel thread (PF_KTHREAD in /proc/PID/stat's flags): no user memory,
 * no sockets of its own, nothing to attribute. */
bool proc_is_kernel_thread(pid_t pid);

/* Sockets the process holds open now (its /proc/PID/fd links), or -1. */
int proc_socket_count(pid_t pid);

/* Threads the process has now (its /proc/PID/task entries), or 0. */
long proc_thread_count(pid_t pid);

/* Its command line, arguments joined by spaces (as ps shows it); false if
 * the process is gone or has none (a kernel thread, a zombie). */
bool proc_cmdline(pid_t pid, char *buf, size_t len);

/* The flags field of a /proc/PID/stat text (the 9th; the command in
 * parentheses may hold spaces and parentheses); pure, for the tests. */
bool stat_flags(const char *stat, unsigned long *flags);

#endif /* CONCTRACE_PROCFS_H */
