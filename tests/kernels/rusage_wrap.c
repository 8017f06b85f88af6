// SPDX-License-Identifier: MIT
/*
 * rusage_wrap: run a command as a child and write what the kernel says it
 * cost, for the kernel matrix (tests/kernels/). Only a parent's wait4()
 * gets the rusage of a whole process including its exited threads
 * (threaded_echo's). conctrace reports its own wait4() of what it reaped;
 * this second parent's books must fit inside those (checks.py), so the
 * server runs under it, inside conctrace, which follows the fork:
 *
 *   conctrace ... -- rusage_wrap OUT CMD [ARGS...]
 *
 * SIGINT and SIGTERM are forwarded to the child (conctrace stops its target
 * with them). Once the child has exited, OUT gets
 *
 *   child_nvcsw N        ru_nvcsw  of the child, from wait4()
 *   child_nivcsw N       ru_nivcsw of the child
 *   self_nvcsw N         this wrapper's own since it started (getrusage
 *   self_nivcsw N        RUSAGE_SELF, less what it was at main()):
 *                        conctrace traces the wrapper too, from its exec,
 *                        so these are in conctrace's totals, as are its
 *                        switches between exec and main() and after this
 *                        read, which no figure here holds
 *   exit N               the child's exit code, 128+N if killed by signal N
 *
 * and the wrapper exits with that code, so conctrace reports the server's
 * status. Built static: the guest's initramfs need not carry its libs.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile pid_t child;

static void forward(int sig)
{
	if (child > 0)
		kill(child, sig);
}

static int exit_code(int status)
{
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return 1;
}

int main(int argc, char **argv)
{
	struct sigaction sa = { .sa_handler = forward };
	struct rusage ru, self, self0;
	sigset_t stop, old;
	int status, code;
	FILE *out;
	pid_t pid;

	getrusage(RUSAGE_SELF, &self0);
	if (argc < 3) {
		fprintf(stderr, "usage: rusage_wrap OUT CMD [ARGS...]\n");
		return 2;
	}
	/* A stop signal that arrives before fork() returns must still reach
	 * the child: hold them until `child` is set. */
	sigemptyset(&stop);
	sigaddset(&stop, SIGINT);
	sigaddset(&stop, SIGTERM);
	sigprocmask(SIG_BLOCK, &stop, &old);
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_RESTART;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	pid = fork();
	if (pid < 0) {
		perror("rusage_wrap: fork");
		return 1;
	}
	if (pid == 0) {
		signal(SIGINT, SIG_DFL);
		signal(SIGTERM, SIG_DFL);
		sigprocmask(SIG_SETMASK, &old, NULL);
		execvp(argv[2], argv + 2);
		fprintf(stderr, "rusage_wrap: exec %s: %s\n", argv[2], strerror(errno));
		_exit(127);
	}
	child = pid;
	sigprocmask(SIG_SETMASK, &old, NULL);

	while (wait4(pid, &status, 0, &ru) < 0) {
		if (errno != EINTR) {
			perror("rusage_wrap: wait4");
			return 1;
		}
	}
	getrusage(RUSAGE_SELF, &self);
	code = exit_code(status);

	out = fopen(argv[1], "w");
	if (!out) {
		fprintf(stderr, "rusage_wrap: %s: %s\n", argv[1], strerror(errno));
		return 1;
	}
	fprintf(out, "child_nvcsw %ld\nchild_nivcsw %ld\nself_nvcsw %ld\nself_nivcsw %ld\n"
		"exit %d\n", ru.ru_nvcsw, ru.ru_nivcsw, self.ru_nvcsw - self0.ru_nvcsw,
		self.ru_nivcsw - self0.ru_nivcsw, code);
	if (fclose(out)) {
		fprintf(stderr, "rusage_wrap: %s: %s\n", argv[1], strerror(errno));
		return 1;
	}
	return code;
}
