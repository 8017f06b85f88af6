// SPDX-License-Identifier: MIT
/*
 * epoll_echo: the line protocol on a single-threaded, non-blocking epoll
 * loop (or -w N such loops, one per worker thread).
 *
 * Memory per connection is the point of this model, so state is paid for
 * only while it is in use:
 *
 *  - An idle connection owns no memory. Its only trace in user space is one
 *    slot of the worker's fd-indexed table, pointing at the shared conn_idle.
 *  - Every read lands in one loop-wide scratch buffer and every reply is built
 *    in another. A connection gets a struct conn only while something is in
 *    flight: a partial line, output the socket did not take, a WAIT or a
 *    STREAM. It gives it back the moment that is over.
 *  - WAIT timers live in one min-heap per loop that sets the epoll_wait
 *    timeout: no timerfd (and no kernel file) per waiting connection.
 *
 * Level-triggered on purpose. Each wake-up does one read(), so a client that
 * pipelines faster than we answer cannot starve the others, and no trailing
 * read() is wasted on hitting EAGAIN as edge-triggered mode requires. A
 * connection that must stop reading (output backed up, WAIT, STREAM) simply
 * switches its interest set (EPOLL_CTL_MOD), which is rare next to requests:
 * a PING costs epoll_wait + read + write, nothing else.
 *
 * Requests on one connection run strictly in order: while it is parked, its
 * unread requests stay in the socket (the client feels backpressure) and the
 * ones already read stay in c->in until it resumes.
 */
#include "protocol.h"
#include "server.h"

#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define SCRATCH_SIZE	  (16u << 10)	/* > PROTO_MAX_LINE: a partial line plus a read */
#define STREAM_CHUNK	  (64u << 10)	/* what proto_stream_chunk has contiguous */
#define STREAM_TURN	  (1u << 20)	/* then let the other connections have the loop */
#define EVENT_BATCH	  256
#define ACCEPT_BATCH	  64
#define ACCEPT_BACKOFF_MS 100		/* out of fds: let some close */

/* What a connection holds while something is in flight; see conn_settle(). */
struct conn {
	char *in;		/* read but not yet served: a partial line, or all
				 * that arrived behind a request that parked us */
	char *out;		/* reply bytes the socket did not take */
	uint32_t in_len;
	uint32_t out_len;
	uint32_t out_sent;
	uint32_t events;	/* interest set registered with epoll */
	uint64_t stream_sent;	/* STREAM running while stream_sent < stream_len */
	uint64_t stream_len;
	uint64_t wait_until;	/* WAIT running while nonzero; CLOCK_MONOTONIC ns */
	uint32_t timer_slot;	/* index in the worker's timer heap */
	int fd;
	bool quitting;		/* close once out is sent */
};

/*
 * Every idle connection's table slot points here. All zero, never written:
 * code may read a connection's state without asking whether it has any, and
 * calls conn_own() before changing it.
 */
static struct conn conn_idle;

struct worker {
	int epfd;
	int listen_fd;
	bool listen_owner;	/* false: a Unix socket shared with worker 0 */
	bool listen_exclusive;	/* shared fd: wake one worker per connection */
	bool tcp;
	int stop_fd;		/* eventfd, readable once the server stops */
	bool stopping;
	uint64_t accept_resume;	/* nonzero: accept paused (EMFILE) until then */
	struct conn **conns;	/* by fd: NULL, &conn_idle, or a busy conn */
	size_t nconns;
	struct conn **timers;	/* min-heap on wait_until; keeps its high-water
				 * mark, 8 bytes per concurrent WAIT */
	uint32_t ntimers;
	uint32_t timers_cap;
	size_t out_len;		/* replies built for the connection at hand */
	pthread_t thread;
	char in[SCRATCH_SIZE];
	char out[SCRATCH_SIZE];
};

