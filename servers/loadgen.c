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
 */
#include <errno.h>
#include <fcntl.h>
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
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "histogram.h"
#include "loadgen.h"
#include "protocol.h"

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

#define FD_RESERVE		32	/* stdio, epoll and event fds, files */
#define RECV_CHUNK		(64u << 10)
#define EVENTS_PER_WAIT		256
#define RETRY_NS		(10 * NSEC_PER_MSEC)	/* reconnect back-off */
#define SUPERVISE_MS		10	/* main thread's polling period */
#define WAKE_TOKEN		UINT32_MAX	/* epoll data of a worker's eventfd */

struct plan plan;
struct worker **workers;

/* ---- shared run state ---------------------------------------------------- */

enum phase { PHASE_RUN, PHASE_CLOSE, PHASE_STOP };

static atomic_int phase = PHASE_RUN;
static atomic_uint settled_ok;		/* first connect of a slot succeeded */
static atomic_uint settled_failed;	/* ... or failed for good */
static atomic_uint workers_finished;
static atomic_long open_conns;
static atomic_flag err_reported[NR_ERRS];

/* ---- small helpers ------------------------------------------------------- */

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * NSEC_PER_SEC + (uint64_t)ts.tv_nsec;
}

static uint64_t seconds_to_ns(double s)
{
	return (uint64_t)llround(s * (double)NSEC_PER_SEC);
}

/* Print the first error of each kind with its cause; count the rest quietly. */
static void report_first_error(enum err_kind kind, const struct conn *c, const char *why)
{
	if (env.quiet || atomic_flag_test_and_set(&err_reported[kind]))
		return;
	fprintf(stderr, PROG ": %s error on connection %u: %s (further %s errors are counted, not shown)\n",
		err_names[kind], c->id, why, err_names[kind]);
}

static inline uint64_t *sent_slot(struct worker *w, const struct conn *c, uint32_t seq)
{
	return &w->sent_at[(size_t)(c - w->conns) * env.depth + seq % env.depth];
}

static inline uint32_t inflight(const struct conn *c)
{
	return c->seq - c->acked;
}

/* ---- connection life ----------------------------------------------------- */

static void conn_pump(struct worker *w, struct conn *c, uint64_t now);
static void conn_connect(struct worker *w, struct conn *c, uint64_t now);

static void worker_finished_one(struct worker *w, struct conn *c)
{
	if (c->flags & CF_FINISHED)
		return;
	c->flags |= CF_FINISHED;
	if (--w->unfinished == 0) {
		w->finish_ns = now_ns();
		atomic_fetch_add(&workers_finished, 1);
	}
}

static void conn_settle(struct conn *c, bool ok)
{
	if (c->flags & CF_SETTLED)
		return;
	c->flags |= CF_SETTLED;
	atomic_fetch_add(ok ? &settled_ok : &settled_failed, 1);
}

static void conn_close(struct worker *w, struct conn *c)
{
	if (c->state == CS_CONNECTING)
		w->connecting--;
	if (c->state == CS_ACTIVE || c->state == CS_HOLDING)
		atomic_fetch_sub(&open_conns, 1);
	if (c->fd >= 0)
		close(c->fd);	/* also leaves the epoll set: nobody dup()s it */
	c->fd = -1;
	free(c->wq);
	c->wq = NULL;
	timer_cancel(w, c);
	c->state = CS_CLOSED;
}

/* The request phase of c is over with every request answered or lost. */
static void conn_hold(struct worker *w, struct conn *c)
{
	c->state = CS_HOLDING;
	timer_cancel(w, c);
	worker_finished_one(w, c);
}

static void conn_fail(struct worker *w, struct conn *c, enum err_kind kind, const char *why)
{
	bool was_active = c->state == CS_ACTIVE;

	w->stats.errors[kind]++;
	w->stats.req_errors += inflight(c);
	c->acked = c->seq;
	c->rpos = 0;
	report_first_error(kind, c, why);
	conn_close(w, c);

	if (kind == E_CONNECT) {
		w->stats.failed++;
		conn_settle(c, false);
		worker_finished_one(w, c);
	} else if (env.reconnect && was_active && !w->draining && c->seq < plan.quota &&
		   atomic_load_explicit(&phase, memory_order_relaxed) == PHASE_RUN) {
		c->state = CS_RETRY;
		timer_want(w, c, now_ns() + RETRY_NS);
	} else {
		worker_finished_one(w, c);
	}
}

