// SPDX-License-Identifier: MIT
/*
 * fork_conns: a fork-per-connection server and its client in one process
 * tree, for the kernel matrix. N times over TCP, then N over a Unix
 * socket (an abstract address: accepted, no socketpair), as PostgreSQL's
 * postmaster serves both: connect to its own listener,
 * accept, fork a child to serve the accepted connection, and close the
 * parent's copy at once, as inetd or Python's ForkingTCPServer does. The
 * child holds the connection HOLD_MS, writes one byte and exits: the odd
 * ones close() it first, the even ones leave it to the kernel's release
 * at their exit. The client reads the byte and closes, but for every
 * fourth from the third on, which it resets (SO_LINGER 0) before that
 * child exits: its release then changes no TCP state, so no event of the
 * socket's says the connection ended. A Unix socket's release fires no
 * event at all (it is never reset here: a Unix socket has no reset).
 *
 * A tracer that ends a connection at the parent's close() ends each one a
 * fork after its accept; one that follows the file ends it after the
 * child's HOLD_MS.
 *
 *   fork_conns [N]
 *
 * Prints "served 2N held HOLD_MS ms" and exits 0; 1 on any failure.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define HOLD_MS 200

static int fail(const char *what)
{
	perror(what);
	return 1;
}

/* the client resets a TCP connection once it has its byte */
static bool reset(int family, int i)
{
	return family == AF_INET && i % 4 == 2;
}

static void serve(int conn, int family, int i)
{
	struct timespec hold = { 0, HOLD_MS * 1000 * 1000 };
	char byte;

	nanosleep(&hold, NULL);
	if (write(conn, "x", 1) != 1)
		_exit(1);
	if (reset(family, i) && read(conn, &byte, 1) != -1)	/* ECONNRESET */
		_exit(1);
	if (i % 2 && close(conn))
		_exit(1);
	_exit(0);
}

/* n connections to a listener of this family, each served by a child */
static int serve_family(int family, int n)
{
	struct sockaddr_in in = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct sockaddr_un un = { .sun_family = AF_UNIX };
	struct sockaddr *a = family == AF_INET ? (void *)&in : (void *)&un;
	socklen_t len = family == AF_INET ? sizeof(in) : sizeof(un);
	int lst;

	/* abstract: no file to clean up, unique to this process */
	snprintf(un.sun_path + 1, sizeof(un.sun_path) - 1, "fork_conns.%d", (int)getpid());
	if ((lst = socket(family, SOCK_STREAM, 0)) < 0 || bind(lst, a, len) ||
	    listen(lst, 8) || getsockname(lst, a, &len))
		return fail("fork_conns: listener");
	for (int i = 0; i < n; i++) {
		int client = socket(family, SOCK_STREAM, 0), conn, status;
		char byte;
		pid_t child;

		if (client < 0 || connect(client, a, len))
			return fail("fork_conns: connect");
		if ((conn = accept(lst, NULL, NULL)) < 0)
			return fail("fork_conns: accept");
		if ((child = fork()) < 0)
			return fail("fork_conns: fork");
		if (!child) {
			close(lst);
			close(client);
			serve(conn, family, i);
		}
		if (close(conn))
			return fail("fork_conns: close");
		if (read(client, &byte, 1) != 1)
			return fail("fork_conns: client");
		if (reset(family, i) && setsockopt(client, SOL_SOCKET, SO_LINGER,
						   &(struct linger){ .l_onoff = 1, .l_linger = 0 },
						   sizeof(struct linger)))
			return fail("fork_conns: SO_LINGER");
		if (close(client))
			return fail("fork_conns: client");
		if (waitpid(child, &status, 0) != child || !WIFEXITED(status) ||
		    WEXITSTATUS(status))
			return fail("fork_conns: child");
	}
	return close(lst) ? fail("fork_conns: listener") : 0;
}

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 4;

	if (n < 1 || n > 64) {
		fprintf(stderr, "fork_conns: N is 1 to 64\n");
		return 2;
	}
	if (serve_family(AF_INET, n) || serve_family(AF_UNIX, n))
		return 1;
	printf("served %d held %d ms\n", 2 * n, HOLD_MS);
	return 0;
}