/* What serving one request did to the connection. */
enum step {
	STEP_NEXT,	/* served: go on with the next one */
	STEP_DEFER,	/* not started: earlier output is still queued */
	STEP_PARK,	/* started, and the connection waits on it: WAIT, STREAM,
			 * or a last reply to send before closing */
	STEP_CLOSE,	/* QUIT, or the peer is gone */
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ---- WAIT timers: a binary min-heap --------------------------------------- */

static void timer_place(struct worker *w, uint32_t i, struct conn *c)
{
	w->timers[i] = c;
	c->timer_slot = i;
}

static void timer_sift_up(struct worker *w, uint32_t i, struct conn *c)
{
	while (i > 0) {
		uint32_t parent = (i - 1) / 2;

		if (w->timers[parent]->wait_until <= c->wait_until)
			break;
		timer_place(w, i, w->timers[parent]);
		i = parent;
	}
	timer_place(w, i, c);
}

static void timer_sift_down(struct worker *w, uint32_t i, struct conn *c)
{
	for (;;) {
		uint32_t child = 2 * i + 1;

		if (child >= w->ntimers)
			break;
		if (child + 1 < w->ntimers &&
		    w->timers[child + 1]->wait_until < w->timers[child]->wait_until)
			child++;
		if (c->wait_until <= w->timers[child]->wait_until)
			break;
		timer_place(w, i, w->timers[child]);
		i = child;
	}
	timer_place(w, i, c);
}

static bool timer_add(struct worker *w, struct conn *c)
{
	if (w->ntimers == w->timers_cap) {
		uint32_t cap = w->timers_cap ? 2 * w->timers_cap : 64;
		struct conn **timers = realloc(w->timers, cap * sizeof(*timers));

		if (!timers)
			return false;
		w->timers = timers;
		w->timers_cap = cap;
	}
	timer_sift_up(w, w->ntimers++, c);
	return true;
}

static void timer_del(struct worker *w, struct conn *c)
{
	uint32_t i = c->timer_slot;
	struct conn *last = w->timers[--w->ntimers];

	if (last == c)
		return;
	/* the last entry fills the hole; it may belong above or below it */
	if (i > 0 && last->wait_until < w->timers[(i - 1) / 2]->wait_until)
		timer_sift_up(w, i, last);
	else
		timer_sift_down(w, i, last);
}

/* ---- connection state ------------------------------------------------------ */

static struct conn *conn_of(struct worker *w, int fd)
{
	return (size_t)fd < w->nconns ? w->conns[fd] : NULL;
}

/* Give the connection state of its own, to change it. NULL: out of memory. */
static struct conn *conn_own(struct worker *w, int fd)
{
	struct conn *c = w->conns[fd];

