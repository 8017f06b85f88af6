// SPDX-License-Identifier: MIT
/* Launching, attaching to and stopping the traced process (see target.h). */
#include "target/target.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <grp.h>
#include <pwd.h>
#include <unistd.h>

int target_user_lookup(const char *name, struct target_user *out)
{
	struct passwd *pw;
	char *end;
	unsigned long uid;

	errno = 0;
	pw = getpwnam(name);
	if (!pw) {	/* not a name: a number, as sudo -u '#1000' and setpriv take */
		uid = strtoul(name + (name[0] == '#'), &end, 10);
		if (*name && !*end && end != name + (name[0] == '#'))
			pw = getpwuid((uid_t)uid);
	}
	if (!pw) {
		fprintf(stderr, "conctrace: --user: no such user '%s'\n", name);
		return -1;
	}
	out->name = pw->pw_name ? strdup(pw->pw_name) : NULL;
	out->uid = pw->pw_uid;
	out->gid = pw->pw_gid;
	return out->name ? 0 : -1;
}

/* In the child: become the user, groups first (afterwards we may not). */
static int become(const struct target_user *u)
{
	if (initgroups(u->name, u->gid) || setgid(u->gid) || setuid(u->uid))
		return errno;
	return 0;
}

/* 0 if file is a regular file we may execute; else -ENOENT / -EACCES */
static int executable(const char *file)
{
	struct stat st;

	if (stat(file, &st) || S_ISDIR(st.st_mode))
		return -ENOENT;
	return access(file, X_OK) ? -EACCES : 0;
}

int command_lookup(const char *name, const char *path, char *out, size_t len)
{
	int err = -ENOENT;

	if (!*name)
		return -ENOENT;
	if (strchr(name, '/')) {
		snprintf(out, len, "%s", name);
		return executable(name);
	}
	/* glibc's execvp default; an empty entry is the current directory */
	for (const char *p = path ? path : "/bin:/usr/bin"; p; ) {
		const char *end = strchr(p, ':');
		int n = end ? (int)(end - p) : (int)strlen(p);
		int e;

		snprintf(out, len, "%.*s%s%s", n, p, n ? "/" : "", name);
		e = executable(out);
		if (!e)
			return 0;
		if (e == -EACCES)
			err = -EACCES;	/* execvp goes on, and says EACCES if nothing runs */
		p = end ? end + 1 : NULL;
	}
	return err;
}

int target_spawn_held(struct target *t, char **argv, const struct target_user *user)
{
	int go[2], err[2];
	pid_t pid;

	memset(t, 0, sizeof(*t));
	if (pipe2(go, O_CLOEXEC) || pipe2(err, O_CLOEXEC))
		return -errno;
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		char c;
		int e;

		/* a process group of its own: whatever the command starts
		 * (a wrapper's server, a shell's jobs) is stopped with it */
		setpgid(0, 0);
		/* the child must not inherit our handlers' meaning */
		signal(SIGINT, SIG_DFL);
		signal(SIGTERM, SIG_DFL);
		signal(SIGCHLD, SIG_DFL);
		close(go[1]);
		close(err[0]);
		if (read(go[0], &c, 1) != 1)
			_exit(127);	/* conctrace gave up before release */
		/* a failed switch is reported as -errno, a failed exec as errno */
		if (user && user->name && (e = become(user))) {
			e = -e;
			if (write(err[1], &e, sizeof(e)) < 0)
				_exit(126);
			_exit(126);
		}
		/* both pipes are close-on-exec: the exec'd program sees neither,
		 * and a successful exec closes err[1], which the parent reads as EOF */
		execvp(argv[0], argv);
		e = errno;
		if (write(err[1], &e, sizeof(e)) < 0)
			_exit(127);
		_exit(127);
	}
	close(go[0]);
	close(err[1]);
	/* both sides set the group, so it is set whoever runs first; and the
	 * tree's orphans (a wrapper's server once the wrapper is gone) become
	 * our children, to be stopped and reaped with the group */
	setpgid(pid, pid);
	prctl(PR_SET_CHILD_SUBREAPER, 1);
	t->pid = pid;
	t->launched = true;
	t->go_fd = go[1];
	t->exec_err_fd = err[0];
	return 0;
}

/* waitpid() that keeps what the kernel said of the reaped process: its
 * peak RSS, its switches and CPU (target.h). */
