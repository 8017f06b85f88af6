// SPDX-License-Identifier: MIT
/* -p PID...: what is attached to (see attach.h). */
#include "main/attach.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "host/procfs.h"

int attach_checked(struct target *t, const struct env *env)
{
	char cmd[256];
	pid_t missing = 0;

	if (target_attach(t, env->pids, env->npids, &missing)) {
		fprintf(stderr, "conctrace: no such process: pid %d\n", (int)missing);
		return -1;
	}
	for (unsigned int i = 0; i < env->npids; i++) {
		pid_t pid = env->pids[i];

		if (proc_is_kernel_thread(pid)) {
			fprintf(stderr, "conctrace: pid %d is a kernel thread: it has no sockets or "
				"user memory of its own to trace; give a server's pid\n", (int)pid);
			return -1;
		}
		if (proc_socket_count(pid) == 0)
			fprintf(stderr, "conctrace: warning: pid %d (%s) holds no sockets now: "
				"nothing to attribute until it opens one\n", (int)pid,
				proc_cmdline(pid, cmd, sizeof(cmd)) ? cmd : "?");
	}
	return 0;
}

long attached_threads(const struct env *env)
{
	long n = 0;

	for (unsigned int i = 0; i < env->npids; i++)
		n += proc_thread_count(env->pids[i]);
	return n;
}

char *attached_name(const struct env *env, char *buf, size_t len)
{
	size_t off;

	if (!proc_cmdline(env->pid, buf, len))
		snprintf(buf, len, "pid %d", (int)env->pid);
	off = strlen(buf);
	if (env->npids > 1 && off < len)
		snprintf(buf + off, len - off, ", and %u more pid%s", env->npids - 1,
			 env->npids > 2 ? "s" : "");
	return buf;
}
