// SPDX-License-Identifier: MIT
/*
 * coro_echo: a stackful coroutine per connection, scheduled over epoll on
 * one thread.
 *
 * Connection code reads like blocking code: conn_read_more() and
 * conn_write() yield to the scheduler on EAGAIN, conn_sleep() yields until a
 * timer fires. The scheduler resumes a coroutine when epoll reports the
 * readiness it waits for, when its deadline passes, or (after it let others
 * run) on the next loop iteration.
 *
 * What an idle connection costs is the point of this model, so:
 *  - struct conn is a local of conn_main(): it lives on the coroutine's own
 *    stack, and the frames of an idle coroutine are small enough that it has
 *    touched a single page of stack and nothing else;
 *  - input is read into one scratch buffer and replies are built in one
 *    output buffer, both shared by all connections. A coroutine that must
 *    yield while it still holds unparsed input or unsent output first copies
 *    those bytes to a heap buffer of its own, which it frees once drained;
 *  - each socket is registered once, edge-triggered for both directions, so
 *    waiting costs no epoll_ctl. That is safe because a coroutine only waits
 *    once the socket is known to be drained (EAGAIN, or a short read with no
 *    edge since); an edge that arrives while it waits for something else is
 *    dropped, and its next read or write finds what the edge announced.
 */
#include <assert.h>
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "coro.h"
#include "protocol.h"
#include "server.h"

#define SCRATCH_SIZE	(64u << 10)
#define MAX_EVENTS	256
#define ACCEPT_BATCH	64
#define READ_BURST	16	/* reads in a row before letting others run */
#define STREAM_BURST	16	/* payload chunks (64 KiB) in a row, likewise */
#define NO_TIMER	SIZE_MAX

struct conn {
	int fd;
	uint32_t waiting;	/* EPOLLIN or EPOLLOUT it is parked on, else 0 */
	bool cancelled;		/* the server is stopping: unwind and close */
	bool rx_empty;		/* a short read emptied the queue, no edge since */
	bool rx_closing;	/* epoll saw the peer's FIN, a reset or an error */
	uint8_t burst;		/* reads or chunks since it last had to wait */
	struct coro *co;
	struct conn *prev, *next;	/* every live connection, for shutdown */
	struct conn *ready_next;	/* in the run queue after conn_pause() */
	uint64_t wake_ns;	/* CLOCK_MONOTONIC deadline during WAIT */
	size_t timer_slot;	/* index in the timer heap, or NO_TIMER */
	const char *in;		/* unparsed input: in sched.in or in in_owned */
	size_t in_len;
	char *in_owned;		/* heap copy made to survive a yield, or NULL */
};

static struct scheduler {
	int epfd;
	int listen_fd;
	bool accept_paused;	/* out of fds: listening socket disarmed */
	struct conn *conns;
	struct conn *ready, **ready_tail;
	struct conn **timers;	/* binary min-heap on wake_ns */
	size_t ntimers, timers_cap;
	size_t out_len;		/* the running coroutine's replies in out[] */
	char in[SCRATCH_SIZE];
	char out[SCRATCH_SIZE];
} sched = { .ready_tail = &sched.ready };

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ---- timers: a min-heap of sleeping connections -------------------------- */

static void timer_place(struct conn *c, size_t slot)
{
	sched.timers[slot] = c;
	c->timer_slot = slot;
}

static void timer_sift_up(size_t slot)
{
	struct conn *c = sched.timers[slot];

	while (slot > 0) {
		size_t parent = (slot - 1) / 2;

		if (sched.timers[parent]->wake_ns <= c->wake_ns)
			break;
		timer_place(sched.timers[parent], slot);
		slot = parent;
	}
	timer_place(c, slot);
}

static void timer_sift_down(size_t slot)
{
	struct conn *c = sched.timers[slot];

	for (;;) {
		size_t child = 2 * slot + 1;

		if (child >= sched.ntimers)
			break;
		if (child + 1 < sched.ntimers &&
		    sched.timers[child + 1]->wake_ns < sched.timers[child]->wake_ns)
			child++;
		if (c->wake_ns <= sched.timers[child]->wake_ns)
			break;
		timer_place(sched.timers[child], slot);
		slot = child;
	}
	timer_place(c, slot);
}

static bool timer_add(struct conn *c)
{
	if (sched.ntimers == sched.timers_cap) {
		size_t cap = sched.timers_cap ? 2 * sched.timers_cap : 64;
		struct conn **timers = realloc(sched.timers, cap * sizeof(*timers));

		if (!timers)
			return false;
		sched.timers = timers;
		sched.timers_cap = cap;
	}
	timer_place(c, sched.ntimers++);
	timer_sift_up(c->timer_slot);
	return true;
}