static pid_t reap(struct target *t, pid_t pid, int *status, int options)
{
	struct rusage ru;
	pid_t p = wait4(pid, status, options, &ru);

	if (p <= 0)
		return p;
	if (ru.ru_maxrss > t->maxrss_kib)
		t->maxrss_kib = ru.ru_maxrss;
	t->reaped.processes++;
	t->reaped.nvcsw += ru.ru_nvcsw;
	t->reaped.nivcsw += ru.ru_nivcsw;
	t->reaped.cpu_ns += (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000000LL +
			    (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1000LL;
	return p;
}

int target_release(struct target *t)
{
	int e = 0;
	ssize_t n;

	if (write(t->go_fd, "g", 1) != 1)
		e = errno;
	close(t->go_fd);
	do {
		n = read(t->exec_err_fd, &e, sizeof(e));
	} while (n < 0 && errno == EINTR);
	close(t->exec_err_fd);
	if (n == (ssize_t)sizeof(e)) {
		reap(t, t->pid, &t->status, 0);
		t->exited = true;
		t->user_failed = e < 0;
		return e < 0 ? -e : e;
	}
	return 0;
}

void target_discard(struct target *t)
{
	if (!t->launched || t->exited)
		return;
	/* the held child reads EOF instead of "go" and exits 127 unexec'd */
	close(t->go_fd);
	close(t->exec_err_fd);
	reap(t, t->pid, &t->status, 0);
	t->exited = true;
}

int target_attach(struct target *t, const pid_t *pids, unsigned int n, pid_t *missing)
{
	memset(t, 0, sizeof(*t));
	for (unsigned int i = 0; i < n; i++)
		if (kill(pids[i], 0) && errno == ESRCH) {
			*missing = pids[i];
			return -ESRCH;
		}
	t->pid = pids[0];
	t->pids = pids;
	t->npids = n;
	return 0;
}

static bool any_alive(const struct target *t)
{
	for (unsigned int i = 0; i < t->npids; i++)
		if (!kill(t->pids[i], 0) || errno != ESRCH)
			return true;
	return false;
}

/* Reap what has ended of the launched group (its orphans are ours): the
 * command itself keeps its status. */
static void reap_group(struct target *t)
{
	int status;
	pid_t p;

	while ((p = reap(t, -t->pid, &status, WNOHANG)) > 0)
		if (p == t->pid) {
			t->status = status;
			t->exited = true;
		}
}

bool target_poll_exit(struct target *t)
{
	if (t->exited)
		return true;
	if (t->launched) {
		if (reap(t, t->pid, &t->status, WNOHANG) == t->pid)
			t->exited = true;
	} else if (!any_alive(t)) {
		t->exited = true;	/* not our child: its status comes from BPF */
	}
	return t->exited;
}

/* Processes of the launched tree still alive: its process group (zombies
 * of ours reaped first), and those t->rest counts (--cgroup). */
static bool tree_alive(struct target *t)
{
	reap_group(t);
	if (!t->exited)
		return true;
	if (!kill(-t->pid, 0))
		return true;
	return t->rest && t->rest(t->rest_ctx, 0) > 0;
}

static void signal_tree(struct target *t, int sig)
{
	kill(-t->pid, sig);
	if (t->rest)
		t->rest(t->rest_ctx, sig);
}

/* Wait up to ticks of 10 ms for the tree to end; true if it did. */
static bool tree_ends_within(struct target *t, int ticks)
{
	struct timespec tick = { 0, 10 * 1000 * 1000 };

	for (int i = 0; i < ticks; i++) {
		if (!tree_alive(t))
			return true;
		nanosleep(&tick, NULL);
	}
	return !tree_alive(t);
}

void target_stop(struct target *t, int sig, double grace_s)
{
	if (!t->launched || !tree_alive(t))
		return;
	if (!t->exited)
		t->stop_signal = sig;	/* the command itself was asked to stop */
	else
		fprintf(stderr, "conctrace: the target left processes running in its group: "
			"sending them SIG%s\n", sigabbrev_np(sig));
	signal_tree(t, sig);
	if (sig != SIGKILL && tree_ends_within(t, (int)(grace_s * 100)))
		return;
	if (sig != SIGKILL) {
		fprintf(stderr, "conctrace: the target's processes ignored SIG%s for %.1f s: "
			"killing them\n", sigabbrev_np(sig), grace_s);
		t->killed = true;
	}
	signal_tree(t, SIGKILL);
	/* SIGKILL cannot be ignored; a task in uninterruptible sleep may take
	 * a moment, and the command's status is needed */
	if (!tree_ends_within(t, 500) && !t->exited) {
		reap(t, t->pid, &t->status, 0);
		t->exited = true;
	}
}

int target_exit_code(const struct target *t)
{
	if (!t->launched || !t->exited)
		return 0;
	if (t->killed)
		return 128 + SIGKILL;
	/* stopped as asked: by the signal, or a shell's 128 + its number */
	if (t->stop_signal && ((WIFSIGNALED(t->status) && WTERMSIG(t->status) == t->stop_signal) ||
			       (WIFEXITED(t->status) &&
				WEXITSTATUS(t->status) == 128 + t->stop_signal)))
		return 0;
	if (WIFEXITED(t->status))
		return WEXITSTATUS(t->status);
	if (WIFSIGNALED(t->status))
		return 128 + WTERMSIG(t->status);
	return 1;
}

const char *target_exit_desc(const struct target *t, char *buf, size_t len)
{
	if (!t->exited)
		return NULL;
	if (!t->launched && !t->status_known)
		snprintf(buf, len, "exited");
	else if (WIFEXITED(t->status))
		snprintf(buf, len, "exited %d", WEXITSTATUS(t->status));
	else if (WIFSIGNALED(t->status) && WTERMSIG(t->status) == SIGKILL && t->killed)
		snprintf(buf, len, "killed by SIGKILL after ignoring SIG%s",
			 sigabbrev_np(t->stop_signal));
	else if (WIFSIGNALED(t->status))
		snprintf(buf, len, "killed by SIG%s", sigabbrev_np(WTERMSIG(t->status)));
	else
		snprintf(buf, len, "stopped");
	return buf;
}
