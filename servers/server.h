/* SPDX-License-Identifier: MIT */
/*
 * What every reference server shares that is not its concurrency model:
 * command line, listening socket, the "listening" line, signals.
 */
#ifndef CONCTRACE_SERVER_H
#define CONCTRACE_SERVER_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#define SERVER_DEFAULT_PORT    8090
#define SERVER_DEFAULT_BIND    "127.0.0.1"
#define SERVER_DEFAULT_BACKLOG 4096

/* server-specific options a server may accept on top of the common ones */
enum server_extra {
	SERVER_OPT_STACK    = 1 << 0,	/* -s SIZE: thread or coroutine stack */
	SERVER_OPT_WORKERS  = 1 << 1,	/* -w N: SO_REUSEPORT worker threads */
	SERVER_OPT_UCONTEXT = 1 << 2,	/* -U: glibc swapcontext switching */
	SERVER_OPT_ENTRIES  = 1 << 3,	/* -e N: io_uring submission entries */
};

struct server_config {
	const char *name;	/* program name, for messages */
	const char *bind_addr;	/* -b: IPv4 or IPv6 literal */
	uint16_t port;		/* -p: 0 picks a free port */
	const char *unix_path;	/* -u: listen on a Unix socket instead */
	int backlog;		/* -B */
	size_t stack_size;	/* -s, 0 = the model's default */
	int workers;		/* -w */
	int use_ucontext;	/* -U */
	unsigned entries;	/* -e, 0 = the model's default */
};

/*
 * Set by SIGINT/SIGTERM (handlers installed without SA_RESTART). Testing
 * the flag and then blocking in accept()/epoll_wait() races with a signal
 * that lands in between: block SIGINT/SIGTERM and unblock them only inside
 * the wait (ppoll, epoll_pwait), or read them from a signalfd.
 */
extern volatile sig_atomic_t server_stopping;

/*
 * Parse argv into cfg (defaults first). `extras` says which server-specific
 * options this server takes; `extra_help` documents them for --help.
 * Exits with 0 after --help and with 2 on a usage error.
 */
void server_parse_args(int argc, char **argv, struct server_config *cfg,
		       unsigned extras, const char *extra_help);

enum {
	SERVER_LISTEN_NONBLOCK  = 1 << 0,
	SERVER_LISTEN_REUSEPORT = 1 << 1,
};

/* Create, bind and listen; exits with a message on failure.
 * With SERVER_LISTEN_REUSEPORT and port 0, every call gets a different
 * free port: bind the first socket, then set cfg->port to the port it got. */
int server_listen(const struct server_config *cfg, unsigned flags);

/* The one line on stderr that says the server is ready, e.g.
 * "epoll_echo: listening on tcp 127.0.0.1:8090 (pid 4242)". */
void server_announce(const struct server_config *cfg, int listen_fd);

/* SIGINT/SIGTERM set server_stopping; SIGPIPE is ignored (EPIPE instead). */
void server_install_signals(void);

/* Remove the Unix socket file, if any. */
void server_cleanup(const struct server_config *cfg);

/* Parse "64k", "8M", "1048576"; returns 0 on error. */
size_t server_parse_size(const char *s);

#endif /* CONCTRACE_SERVER_H */
