/* SPDX-License-Identifier: MIT */
/*
 * The traced process: launched held before exec, or attached by pid.
 *
 * Layer: target/ may include no other layer (common/ and conctrace.h only):
 * starting, holding and stopping the target (and loadgen, for --load)
 * needs nothing of what is traced.
 */
#ifndef CONCTRACE_TARGET_H
#define CONCTRACE_TARGET_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* --user: who the launched command runs as (resolved before the fork). */
struct target_user {
	const char *name;	/* NULL: as conctrace runs */
	uid_t uid;
	gid_t gid;
};

/* Look NAME (or a numeric uid) up in the user database: 0, or -1 with a
 * message printed. */
int target_user_lookup(const char *name, struct target_user *out);

/* What wait4() said of the processes conctrace reaped, the command and
 * orphans of its tree, each with the children it reaped itself: the
 * kernel's own books for the launched tree, beside the traced figures. */
struct target_reaped {
	unsigned int processes;
	long long nvcsw, nivcsw;	/* ru_nvcsw, ru_nivcsw */
	long long cpu_ns;		/* ru_utime + ru_stime, to the microsecond */
};

struct target {
	pid_t pid;
	bool launched;		/* we started it, so we may stop it */
	bool exited;
	int status;		/* waitpid status once exited */
	int go_fd;		/* write end: a byte lets the child exec */
	int exec_err_fd;	/* read end: errno if exec failed, EOF if it worked */
	bool user_failed;	/* target_release's error: switching to --user */
	bool status_known;	/* attached: status as BPF saw the exit */
	const pid_t *pids;	/* attached: every process (pids[0] == pid) */
	unsigned int npids;
	/* launched: the largest peak resident set (wait4's ru_maxrss, KiB) of
	 * what conctrace reaped, the command and orphans of its tree, each
	 * counting its own reaped children's; the command's includes its
	 * pre-exec image, conctrace's fork */
	long maxrss_kib;
	struct target_reaped reaped;
	int stop_signal;	/* conctrace asked the command to stop with it */
	bool killed;		/* ... and it (or its tree) ignored that: SIGKILLed */
	/* more of the tree than its process group (--cgroup's members): send
	 * sig to them, or with 0 only count them; returns how many live */
	int (*rest)(void *ctx, int sig);
	void *rest_ctx;
};

/*
 * Where execvp() would find name along path (PATH's value; NULL: the
 * default), into out: 0, -ENOENT if nowhere, -EACCES if only a file it may
 * not execute. Asked before anything is traced, so a command that cannot
 * run is refused before a tracing line says it runs.
 */
int command_lookup(const char *name, const char *path, char *out, size_t len);

/* Fork a child that waits, before exec, until target_release(): tracing is
 * attached by then, so not one early event is missed. */
int target_spawn_held(struct target *t, char **argv, const struct target_user *user);

/* Let the child exec. Returns 0, or the errno of a failed exec or of a
 * failed switch to --user (t->user_failed); the child has then exited. */
int target_release(struct target *t);

/* A held target that must never run (tracing failed, or Ctrl-C came first):
 * it exits without exec'ing, and is reaped. An attached one is left alone. */
void target_discard(struct target *t);

/* Attach to running processes (the first is the target's pid); -ESRCH
 * with *missing the pid that does not exist. */
int target_attach(struct target *t, const pid_t *pids, unsigned int n, pid_t *missing);

/* Reap the target if it has exited; true once it has. */
bool target_poll_exit(struct target *t);

/*
 * Stop what is left of a launched target's tree: its process group (the
 * command runs in one of its own, and its orphans are reaped by us) and
 * t->rest: sig to all, up to grace_s for them to end, then SIGKILL to all.
 * Nothing of the tree outlives it.
 */
void target_stop(struct target *t, int sig, double grace_s);

/* Our exit status from the target's: its code, or 128 + signal; 0 when it
 * stopped as target_stop() asked; 128 + SIGKILL when it, or a process of
 * its tree, ignored that. */
int target_exit_code(const struct target *t);

/* "exited 0", "killed by SIGKILL"; buf for the result. */
const char *target_exit_desc(const struct target *t, char *buf, size_t len);

#endif /* CONCTRACE_TARGET_H */
