// SPDX-License-Identifier: MIT
/*
 * loadgen: drives a server that speaks the line protocol of protocol.h with
 * many persistent connections and reports what it saw.
 *
 * Each worker thread runs one edge-triggered epoll loop over its share of
 * the connections. Nothing in the loop is O(connections) per event: timers
 * (connect and request timeouts, open-loop send times, reconnect back-off)
 * live in a binary heap keyed by deadline, and replies are verified as
 * they stream in, byte for byte against what the request must produce, so
 * a connection holds no receive buffer and only holds a send buffer while
 * the kernel refuses part of a write.
 *
 * Why the details matter:
 *  - One (source address, server address, server port) triple has ~28k
 *    ephemeral ports, so past that we bind each socket to its own
 *    127.0.0.X with IP_BIND_ADDRESS_NO_PORT and let connect() choose a
 *    port per 4-tuple, not per source address.
 *  - Open-loop latency is measured from the time a request was due, not
 *    the time it went out, so a stalled server cannot hide its stall by
 *    slowing us down (coordinated omission).
 *
 * One job per file; loadgen.h declares what they share:
 *   loadgen.c           main: set-up from the options, the workers' start,
 *                       supervision (progress lines, --hold, signals)
 *   loadgen_cli.c       --help and the options
 *   loadgen_worker.c    a worker thread and its epoll loop
 *   loadgen_conn.c      a connection's life: connect, send, receive, fail
 *   loadgen_requests.c  what each request is and what its reply must be
 *   loadgen_timer.c     a worker's timer heap
 *   loadgen_report.c    the totals, as text or JSON
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "loadgen.h"
#include "protocol.h"

#define FD_RESERVE		32	/* stdio, epoll and event fds, files */
#define SUPERVISE_MS		10	/* main thread's polling period */

/* ---- shared run state (loadgen.h says what each holds) ------------------- */

/* filled in by set-up, before any worker starts */
struct plan plan;
struct worker **workers;

/* the workers count, the supervisor reads; phase goes the other way */
atomic_int phase = PHASE_RUN;
atomic_uint settled_ok;
atomic_uint settled_failed;
atomic_uint workers_finished;
atomic_long open_conns;

/* ---- set-up -------------------------------------------------------------- */

static uint64_t seconds_to_ns(double s)
{
	return (uint64_t)llround(s * (double)NSEC_PER_SEC);
}

static void resolve_target(void)
{
	struct addrinfo hints = {
		.ai_family = AF_UNSPEC,
		.ai_socktype = SOCK_STREAM,
		.ai_flags = AI_NUMERICSERV,
	};
	struct addrinfo *res;
	char host[INET6_ADDRSTRLEN];
	int rc;

	if (env.unix_path) {
		struct sockaddr_un *sun = (struct sockaddr_un *)&plan.addr;

		if (strlen(env.unix_path) >= sizeof(sun->sun_path))
			usage_error("--unix path is longer than %zu bytes", sizeof(sun->sun_path) - 1);
		sun->sun_family = AF_UNIX;
		strcpy(sun->sun_path, env.unix_path);
		plan.addrlen = sizeof(*sun);
		plan.family = AF_UNIX;
		snprintf(plan.target, sizeof(plan.target), "unix %s", env.unix_path);
		return;
	}
	rc = getaddrinfo(env.host, env.port, &hints, &res);
	if (rc)
		usage_error("cannot resolve '%s': %s", env.host, gai_strerror(rc));
	memcpy(&plan.addr, res->ai_addr, res->ai_addrlen);
	plan.addrlen = res->ai_addrlen;
	plan.family = res->ai_family;
	freeaddrinfo(res);
	getnameinfo((struct sockaddr *)&plan.addr, plan.addrlen, host, sizeof(host),
		    NULL, 0, NI_NUMERICHOST);
	snprintf(plan.target, sizeof(plan.target), plan.family == AF_INET6 ? "tcp [%s]:%s" : "tcp %s:%s",
		 host, env.port);
}

static bool target_is_ipv4_loopback(void)
{
	const struct sockaddr_in *sin = (const struct sockaddr_in *)&plan.addr;

	return plan.family == AF_INET && (ntohl(sin->sin_addr.s_addr) >> 24) == 127;
}

