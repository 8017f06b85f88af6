// SPDX-License-Identifier: MIT
/* Command line, listening socket and signals shared by the reference servers. */
#include "server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

volatile sig_atomic_t server_stopping;

static void usage(FILE *f, const char *name, const char *extra_help)
{
	fprintf(f,
		"Usage: %s [OPTIONS]\n"
		"A conctrace reference server: speaks the line protocol\n"
		"(PING, WAIT ms, BURN n, STREAM n, QUIT, anything else echoed).\n"
		"\n"
		"  -p, --port PORT       TCP port (default %d; 0 picks a free one)\n"
		"  -b, --bind ADDR       address to bind, IPv4 or IPv6 (default %s)\n"
		"  -u, --unix PATH       listen on a Unix stream socket instead of TCP\n"
		"  -B, --backlog N       listen backlog (default %d)\n"
		"%s"
		"  -h, --help            show this help\n"
		"\n"
		"Prints one line to stderr once it listens; exits cleanly on SIGINT/SIGTERM.\n"
		"Example: %s -p 9000 & echo PING | nc -q1 127.0.0.1 9000\n",
		name, SERVER_DEFAULT_PORT, SERVER_DEFAULT_BIND,
		SERVER_DEFAULT_BACKLOG, extra_help ? extra_help : "", name);
}

size_t server_parse_size(const char *s)
{
	char *end;
	unsigned long long v;
	unsigned shift = 0;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s || s[0] == '-')
		return 0;
	switch (*end) {
	case 'k': case 'K': shift = 10; end++; break;
	case 'm': case 'M': shift = 20; end++; break;
	case 'g': case 'G': shift = 30; end++; break;
	}
	if (*end || v > (SIZE_MAX >> shift))
		return 0;
	v <<= shift;
	return (size_t)v;
}

static long parse_long(const char *name, const char *opt, const char *s, long lo, long hi)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < lo || v > hi) {
		fprintf(stderr, "%s: invalid %s '%s' (expected %ld..%ld)\n", name, opt, s, lo, hi);
		exit(2);
	}
	return v;
}

void server_parse_args(int argc, char **argv, struct server_config *cfg,
		       unsigned extras, const char *extra_help)
{
	static const struct option longopts[] = {
		{ "port",     required_argument, NULL, 'p' },
		{ "bind",     required_argument, NULL, 'b' },
		{ "unix",     required_argument, NULL, 'u' },
		{ "backlog",  required_argument, NULL, 'B' },
		{ "stack",    required_argument, NULL, 's' },
		{ "workers",  required_argument, NULL, 'w' },
		{ "ucontext", no_argument,       NULL, 'U' },
		{ "entries",  required_argument, NULL, 'e' },
		{ "help",     no_argument,       NULL, 'h' },
		{ 0 },
	};
	const char *name = strrchr(argv[0], '/') ? strrchr(argv[0], '/') + 1 : argv[0];
	int c;

	memset(cfg, 0, sizeof(*cfg));
	cfg->name = name;
	cfg->bind_addr = SERVER_DEFAULT_BIND;
	cfg->port = SERVER_DEFAULT_PORT;
	cfg->backlog = SERVER_DEFAULT_BACKLOG;
	cfg->workers = 1;

	while ((c = getopt_long(argc, argv, "p:b:u:B:s:w:Ue:h", longopts, NULL)) != -1) {
		unsigned need = 0;

		switch (c) {
		case 's': need = SERVER_OPT_STACK; break;
		case 'w': need = SERVER_OPT_WORKERS; break;
		case 'U': need = SERVER_OPT_UCONTEXT; break;
		case 'e': need = SERVER_OPT_ENTRIES; break;
		}
		if (need && !(extras & need)) {
			fprintf(stderr, "%s: option -%c is not supported by this server\n", name, c);
			exit(2);
		}
		switch (c) {
		case 'p':
			cfg->port = (uint16_t)parse_long(name, "port", optarg, 0, 65535);
			break;
		case 'b':
			cfg->bind_addr = optarg;
			break;
		case 'u':
			cfg->unix_path = optarg;
			break;
		case 'B':
			cfg->backlog = (int)parse_long(name, "backlog", optarg, 1, 1 << 20);
			break;
		case 's':
			cfg->stack_size = server_parse_size(optarg);
			if (cfg->stack_size < 4096) {
				fprintf(stderr, "%s: invalid stack size '%s' (e.g. 16k, 8M; at least 4k)\n",
					name, optarg);
				exit(2);
			}
			break;
		case 'w':
			cfg->workers = (int)parse_long(name, "workers", optarg, 1, 1024);
			break;
		case 'U':
			cfg->use_ucontext = 1;
			break;
		case 'e':
			cfg->entries = (unsigned)parse_long(name, "entries", optarg, 1, 32768);
			break;
		case 'h':
			usage(stdout, name, extra_help);
			exit(0);
		default:
			usage(stderr, name, extra_help);
			exit(2);
		}
	}
	if (optind < argc) {
		fprintf(stderr, "%s: unexpected argument '%s'\n", name, argv[optind]);
		usage(stderr, name, extra_help);
		exit(2);
	}
}