	if (c != &conn_idle)
		return c;
	c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->fd = fd;
	c->events = EPOLLIN;
	w->conns[fd] = c;
	return c;
}

static void conn_close(struct worker *w, int fd)
{
	struct conn *c = w->conns[fd];

	if (c != &conn_idle) {
		if (c->wait_until)
			timer_del(w, c);
		free(c->in);
		free(c->out);
		free(c);
	}
	w->conns[fd] = NULL;
	w->out_len = 0;		/* replies for a closed connection go nowhere */
	close(fd);		/* also drops it from the epoll set */
}

/* Stash what was read but not served, to be served when the connection resumes. */
static bool conn_keep_input(struct worker *w, int fd, const char *buf, size_t len)
{
	struct conn *c;

	if (!len)
		return true;
	c = conn_own(w, fd);
	if (!c || !(c->in = malloc(len)))
		return false;
	memcpy(c->in, buf, len);
	c->in_len = (uint32_t)len;
	return true;
}

/* Take the stashed input back into the scratch buffer; returns its length. */
static size_t conn_take_input(struct worker *w, struct conn *c)
{
	size_t len = c->in_len;

	if (!len)
		return 0;
	memcpy(w->in, c->in, len);
	free(c->in);
	c->in = NULL;
	c->in_len = 0;
	return len;
}

/*
 * Ask epoll for what the connection waits on now, and drop its state when
 * nothing is in flight any more. Parked connections do not read: that is
 * what keeps their requests in order and their input bounded.
 */
static bool conn_settle(struct worker *w, int fd)
{
	struct conn *c = w->conns[fd];
	struct epoll_event ev = { .data.fd = fd };

	if (c == &conn_idle)
		return true;
	if (c->out || c->stream_len)
		ev.events = EPOLLOUT;
	else if (c->wait_until)
		ev.events = 0;		/* only the timer, or EPOLLERR/EPOLLHUP */
	else
		ev.events = EPOLLIN;
	if (ev.events != c->events) {
		if (epoll_ctl(w->epfd, EPOLL_CTL_MOD, fd, &ev) < 0)
			return false;
		c->events = ev.events;
	}
	if (ev.events == EPOLLIN && !c->in && !c->quitting) {
		free(c);
		w->conns[fd] = &conn_idle;
	}
	return true;
}

/* ---- output ---------------------------------------------------------------- */

/* One write; the bytes it took, or -1 when the peer is gone. */
static ssize_t write_some(int fd, const char *p, size_t len)
{
	for (;;) {
		ssize_t n = write(fd, p, len);

		if (n >= 0)
			return n;
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return 0;
		if (errno != EINTR)
			return -1;	/* EPIPE, ECONNRESET */
	}
}

/*
 * Send the replies built so far. What the socket does not take becomes the
 * connection's own buffer (the only time one is allocated for output).
 */
static enum step conn_flush(struct worker *w, int fd)
{
	size_t len = w->out_len;
	struct conn *c;
	ssize_t n;

	if (!len)
		return STEP_NEXT;
	w->out_len = 0;
	n = write_some(fd, w->out, len);
	if (n < 0)
		return STEP_CLOSE;
	if ((size_t)n == len)
		return STEP_NEXT;
	c = conn_own(w, fd);
	if (!c || !(c->out = malloc(len - (size_t)n)))
		return STEP_CLOSE;
	memcpy(c->out, w->out + n, len - (size_t)n);
	c->out_len = (uint32_t)(len - (size_t)n);
	c->out_sent = 0;
	return STEP_DEFER;
}

/* Write STREAM payload until done (NEXT), the socket is full or our turn is up (PARK). */
static enum step stream_send(int fd, uint64_t *sent, uint64_t len)
{
	uint64_t turn_end = *sent + STREAM_TURN;

	while (*sent < len) {
		size_t chunk = len - *sent < STREAM_CHUNK ? (size_t)(len - *sent) : STREAM_CHUNK;
		const char *p;
		ssize_t n;

		if (*sent >= turn_end)
			return STEP_PARK;	/* LT: EPOLLOUT brings us back next round */
		p = proto_stream_chunk(*sent, &chunk);
		n = write_some(fd, p, chunk);
		if (n < 0)
			return STEP_CLOSE;
		if (n == 0)
			return STEP_PARK;
		*sent += (uint64_t)n;
	}
	return STEP_NEXT;
}

/* ---- serving requests ------------------------------------------------------ */

static void reply_append(struct worker *w, const struct proto_req *req)
{
	w->out_len += proto_reply(req, w->out + w->out_len);
}

static enum step conn_request(struct worker *w, int fd, const struct proto_req *req)
{
	struct conn *c;
	uint64_t sent = 0;
	enum step step;

	switch (req->cmd) {
	case PROTO_WAIT:
	case PROTO_STREAM:
	case PROTO_QUIT:
	case PROTO_TOOLONG:
		/* these act on the clock or the socket: everything before goes out first */
		step = conn_flush(w, fd);
		if (step != STEP_NEXT)
			return step;
		break;
	default:
		if (w->out_len + PROTO_MAX_REPLY > sizeof(w->out)) {
			step = conn_flush(w, fd);
			if (step != STEP_NEXT)
				return step;
		}
		reply_append(w, req);
		return STEP_NEXT;
	}

