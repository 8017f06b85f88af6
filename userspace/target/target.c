// SPDX-License-Identifier: MIT
/* Launching, attaching to and stopping the traced process (see target.h). */
#include "target/target.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
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
	t->pid = pid;
	t->launched = true;
	t->go_fd = go[1];
	t->exec_err_fd = err[0];
	return 0;
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
		waitpid(t->pid, &t->status, 0);
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
	waitpid(t->pid, &t->status, 0);
	t->exited = true;
}

int target_attach(struct target *t, pid_t pid)
{
	memset(t, 0, sizeof(*t));
	if (kill(pid, 0) && errno == ESRCH)
		return -ESRCH;
	t->pid = pid;
	return 0;
}

long target_thread_count(pid_t pid)
{
	char path[64];
	struct dirent *de;
	long n = 0;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	d = opendir(path);
	if (!d)
		return 0;
	while ((de = readdir(d)))
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

bool target_poll_exit(struct target *t)
{
	if (t->exited)
		return true;
	if (t->launched) {
		if (waitpid(t->pid, &t->status, WNOHANG) == t->pid)
			t->exited = true;
	} else if (kill(t->pid, 0) && errno == ESRCH) {
		t->exited = true;	/* not our child: no status to read */
	}
	return t->exited;
}

void target_stop(struct target *t, int sig, double grace_s)
{
	struct timespec tick = { 0, 10 * 1000 * 1000 };
	int ticks = (int)(grace_s * 100);

	if (!t->launched || target_poll_exit(t))
		return;
	kill(t->pid, sig);
	for (int i = 0; i < ticks; i++) {
		if (target_poll_exit(t))
			return;
		nanosleep(&tick, NULL);
	}
	fprintf(stderr, "conctrace: target %d ignored %s for %.1f s: killing it\n",
		(int)t->pid, strsignal(sig), grace_s);
	kill(t->pid, SIGKILL);
	waitpid(t->pid, &t->status, 0);
	t->exited = true;
}

int target_exit_code(const struct target *t)
{
	if (!t->launched || !t->exited)
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
	if (!t->launched)
		snprintf(buf, len, "exited");
	else if (WIFEXITED(t->status))
		snprintf(buf, len, "exited %d", WEXITSTATUS(t->status));
	else if (WIFSIGNALED(t->status))
		snprintf(buf, len, "killed by SIG%s", sigabbrev_np(WTERMSIG(t->status)));
	else
		snprintf(buf, len, "stopped");
	return buf;
}
