/* SPDX-License-Identifier: MIT */
/*
 * What loadgen's files share: the options and the plan made of them, the
 * state of a run, of its connections and of its workers, and the functions
 * one file offers the others. loadgen.c says how the pieces fit.
 */
#ifndef CONCTRACE_LOADGEN_H
#define CONCTRACE_LOADGEN_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "common/histogram.h"
#include "protocol.h"

#define PROG			"loadgen"
#define NSEC_PER_SEC		UINT64_C(1000000000)
#define NSEC_PER_MSEC		UINT64_C(1000000)
#define DEFAULT_HOST		"127.0.0.1"
#define DEFAULT_PORT		"8090"
#define DEFAULT_REQUESTS	10
/* auto --sources: well inside the 28k ephemeral ports one source gets */
#define CONNS_PER_SOURCE	20000
#define MAX_REQUEST		(PROTO_MAX_LINE + 1)
#define RECV_CHUNK		(64u << 10)	/* one recv() into a worker's rbuf */

enum kind { K_PING, K_ECHO, K_WAIT, K_STREAM, K_BURN, NR_KINDS };

enum err_kind { E_CONNECT, E_RESET, E_TIMEOUT, E_BAD_REPLY, E_CLOSED, NR_ERRS };
extern const char *const err_names[NR_ERRS];	/* as the report spells them */

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

/* ---- the plan: loadgen.c ------------------------------------------------- */

/* What the options mean once resolved; read-only while workers run. */
struct plan {
	struct sockaddr_storage addr;
	socklen_t addrlen;
	int family;
	char target[INET6_ADDRSTRLEN + sizeof("tcp []:65535") + sizeof(((struct sockaddr_un *)0)->sun_path)];
	unsigned nsources;
	uint32_t source_base;		/* host order: 127.0.0.1 */
	uint64_t timeout_ns;
	uint64_t interval_ns;		/* open loop: between a connection's requests */
	uint64_t run_ns;		/* -d; 0: no limit */
	uint32_t quota;			/* requests per connection */
	unsigned weight_total;
	int single_kind;		/* the only kind in the mix, or -1 */
	char wait_req[32], stream_req[32], burn_req[32], burn_reply[40];
	size_t wait_req_len, stream_req_len, burn_req_len, burn_reply_len;
	char echo_body[MAX_REQUEST];	/* echo line filler, indexed by offset */
	uint64_t t0;
};
extern struct plan plan;

/* ---- shared run state: loadgen.c ---------------------------------------- */

/* Set by the supervisor only; workers read it every loop turn. */
enum phase {
	PHASE_RUN,
	PHASE_CLOSE,	/* done (and held): close, with QUIT under --quit */
	PHASE_STOP,	/* a signal: close at once */
};

extern atomic_int phase;
extern atomic_uint settled_ok;		/* first connect of a slot succeeded */
extern atomic_uint settled_failed;	/* ... or failed for good */
extern atomic_uint workers_finished;
extern atomic_long open_conns;

/* ---- per connection ------------------------------------------------------ */

#define HEAP_NONE		UINT32_MAX	/* conn.heap_pos: no timer armed */

enum conn_state {
	CS_IDLE,	/* not started yet */
	CS_RETRY,	/* waiting to (re)connect */
	CS_CONNECTING,
	CS_ACTIVE,	/* sending requests */
	CS_HOLDING,	/* requests done, kept open and idle */
	CS_CLOSED,
};

enum conn_flags {
	CF_SETTLED  = 1 << 0,	/* its first connect has been counted */
	CF_FINISHED = 1 << 1,	/* its request phase is over */
};

/* Unsent request bytes, held only while the kernel refuses a write. */
struct pending_write {
	uint32_t len, off;
	char data[];
};

/*
 * Small on purpose (64 bytes): a million of these must be cheap. The
 * intended send time of each request in flight sits in the worker's
 * sent_at[] array, depth slots per connection.
 */
struct conn {
	int fd;
	uint32_t id;		/* global number: seeds its mix, picks its source */
	uint32_t heap_pos;	/* slot in the worker's timer heap or HEAP_NONE */
	uint8_t state;
	uint8_t flags;
	uint32_t seq;		/* requests sent, so also the next one's number */
	uint32_t acked;		/* requests answered or lost */
	uint32_t rpos;		/* bytes of the oldest reply matched so far */
	uint64_t deadline;	/* timer heap key */
	uint64_t head_since;	/* oldest request's timeout clock started here */
	uint64_t t_base;	/* open loop: when request 0 was due */
	struct pending_write *wq;
};

