/* SPDX-License-Identifier: MIT */
/*
 * Command-line options of conctrace, with their defaults (cli.c).
 *
 * Layer: main/ may include model/ host/ tracer/ target/ report/ flame/ live/
 * (and common/, conctrace.h): the program itself, conctrace.c the order
 * of a run and cli.c its command line. No layer includes main/.
 */
#ifndef CONCTRACE_ENV_H
#define CONCTRACE_ENV_H

#include <stdbool.h>
#include <sys/socket.h>
#include <sys/types.h>

#define DEFAULT_LOAD_ARGS "-c 1000 -n 10"
#define MAX_PIDS 256		/* -p: processes traced at once */

struct env {
	pid_t pid;		/* -p: attach to a running process (the first) */
	pid_t pids[MAX_PIDS];	/* -p: all of them, pids[0] == pid */
	unsigned int npids;
	char **cmd;		/* -- CMD ARGS...: launch and trace */
	double duration_s;	/* -d: stop after this long (0 = until the target ends) */
	double interval_s;	/* -i: print a live summary this often (0 = never) */
	const char *json_path;	/* --json FILE, "-" for stdout */
	unsigned long max_conns;/* --max-conns: connection map size */
	unsigned json_conns;	/* --json-conns: per-connection objects in JSON */
	unsigned top_conns;	/* --top-conns: connections listed in the report */
	bool load;		/* --load: drive the target with servers/loadgen */
	const char *load_args;	/* --load=ARGS */
	double grace_s;		/* wait this long for the target after SIGTERM */
	bool verbose;		/* -v: libbpf's log */
	bool no_syscalls;	/* --no-syscalls: leave the syscall tracepoints alone */
	bool syscall_time;	/* --syscall-time: time each syscall */
	bool cgroup;		/* --cgroup: run the command in a memory cgroup of its own */
	const char *user;	/* --user: run the command as this user */
	unsigned int flame;	/* --flame: views (1 << enum view); 0 = none */
	const char *folded_path;	/* --folded: folded stacks */
	const char *svg_path;	/* --svg: flame graphs */
	bool by_conn;		/* --by-conn: a frame level per connection */
	unsigned int sample_hz;	/* --sample-hz: on-CPU sampling frequency */
	double live_s;		/* --top[=SECS]: live view, redrawn this often (0 = off) */
	bool prometheus;	/* --prometheus: serve /metrics at prom_addr */
	bool bpf_stats;		/* --bpf-stats: and conctrace's BPF run time there */
	struct sockaddr_storage prom_addr;
	socklen_t prom_addr_len;
};

enum parse_result {
	ARGS_RUN,		/* trace as env says */
	ARGS_HELP,		/* --help printed: exit 0 */
	ARGS_BAD,		/* usage error printed: exit 2 */
	ARGS_VERSION,		/* --version asked */
};

enum parse_result parse_args(int argc, char **argv, struct env *env);

#endif /* CONCTRACE_ENV_H */