static void conn_fail_errno(struct worker *w, struct conn *c, enum err_kind kind, int err)
{
	conn_fail(w, c, kind, strerror(err));
}

static void conn_established(struct worker *w, struct conn *c, uint64_t now)
{
	w->stats.established++;
	atomic_fetch_add(&open_conns, 1);
	conn_settle(c, true);
	c->state = CS_ACTIVE;
	timer_cancel(w, c);
	/*
	 * Open loop: start at a random phase within one interval, so that a
	 * thousand connections opened in the same millisecond do not send
	 * in lockstep forever after.
	 */
	if (plan.interval_ns && !c->t_base)
		c->t_base = now + mix64(env.seed ^ ~(uint64_t)c->id) % plan.interval_ns;
	conn_pump(w, c, now);
}

static int source_bind(int fd, const struct conn *c)
{
	struct sockaddr_in src = { .sin_family = AF_INET };
	int one = 1;

	src.sin_addr.s_addr = htonl(plan.source_base + c->id % plan.nsources);
	if (setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one)) < 0)
		return -1;
	return bind(fd, (struct sockaddr *)&src, sizeof(src));
}

static void conn_connect(struct worker *w, struct conn *c, uint64_t now)
{
	struct epoll_event ev = {
		.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET,
		.data.u32 = (uint32_t)(c - w->conns),
	};
	int fd, one = 1;

	c->state = CS_CONNECTING;	/* conn_close() counts it out on failure */
	w->connecting++;
	w->stats.attempted++;
	fd = socket(plan.family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		conn_fail_errno(w, c, E_CONNECT, errno);
		return;
	}
	c->fd = fd;
	if (plan.family != AF_UNIX)
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (plan.nsources && source_bind(fd, c) < 0) {
		conn_fail_errno(w, c, E_CONNECT, errno);
		return;
	}
	if (connect(fd, (struct sockaddr *)&plan.addr, plan.addrlen) < 0 && errno != EINPROGRESS) {
		if (errno == EAGAIN && plan.family == AF_UNIX) {
			/* the listener's backlog is full: try again shortly */
			w->stats.attempted--;
			conn_close(w, c);
			c->state = CS_RETRY;
			timer_want(w, c, now + RETRY_NS);
			return;
		}
		conn_fail_errno(w, c, E_CONNECT, errno);
		return;
	}
	if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
		conn_fail_errno(w, c, E_CONNECT, errno);
		return;
	}
	/* completion, even an immediate one, comes as EPOLLOUT */
	timer_want(w, c, now + plan.timeout_ns);
}

/* Called on EPOLLOUT/ERR/HUP while connecting. */
static void conn_connected(struct worker *w, struct conn *c, uint64_t now)
{
	int err = 0;
	socklen_t len = sizeof(err);

	if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		err = errno;
	if (err) {
		conn_fail_errno(w, c, E_CONNECT, err);
		return;
	}
	w->connecting--;
	conn_established(w, c, now);
}

