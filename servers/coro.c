// SPDX-License-Identifier: MIT
/*
 * Stackful coroutines: stacks and the context switch. See coro.h.
 *
 * A stack is one private anonymous mapping: a PROT_NONE guard page at the
 * bottom, so an overflow faults instead of silently corrupting a neighbour,
 * then the usable stack, with the struct coro itself in its topmost bytes.
 * Keeping the struct there costs no extra allocation and no extra page: the
 * first frames of the coroutine touch that page anyway. An idle coroutine
 * that has only ever run shallow code therefore costs one resident page.
 */
#include "coro.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <ucontext.h>
#include <unistd.h>

#if defined(__x86_64__) || defined(__aarch64__)
#define CORO_HAVE_ASM 1
#else
#define CORO_HAVE_ASM 0		/* only the ucontext backend: coro_init() says so */
#endif

#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
/* Without this, valgrind takes each switch for a huge stack allocation. */
#include <valgrind/valgrind.h>
#define CORO_VALGRIND 1
#endif
#endif

#if defined(__SANITIZE_ADDRESS__)
#define CORO_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define CORO_ASAN 1
#endif
#endif
#ifdef CORO_ASAN
/* ASan tracks one stack per thread unless told about every switch. */
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#endif

struct coro {
	void *sp;		/* saved stack pointer while switched out (asm) */
	coro_fn *fn;
	void *arg;
	char *map;		/* the mapping, guard page included */
	char *stack;		/* lowest usable byte, just above the guard */
	size_t stack_size;	/* usable bytes below this struct */
	struct coro *next_free;	/* in the thread's stack cache */
	bool finished;
#ifdef CORO_VALGRIND
	unsigned valgrind_id;
#endif
#ifdef CORO_ASAN
	void *asan_fake_stack;
#endif
	ucontext_t uc;		/* last: only present with the ucontext backend */
};

struct coro_thread {
	struct coro main;	/* the flow that resumes: only its context is used */
	struct coro *current;	/* NULL while the main flow runs */
	struct coro *cache;	/* destroyed coroutines whose stacks wait for reuse */
	unsigned cached;
	unsigned cache_max;
	size_t page_size;
	size_t map_size;	/* guard page + usable stack */
	size_t header_size;	/* bytes of struct coro kept at the top */
	bool ucontext;
	bool ready;
};

static _Thread_local struct coro_thread t;

/* ---- the switch --------------------------------------------------------- */

/*
 * coro_switch(&from->sp, to->sp): push the callee-saved registers on the
 * current stack, save the stack pointer, load the other one and pop its
 * registers. Caller-saved registers need no saving: this is an ordinary call
 * as far as the compiler is concerned. The floating-point control registers
 * are callee-saved too (MXCSR and x87 control word; FPCR on aarch64), so a
 * coroutine that changes rounding modes cannot leak them to another.
 *
 * Both sides of a switch have the same frame layout, so the CFI below is
 * right before and after the stack pointer changes and debuggers can unwind
 * through a suspended coroutine.
 *
 * Note: entering a new coroutine "returns" into code that was never called,
 * which a CET shadow stack would reject; glibc does not enable it here.
 */
void coro_switch(void **save_sp, void *load_sp) __attribute__((visibility("hidden")));

