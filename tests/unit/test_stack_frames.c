// SPDX-License-Identifier: MIT
/*
 * Stacks into frames (userspace/flame/stack_frames.c): order, return addresses,
 * our own BPF frames dropped, frame-pointer garbage cut at "[unknown]" (an
 * address no mapping covers, or one in the heap, a stack, an anonymous or
 * any other non-executable mapping).
 * Kernel symbols come from a synthetic kallsyms file; user ones from this
 * test's own process.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "flame/stack_frames.h"
#include "flame/symbolize.h"

static char out[FLAME_STACK_DEPTH][STACK_FRAME_LEN];

/* stack_frames' result, got, is exactly the names in want (outermost first). */
#define assert_frames(got, ...)                                                    \
	do {                                                                       \
		const char *const want_[] = { __VA_ARGS__ };                       \
		const int n_ = (int)(sizeof(want_) / sizeof(want_[0]));            \
                                                                                   \
		assert_int_equal((got), n_);                                       \
		for (int i_ = 0; i_ < n_; i_++)                                    \
			assert_string_equal(out[i_], want_[i_]);                   \
	} while (0)

static struct symbolizer *kernel_symbols(void)
{
	char path[] = "/tmp/test_stack_frames.XXXXXX";
	int fd = mkstemp(path);
	FILE *f = fdopen(fd, "w");
	struct symbolizer *s = symbolizer_new();

	assert_non_null(f);
	fputs("ffffffff81000000 T entry_SYSCALL_64\n"
	      "ffffffff81000100 T do_syscall_64\n"
	      "ffffffff81000200 T schedule\n"
	      "ffffffff81000300 T __schedule\n"
	      "ffffffff81000400 T bpf_trace_run4\n"
	      "ffffffff81000500 T _etext\n"
	      "ffffffffc0000000 t bpf_prog_0123456789abcdef_on_sched_switch\t[bpf]\n", f);
	fclose(f);
	assert_non_null(s);
	assert_int_equal(symbolizer_load_kallsyms(s, path), 0);
	unlink(path);
	return s;
}

static void test_kernel_outermost_first_without_our_frames(void **state)
{
	struct symbolizer *s = kernel_symbols();
	const __u64 ips[] = {
		0xffffffffc0000010ULL,	/* our program, innermost */
		0xffffffff81000410ULL,	/* the tracepoint glue */
		0xffffffff81000310ULL,	/* __schedule */
		0xffffffff81000210ULL,	/* schedule */
		0xffffffff81000110ULL,	/* do_syscall_64 */
		0xffffffff81000010ULL,	/* entry_SYSCALL_64 */
		0,
	};

	(void)state;
	assert_int_equal(stack_frames(s, 1, ips, STACK_KERNEL, out), 4);
	assert_string_equal(out[0], "entry_SYSCALL_64_[k]");
	assert_string_equal(out[1], "do_syscall_64_[k]");
	assert_string_equal(out[2], "schedule_[k]");
	assert_string_equal(out[3], "__schedule_[k]");
	symbolizer_free(s);
}

/* A perf-event sample that lands in our program: its frames are where the
 * CPU was, kept (flame.c sets them apart as conctrace's own). */
static void test_sampled_kernel_stack_keeps_our_frames(void **state)
{
	struct symbolizer *s = kernel_symbols();
	const __u64 ips[] = {
		0xffffffffc0000010ULL, 0xffffffff81000410ULL, 0xffffffff81000110ULL, 0,
	};

	(void)state;
	assert_frames(stack_frames(s, 1, ips, STACK_KERNEL_SAMPLED, out), "do_syscall_64_[k]",
		      "bpf_trace_run4_[k]", "bpf_prog_0123456789abcdef_on_sched_switch_[k]");
	symbolizer_free(s);
}

static void test_return_address_is_looked_up_before_itself(void **state)
{
	struct symbolizer *s = kernel_symbols();
	/* the caller's return address is the first byte of schedule: the call
	 * was do_syscall_64's last instruction */
	const __u64 ips[] = { 0xffffffff81000310ULL, 0xffffffff81000200ULL, 0 };

	(void)state;
	assert_int_equal(stack_frames(s, 1, ips, STACK_KERNEL, out), 2);
	assert_string_equal(out[0], "do_syscall_64_[k]");
	assert_string_equal(out[1], "__schedule_[k]");
	symbolizer_free(s);
}

static void test_only_our_frames_keeps_the_outermost(void **state)
{
	struct symbolizer *s = kernel_symbols();
	const __u64 ips[] = { 0xffffffffc0000010ULL, 0xffffffff81000410ULL, 0 };

	(void)state;	/* never an empty stack: something stays */
	assert_int_equal(stack_frames(s, 1, ips, STACK_KERNEL, out), 1);
	assert_string_equal(out[0], "bpf_trace_run4_[k]");
	symbolizer_free(s);
}