/* Returns false when the connection failed and is closed. */
static bool conn_send(struct worker *w, struct conn *c, const char *buf, size_t len)
{
	ssize_t n;

	do
		n = send(c->fd, buf, len, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	if (n < 0) {
		if (errno != EAGAIN) {
			conn_fail_errno(w, c, E_RESET, errno);	/* ECONNRESET, EPIPE */
			return false;
		}
		n = 0;
	}
	w->stats.bytes_sent += (uint64_t)n;
	if ((size_t)n == len)
		return true;

	/* the socket buffer is full: keep the rest until EPOLLOUT */
	c->wq = malloc(sizeof(*c->wq) + len - (size_t)n);
	if (!c->wq) {
		fprintf(stderr, PROG ": out of memory\n");
		exit(1);
	}
	c->wq->len = (uint32_t)(len - (size_t)n);
	c->wq->off = 0;
	memcpy(c->wq->data, buf + n, c->wq->len);
	return true;
}

static bool conn_flush(struct worker *w, struct conn *c)
{
	struct pending_write *wq = c->wq;
	ssize_t n;

	while (wq->off < wq->len) {
		n = send(c->fd, wq->data + wq->off, wq->len - wq->off, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				return true;
			conn_fail_errno(w, c, E_RESET, errno);	/* ECONNRESET, EPIPE */
			return false;
		}
		wq->off += (uint32_t)n;
		w->stats.bytes_sent += (uint64_t)n;
	}
	free(wq);
	c->wq = NULL;
	return true;
}

/*
 * Send every request that is due and fits in the pipeline, in one write.
 * In the open loop a request is due at t_base + seq * interval; in the
 * closed loop as soon as there is room.
 */
static void conn_pump(struct worker *w, struct conn *c, uint64_t now)
{
	size_t len = 0;
	uint64_t due;

	if (c->state != CS_ACTIVE || c->wq)
		return;
	while (inflight(c) < env.depth && c->seq < plan.quota && !w->draining) {
		due = now;
		if (plan.interval_ns) {
			due = c->t_base + (uint64_t)c->seq * plan.interval_ns;
			if (due > now) {
				timer_want(w, c, due);
				break;
			}
		}
		if (!inflight(c))
			c->head_since = now;
		*sent_slot(w, c, c->seq) = due;
		len += request_fill(c, c->seq, w->sbuf + len);
		c->seq++;
	}
	if (len && !conn_send(w, c, w->sbuf, len))
		return;
	if (inflight(c))
		timer_want(w, c, c->head_since + plan.timeout_ns);
	else if (c->seq >= plan.quota || w->draining)
		conn_hold(w, c);
}

/* Feed received bytes through the matchers. False: the connection failed. */
static bool conn_consume(struct worker *w, struct conn *c, const char *p, size_t n, uint64_t now)
{
	bool complete;
	long used;

	while (n) {
		if (!inflight(c)) {
			conn_fail(w, c, E_BAD_REPLY, "data with no request outstanding");
			return false;
		}
		used = match_reply(w, c, p, n, &complete);
		if (used < 0) {
			conn_fail(w, c, E_BAD_REPLY, "reply differs from what the request must produce");
			return false;
		}
		p += used;
		n -= (size_t)used;
		if (!complete)
			continue;
		hist_record(&w->hist, now - *sent_slot(w, c, c->acked));
		w->stats.req_ok++;
		c->acked++;
		c->rpos = 0;
		c->head_since = now;
	}
	return true;
}

static bool conn_read(struct worker *w, struct conn *c, uint32_t events)
{
	ssize_t n;

	for (;;) {
		n = recv(c->fd, w->rbuf, RECV_CHUNK, 0);
		if (n > 0) {
			w->stats.bytes_recv += (uint64_t)n;
			if (!conn_consume(w, c, w->rbuf, (size_t)n, now_ns()))
				return false;
			/*
			 * Edge-triggered: a short read drained the socket, and
			 * later data brings a new edge. Only when the peer also
			 * hung up must we read on to see the end.
			 */
			if ((size_t)n < RECV_CHUNK && !(events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)))
				return true;
			continue;
		}
		if (n == 0) {
			conn_fail(w, c, E_CLOSED, "server closed the connection");
			return false;
		}
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN)
			return true;
		conn_fail_errno(w, c, E_RESET, errno);	/* ECONNRESET, EPIPE */
		return false;
	}
}

static void conn_event(struct worker *w, struct conn *c, uint32_t events)
{
	uint64_t now = now_ns();

	if (c->state == CS_CONNECTING) {
		if (!(events & (EPOLLOUT | EPOLLERR | EPOLLHUP)))
			return;
		conn_connected(w, c, now);
		if (c->state != CS_ACTIVE && c->state != CS_HOLDING)
			return;
	}
	if (c->state != CS_ACTIVE && c->state != CS_HOLDING)
		return;		/* a stale event for a closed connection */
	if ((events & EPOLLOUT) && c->wq && !conn_flush(w, c))
		return;
	if ((events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) && !conn_read(w, c, events))
		return;
	conn_pump(w, c, now_ns());
}