#if defined(__x86_64__)
/* Frame, from the saved sp up: mxcsr:4 fpucw:4, r15 r14 r13 r12 rbx rbp, ret. */
__asm__(
	"	.text\n"
	"	.globl	coro_switch\n"
	"	.hidden	coro_switch\n"
	"	.type	coro_switch, @function\n"
	"	.p2align 4\n"
	"coro_switch:\n"
	"	.cfi_startproc\n"
	"	pushq	%rbp\n"
	"	.cfi_adjust_cfa_offset 8\n"
	"	.cfi_rel_offset %rbp, 0\n"
	"	pushq	%rbx\n"
	"	.cfi_adjust_cfa_offset 8\n"
	"	.cfi_rel_offset %rbx, 0\n"
	"	pushq	%r12\n"
	"	.cfi_adjust_cfa_offset 8\n"
	"	.cfi_rel_offset %r12, 0\n"
	"	pushq	%r13\n"
	"	.cfi_adjust_cfa_offset 8\n"
	"	.cfi_rel_offset %r13, 0\n"
	"	pushq	%r14\n"
	"	.cfi_adjust_cfa_offset 8\n"
	"	.cfi_rel_offset %r14, 0\n"
	"	pushq	%r15\n"
	"	.cfi_adjust_cfa_offset 8\n"
	"	.cfi_rel_offset %r15, 0\n"
	"	subq	$8, %rsp\n"
	"	.cfi_adjust_cfa_offset 8\n"
	"	stmxcsr	(%rsp)\n"
	"	fnstcw	4(%rsp)\n"
	"	movq	%rsp, (%rdi)\n"
	"	movq	%rsi, %rsp\n"
	"	ldmxcsr	(%rsp)\n"
	"	fldcw	4(%rsp)\n"
	"	addq	$8, %rsp\n"
	"	.cfi_adjust_cfa_offset -8\n"
	"	popq	%r15\n"
	"	.cfi_adjust_cfa_offset -8\n"
	"	.cfi_restore %r15\n"
	"	popq	%r14\n"
	"	.cfi_adjust_cfa_offset -8\n"
	"	.cfi_restore %r14\n"
	"	popq	%r13\n"
	"	.cfi_adjust_cfa_offset -8\n"
	"	.cfi_restore %r13\n"
	"	popq	%r12\n"
	"	.cfi_adjust_cfa_offset -8\n"
	"	.cfi_restore %r12\n"
	"	popq	%rbx\n"
	"	.cfi_adjust_cfa_offset -8\n"
	"	.cfi_restore %rbx\n"
	"	popq	%rbp\n"
	"	.cfi_adjust_cfa_offset -8\n"
	"	.cfi_restore %rbp\n"
	"	ret\n"
	"	.cfi_endproc\n"
	"	.size	coro_switch, .-coro_switch\n");

static void coro_main(void);

/* The frame a new coroutine is "switched back" into: its ret enters
 * coro_main as if called, with a zero return address to end backtraces. */
static void *initial_frame(char *top)
{
	uint64_t *sp = (uint64_t *)top;

	*--sp = 0;				/* coro_main's return address */
	*--sp = (uint64_t)(uintptr_t)coro_main;	/* where coro_switch returns */
	sp -= 6;				/* rbp rbx r12-r15 */
	memset(sp, 0, 6 * sizeof(*sp));
	*--sp = (uint64_t)0x037f << 32 | 0x1f80; /* ABI defaults: x87 cw, mxcsr */
	return sp;
}

#elif defined(__aarch64__)
/* Frame, from the saved sp up: x19-x28, x29, x30, d8-d15, fpcr, pad. */
#define CORO_FRAME_BYTES 176
__asm__(
	"	.text\n"
	"	.globl	coro_switch\n"
	"	.hidden	coro_switch\n"
	"	.type	coro_switch, %function\n"
	"	.p2align 4\n"
	"coro_switch:\n"
	"	sub	sp, sp, #176\n"
	"	stp	x19, x20, [sp, #0]\n"
	"	stp	x21, x22, [sp, #16]\n"
	"	stp	x23, x24, [sp, #32]\n"
	"	stp	x25, x26, [sp, #48]\n"
	"	stp	x27, x28, [sp, #64]\n"
	"	stp	x29, x30, [sp, #80]\n"
	"	stp	d8, d9, [sp, #96]\n"
	"	stp	d10, d11, [sp, #112]\n"
	"	stp	d12, d13, [sp, #128]\n"
	"	stp	d14, d15, [sp, #144]\n"
	"	mrs	x9, fpcr\n"
	"	str	x9, [sp, #160]\n"
	"	mov	x9, sp\n"
	"	str	x9, [x0]\n"
	"	mov	sp, x1\n"
	"	ldr	x9, [sp, #160]\n"
	"	msr	fpcr, x9\n"
	"	ldp	x19, x20, [sp, #0]\n"
	"	ldp	x21, x22, [sp, #16]\n"
	"	ldp	x23, x24, [sp, #32]\n"
	"	ldp	x25, x26, [sp, #48]\n"
	"	ldp	x27, x28, [sp, #64]\n"
	"	ldp	x29, x30, [sp, #80]\n"
	"	ldp	d8, d9, [sp, #96]\n"
	"	ldp	d10, d11, [sp, #112]\n"
	"	ldp	d12, d13, [sp, #128]\n"
	"	ldp	d14, d15, [sp, #144]\n"
	"	add	sp, sp, #176\n"
	"	ret\n"
	"	.size	coro_switch, .-coro_switch\n"
	"\n"
	/* first entry: x19 holds coro_main; a zero lr ends backtraces, and
	 * branching through x16 is what a BTI "bti c" landing pad accepts */
	"	.globl	coro_boot\n"
	"	.hidden	coro_boot\n"
	"	.type	coro_boot, %function\n"
	"coro_boot:\n"
	"	mov	x16, x19\n"
	"	mov	x30, xzr\n"
	"	br	x16\n"
	"	.size	coro_boot, .-coro_boot\n");