_Static_assert(sizeof(struct conn) <= 64, "struct conn grew past a cache line");

/* ---- per worker ---------------------------------------------------------- */

struct stats {
	uint64_t attempted, established, failed;
	uint64_t req_ok, req_errors;
	uint64_t errors[NR_ERRS];
	uint64_t bytes_sent, bytes_recv;
};

struct worker {
	unsigned id;
	pthread_t thread;
	int epfd;
	int wakefd;
	struct conn *conns;
	unsigned nconns;
	uint64_t *sent_at;	/* nconns * depth intended send times */
	uint32_t *heap;		/* conn indices, min-heap on conn.deadline */
	unsigned heap_len;
	unsigned next_start;	/* conns[next_start..] not started yet */
	unsigned connecting;	/* connects in flight */
	unsigned max_connecting;
	uint64_t connect_gap_ns;
	uint64_t next_connect_at;
	unsigned unfinished;	/* connections still in their request phase */
	bool draining;		/* -d is over: no new requests */
	uint64_t finish_ns;
	char *rbuf;		/* RECV_CHUNK */
	char *sbuf;		/* depth * MAX_REQUEST */
	char *ebuf;		/* MAX_REQUEST: the echo line expected back */
	struct stats stats;
	struct hist hist;	/* latency in ns */
};

/* loadgen.c: env.threads of them, set up before the run, read by the report */
extern struct worker **workers;

/* ---- small helpers ------------------------------------------------------- */

static inline uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * NSEC_PER_SEC + (uint64_t)ts.tv_nsec;
}

/* splitmix64's finaliser: request mix and open-loop phases from the seed */
static inline uint64_t mix64(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

/* ---- timer heap: loadgen_timer.c ----------------------------------------- */

/* Wake c's worker for c at `when`, or earlier if c already asked for earlier. */
void timer_want(struct worker *w, struct conn *c, uint64_t when);

/* Take c out of the heap, if it is in it. */
void timer_cancel(struct worker *w, struct conn *c);

/* ---- requests and replies: loadgen_requests.c ---------------------------- */

/* Write request number seq of c to out; returns its length (<= MAX_REQUEST). */
size_t request_fill(const struct conn *c, uint32_t seq, char *out);

/*
 * Match up to n received bytes against the oldest reply c awaits, from
 * c->rpos on. Returns the bytes used, or -1 when they differ from what
 * the request must produce; *complete says the reply is whole.
 */
long match_reply(struct worker *w, struct conn *c, const char *p, size_t n, bool *complete);

/* ---- connection life: loadgen_conn.c ------------------------------------- */

/* Start a non-blocking connect; its outcome comes as an epoll event, unless
 * socket(), bind() or connect() fails outright. */
void conn_connect(struct worker *w, struct conn *c, uint64_t now);

/* What epoll reported for c. */
void conn_event(struct worker *w, struct conn *c, uint32_t events);

/* c's deadline has passed; the caller has taken c out of the heap. */
void conn_timer(struct worker *w, struct conn *c, uint64_t now);

/* Send every request of c that is due and fits in the pipeline. */
void conn_pump(struct worker *w, struct conn *c, uint64_t now);

/* Close c's socket, drop its timer and unsent bytes; counts no error. */
void conn_close(struct worker *w, struct conn *c);

/* ---- workers: loadgen_worker.c ------------------------------------------- */

/* A worker for nconns connections, ids id, id + T, id + 2T, ... (T threads);
 * NULL when a buffer, the epoll set or the eventfd cannot be had. */
struct worker *worker_new(unsigned id, unsigned nconns);

/* Release what worker_new() took: after the report, which reads its counters. */
void worker_free(struct worker *w);

/* The worker thread: runs until phase leaves PHASE_RUN, then closes its
 * connections. */
void *worker_main(void *arg);

/* Make the worker look at phase now, not at its next timer. */
void worker_wake(struct worker *w);

/* c is done with its request phase; the last one finishes the worker. */
void worker_finished_one(struct worker *w, struct conn *c);

/* ---- report: loadgen_report.c -------------------------------------------- */

/* The run, summed over the workers. */
struct totals {
	struct stats s;
	struct hist *hist;	/* workers[0]'s, with the others merged into it */
	double duration_s;
	double rps;
	uint64_t errors;
	bool interrupted;
};

/* Sum the stopped workers' counters and histograms into t. */
void collect(struct totals *t, bool interrupted);

/* Text on stdout; with --json, JSON instead, or besides it in --json's FILE. */
void report(const struct totals *t);

#endif /* CONCTRACE_LOADGEN_H */