static void conn_timer(struct worker *w, struct conn *c, uint64_t now)
{
	switch (c->state) {
	case CS_CONNECTING:
		conn_fail(w, c, E_CONNECT, "connect timed out");
		break;
	case CS_RETRY:
		if (w->draining || atomic_load(&phase) != PHASE_RUN) {
			c->state = CS_CLOSED;
			worker_finished_one(w, c);
		} else if (w->connecting >= w->max_connecting) {
			timer_want(w, c, now + NSEC_PER_MSEC);
		} else {
			conn_connect(w, c, now);
		}
		break;
	case CS_ACTIVE:
		if (inflight(c) && now >= c->head_since + plan.timeout_ns) {
			conn_fail(w, c, E_TIMEOUT, "no reply within --timeout");
			break;
		}
		conn_pump(w, c, now);
		break;
	default:
		break;
	}
}

/* ---- worker loop --------------------------------------------------------- */

static void worker_start_connects(struct worker *w, uint64_t now)
{
	while (w->next_start < w->nconns && w->connecting < w->max_connecting &&
	       now >= w->next_connect_at) {
		conn_connect(w, &w->conns[w->next_start++], now);
		w->next_connect_at += w->connect_gap_ns;
	}
}

static void worker_run_timers(struct worker *w, uint64_t now)
{
	struct conn *c;

	while (w->heap_len && (c = &w->conns[w->heap[0]])->deadline <= now) {
		timer_cancel(w, c);
		conn_timer(w, c, now);
	}
}

/* -d is over: stop sending. Once per run, so the O(N) walk is fine. */
static void worker_drain(struct worker *w, uint64_t now)
{
	unsigned i;

	w->draining = true;
	for (i = 0; i < w->nconns; i++) {
		struct conn *c = &w->conns[i];

		if (c->state == CS_IDLE || c->state == CS_RETRY) {
			timer_cancel(w, c);
			c->state = CS_CLOSED;
			worker_finished_one(w, c);
		} else if (c->state == CS_ACTIVE) {
			conn_pump(w, c, now);	/* holds it if nothing is in flight */
		}
	}
	w->next_start = w->nconns;
}

/* Nanoseconds until the worker has something to do; -1: only I/O will. */
static int64_t worker_wait_ns(struct worker *w, uint64_t now)
{
	uint64_t next = UINT64_MAX;

	if (w->heap_len)
		next = w->conns[w->heap[0]].deadline;
	if (w->next_start < w->nconns && w->connecting < w->max_connecting &&
	    w->next_connect_at < next)
		next = w->next_connect_at;
	if (plan.run_ns && !w->draining && plan.t0 + plan.run_ns < next)
		next = plan.t0 + plan.run_ns;
	if (next == UINT64_MAX)
		return -1;
	if (next <= now)
		return 0;
	return next - now > INT64_MAX ? INT64_MAX : (int64_t)(next - now);
}

/*
 * Open-loop latency counts from when a request was due, so our own
 * lateness in waking up would show as server latency: wait with a
 * nanosecond timeout where the kernel has one (5.11+), not epoll_wait's
 * milliseconds.
 */
static int worker_poll(struct worker *w, struct epoll_event *events, int64_t wait_ns)
{
	static atomic_bool no_pwait2;
	struct timespec ts;
	int n;

	if (!atomic_load_explicit(&no_pwait2, memory_order_relaxed)) {
		ts.tv_sec = wait_ns / (int64_t)NSEC_PER_SEC;
		ts.tv_nsec = wait_ns % (int64_t)NSEC_PER_SEC;
		n = epoll_pwait2(w->epfd, events, EVENTS_PER_WAIT, wait_ns < 0 ? NULL : &ts, NULL);
		if (n >= 0 || errno != ENOSYS)
			return n;
		atomic_store(&no_pwait2, true);
	}
	if (wait_ns > 0)
		wait_ns = (wait_ns + (int64_t)NSEC_PER_MSEC - 1) / (int64_t)NSEC_PER_MSEC;
	return epoll_wait(w->epfd, events, EVENTS_PER_WAIT,
			  wait_ns > INT_MAX ? INT_MAX : (int)wait_ns);
}

