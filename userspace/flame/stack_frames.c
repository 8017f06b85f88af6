// SPDX-License-Identifier: MIT
/* A collected stack into frame names (see stack_frames.h). */
#include "flame/stack_frames.h"

#include <stdio.h>
#include <string.h>

#include "flame/symbolize.h"

static bool is_tracing_frame(const char *name)
{
	return !strncmp(name, "bpf_prog_", 9) || !strncmp(name, "bpf_trace_run", 13) ||
	       !strncmp(name, "__bpf_trace_", 12) || !strncmp(name, "__traceiter_", 12) ||
	       !strncmp(name, "perf_trace_", 11);
}

int stack_frames(struct symbolizer *sym, pid_t pid, const __u64 *ips, enum stack_kind kind,
		 char out[][STACK_FRAME_LEN])
{
	char names[FLAME_STACK_DEPTH][STACK_FRAME_LEN - 8];	/* room for "_[k]" */
	bool kernel = kind != STACK_USER;
	int depth = 0, top = 0, n = 0;

	while (depth < FLAME_STACK_DEPTH && ips[depth])
		depth++;
	for (int i = 0; i < depth; i++) {
		__u64 ip = i ? ips[i] - 1 : ips[i];

		if (kernel) {
			symbolize_kernel(sym, ip, false, names[i], sizeof(names[i]));
		} else if (symbolize_user_is_text(sym, pid, ip)) {
			symbolize_user(sym, pid, ip, false, names[i], sizeof(names[i]));
		} else {
			/* [heap], [stack], data or nothing: the walk left the
			 * frame chain, and all it read from here on is garbage */
			snprintf(names[i], sizeof(names[i]), "[unknown]");
			depth = i + 1;
			break;
		}
	}
	while (kind == STACK_KERNEL && top < depth - 1 && is_tracing_frame(names[top]))
		top++;
	for (int i = depth - 1; i >= top; i--)
		snprintf(out[n++], STACK_FRAME_LEN, kernel ? "%s_[k]" : "%s", names[i]);
	return n;
}
