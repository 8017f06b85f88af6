// SPDX-License-Identifier: MIT
/*
 * loadgen's command line: the --help text, and the options parsed into
 * env, checked one by one. What only the set-up can judge (a name that
 * does not resolve, a mix that weighs nothing) it reports through
 * usage_error() as well, so every usage error reads and exits alike.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "loadgen.h"
#include "protocol.h"

/* the names --mix takes, in enum kind's order */
static const char *const kind_names[NR_KINDS] = {
	"ping", "echo", "wait", "stream", "burn",
};

struct env env = {
	.host = DEFAULT_HOST,
	.port = DEFAULT_PORT,
	.conns = 1,
	.threads = 1,
	.max_connecting = 256,
	.sources = -1,
	.timeout_s = 10,
	.requests = DEFAULT_REQUESTS,
	.depth = 1,
	.weights = { [K_PING] = 1 },
	.echo_size = 64,
	.wait_ms = 10,
	.stream_bytes = 65536,
	.burn = 10000,
	.seed = 1,
};

/* ---- usage --------------------------------------------------------------- */

static void usage(FILE *out)
{
	fprintf(out,
"NAME\n"
"    loadgen - drive a conctrace reference server with many persistent connections\n"
"\n"
"SYNOPSIS\n"
"    loadgen [-H ADDR] [-p PORT | -u PATH] [-c CONNS] [-T THREADS]\n"
"            [-n REQUESTS | -d SECONDS] [-r RATE] [-P DEPTH] [--mix SPEC]\n"
"            [--hold SECONDS] [--json [FILE]] [OPTION]...\n"
"\n"
"DESCRIPTION\n"
"    Opens CONNS persistent connections to a server that speaks the line\n"
"    protocol of servers/protocol.h, sends each one a mix of requests, checks\n"
"    every reply byte for byte, optionally keeps the connections open and idle,\n"
"    then reports connections, errors, bytes, requests/s and latency.\n"
"\n"
"    Closed loop (default): each connection sends its next request when the\n"
"    reply to the previous one arrives (up to DEPTH in flight with -P).\n"
"    Open loop (-r): each connection has a schedule of RATE requests/s,\n"
"    starting at a seeded random phase within the first interval; latency is\n"
"    measured from when a request was due, not from when it could be sent,\n"
"    so a server that stalls pays for every request it delayed.\n"
"\n"
"TARGET\n"
"    -H, --host ADDR         server address: IPv4 or IPv6 literal, or a name\n"
"                            (default " DEFAULT_HOST ")\n"
"    -p, --port PORT         TCP port (default " DEFAULT_PORT ")\n"
"    -u, --unix PATH         connect to a Unix stream socket instead of TCP\n"
"\n"
"CONNECTIONS\n"
"    -c, --connections N     persistent connections to open (default 1)\n"
"    -T, --threads N         worker threads, each with its own epoll loop over\n"
"                            an equal share of the connections (default 1)\n"
"        --ramp SECONDS      spread the connects evenly over SECONDS\n"
"        --connect-rate N    open at most N connections per second\n"
"        --max-connecting N  connects in flight at once (default 256)\n"
"        --sources K         bind connection i to source 127.0.0.(1 + i %% K)\n"
"                            before connecting, so more than ~28k connections\n"
"                            reach one server port (needs a 127.0.0.0/8 target;\n"
"                            default: ceil(CONNS / %d) above %d connections,\n"
"                            else none; 0 turns it off)\n"
"        --timeout SECONDS   limit for a connect, and for each reply from the\n"
"                            moment it is the oldest one awaited (default 10)\n"
"        --reconnect         reopen a connection lost to a reset, close,\n"
"                            timeout or bad reply and carry on with its\n"
"                            requests (the error still counts; failed\n"
"                            connects are final)\n"
"\n"
"REQUESTS\n"
"    -n, --requests N        requests per connection (default %d; 0: none)\n"
"    -d, --duration SECONDS  send requests until SECONDS after the start, then\n"
"                            let the outstanding ones finish (with -n: whichever\n"
"                            ends first)\n"
"    -r, --rate R            open loop: R requests/s per connection (fractions\n"
"                            allowed: 0.033 is one every 30 s); 0: closed loop\n"
"    -P, --pipeline DEPTH    requests in flight per connection (default 1)\n"
"        --mix SPEC          weighted request mix, e.g. ping:8,echo:1,wait:1;\n"
"                            kinds: ping, echo, wait, stream, burn; a kind\n"
"                            without :WEIGHT weighs 1 (default ping)\n"
"        --echo-size BYTES   echo line length before its newline (default 64,\n"
"                            at most %u)\n"
"        --wait-ms MS        WAIT argument (default 10)\n"
"        --stream-bytes N    STREAM argument (default 65536)\n"
"        --burn N            BURN argument (default 10000)\n"
"        --seed N            seed of the request mix and open-loop phases;\n"
"                            a run is reproducible (default 1)\n"
"\n"
"    Replies are verified: PONG; the exact echo line (it carries the request\n"
"    number); DONE; exactly N payload bytes without a newline, then DONE;\n"
"    RESULT with the value BURN must produce. Anything else is a bad_reply.\n"
"\n"
"AFTER THE REQUESTS\n"
"        --hold SECONDS      keep every connection open and idle for SECONDS\n"
"                            once all of them are done with their requests\n"
"        --quit              send QUIT on every connection before closing it\n"
"\n"
"OUTPUT\n"
"        --json [FILE]       write the report as JSON to FILE, or to stdout\n"
"                            (instead of the text report) without FILE or '-'\n"
"        --ready-file PATH   once every connection has been established or has\n"
"                            failed, create PATH holding the number established\n"
"    -q, --quiet             no progress or first-error lines on stderr\n"
"    -h, --help              show this text\n"
"\n"
"    On stderr, for scripts and tests to wait on:\n"
"        loadgen: N connections established      (all connects resolved;\n"
"                                                  \", F failed\" when some did)\n"
"        loadgen: holding N connections           (the --hold period begins)\n"
"\n"
"    Errors, by kind: connect (refused, timed out, no address or port left),\n"
"    reset (ECONNRESET, EPIPE), timeout (no reply within --timeout), bad_reply,\n"
"    closed (the server closed the connection). A failed connection is not\n"
"    reopened without --reconnect. requests.errors counts the requests that\n"
"    were sent but lost to an error.\n"
"\n"
"    SIGINT or SIGTERM stops the run early; the report is still printed.\n"
"\n"
"JSON\n"
"    {\"connections\": {\"attempted\", \"established\", \"failed\"},\n"
"     \"requests\": {\"ok\", \"errors\"},\n"
"     \"errors\": {\"connect\", \"reset\", \"timeout\", \"bad_reply\", \"closed\"},\n"
"     \"bytes\": {\"sent\", \"received\"},\n"
"     \"duration_s\", \"requests_per_s\", \"interrupted\",\n"
"     \"latency_us\": {\"min\", \"mean\", \"p50\", \"p90\", \"p99\", \"p999\", \"max\"}}\n"
"    duration_s spans the start of the first connect to the last reply (the\n"
"    hold period is not included); latencies are within 0.8%%.\n"
"\n"
"EXIT STATUS\n"
"    0 no errors, 1 any connection or request error, 2 usage error or a\n"
"    connection count above what RLIMIT_NOFILE allows.\n"
"\n"
"EXAMPLES\n"
"    loadgen -c 1000 -n 20\n"
"        1000 connections, 20 PINGs each, closed loop.\n"
"    loadgen -c 100 -d 10 -T 2 -P 8 --json\n"
"        Saturate a server for 10 s from two threads; JSON on stdout.\n"
"    loadgen -c 50 -n 200 --mix ping:8,echo:1,wait:1 --echo-size 1000 --seed 7\n"
"        A reproducible mix of PING, 1000-byte echoes and 10 ms WAITs.\n"
"    loadgen -c 19000 --connect-rate 2000 -d 120 -r 0.033 --hold 30\n"
"        Persistent clients that each send a request every 30 s.\n"
"    loadgen -c 15000 --sources 4 -n 0 --hold 60 --ready-file /tmp/up\n"
"        Open 15000 idle connections from 127.0.0.1-4 and hold them a minute.\n"
"    loadgen -u /tmp/echo.sock -c 500 -n 100 --mix stream --stream-bytes 1000000\n"
"        Over a Unix socket, each connection reads 100 MB of STREAM payload.\n",
		CONNS_PER_SOURCE, CONNS_PER_SOURCE, DEFAULT_REQUESTS, PROTO_MAX_LINE);
}