	switch (req->cmd) {
	case PROTO_WAIT:
		c = conn_own(w, fd);
		if (!c)
			return STEP_CLOSE;
		c->wait_until = now_ns() + req->arg * 1000000u;
		if (timer_add(w, c))
			return STEP_PARK;
		c->wait_until = 0;	/* not in the heap: conn_close must not look */
		return STEP_CLOSE;
	case PROTO_STREAM:
		/* a short STREAM to a reader keeping up costs no state at all */
		step = stream_send(fd, &sent, req->arg);
		if (step == STEP_NEXT)
			reply_append(w, req);	/* the DONE trailer */
		if (step != STEP_PARK)
			return step;
		c = conn_own(w, fd);
		if (!c)
			return STEP_CLOSE;
		c->stream_sent = sent;
		c->stream_len = req->arg;
		return STEP_PARK;
	case PROTO_TOOLONG:
		reply_append(w, req);
		if (conn_flush(w, fd) != STEP_DEFER)
			return STEP_CLOSE;
		w->conns[fd]->quitting = true;	/* conn_flush gave it state */
		return STEP_PARK;
	default:		/* PROTO_QUIT */
		return STEP_CLOSE;
	}
}

/*
 * Serve the requests in buf[0, len) in order, until the input runs out or the
 * connection has to park. Whatever is left is stashed on the connection.
 */
static void conn_serve(struct worker *w, int fd, const char *buf, size_t len)
{
	enum step step = STEP_NEXT;
	struct proto_req req;
	size_t off = 0, used;

	while (step == STEP_NEXT && (used = proto_parse(buf + off, len - off, &req))) {
		step = conn_request(w, fd, &req);
		if (step != STEP_DEFER)
			off += used;
	}
	if (step == STEP_NEXT)
		step = conn_flush(w, fd);
	if (step == STEP_CLOSE || !conn_keep_input(w, fd, buf + off, len - off) ||
	    !conn_settle(w, fd))
		conn_close(w, fd);
}

/* A connection that was parked can go on: serve what it had stashed. */
static void conn_resume(struct worker *w, int fd)
{
	conn_serve(w, fd, w->in, conn_take_input(w, w->conns[fd]));
}

/* ---- events ---------------------------------------------------------------- */

static void on_readable(struct worker *w, int fd)
{
	size_t len = conn_take_input(w, w->conns[fd]);	/* a partial line */
	ssize_t n = read(fd, w->in + len, sizeof(w->in) - len);

	if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
		conn_close(w, fd);	/* EOF or reset: nothing to say */
		return;
	}
	conn_serve(w, fd, w->in, len + (n > 0 ? (size_t)n : 0));
}

static void on_writable(struct worker *w, int fd)
{
	struct conn *c = w->conns[fd];
	enum step step;
	ssize_t n;

	if (c->out) {
		n = write_some(fd, c->out + c->out_sent, c->out_len - c->out_sent);
		if (n < 0)
			goto close;
		c->out_sent += (uint32_t)n;
		if (c->out_sent < c->out_len)
			return;
		free(c->out);
		c->out = NULL;
		c->out_len = c->out_sent = 0;
		if (c->quitting)
			goto close;
	}
	if (c->stream_len) {
		step = stream_send(fd, &c->stream_sent, c->stream_len);
		if (step == STEP_CLOSE)
			goto close;
		if (step == STEP_PARK)
			return;
		c->stream_len = c->stream_sent = 0;
		memcpy(w->out + w->out_len, PROTO_DONE, PROTO_DONE_LEN);
		w->out_len += PROTO_DONE_LEN;
	}
	conn_resume(w, fd);
	return;
close:
	conn_close(w, fd);
}

static void on_timers(struct worker *w)
{
	uint64_t now = now_ns();

	while (w->ntimers && w->timers[0]->wait_until <= now) {
		struct conn *c = w->timers[0];

		timer_del(w, c);
		c->wait_until = 0;
		memcpy(w->out + w->out_len, PROTO_DONE, PROTO_DONE_LEN);
		w->out_len += PROTO_DONE_LEN;
		conn_resume(w, c->fd);
	}
}