void coro_boot(void) __attribute__((visibility("hidden")));	/* address only */
static void coro_main(void);

static void *initial_frame(char *top)
{
	uint64_t *sp = (uint64_t *)(top - CORO_FRAME_BYTES);

	memset(sp, 0, CORO_FRAME_BYTES);
	sp[0] = (uint64_t)(uintptr_t)coro_main;		/* x19 */
	sp[11] = (uint64_t)(uintptr_t)coro_boot;	/* x30: coro_switch returns there */
	return sp;
}
#else
static void *initial_frame(char *top)
{
	(void)top;
	abort();	/* coro_init() refuses the asm backend here */
}
void coro_switch(void **save_sp, void *load_sp)
{
	(void)save_sp;
	(void)load_sp;
	abort();
}
#endif

/* ---- sanitizer and valgrind hooks -------------------------------------- */

#ifdef CORO_ASAN
static void asan_leaving(struct coro *from, const struct coro *to)
{
	/* a finished coroutine never comes back: NULL frees its fake stack */
	__sanitizer_start_switch_fiber(from->finished ? NULL : &from->asan_fake_stack,
				       to->stack, to->stack_size);
}

static void asan_arrived(struct coro *self)
{
	const void *from_stack;
	size_t from_size;

	__sanitizer_finish_switch_fiber(self ? self->asan_fake_stack : NULL,
					&from_stack, &from_size);
	/* only the main flow resumes coroutines: learn its stack from them */
	if (self != &t.main) {
		t.main.stack = (char *)from_stack;
		t.main.stack_size = from_size;
	}
}

static void asan_fresh_stack(struct coro *co)
{
	/* a recycled stack still carries poisoned redzones of old frames */
	ASAN_UNPOISON_MEMORY_REGION(co->stack, co->stack_size);
}
#else
static void asan_leaving(struct coro *from, const struct coro *to) { (void)from; (void)to; }
static void asan_arrived(struct coro *self) { (void)self; }
static void asan_fresh_stack(struct coro *co) { (void)co; }
#endif

static void valgrind_register(struct coro *co)
{
#ifdef CORO_VALGRIND
	co->valgrind_id = VALGRIND_STACK_REGISTER(co->stack, co->stack + co->stack_size);
#else
	(void)co;
#endif
}

static void valgrind_deregister(struct coro *co)
{
#ifdef CORO_VALGRIND
	VALGRIND_STACK_DEREGISTER(co->valgrind_id);
#else
	(void)co;
#endif
}

static void context_switch(struct coro *from, struct coro *to)
{
	asan_leaving(from, to);
	if (t.ucontext)
		swapcontext(&from->uc, &to->uc);
	else
		coro_switch(&from->sp, to->sp);
	asan_arrived(from);
}

/* Every coroutine starts here, on its own stack, and never returns. */
static void coro_main(void)
{
	struct coro *co = t.current;

	asan_arrived(NULL);
	co->fn(co->arg);
	co->finished = true;
	context_switch(co, &t.main);
	abort();	/* nobody resumes a finished coroutine */
}

