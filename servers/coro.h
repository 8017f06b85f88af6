/* SPDX-License-Identifier: MIT */
/*
 * Tiny stackful coroutines: a context switch and stack allocation, no more.
 *
 * A coroutine runs a function on its own small mmap'd stack with a guard
 * page below it. coro_resume() runs it until it calls coro_yield() or
 * returns; the caller (a scheduler) decides what to resume next. There is
 * no scheduler, I/O or timer here on purpose: see coro_echo.c for one.
 *
 * The switch is a few instructions of assembly (x86-64, aarch64) that save
 * and restore the callee-saved registers: no system call per switch.
 * glibc's swapcontext() is available as an alternative backend; it also
 * saves the signal mask, which costs an rt_sigprocmask system call on every
 * switch, so the difference is easy to measure.
 *
 * State is per thread: each thread that calls coro_init() may run its own
 * coroutines, but a coroutine must be resumed on the thread that created it.
 */
#ifndef CONCTRACE_CORO_H
#define CONCTRACE_CORO_H

#include <stdbool.h>
#include <stddef.h>

#define CORO_DEFAULT_STACK (32u << 10)	/* usable bytes per coroutine */
/*
 * Smallest stack coro_init() accepts. Not a guess at what the coroutine's
 * own frames need: the first call to a not-yet-bound library function runs
 * the dynamic linker's lazy-binding trampoline on the coroutine's stack, and
 * that saves the whole extended register state (about 2.7 KiB with AVX-512).
 */
#define CORO_MIN_STACK (8u << 10)
#define CORO_DEFAULT_CACHE 64u		/* finished stacks kept for reuse */

struct coro;
typedef void coro_fn(void *arg);

struct coro_opts {
	size_t stack_size;	/* usable stack, rounded up to pages; 0: default */
	unsigned cache;		/* stacks kept after coro_destroy(); 0: default */
	bool ucontext;		/* switch with glibc swapcontext() instead */
};

/*
 * Set up the calling thread; opts may be NULL. Returns 0 or -errno:
 * -EINVAL for a stack below CORO_MIN_STACK, -ENOTSUP when this CPU has no
 * built-in switch and opts did not ask for ucontext.
 */
int coro_init(const struct coro_opts *opts);

/* Release the thread's cached stacks. Every coroutine must be destroyed. */
void coro_fini(void);

/*
 * A new coroutine that will run fn(arg) when first resumed.
 * Returns NULL with errno set when no stack can be mapped (ENOMEM: memory,
 * or vm.max_map_count, since every stack is two mappings).
 */
struct coro *coro_create(coro_fn *fn, void *arg);

/* Run co until it yields or returns. Only the thread's main flow resumes. */
void coro_resume(struct coro *co);

/* From inside a coroutine: give control back to whoever resumed it. */
void coro_yield(void);

/* The running coroutine, or NULL on the main flow. */
struct coro *coro_self(void);

/* Whether co's function has returned; then it may only be destroyed. */
bool coro_finished(const struct coro *co);

/*
 * Release a coroutine that has finished or was never resumed. Destroying a
 * suspended one just drops its stack: nothing on it is unwound or freed.
 */
void coro_destroy(struct coro *co);

#endif /* CONCTRACE_CORO_H */
