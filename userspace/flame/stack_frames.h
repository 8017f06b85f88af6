/* SPDX-License-Identifier: MIT */
/*
 * One collected stack into frame names: the addresses BPF stored, innermost
 * first, into names outermost first, as a flame graph stacks them.
 */
#ifndef CONCTRACE_STACK_FRAMES_H
#define CONCTRACE_STACK_FRAMES_H

#include <stdbool.h>
#include <sys/types.h>
#include <linux/types.h>

#include "conctrace.h"

struct symbolizer;

#define STACK_FRAME_LEN 152	/* a name; kernel ones get "_[k]" on top */

enum stack_kind {
	STACK_USER,
	STACK_KERNEL,		/* taken inside our program, where the cost arose */
	STACK_KERNEL_SAMPLED,	/* of the code a perf event interrupted */
};

/*
 * ips: innermost first, up to FLAME_STACK_DEPTH, 0-terminated if shorter.
 * Every address but the innermost is a return address, looked up at -1 (a
 * call that never returns may be a function's last instruction). Kernel
 * frames are suffixed "_[k]"; in a STACK_KERNEL the innermost ones, our
 * own collection (the BPF program, the tracepoint glue), are dropped (a
 * sampled stack keeps them: there they are code the sample landed in). A user
 * stack is walked by frame pointers: past code built without them the
 * chain is garbage (a saved register read as a return address: the heap,
 * a thread's stack, the loader's data, nothing), so it ends at the first
 * address outside executable mappings, kept as one "[unknown]". Returns
 * the number of names written to out.
 */
int stack_frames(struct symbolizer *sym, pid_t pid, const __u64 *ips, enum stack_kind kind,
		 char out[][STACK_FRAME_LEN]);

#endif /* CONCTRACE_STACK_FRAMES_H */