static void conn_open(struct worker *w, int fd)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.fd = fd };
	int one = 1;

	if ((size_t)fd >= w->nconns || epoll_ctl(w->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
		close(fd);
		return;
	}
	if (w->tcp)
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	w->conns[fd] = &conn_idle;	/* and that is all an idle connection costs */
}

static int listen_watch(struct worker *w)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.fd = w->listen_fd };

	if (w->listen_exclusive)
		ev.events |= EPOLLEXCLUSIVE;
	return epoll_ctl(w->epfd, EPOLL_CTL_ADD, w->listen_fd, &ev);
}

static void on_accept(struct worker *w)
{
	for (int i = 0; i < ACCEPT_BATCH; i++) {
		int fd = accept4(w->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd >= 0) {
			conn_open(w, fd);
			continue;
		}
		if (errno == ECONNABORTED || errno == EINTR)
			continue;
		if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
			/* level-triggered: the backlog would wake us at once, forever */
			epoll_ctl(w->epfd, EPOLL_CTL_DEL, w->listen_fd, NULL);
			w->accept_resume = now_ns() + ACCEPT_BACKOFF_MS * 1000000ull;
		}
		return;		/* EAGAIN: drained, or another worker took it */
	}
}

/* ---- the loop -------------------------------------------------------------- */

/* Milliseconds until the next timer is due (rounded up), or -1 for none. */
static int loop_timeout(const struct worker *w)
{
	uint64_t next = UINT64_MAX, now;

	if (w->ntimers)
		next = w->timers[0]->wait_until;
	if (w->accept_resume && w->accept_resume < next)
		next = w->accept_resume;
	if (next == UINT64_MAX)
		return -1;
	now = now_ns();
	if (next <= now)
		return 0;
	next = (next - now + 999999) / 1000000;
	return next > INT_MAX ? INT_MAX : (int)next;
}

static void on_event(struct worker *w, const struct epoll_event *ev)
{
	int fd = ev->data.fd;

	if (fd == w->listen_fd) {
		on_accept(w);
	} else if (fd == w->stop_fd) {
		w->stopping = true;
	} else if (!conn_of(w, fd)) {
		return;
	} else if (ev->events & (EPOLLERR | EPOLLHUP)) {
		conn_close(w, fd);	/* reset, or gone both ways: no one to answer */
	} else if (ev->events & EPOLLOUT) {
		on_writable(w, fd);
	} else if (ev->events & EPOLLIN) {
		on_readable(w, fd);
	}
}

/* sigmask: what to let in while waiting (worker 0), NULL for the others. */
static void worker_run(struct worker *w, const sigset_t *sigmask)
{
	struct epoll_event events[EVENT_BATCH];

	while (!w->stopping) {
		int n = epoll_pwait(w->epfd, events, EVENT_BATCH, loop_timeout(w), sigmask);

		if (sigmask && server_stopping)
			break;
		for (int i = 0; i < n; i++)
			on_event(w, &events[i]);
		if (w->accept_resume && now_ns() >= w->accept_resume) {
			w->accept_resume = 0;
			listen_watch(w);
		}
		on_timers(w);
	}
}

static void *worker_thread(void *arg)
{
	worker_run(arg, NULL);
	return NULL;
}

/* ---- setup ----------------------------------------------------------------- */

static void fail(const char *what)
{
	perror(what);
	exit(1);
}

/* An idle connection is an fd: let the process have every one it may. */
static size_t raise_fd_limit(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		fail("getrlimit");
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
		getrlimit(RLIMIT_NOFILE, &rl);
	}
	return rl.rlim_cur > (1u << 24) ? (1u << 24) : (size_t)rl.rlim_cur;
}

