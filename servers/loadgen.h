/* SPDX-License-Identifier: MIT */
/*
 * What loadgen's files share: the options, the request kinds, and the
 * functions one file offers the others. loadgen.c says how it all fits.
 */
#ifndef CONCTRACE_LOADGEN_H
#define CONCTRACE_LOADGEN_H

#include <stdbool.h>
#include <stdint.h>

#define PROG			"loadgen"
#define DEFAULT_HOST		"127.0.0.1"
#define DEFAULT_PORT		"8090"
#define DEFAULT_REQUESTS	10
/* auto --sources: well inside the 28k ephemeral ports one source gets */
#define CONNS_PER_SOURCE	20000

enum kind { K_PING, K_ECHO, K_WAIT, K_STREAM, K_BURN, NR_KINDS };

/* ---- options: loadgen_cli.c ---------------------------------------------- */

/*
 * What the command line asked for, defaults filled in. Set-up only trims
 * --threads to --connections; nothing changes it while the workers run.
 */
struct env {
	const char *host;
	const char *port;
	const char *unix_path;

	unsigned conns;
	unsigned threads;
	double ramp_s;
	double connect_rate;
	unsigned max_connecting;
	long sources;			/* -1: automatic */
	bool reconnect;
	double timeout_s;

	uint64_t requests;
	bool requests_set;
	double duration_s;
	double rate;			/* per connection; 0: closed loop */
	unsigned depth;
	unsigned weights[NR_KINDS];
	unsigned echo_size;
	unsigned wait_ms;
	uint64_t stream_bytes;
	uint64_t burn;
	uint64_t seed;

	double hold_s;
	bool quit;

	bool json;
	const char *json_path;		/* NULL or "-": stdout */
	const char *ready_file;
	bool quiet;
};
extern struct env env;

/* Parse argv into env; exits with 0 after --help and with 2 on a usage error. */
void parse_args(int argc, char **argv);

/* "loadgen: <message>" and the --help hint on stderr, then exit(2). */
void usage_error(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));

#endif /* CONCTRACE_LOADGEN_H */
