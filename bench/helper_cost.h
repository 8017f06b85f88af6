/* SPDX-License-Identifier: GPL-2.0 OR MIT */
#ifndef HELPER_COST_H
#define HELPER_COST_H

#define HC_REPEAT	10		/* operations per timed syscall */
#define HC_HASH_KEY0	12345		/* the keys the hash lookups find */

/* what the program does HC_REPEAT times per timed syscall */
enum hc_op {
	HC_NONE,
	HC_KTIME,
	HC_TASK_STORAGE,
	HC_HASH_LOOKUP,
	HC_CURRENT_TASK,
	HC_PID_TGID,
	HC_PERCPU_ARRAY,
	HC_ATOMIC_ADD,
	HC_HASH_MISS,
	HC_GEN_HIT,
	HC_GEN_MISS,
	/* on a socket event (timed_sk), not sys_enter: the send() it follows
	 * with no operation, then the two ways to a socket's state */
	HC_SK_NONE,
	HC_SK_STORAGE,
	HC_SK_HASH,
	HC_NR_OPS,
};

#endif