static void plan_sources(void)
{
	if (env.sources < 0) {
		plan.nsources = 0;
		if (env.conns > CONNS_PER_SOURCE && target_is_ipv4_loopback())
			plan.nsources = (env.conns + CONNS_PER_SOURCE - 1) / CONNS_PER_SOURCE;
	} else if (env.sources > 0) {
		if (!target_is_ipv4_loopback())
			usage_error("--sources needs a TCP target in 127.0.0.0/8, not %s", plan.target);
		plan.nsources = (unsigned)env.sources;
	}
	plan.source_base = (127u << 24) | 1;
}

/* Every connection is a file descriptor: make sure they fit before starting. */
static void raise_fd_limit(void)
{
	uint64_t need = (uint64_t)env.conns + FD_RESERVE + 2ull * env.threads;
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0) {
		perror(PROG ": getrlimit");
		exit(1);
	}
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
			perror(PROG ": setrlimit");
	}
	if (rl.rlim_cur != RLIM_INFINITY && need > rl.rlim_cur) {
		fprintf(stderr,
			PROG ": %u connections need about %" PRIu64 " file descriptors, but RLIMIT_NOFILE\n"
			PROG ": allows %llu (raised the soft limit to the hard limit already).\n"
			PROG ": Use at most %llu connections, raise the hard limit (as root: ulimit -Hn,\n"
			PROG ": or limits.conf), or split the load over several loadgen processes.\n",
			env.conns, need, (unsigned long long)rl.rlim_cur,
			(unsigned long long)(rl.rlim_cur > need - env.conns ? rl.rlim_cur - (need - env.conns) : 0));
		exit(2);
	}
}

static void plan_requests(void)
{
	unsigned k, kinds = 0;
	int n;

	plan.timeout_ns = seconds_to_ns(env.timeout_s);
	plan.run_ns = env.duration_s ? seconds_to_ns(env.duration_s) : 0;
	plan.interval_ns = env.rate > 0 ? seconds_to_ns(1.0 / env.rate) : 0;
	if (env.rate > 0 && !plan.interval_ns)
		plan.interval_ns = 1;
	plan.quota = (uint32_t)env.requests;

	plan.single_kind = -1;
	for (k = 0; k < NR_KINDS; k++) {
		plan.weight_total += env.weights[k];
		if (env.weights[k]) {
			kinds++;
			plan.single_kind = (int)k;
		}
	}
	if (!plan.weight_total)
		usage_error("--mix gives every request kind weight 0");
	if (kinds > 1)
		plan.single_kind = -1;

	for (k = 0; k < sizeof(plan.echo_body); k++)
		plan.echo_body[k] = (char)('a' + k % 26);
	n = snprintf(plan.wait_req, sizeof(plan.wait_req), "WAIT %u\n", env.wait_ms);
	plan.wait_req_len = (size_t)n;
	n = snprintf(plan.stream_req, sizeof(plan.stream_req), "STREAM %" PRIu64 "\n", env.stream_bytes);
	plan.stream_req_len = (size_t)n;
	n = snprintf(plan.burn_req, sizeof(plan.burn_req), "BURN %" PRIu64 "\n", env.burn);
	plan.burn_req_len = (size_t)n;
	if (env.weights[K_BURN]) {
		n = snprintf(plan.burn_reply, sizeof(plan.burn_reply), "RESULT %" PRIu64 "\n",
			     proto_burn(env.burn));
		plan.burn_reply_len = (size_t)n;
	}
}

static void start_workers(void)
{
	double rate = env.connect_rate ? env.connect_rate :
		      env.ramp_s ? env.conns / env.ramp_s : 0;
	unsigned i;

	if (env.threads > env.conns)
		env.threads = env.conns;
	workers = calloc(env.threads, sizeof(*workers));
	if (!workers)
		exit(1);
	for (i = 0; i < env.threads; i++) {
		/* connection ids i, i + T, i + 2T, ...: an even share each */
		unsigned share = env.conns / env.threads + (i < env.conns % env.threads);
		struct worker *w = worker_new(i, share);

		if (!w) {
			perror(PROG ": setting up a worker");
			exit(1);
		}
		w->max_connecting = env.max_connecting / env.threads;
		if (!w->max_connecting)
			w->max_connecting = 1;
		if (rate > 0)
			w->connect_gap_ns = seconds_to_ns(env.threads / rate);
		workers[i] = w;
	}
	plan.t0 = now_ns();
	for (i = 0; i < env.threads; i++) {
		int rc = pthread_create(&workers[i]->thread, NULL, worker_main, workers[i]);

		if (rc) {
			fprintf(stderr, PROG ": pthread_create: %s\n", strerror(rc));
			exit(1);
		}
	}
}

