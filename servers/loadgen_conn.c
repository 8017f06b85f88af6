// SPDX-License-Identifier: MIT
/*
 * A connection's life: connect (from its own 127.0.0.X when sources are
 * in use), send what is due, feed what comes back through the matchers,
 * and on an error count it, close, and maybe reconnect. The worker loop
 * calls in on an epoll event or a timer; nothing here blocks.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include "common/histogram.h"
#include "loadgen.h"

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

#define RETRY_NS		(10 * NSEC_PER_MSEC)	/* reconnect back-off */

static atomic_flag err_reported[NR_ERRS];

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

static void conn_settle(struct conn *c, bool ok)
{
	if (c->flags & CF_SETTLED)
		return;
	c->flags |= CF_SETTLED;
	atomic_fetch_add(ok ? &settled_ok : &settled_failed, 1);
}

void conn_close(struct worker *w, struct conn *c)
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

void conn_connect(struct worker *w, struct conn *c, uint64_t now)
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
void conn_pump(struct worker *w, struct conn *c, uint64_t now)
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

void conn_event(struct worker *w, struct conn *c, uint32_t events)
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

void conn_timer(struct worker *w, struct conn *c, uint64_t now)
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