static void timer_remove(struct conn *c)
{
	size_t slot = c->timer_slot;
	struct conn *last = sched.timers[--sched.ntimers];

	c->timer_slot = NO_TIMER;
	if (last == c)
		return;
	timer_place(last, slot);
	timer_sift_up(slot);
	timer_sift_down(last->timer_slot);
}

/* ---- running coroutines ---------------------------------------------------- */

static void conn_run(struct conn *c)
{
	struct coro *co = c->co;

	coro_resume(co);
	if (coro_finished(co))
		coro_destroy(co);	/* c lived on that stack: gone now */
}

static void timers_expire(void)
{
	uint64_t now = now_ns();

	while (sched.ntimers && sched.timers[0]->wake_ns <= now) {
		struct conn *c = sched.timers[0];

		timer_remove(c);
		conn_run(c);
	}
}

/* Connections that paused to be fair run once each; new pauses wait a turn. */
static void ready_run(void)
{
	struct conn *c = sched.ready;

	sched.ready = NULL;
	sched.ready_tail = &sched.ready;
	while (c) {
		struct conn *next = c->ready_next;

		conn_run(c);
		c = next;
	}
}

/* epoll_wait's timeout: until the earliest deadline, rounded up so it never
 * wakes early and spins. */
static int sched_timeout_ms(void)
{
	uint64_t now, wake;

	if (sched.ready)
		return 0;
	if (!sched.ntimers)
		return -1;
	now = now_ns();
	wake = sched.timers[0]->wake_ns;
	if (wake <= now)
		return 0;
	if (wake - now > (uint64_t)INT32_MAX * 1000000u)
		return INT32_MAX;
	return (int)((wake - now + 999999) / 1000000);
}

/* ---- yielding: what makes connection code look blocking ------------------ */

/*
 * Before giving up the CPU, keep what this connection still needs from the
 * shared scratch buffer: the next coroutine to run reads into it.
 */
static bool conn_park(struct conn *c)
{
	assert(sched.out_len == 0);	/* conn_flush() empties it before any yield */
	if (!c->in_len) {
		free(c->in_owned);
		c->in_owned = NULL;
		c->in = sched.in;
	} else if (!c->in_owned) {
		c->in_owned = malloc(c->in_len);
		if (!c->in_owned)
			return false;
		memcpy(c->in_owned, c->in, c->in_len);
		c->in = c->in_owned;
	}
	return true;
}

static bool conn_may_yield(struct conn *c)
{
	return !c->cancelled && conn_park(c);
}

/* Wait until the socket is ready for events (EPOLLIN or EPOLLOUT). */
static bool conn_wait_io(struct conn *c, uint32_t events)
{
	if (!conn_may_yield(c))
		return false;
	c->burst = 0;
	c->waiting = events;
	coro_yield();
	c->waiting = 0;
	return !c->cancelled;
}

static bool conn_sleep(struct conn *c, uint64_t ms)
{
	c->wake_ns = now_ns() + ms * 1000000u;
	if (!conn_may_yield(c) || !timer_add(c))
		return false;
	coro_yield();
	if (c->timer_slot != NO_TIMER)
		timer_remove(c);	/* woken early: the server is stopping */
	return !c->cancelled;
}

/* Let every other runnable connection have a turn, then carry on. */
static bool conn_pause(struct conn *c)
{
	if (!conn_may_yield(c))
		return false;
	c->burst = 0;
	c->ready_next = NULL;
	*sched.ready_tail = c;
	sched.ready_tail = &c->ready_next;
	coro_yield();
	return !c->cancelled;
}

/* ---- I/O ------------------------------------------------------------------ */

/* Write all of buf, yielding while the socket is full. buf must stay valid
 * across yields: never sched.out. */
static bool conn_write(struct conn *c, const char *buf, size_t len)
{
	while (len) {
		ssize_t n = write(c->fd, buf, len);

		if (n >= 0) {
			buf += n;
			len -= (size_t)n;
		} else if (errno != EINTR &&
			   (errno != EAGAIN || !conn_wait_io(c, EPOLLOUT))) {
			return false;
		}
	}
	return true;
}

/* Send the replies batched in sched.out. */
static bool conn_flush(struct conn *c)
{
	size_t len = sched.out_len;
	ssize_t n;
	char *rest;
	bool ok;

	if (!len)
		return true;
	sched.out_len = 0;
	do
		n = write(c->fd, sched.out, len);
	while (n < 0 && errno == EINTR);
	if (n == (ssize_t)len)
		return true;
	if (n < 0 && errno != EAGAIN)
		return false;
	if (n < 0)
		n = 0;
	/* a slow reader: the rest must outlive our yield, sched.out will not */
	rest = malloc(len - (size_t)n);
	if (!rest)
		return false;
	memcpy(rest, sched.out + n, len - (size_t)n);
	ok = conn_write(c, rest, len - (size_t)n);
	free(rest);
	return ok;
}

