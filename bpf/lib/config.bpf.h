/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * Load-time configuration: every read-only value the loader sets before
 * load (userspace/tracer/tracer.c). The verifier sees them as constants, so a
 * feature turned off costs its programs nothing. (The target's tgid is
 * set so too, but lives in .bss: lib/maps.bpf.h says why.)
 */
#ifndef CONCTRACE_LIB_CONFIG_BPF_H
#define CONCTRACE_LIB_CONFIG_BPF_H

#include "lib/kernel.bpf.h"

const volatile __u16 syscall_flags[SYSCALL_MAX] = {};
const volatile __u32 page_size = 4096;
const volatile __u32 nr_cpus = 1;		/* possible CPUs */
/* --no-syscalls: no sys_enter/sys_exit, so no wait for events is seen */
const volatile bool no_syscall_hooks = false;
/* this_cpu_off's distance from runqueues in a CPU's per-CPU area (BTF
 * section offsets), 0 if unknown: the sums of RSS counters are then not
 * exact */
const volatile __s64 rq_to_this_cpu_off = 0;

/* --syscall-time: each syscall's duration, summed by name. Off, a call
 * reads the clock only where the thread changes connection at it (two
 * clock reads fewer for most calls: their entry and return) */
const volatile bool syscall_time = false;

/* full mode on a kernel with neither the socket-length tracepoints nor
 * fexit: a connection's bytes are its read/write/send/recv results */
const volatile bool bytes_from_syscalls = false;

/* full mode with on_inet_sock_set_state, which ends a TCP connection whose
 * close() left the file to another holder (CONN_OUTLIVED) at its release
 * (a Unix one: the sample that no longer finds it, lib/conns.bpf.h
 * outlived_sweeps): without it such a close ends the connection, as before */
const volatile bool outlive_closes = false;

/* --flame: the views to collect stacks for (bits of enum flame_view), one
 * frame level per connection or not, and what one on-CPU sample stands for */
const volatile __u32 flame_views = 0;
const volatile bool flame_by_conn = false;
const volatile __u64 cpu_sample_ns = 0;

/* conctrace's own network namespace: the iterators see only its sockets */
const volatile __u32 tracer_netns = 0;
/* the families whose iterator this kernel has: only their absence is news */
const volatile bool sweep_tcp = false, sweep_unix = false;

/* the target is a Go binary: its runtime starts threads (Ms) for whichever
 * goroutine is runnable, never one for a connection */
const volatile bool go_target = false;

#endif /* CONCTRACE_LIB_CONFIG_BPF_H */