static int listen_unix(const struct server_config *cfg, int type)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct stat st;
	int fd;

	if (strlen(cfg->unix_path) >= sizeof(sun.sun_path)) {
		fprintf(stderr, "%s: unix socket path too long: %s\n", cfg->name, cfg->unix_path);
		exit(1);
	}
	strcpy(sun.sun_path, cfg->unix_path);
	/* a stale socket from a killed run would make bind fail; never remove
	 * anything that is not a socket */
	if (lstat(cfg->unix_path, &st) == 0 && S_ISSOCK(st.st_mode))
		unlink(cfg->unix_path);
	fd = socket(AF_UNIX, type, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		fprintf(stderr, "%s: cannot bind %s: %s\n", cfg->name, cfg->unix_path, strerror(errno));
		exit(1);
	}
	return fd;
}

static int listen_inet(const struct server_config *cfg, int type, unsigned flags)
{
	struct sockaddr_storage ss = { 0 };
	struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
	socklen_t len;
	int one = 1, fd;

	if (inet_pton(AF_INET, cfg->bind_addr, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons(cfg->port);
		len = sizeof(*sin);
	} else if (inet_pton(AF_INET6, cfg->bind_addr, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(cfg->port);
		len = sizeof(*sin6);
	} else {
		fprintf(stderr, "%s: not an IPv4 or IPv6 address: %s\n", cfg->name, cfg->bind_addr);
		exit(2);
	}
	fd = socket(ss.ss_family, type, 0);
	if (fd < 0) {
		fprintf(stderr, "%s: socket: %s\n", cfg->name, strerror(errno));
		exit(1);
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if ((flags & SERVER_LISTEN_REUSEPORT) &&
	    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0) {
		fprintf(stderr, "%s: SO_REUSEPORT: %s\n", cfg->name, strerror(errno));
		exit(1);
	}
	if (bind(fd, (struct sockaddr *)&ss, len) < 0) {
		fprintf(stderr, "%s: cannot bind %s port %u: %s\n", cfg->name, cfg->bind_addr,
			cfg->port, strerror(errno));
		exit(1);
	}
	return fd;
}

int server_listen(const struct server_config *cfg, unsigned flags)
{
	int type = SOCK_STREAM | SOCK_CLOEXEC;
	int fd;

	if (flags & SERVER_LISTEN_NONBLOCK)
		type |= SOCK_NONBLOCK;
	fd = cfg->unix_path ? listen_unix(cfg, type) : listen_inet(cfg, type, flags);
	if (listen(fd, cfg->backlog) < 0) {
		fprintf(stderr, "%s: listen: %s\n", cfg->name, strerror(errno));
		exit(1);
	}
	return fd;
}

void server_announce(const struct server_config *cfg, int listen_fd)
{
	struct sockaddr_storage ss = { 0 };
	socklen_t len = sizeof(ss);
	char addr[INET6_ADDRSTRLEN] = "?";
	unsigned port = 0;

	if (cfg->unix_path) {
		fprintf(stderr, "%s: listening on unix %s (pid %d)\n", cfg->name, cfg->unix_path,
			(int)getpid());
		return;
	}
	if (getsockname(listen_fd, (struct sockaddr *)&ss, &len) == 0) {
		if (ss.ss_family == AF_INET6) {
			struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;

			inet_ntop(AF_INET6, &s6->sin6_addr, addr, sizeof(addr));
			port = ntohs(s6->sin6_port);
		} else {
			struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;

			inet_ntop(AF_INET, &s4->sin_addr, addr, sizeof(addr));
			port = ntohs(s4->sin_port);
		}
	}
	fprintf(stderr, ss.ss_family == AF_INET6 ? "%s: listening on tcp [%s]:%u (pid %d)\n"
						 : "%s: listening on tcp %s:%u (pid %d)\n",
		cfg->name, addr, port, (int)getpid());
}

static void on_stop_signal(int sig)
{
	(void)sig;
	server_stopping = 1;
}

void server_install_signals(void)
{
	struct sigaction sa = { .sa_handler = on_stop_signal };	/* no SA_RESTART */

	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
}

void server_cleanup(const struct server_config *cfg)
{
	if (cfg->unix_path)
		unlink(cfg->unix_path);
}