/*
 * Read more input. The unparsed bytes (at most a partial line) first move to
 * the front of sched.in and new bytes land right after them, so a line split
 * across reads is contiguous for the parser. False on EOF, error or stop.
 */
static bool conn_read_more(struct conn *c)
{
	assert(c->in_len <= PROTO_MAX_LINE);
	/*
	 * A short read emptied the queue, and any byte that arrived since has
	 * raised an edge, which would have cleared rx_empty (sched_dispatch):
	 * wait now instead of paying for a read that can only say EAGAIN.
	 */
	if (c->rx_empty) {
		if (!conn_wait_io(c, EPOLLIN))
			return false;
	} else if (++c->burst > READ_BURST && !conn_pause(c)) {
		return false;
	}
	for (;;) {
		size_t room;
		ssize_t n;

		memmove(sched.in, c->in, c->in_len);
		free(c->in_owned);
		c->in_owned = NULL;
		c->in = sched.in;

		room = sizeof(sched.in) - c->in_len;
		n = read(c->fd, sched.in + c->in_len, room);
		if (n > 0) {
			c->in_len += (size_t)n;
			/* a FIN that came with the data raised no edge of
			 * its own: only the next read will see it */
			c->rx_empty = (size_t)n < room && !c->rx_closing;
			return true;
		}
		if (n == 0 || (errno != EINTR &&
			       (errno != EAGAIN || !conn_wait_io(c, EPOLLIN))))
			return false;
	}
}

/* STREAM: the payload comes from a static pattern, stable across yields. */
static bool conn_stream(struct conn *c, uint64_t total)
{
	uint64_t off = 0;

	while (off < total) {
		size_t len = total - off > SCRATCH_SIZE ? SCRATCH_SIZE : (size_t)(total - off);
		const char *chunk = proto_stream_chunk(off, &len);

		if (!conn_write(c, chunk, len))
			return false;
		off += len;
		/* a fast reader never makes us wait: do not starve the others */
		if (++c->burst > STREAM_BURST && !conn_pause(c))
			return false;
	}
	return true;
}

/* ---- the protocol, one connection ---------------------------------------- */

static void conn_reply(const struct proto_req *req)
{
	sched.out_len += proto_reply(req, sched.out + sched.out_len);
}

/* Returns false when the connection is to be closed. */
static bool conn_handle(struct conn *c, const struct proto_req *req)
{
	switch (req->cmd) {
	case PROTO_WAIT:
		if (!conn_flush(c) || !conn_sleep(c, req->arg))
			return false;
		conn_reply(req);
		return true;
	case PROTO_STREAM:
		if (!conn_flush(c) || !conn_stream(c, req->arg))
			return false;
		conn_reply(req);
		return true;
	case PROTO_QUIT:
		conn_flush(c);
		return false;
	case PROTO_TOOLONG:
		conn_reply(req);
		conn_flush(c);
		return false;
	default:
		conn_reply(req);
		return true;
	}
}

static void conn_serve(struct conn *c)
{
	struct proto_req req;
	size_t used;

	for (;;) {
		/* make room for one more reply before parsing: flushing may
		 * yield, and req would point into the scratch buffer */
		if (sched.out_len > sizeof(sched.out) - PROTO_MAX_REPLY && !conn_flush(c))
			return;
		used = proto_parse(c->in, c->in_len, &req);
		if (!used) {
			/* replies go out once the input at hand is handled,
			 * so pipelined requests cost one write */
			if (!conn_flush(c) || !conn_read_more(c))
				return;
			continue;
		}
		c->in += used;
		c->in_len -= used;
		if (!conn_handle(c, &req))
			return;
	}
}

/* ---- connections ------------------------------------------------------------ */

static void conn_link(struct conn *c)
{
	c->next = sched.conns;
	if (c->next)
		c->next->prev = c;
	sched.conns = c;
}

static void conn_unlink(struct conn *c)
{
	if (c->prev)
		c->prev->next = c->next;
	else
		sched.conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
}

static void accept_arm(bool on)
{
	struct epoll_event ev = { .events = on ? EPOLLIN : 0, .data.ptr = NULL };

	if (epoll_ctl(sched.epfd, EPOLL_CTL_MOD, sched.listen_fd, &ev) == 0)
		sched.accept_paused = !on;
}

/* The body of every coroutine: one connection, start to close. */
static void conn_main(void *arg)
{
	struct conn c = {
		.fd = (int)(intptr_t)arg,
		.co = coro_self(),
		.timer_slot = NO_TIMER,
		.in = sched.in,
	};
	struct epoll_event ev = {
		.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET,
		.data.ptr = &c,
	};

	if (epoll_ctl(sched.epfd, EPOLL_CTL_ADD, c.fd, &ev) == 0) {
		conn_link(&c);
		conn_serve(&c);
		conn_unlink(&c);
	}
	free(c.in_owned);
	close(c.fd);		/* also leaves the epoll set */
	if (sched.accept_paused)
		accept_arm(true);	/* a descriptor is free again */
}