/* ---- supervision --------------------------------------------------------- */

static void write_ready_file(unsigned ok)
{
	char tmp[PATH_MAX];
	FILE *f = NULL;
	int fd;

	/* write then rename, so a poller never sees a half-written file; the
	 * temporary name is mkstemp's (O_EXCL, 0600): nothing planted at a
	 * guessable name in a shared directory is followed or overwritten */
	snprintf(tmp, sizeof(tmp), "%s.XXXXXX", env.ready_file);
	fd = mkstemp(tmp);
	if (fd >= 0 && !(f = fdopen(fd, "w")))
		close(fd);
	if (!f || fprintf(f, "%u\n", ok) < 0 || fclose(f) != 0 || rename(tmp, env.ready_file) < 0) {
		fprintf(stderr, PROG ": cannot write --ready-file %s: %s\n", env.ready_file, strerror(errno));
		if (fd >= 0)
			unlink(tmp);
	}
}

static void announce_established(void)
{
	unsigned ok = atomic_load(&settled_ok), failed = atomic_load(&settled_failed);

	if (!env.quiet) {
		if (failed)
			fprintf(stderr, PROG ": %u connections established, %u failed\n", ok, failed);
		else
			fprintf(stderr, PROG ": %u connections established\n", ok);
	}
	if (env.ready_file)
		write_ready_file(ok);
}

static void set_phase(enum phase ph)
{
	unsigned i;

	atomic_store(&phase, ph);
	for (i = 0; i < env.threads; i++)
		worker_wake(workers[i]);
}

/*
 * The main thread only watches: it turns the workers' counters into the
 * progress lines, times the hold period and turns signals into a stop.
 * Returns true when a signal ended the run.
 */
static bool supervise(int sigfd)
{
	struct pollfd pfd = { .fd = sigfd, .events = POLLIN };
	bool announced = false, holding = false;
	uint64_t hold_end = 0;

	for (;;) {
		if (poll(&pfd, 1, SUPERVISE_MS) > 0) {
			struct signalfd_siginfo si;

			if (read(sigfd, &si, sizeof(si)) > 0) {
				if (!env.quiet)
					fprintf(stderr, PROG ": %s, stopping\n", strsignal((int)si.ssi_signo));
				set_phase(PHASE_STOP);
				return true;
			}
		}
		if (!announced && atomic_load(&settled_ok) + atomic_load(&settled_failed) == env.conns) {
			announce_established();
			announced = true;
		}
		if (!holding && atomic_load(&workers_finished) == env.threads) {
			holding = true;
			hold_end = now_ns() + seconds_to_ns(env.hold_s);
			if (env.hold_s > 0 && !env.quiet)
				fprintf(stderr, PROG ": holding %ld connections\n", atomic_load(&open_conns));
		}
		if (holding && now_ns() >= hold_end) {
			set_phase(PHASE_CLOSE);
			return false;
		}
	}
}

/* ---- main ---------------------------------------------------------------- */

int main(int argc, char **argv)
{
	struct totals totals;
	bool interrupted;
	sigset_t stop_signals;
	unsigned i;
	int sigfd;

	parse_args(argc, argv);
	resolve_target();
	plan_sources();
	plan_requests();
	raise_fd_limit();

	/* signals go to the main thread only: workers inherit the mask */
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&stop_signals);
	sigaddset(&stop_signals, SIGINT);
	sigaddset(&stop_signals, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &stop_signals, NULL);
	sigfd = signalfd(-1, &stop_signals, SFD_CLOEXEC);
	if (sigfd < 0) {
		perror(PROG ": signalfd");
		return 1;
	}

	start_workers();
	interrupted = supervise(sigfd);
	for (i = 0; i < env.threads; i++)
		pthread_join(workers[i]->thread, NULL);

	collect(&totals, interrupted);
	report(&totals);
	fflush(stdout);

	for (i = 0; i < env.threads; i++)
		worker_free(workers[i]);
	free(workers);
	close(sigfd);
	return totals.errors || totals.s.req_errors || totals.s.failed ? 1 : 0;
}