/* ---- stacks -------------------------------------------------------------- */

static size_t round_up(size_t n, size_t to)
{
	return (n + to - 1) / to * to;
}

static struct coro *stack_map(void)
{
	size_t page = t.page_size;
	struct coro *co;
	char *map;

	/* NORESERVE: stacks are mostly untouched, do not charge them up front */
	map = mmap(NULL, t.map_size, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
	if (map == MAP_FAILED)
		return NULL;
	if (mprotect(map, page, PROT_NONE) < 0) {
		int err = errno;

		munmap(map, t.map_size);
		errno = err;
		return NULL;
	}
	co = (struct coro *)(map + t.map_size - t.header_size);
	co->map = map;
	co->stack = map + page;
	co->stack_size = (size_t)((char *)co - co->stack);
	return co;
}

static void stack_unmap(struct coro *co)
{
	munmap(co->map, t.map_size);
}

/* ---- API ------------------------------------------------------------------ */

int coro_init(const struct coro_opts *opts)
{
	struct coro_opts o = opts ? *opts : (struct coro_opts){ 0 };
	size_t page = (size_t)sysconf(_SC_PAGESIZE);

	if (t.ready)
		return -EBUSY;
	if (!o.ucontext && !CORO_HAVE_ASM)
		return -ENOTSUP;
	if (!o.stack_size)
		o.stack_size = CORO_DEFAULT_STACK;
	if (!o.cache)
		o.cache = CORO_DEFAULT_CACHE;

	/* in asm mode the ucontext_t at the end of the struct is never touched,
	 * so it is not given room on the stack */
	t.header_size = round_up(o.ucontext ? sizeof(struct coro)
					    : offsetof(struct coro, uc), 64);
	if (o.stack_size < CORO_MIN_STACK)
		return -EINVAL;
	t.page_size = page;
	t.map_size = page + round_up(o.stack_size, page);
	t.cache_max = o.cache;
	t.ucontext = o.ucontext;
	t.ready = true;
	return 0;
}

void coro_fini(void)
{
	while (t.cache) {
		struct coro *co = t.cache;

		t.cache = co->next_free;
		stack_unmap(co);
	}
	memset(&t, 0, sizeof(t));
}

/* Kept apart from coro_create(): getcontext() "returns twice" as far as the
 * compiler knows, and it would warn about every local live across it. */
static void ucontext_prepare(struct coro *co, char *top)
{
	ucontext_t *uc = &co->uc;
	size_t size = (size_t)(top - co->stack);

	getcontext(uc);
	uc->uc_stack.ss_sp = co->stack;
	uc->uc_stack.ss_size = size;
	uc->uc_link = NULL;
	makecontext(uc, coro_main, 0);
}

struct coro *coro_create(coro_fn *fn, void *arg)
{
	struct coro *co = t.cache;
	char *top;

	if (co) {
		t.cache = co->next_free;
		t.cached--;
	} else {
		co = stack_map();
		if (!co)
			return NULL;
	}
	co->fn = fn;
	co->arg = arg;
	co->finished = false;
	co->next_free = NULL;
	asan_fresh_stack(co);
	valgrind_register(co);

	top = (char *)((uintptr_t)co & ~(uintptr_t)15);
	if (t.ucontext)
		ucontext_prepare(co, top);
	else
		co->sp = initial_frame(top);
	return co;
}

void coro_resume(struct coro *co)
{
	t.current = co;
	context_switch(&t.main, co);
	t.current = NULL;
}

void coro_yield(void)
{
	context_switch(t.current, &t.main);
}

struct coro *coro_self(void)
{
	return t.current;
}

bool coro_finished(const struct coro *co)
{
	return co->finished;
}

void coro_destroy(struct coro *co)
{
	valgrind_deregister(co);
	/*
	 * A small cache saves an mmap + mprotect (and the page faults) per
	 * connection under churn. Beyond it the mapping goes back whole: that
	 * returns its memory, and its two VMAs count against vm.max_map_count.
	 */
	if (t.cached < t.cache_max) {
		co->next_free = t.cache;
		t.cache = co;
		t.cached++;
		return;
	}
	stack_unmap(co);
}