void usage_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fprintf(stderr, PROG ": ");
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry '" PROG " --help' for more information.\n");
	exit(2);
}

/* ---- option parsing ------------------------------------------------------ */

static uint64_t parse_uint(const char *opt, const char *arg, uint64_t min, uint64_t max)
{
	unsigned long long v;
	char *end;

	errno = 0;
	v = strtoull(arg, &end, 10);
	if (errno || end == arg || *end || arg[0] == '-' || v < min || v > max)
		usage_error("%s wants a whole number from %" PRIu64 " to %" PRIu64 ", not '%s'",
			    opt, min, max, arg);
	return v;
}

static double parse_real(const char *opt, const char *arg, bool zero_ok)
{
	double v;
	char *end;

	errno = 0;
	v = strtod(arg, &end);
	if (errno || end == arg || *end || !isfinite(v) || v < 0 || (!zero_ok && v == 0))
		usage_error("%s wants a %s number, not '%s'", opt,
			    zero_ok ? "non-negative" : "positive", arg);
	return v;
}

static void parse_mix(const char *spec)
{
	char *copy = strdup(spec), *item, *save = NULL;
	unsigned k;

	if (!copy)
		exit(1);
	memset(env.weights, 0, sizeof(env.weights));
	for (item = strtok_r(copy, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
		char *colon = strchr(item, ':');
		unsigned weight = 1;

		if (colon) {
			*colon = '\0';
			weight = (unsigned)parse_uint("--mix weight", colon + 1, 0, 1000000);
		}
		for (k = 0; k < NR_KINDS; k++)
			if (!strcmp(item, kind_names[k]))
				break;
		if (k == NR_KINDS)
			usage_error("--mix: unknown request kind '%s' (ping, echo, wait, stream, burn)", item);
		env.weights[k] = weight;
	}
	free(copy);
}

enum {
	OPT_RAMP = 256, OPT_CONNECT_RATE, OPT_MAX_CONNECTING, OPT_SOURCES, OPT_TIMEOUT,
	OPT_RECONNECT, OPT_MIX, OPT_ECHO_SIZE, OPT_WAIT_MS, OPT_STREAM_BYTES, OPT_BURN,
	OPT_SEED, OPT_HOLD, OPT_QUIT, OPT_JSON, OPT_READY_FILE,
};

static const struct option long_options[] = {
	{ "host",           required_argument, NULL, 'H' },
	{ "port",           required_argument, NULL, 'p' },
	{ "unix",           required_argument, NULL, 'u' },
	{ "connections",    required_argument, NULL, 'c' },
	{ "threads",        required_argument, NULL, 'T' },
	{ "ramp",           required_argument, NULL, OPT_RAMP },
	{ "connect-rate",   required_argument, NULL, OPT_CONNECT_RATE },
	{ "max-connecting", required_argument, NULL, OPT_MAX_CONNECTING },
	{ "sources",        required_argument, NULL, OPT_SOURCES },
	{ "timeout",        required_argument, NULL, OPT_TIMEOUT },
	{ "reconnect",      no_argument,       NULL, OPT_RECONNECT },
	{ "requests",       required_argument, NULL, 'n' },
	{ "duration",       required_argument, NULL, 'd' },
	{ "rate",           required_argument, NULL, 'r' },
	{ "pipeline",       required_argument, NULL, 'P' },
	{ "mix",            required_argument, NULL, OPT_MIX },
	{ "echo-size",      required_argument, NULL, OPT_ECHO_SIZE },
	{ "wait-ms",        required_argument, NULL, OPT_WAIT_MS },
	{ "stream-bytes",   required_argument, NULL, OPT_STREAM_BYTES },
	{ "burn",           required_argument, NULL, OPT_BURN },
	{ "seed",           required_argument, NULL, OPT_SEED },
	{ "hold",           required_argument, NULL, OPT_HOLD },
	{ "quit",           no_argument,       NULL, OPT_QUIT },
	{ "json",           optional_argument, NULL, OPT_JSON },
	{ "ready-file",     required_argument, NULL, OPT_READY_FILE },
	{ "quiet",          no_argument,       NULL, 'q' },
	{ "help",           no_argument,       NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

void parse_args(int argc, char **argv)
{
	bool duration_set = false;
	int opt;

	/* '+': stop at the first non-option, so "--json FILE" can take it */
	while ((opt = getopt_long(argc, argv, "+H:p:u:c:T:n:d:r:P:qh", long_options, NULL)) != -1) {
		switch (opt) {
		case 'H': env.host = optarg; break;
		case 'p':
			parse_uint("--port", optarg, 1, 65535);
			env.port = optarg;
			break;
		case 'u': env.unix_path = optarg; break;
		case 'c': env.conns = (unsigned)parse_uint("--connections", optarg, 1, 1u << 24); break;
		case 'T': env.threads = (unsigned)parse_uint("--threads", optarg, 1, 256); break;
		case OPT_RAMP: env.ramp_s = parse_real("--ramp", optarg, false); break;
		case OPT_CONNECT_RATE: env.connect_rate = parse_real("--connect-rate", optarg, false); break;
		case OPT_MAX_CONNECTING:
			env.max_connecting = (unsigned)parse_uint("--max-connecting", optarg, 1, 1u << 24);
			break;
		case OPT_SOURCES: env.sources = (long)parse_uint("--sources", optarg, 0, 1u << 16); break;
		case OPT_TIMEOUT: env.timeout_s = parse_real("--timeout", optarg, false); break;
		case OPT_RECONNECT: env.reconnect = true; break;
		case 'n':
			env.requests = parse_uint("--requests", optarg, 0, UINT32_MAX - 1);
			env.requests_set = true;
			break;
		case 'd':
			env.duration_s = parse_real("--duration", optarg, false);
			duration_set = true;
			break;
		case 'r': env.rate = parse_real("--rate", optarg, true); break;
		case 'P': env.depth = (unsigned)parse_uint("--pipeline", optarg, 1, 1024); break;
		case OPT_MIX: parse_mix(optarg); break;
		case OPT_ECHO_SIZE:
			env.echo_size = (unsigned)parse_uint("--echo-size", optarg, 0, PROTO_MAX_LINE);
			break;
		case OPT_WAIT_MS:
			env.wait_ms = (unsigned)parse_uint("--wait-ms", optarg, 0, PROTO_MAX_WAIT_MS);
			break;
		case OPT_STREAM_BYTES:
			env.stream_bytes = parse_uint("--stream-bytes", optarg, 0, PROTO_MAX_STREAM);
			break;
		case OPT_BURN: env.burn = parse_uint("--burn", optarg, 0, PROTO_MAX_BURN); break;
		case OPT_SEED: env.seed = parse_uint("--seed", optarg, 0, UINT64_MAX); break;
		case OPT_HOLD: env.hold_s = parse_real("--hold", optarg, true); break;
		case OPT_QUIT: env.quit = true; break;
		case OPT_JSON:
			env.json = true;
			if (optarg)
				env.json_path = optarg;
			else if (optind < argc && argv[optind][0] != '-')
				env.json_path = argv[optind++];
			else if (optind < argc && !strcmp(argv[optind], "-"))
				optind++;
			break;
		case OPT_READY_FILE: env.ready_file = optarg; break;
		case 'q': env.quiet = true; break;
		case 'h':
			usage(stdout);
			exit(0);
		default:	/* getopt has said what was wrong */
			fprintf(stderr, "Try '" PROG " --help' for more information.\n");
			exit(2);
		}
	}
	if (optind < argc)
		usage_error("unexpected argument '%s'", argv[optind]);
	if (env.ramp_s && env.connect_rate)
		usage_error("--ramp and --connect-rate both set the connect pace; give one");
	if (duration_set && !env.requests_set)
		env.requests = UINT32_MAX;	/* as many as fit in the time */
	if (env.json_path && !strcmp(env.json_path, "-"))
		env.json_path = NULL;
}