static uint16_t bound_port(int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
		fail("getsockname");
	if (ss.ss_family == AF_INET6)
		return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	return ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

/*
 * TCP: each worker its own SO_REUSEPORT socket, so the kernel spreads
 * connections and no two loops contend on one accept queue. Unix sockets
 * have no reuseport: the workers share one fd, EPOLLEXCLUSIVE so a new
 * connection wakes one of them instead of all.
 */
static void worker_listen(struct worker *w, int i, int nworkers, struct server_config *cfg,
			  int shared_fd)
{
	if (cfg->unix_path) {
		w->listen_fd = i ? shared_fd : server_listen(cfg, SERVER_LISTEN_NONBLOCK);
		w->listen_owner = i == 0;
		w->listen_exclusive = nworkers > 1;
		return;
	}
	w->listen_fd = server_listen(cfg, SERVER_LISTEN_NONBLOCK |
					  (nworkers > 1 ? SERVER_LISTEN_REUSEPORT : 0));
	w->listen_owner = true;
	w->tcp = true;
	cfg->port = bound_port(w->listen_fd);	/* -p 0: the others join this port */
}

static struct worker *worker_new(int i, int nworkers, struct server_config *cfg, int shared_fd,
				 int stop_fd, size_t max_fds)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.fd = stop_fd };
	struct worker *w = calloc(1, sizeof(*w));

	if (!w)
		fail("calloc");
	/* calloc of this size maps fresh zero pages: a slot costs RSS only
	 * once a connection with that fd number has lived on this worker */
	w->conns = calloc(max_fds, sizeof(*w->conns));
	w->nconns = max_fds;
	w->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (!w->conns || w->epfd < 0)
		fail("epoll worker");
	worker_listen(w, i, nworkers, cfg, shared_fd);
	w->stop_fd = stop_fd;
	if (listen_watch(w) < 0 || epoll_ctl(w->epfd, EPOLL_CTL_ADD, stop_fd, &ev) < 0)
		fail("epoll_ctl");
	return w;
}

static void worker_free(struct worker *w)
{
	for (size_t fd = 0; fd < w->nconns; fd++)
		if (w->conns[fd])
			conn_close(w, (int)fd);
	if (w->listen_owner)
		close(w->listen_fd);
	close(w->epfd);
	free(w->timers);
	free(w->conns);
	free(w);
}

int main(int argc, char **argv)
{
	struct server_config cfg;
	struct worker **workers;
	sigset_t stop_signals, wait_mask;
	size_t max_fds;
	int stop_fd;

	server_parse_args(argc, argv, &cfg, SERVER_OPT_WORKERS,
			  "  -w, --workers N       N event loops on N threads (default 1)\n");
	max_fds = raise_fd_limit();
	server_install_signals();
	/* blocked everywhere; worker 0 lets them in only inside epoll_pwait */
	sigemptyset(&stop_signals);
	sigaddset(&stop_signals, SIGINT);
	sigaddset(&stop_signals, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &stop_signals, &wait_mask);
	sigdelset(&wait_mask, SIGINT);
	sigdelset(&wait_mask, SIGTERM);

	stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	workers = calloc((size_t)cfg.workers, sizeof(*workers));
	if (stop_fd < 0 || !workers)
		fail("setup");
	for (int i = 0; i < cfg.workers; i++)
		workers[i] = worker_new(i, cfg.workers, &cfg, i ? workers[0]->listen_fd : -1,
					stop_fd, max_fds);
	server_announce(&cfg, workers[0]->listen_fd);
	for (int i = 1; i < cfg.workers; i++)
		if (pthread_create(&workers[i]->thread, NULL, worker_thread, workers[i]))
			fail("pthread_create");

	worker_run(workers[0], &wait_mask);

	/* level-triggered and never read: every worker sees it and stops */
	if (eventfd_write(stop_fd, 1) < 0)
		fail("eventfd_write");
	for (int i = 1; i < cfg.workers; i++)
		pthread_join(workers[i]->thread, NULL);
	for (int i = cfg.workers - 1; i >= 0; i--)
		worker_free(workers[i]);	/* worker 0 last: it owns a shared Unix fd */
	free(workers);
	close(stop_fd);
	server_cleanup(&cfg);
	return 0;
}
