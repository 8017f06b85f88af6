/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * The first layer: the kernel's types (vmlinux.h, relocated by CO-RE),
 * libbpf's helpers, the records shared with userspace, and the kernel's
 * constants that BTF does not carry (macros are not types).
 */
#ifndef CONCTRACE_LIB_KERNEL_BPF_H
#define CONCTRACE_LIB_KERNEL_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include "conctrace.h"

#define AF_UNIX		1
#define AF_INET		2
#define AF_INET6	10
#define IPPROTO_TCP	6
#define SOCK_STREAM	1
#define SOCK_SEQPACKET	5
#define TCP_CLOSE	7
#define TCP_LISTEN	10
#define S_IFMT		00170000
#define S_IFSOCK	0140000
#define MSG_PEEK	2
#define TASK_DEAD	0x80	/* include/linux/sched.h, stable since 2.6 */
#define PF_EXITING	0x00000004	/* include/linux/sched.h, stable since 2.6 */
#define EINPROGRESS	115
#define EFAULT		14
#define EAGAIN		11
#define EPOLL_CTL_ADD	1
#define EPOLL_CTL_DEL	2
#define IORING_CQE_F_MORE (1U << 1)	/* uapi */
#define VM_READ		0x1	/* include/linux/mm.h, stable since 2.6 */
#define VM_WRITE	0x2
#define VM_EXEC		0x4
#define VM_SHARED	0x8

#define MAX_CPUS 512

/*
 * A global function: not static, never inlined. The verifier checks it
 * once per program, on its own, where a static inline one is walked again
 * at every call site and in every state that reaches it: four of them (the
 * record's flush, creation, syscall table and send) took the programs'
 * verification from 0.99 s to 0.10 s at every start. The price is in the
 * signature: a pointer argument may be NULL (the function checks) and
 * points to plain memory (a map value); a kernel object goes as an
 * address, read with probe reads (typed ones, __arg_trusted, are 6.8's);
 * the result is a scalar. The call itself costs a few ns, where it is
 * made: a change of connection, a record's creation and its end.
 */
#define VERIFIED_ONCE __noinline

#endif /* CONCTRACE_LIB_KERNEL_BPF_H */