static void worker_close_all(struct worker *w, bool send_quit)
{
	unsigned i;

	for (i = 0; i < w->nconns; i++) {
		struct conn *c = &w->conns[i];

		if (c->fd < 0)
			continue;
		if (send_quit && (c->state == CS_ACTIVE || c->state == CS_HOLDING) && !c->wq) {
			ssize_t n = send(c->fd, "QUIT\n", 5, MSG_NOSIGNAL | MSG_DONTWAIT);

			if (n > 0)
				w->stats.bytes_sent += (uint64_t)n;
		}
		conn_close(w, c);
	}
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct epoll_event events[EVENTS_PER_WAIT];
	uint64_t now, token;
	int i, n, ph;

	/* timers are what open-loop sends run on: do not let them slip */
	prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL);
	w->next_connect_at = plan.t0;
	if (!w->unfinished) {
		w->finish_ns = plan.t0;
		atomic_fetch_add(&workers_finished, 1);
	}
	while ((ph = atomic_load(&phase)) == PHASE_RUN) {
		now = now_ns();
		if (plan.run_ns && !w->draining && now >= plan.t0 + plan.run_ns)
			worker_drain(w, now);
		worker_start_connects(w, now);
		worker_run_timers(w, now);

		n = worker_poll(w, events, worker_wait_ns(w, now_ns()));
		if (n < 0 && errno != EINTR) {
			perror(PROG ": epoll_wait");
			exit(1);
		}
		for (i = 0; i < n; i++) {
			if (events[i].data.u32 == WAKE_TOKEN) {
				if (read(w->wakefd, &token, sizeof(token)) < 0 && errno != EAGAIN)
					perror(PROG ": eventfd");
				continue;
			}
			conn_event(w, &w->conns[events[i].data.u32], events[i].events);
		}
	}
	if (!w->finish_ns)
		w->finish_ns = now_ns();	/* interrupted */
	worker_close_all(w, ph == PHASE_CLOSE && env.quit);
	return NULL;
}

static struct worker *worker_new(unsigned id, unsigned nconns)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.u32 = WAKE_TOKEN };
	struct worker *w = calloc(1, sizeof(*w));
	unsigned i;

	if (!w)
		return NULL;
	w->id = id;
	w->nconns = w->unfinished = nconns;
	w->conns = calloc(nconns ? nconns : 1, sizeof(*w->conns));
	w->sent_at = calloc((size_t)(nconns ? nconns : 1) * env.depth, sizeof(*w->sent_at));
	w->heap = calloc(nconns ? nconns : 1, sizeof(*w->heap));
	w->rbuf = malloc(RECV_CHUNK);
	w->sbuf = malloc((size_t)env.depth * MAX_REQUEST);
	w->ebuf = malloc(MAX_REQUEST);
	w->epfd = epoll_create1(EPOLL_CLOEXEC);
	w->wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (!w->conns || !w->sent_at || !w->heap || !w->rbuf || !w->sbuf || !w->ebuf ||
	    w->epfd < 0 || w->wakefd < 0 ||
	    epoll_ctl(w->epfd, EPOLL_CTL_ADD, w->wakefd, &ev) < 0)
		return NULL;
	for (i = 0; i < nconns; i++) {
		w->conns[i].fd = -1;
		w->conns[i].id = id + i * env.threads;
		w->conns[i].heap_pos = HEAP_NONE;
	}
	hist_init(&w->hist);
	return w;
}

static void worker_wake(struct worker *w)
{
	uint64_t one = 1;

	if (write(w->wakefd, &one, sizeof(one)) < 0)
		perror(PROG ": eventfd");
}

/* ---- set-up -------------------------------------------------------------- */

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

	for (i = 0; i < env.threads; i++) {
		struct worker *w = workers[i];

		close(w->epfd);
		close(w->wakefd);
		free(w->conns);
		free(w->sent_at);
		free(w->heap);
		free(w->rbuf);
		free(w->sbuf);
		free(w->ebuf);
		free(w);
	}
	free(workers);
	close(sigfd);
	return totals.errors || totals.s.req_errors || totals.s.failed ? 1 : 0;
}
