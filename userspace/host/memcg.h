/* SPDX-License-Identifier: MIT */
/*
 * A memory cgroup of the target's own (--cgroup), so that the kernel's
 * per-cgroup accounting can be set beside conctrace's per-connection
 * figures. cgroup v2 where its memory controller is available, else v1.
 */
#ifndef CONCTRACE_MEMCG_H
#define CONCTRACE_MEMCG_H

#include <limits.h>
#include <stdbool.h>
#include <sys/types.h>

struct memcg {
	int version;		/* 1 or 2; 0: none */
	char path[PATH_MAX];	/* the cgroup's directory */
};

/* What the cgroup has been charged, in bytes. */
struct memcg_counters {
	bool valid;
	long long kernel;	/* kernel memory: slab objects, stacks, page tables... */
	long long sock;		/* socket buffers */
};

/* Create a cgroup named NAME under the memory hierarchy. On v1, socket
 * accounting is switched on for it (v2 always has it), or no socket
 * memory would be charged. Returns 0 or -errno; *why says what failed. */
int memcg_create(struct memcg *cg, const char *name, const char **why);

/* Move a process into it: what it allocates from now on is charged there. */
int memcg_add(const struct memcg *cg, pid_t pid);

void memcg_read(const struct memcg *cg, struct memcg_counters *out);

/* Send sig to every process in the cgroup (0: none, only count them);
 * SIGKILL on v2 through cgroup.kill, which no fork can race. Returns how
 * many processes it held. */
int memcg_signal(const struct memcg *cg, int sig);

/* Remove the cgroup; it must hold no process any more. 0 or -errno. */
int memcg_destroy(struct memcg *cg);

/* The counters' values from memory.stat (v2) text; pure, for tests. */
void memcg_parse_stat_v2(const char *text, struct memcg_counters *out);

#endif /* CONCTRACE_MEMCG_H */
