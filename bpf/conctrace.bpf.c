// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * conctrace: what each connection of a server process costs, measured in the
 * kernel.
 *
 * Every event is charged to a connection. Events that name a socket (a
 * syscall's fd argument, sock_recv_length, an io_uring request) are charged
 * to it and make it the thread's "current connection"; events that name
 * none (context switches, CPU time, syscalls without an fd) go to the
 * thread's current connection. Waiting for events (epoll_wait,
 * io_uring_enter) switches the thread to the event-loop bucket, so idle time
 * is never smeared over the last connection served.
 *
 * The syscall programs run for every syscall on the machine: their first
 * instructions compare the caller's tgid with the target and leave.
 *
 * One object, in two layers. lib/ holds helpers only, each header
 * compiling alone and including only the layers below it:
 *   kernel (types, constants) < config (load-time constants), maps (shared
 *   state) < thread (the target test, per-thread state) < sockets < conns
 *   < cpu_time < charging; mm and stacks beside them.
 * progs/ holds the programs, one file per hooked subsystem, each including
 * lib/ only. This file is the list of them; the loader leaves out what a
 * kernel lacks or refuses (userspace/tracer/programs.c says what each gives).
 */
#include "lib/kernel.bpf.h"

char LICENSE[] SEC("license") = "Dual MIT/GPL";

#include "progs/flame.bpf.h"		/* --flame: kernel allocations, on-CPU samples */
#include "progs/syscalls.bpf.h"		/* sys_enter, sys_exit */
#include "progs/sched.bpf.h"		/* switches, run-queue wait, threads */
#include "progs/sockets.bpf.h"		/* socket I/O; light mode's TCP close */
#include "progs/snapshots.bpf.h"	/* buffers at each sample; light mode's sweep */
#include "progs/rss.bpf.h"		/* user memory */
#include "progs/io_uring.bpf.h"		/* io_uring requests and completions */
#include "progs/held.bpf.h"		/* -p: what the target held before */
#include "progs/runtimes.bpf.h"		/* libuv's threadpool, Go's channels: work queued */
