// SPDX-License-Identifier: MIT
/* --load: run servers/loadgen against the target (see loaddriver.h). */
#include "target/loaddriver.h"

#include <arpa/inet.h>
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <wordexp.h>

/* Where loadgen ships, from conctrace's own directory: in the tree (and
 * make static's build/static/) servers/loadgen beside conctrace; installed
 * (make install, the Debian package) PREFIX/sbin/conctrace and
 * PREFIX/lib/conctrace/loadgen. Relative, so a DESTDIR or a moved PREFIX
 * finds its own. */
static const char *const loadgen_places[] = { "servers/loadgen", "../lib/conctrace/loadgen" };

/* 0 with the first place that holds an executable loadgen in buf; else
 * -errno, and buf holds conctrace's directory for the message */
static int loadgen_path(char *buf, size_t len)
{
	char self[PATH_MAX];
	const char *dir;
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	int err = -ENOENT;

	if (n < 0)
		return -errno;
	self[n] = '\0';
	dir = dirname(self);
	for (size_t i = 0; i < sizeof(loadgen_places) / sizeof(loadgen_places[0]); i++) {
		snprintf(buf, len, "%s/%s", dir, loadgen_places[i]);
		if (!access(buf, X_OK))
			return 0;
		if (errno != ENOENT)
			err = -errno;
	}
	snprintf(buf, len, "%s", dir);
	return err;
}

/* A wildcard listener is reached through loopback. */
static void target_address(const struct listen_event *w, char *host, size_t len)
{
	static const __u8 any6[16];

	if (w->family == AF_INET6) {
		if (!memcmp(w->addr, any6, 16))
			snprintf(host, len, "::1");
		else
			inet_ntop(AF_INET6, w->addr, host, (socklen_t)len);
	} else {
		__u32 a;

		memcpy(&a, w->addr, 4);
		if (a == 0)
			snprintf(host, len, "127.0.0.1");
		else
			inet_ntop(AF_INET, w->addr, host, (socklen_t)len);
	}
}

int loaddriver_start(struct loaddriver *ld, const struct listen_event *where,
		     const char *args)
{
	char path[PATH_MAX], host[INET6_ADDRSTRLEN], port[8];
	wordexp_t we;
	char **argv;
	size_t n = 0;
	int err;

	memset(ld, 0, sizeof(*ld));
	err = loadgen_path(path, sizeof(path));
	/* a load that cannot start has failed, as one loadgen refuses */
	ld->done = true;
	if (err) {
		fprintf(stderr, "conctrace: cannot run loadgen (%s): looked for %s/%s and %s/%s; "
			"build it with make, or make install\n", strerror(-err), path,
			loadgen_places[0], path, loadgen_places[1]);
		ld->status = 127 << 8;
		return err;
	}
	if (wordexp(args, &we, WRDE_NOCMD | WRDE_UNDEF)) {
		fprintf(stderr, "conctrace: cannot parse --load arguments: %s\n", args);
		ld->status = 2 << 8;
		return -EINVAL;
	}
	ld->done = false;
	argv = calloc(we.we_wordc + 6, sizeof(*argv));
	if (!argv) {
		wordfree(&we);
		ld->done = true;
		ld->status = 127 << 8;
		return -ENOMEM;
	}
	argv[n++] = path;
	if (where->family == AF_UNIX) {
		argv[n++] = "-u";
		argv[n++] = (char *)where->unix_path;
	} else {
		target_address(where, host, sizeof(host));
		snprintf(port, sizeof(port), "%u", where->port);
		argv[n++] = "-H";
		argv[n++] = host;
		argv[n++] = "-p";
		argv[n++] = port;
	}
	for (size_t i = 0; i < we.we_wordc; i++)
		argv[n++] = we.we_wordv[i];

	ld->pid = fork();
	if (ld->pid == 0) {
		signal(SIGINT, SIG_DFL);
		signal(SIGTERM, SIG_DFL);
		execv(path, argv);
		fprintf(stderr, "conctrace: exec %s: %s\n", path, strerror(errno));
		_exit(127);
	}
	err = ld->pid < 0 ? -errno : 0;
	if (err) {
		ld->done = true;
		ld->status = 127 << 8;
	}
	free(argv);
	wordfree(&we);
	return err;
}

bool loaddriver_poll(struct loaddriver *ld)
{
	if (!ld->pid || ld->done)
		return ld->done;
	if (waitpid(ld->pid, &ld->status, WNOHANG) == ld->pid)
		ld->done = true;
	return ld->done;
}

void loaddriver_stop(struct loaddriver *ld)
{
	if (!ld->pid || loaddriver_poll(ld))
		return;
	kill(ld->pid, SIGINT);
	waitpid(ld->pid, &ld->status, 0);
	ld->done = true;
	ld->stopped = true;
}

const char *loaddriver_failure(const struct loaddriver *ld, char *buf, size_t len)
{
	if (!ld->done || ld->stopped)
		return NULL;
	if (WIFEXITED(ld->status) && WEXITSTATUS(ld->status) == 0)
		return NULL;
	if (WIFEXITED(ld->status))
		snprintf(buf, len, "loadgen exited %d (%s)", WEXITSTATUS(ld->status),
			 WEXITSTATUS(ld->status) == 2 ? "bad arguments" :
			 WEXITSTATUS(ld->status) == 1 ? "connections or requests failed" :
			 "it could not run");
	else
		snprintf(buf, len, "loadgen killed by SIG%s",
			 sigabbrev_np(WTERMSIG(ld->status)) ?: "?");
	return buf;
}