static void conn_start(int fd)
{
	static bool warned;
	struct coro *co = coro_create(conn_main, (void *)(intptr_t)fd);

	if (!co) {
		if (!warned)
			fprintf(stderr, "coro_echo: cannot map a coroutine stack (%s); "
				"refusing connections (raise vm.max_map_count?)\n",
				strerror(errno));
		warned = true;
		close(fd);
		return;
	}
	coro_resume(co);	/* runs until its first read would block */
	if (coro_finished(co))
		coro_destroy(co);
}

static void accept_some(void)
{
	for (int i = 0; i < ACCEPT_BATCH; i++) {
		int fd = accept4(sched.listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd >= 0) {
			conn_start(fd);
		} else if (errno == EMFILE || errno == ENFILE) {
			/* level-triggered: disarm, or the loop would spin until
			 * a connection closes and conn_main() re-arms */
			accept_arm(false);
			return;
		} else if (errno != EINTR && errno != ECONNABORTED) {
			return;		/* EAGAIN, or transient: epoll retries */
		}
	}
}

static void sched_dispatch(const struct epoll_event *ev)
{
	struct conn *c = ev->data.ptr;
	uint32_t ready = ev->events;

	if (!c) {
		accept_some();
		return;
	}
	/* let the syscall report errors and hang-ups, whichever way it waits */
	if (ready & (EPOLLRDHUP | EPOLLERR | EPOLLHUP)) {
		c->rx_closing = true;
		ready |= EPOLLIN;
	}
	if (ready & (EPOLLERR | EPOLLHUP))
		ready |= EPOLLOUT;
	/* an edge it does not wait for now is lost: its next read must look */
	if (ready & EPOLLIN)
		c->rx_empty = false;
	if (c->waiting & ready)
		conn_run(c);
}

/* Shutdown: wake every coroutine cancelled, so it unwinds, frees and closes. */
static void sched_stop(void)
{
	sched.ready = NULL;
	sched.ready_tail = &sched.ready;
	while (sched.conns) {
		struct conn *c = sched.conns;

		c->cancelled = true;
		conn_run(c);
	}
}

static const char extra_help[] =
	"  -s, --stack SIZE      usable stack per coroutine (default 32k, at least 8k)\n"
	"  -U, --ucontext        switch with glibc swapcontext (a syscall per switch)\n";

int main(int argc, char **argv)
{
	struct server_config cfg;
	struct epoll_event events[MAX_EVENTS];
	struct epoll_event lev = { .events = EPOLLIN, .data.ptr = NULL };
	sigset_t stop_signals, waiting_mask;
	int err;

	server_parse_args(argc, argv, &cfg, SERVER_OPT_STACK | SERVER_OPT_UCONTEXT, extra_help);
	err = coro_init(&(struct coro_opts){
		.stack_size = cfg.stack_size,
		.ucontext = cfg.use_ucontext,
	});
	if (err) {
		if (err == -ENOTSUP)
			fprintf(stderr, "%s: no built-in context switch for this CPU; "
				"run with -U\n", cfg.name);
		else
			fprintf(stderr, "%s: coroutine stacks need at least %uk\n",
				cfg.name, CORO_MIN_STACK >> 10);
		return 2;
	}

	server_install_signals();
	/* signals are delivered only inside epoll_pwait, so a stop request can
	 * never slip in between the loop's check and the wait */
	sigemptyset(&stop_signals);
	sigaddset(&stop_signals, SIGINT);
	sigaddset(&stop_signals, SIGTERM);
	sigprocmask(SIG_BLOCK, &stop_signals, &waiting_mask);

	sched.listen_fd = server_listen(&cfg, SERVER_LISTEN_NONBLOCK);
	sched.epfd = epoll_create1(EPOLL_CLOEXEC);
	if (sched.epfd < 0 || epoll_ctl(sched.epfd, EPOLL_CTL_ADD, sched.listen_fd, &lev) < 0) {
		perror("coro_echo: epoll");
		return 1;
	}
	server_announce(&cfg, sched.listen_fd);

	while (!server_stopping) {
		int n = epoll_pwait(sched.epfd, events, MAX_EVENTS, sched_timeout_ms(),
				    &waiting_mask);

		if (n < 0 && errno != EINTR) {
			perror("coro_echo: epoll_pwait");
			break;
		}
		for (int i = 0; i < n; i++)
			sched_dispatch(&events[i]);
		timers_expire();
		ready_run();
	}

	sched_stop();
	close(sched.epfd);
	close(sched.listen_fd);
	free(sched.timers);
	coro_fini();
	server_cleanup(&cfg);
	return 0;
}