static void test_empty_and_full_depth(void **state)
{
	struct symbolizer *s = kernel_symbols();
	__u64 ips[FLAME_STACK_DEPTH];

	(void)state;
	ips[0] = 0;
	assert_int_equal(stack_frames(s, 1, ips, STACK_KERNEL, out), 0);
	for (int i = 0; i < FLAME_STACK_DEPTH; i++)	/* no terminator at full depth */
		ips[i] = 0xffffffff81000210ULL;
	assert_int_equal(stack_frames(s, 1, ips, STACK_KERNEL, out), FLAME_STACK_DEPTH);
	symbolizer_free(s);
}

__attribute__((noinline)) int leaf_function(int x)
{
	return x * 7;
}

__attribute__((noinline)) int calling_function(int x)
{
	return leaf_function(x) + 1;
}

static void test_user_frames_end_at_the_first_unmapped_address(void **state)
{
	struct symbolizer *s = symbolizer_new();
	const __u64 ips[] = {
		(__u64)(uintptr_t)&leaf_function,
		(__u64)(uintptr_t)&calling_function + 2,	/* a return address inside it */
		0x10,					/* garbage: nothing maps it */
		(__u64)(uintptr_t)&calling_function + 2,	/* beyond garbage: not trusted */
		0,
	};

	(void)state;
	assert_int_equal(symbolizer_load_process(s, getpid()), 0);
	assert_frames(stack_frames(s, getpid(), ips, STACK_USER, out),
		      "[unknown]", "calling_function", "leaf_function");
	symbolizer_free(s);
}

/* A frame-pointer walk through code built without frame pointers reads
 * saved registers as return addresses: pointers into the heap, a stack, the
 * loader's anonymous data. Each ends the stack as one "[unknown]", however
 * many mapped frames follow (real runs showed 150 such frames repeating). */
static void test_user_frames_end_at_the_first_address_outside_text(void **state)
{
	struct symbolizer *s = symbolizer_new();
	char *heap = malloc(64);
	int on_stack = 0;
	void *anon = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	const __u64 not_text[] = {
		(__u64)(uintptr_t)heap, (__u64)(uintptr_t)&on_stack,
		(__u64)(uintptr_t)anon + 0x10, (__u64)(uintptr_t)&out[0][0],	/* .bss */
	};

	(void)state;
	assert_non_null(heap);
	assert_true(anon != MAP_FAILED);
	assert_int_equal(symbolizer_load_process(s, getpid()), 0);
	for (size_t i = 0; i < sizeof(not_text) / sizeof(not_text[0]); i++) {
		const __u64 ips[] = {
			(__u64)(uintptr_t)&leaf_function,
			(__u64)(uintptr_t)&calling_function + 2,
			not_text[i],
			(__u64)(uintptr_t)&calling_function + 2,	/* mapped text, but past garbage */
			not_text[i],
			0,
		};

		assert_frames(stack_frames(s, getpid(), ips, STACK_USER, out),
			      "[unknown]", "calling_function", "leaf_function");
	}
	munmap(anon, 4096);
	free(heap);
	symbolizer_free(s);
}

/* Anonymous executable memory is code (a JIT's): the walk goes through it. */
static void test_user_frames_walk_through_anonymous_code(void **state)
{
	struct symbolizer *s = symbolizer_new();
	void *jit = mmap(NULL, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	__u64 ips[] = {
		(__u64)(uintptr_t)&leaf_function,
		0,
		(__u64)(uintptr_t)&calling_function + 2,
		0,
	};

	(void)state;
	assert_true(jit != MAP_FAILED);
	ips[1] = (__u64)(uintptr_t)jit + 0x21;
	assert_int_equal(symbolizer_load_process(s, getpid()), 0);
	assert_frames(stack_frames(s, getpid(), ips, STACK_USER, out),
		      "calling_function", "[anon]+0x20", "leaf_function");
	munmap(jit, 4096);
	symbolizer_free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_kernel_outermost_first_without_our_frames),
		cmocka_unit_test(test_sampled_kernel_stack_keeps_our_frames),
		cmocka_unit_test(test_return_address_is_looked_up_before_itself),
		cmocka_unit_test(test_only_our_frames_keeps_the_outermost),
		cmocka_unit_test(test_empty_and_full_depth),
		cmocka_unit_test(test_user_frames_end_at_the_first_unmapped_address),
		cmocka_unit_test(test_user_frames_end_at_the_first_address_outside_text),
		cmocka_unit_test(test_user_frames_walk_through_anonymous_code),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
