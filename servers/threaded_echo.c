// SPDX-License-Identifier: MIT
/*
 * threaded_echo: the line protocol with one thread per connection and
 * blocking I/O.
 *
 * The main thread accepts; every connection gets a detached thread (-s sets
 * its stack size) that reads, answers and sleeps on its own socket. Its line
 * and reply buffers live on that stack, so what a connection costs in this
 * model is what its thread costs: the stack pages it touched, its guard page,
 * its kernel task. That is the figure this server exists to show.
 *
 * SIGINT/SIGTERM stay blocked in every thread and are let in only inside the
 * main thread's ppoll(), which swaps the mask atomically: a signal can never
 * land between testing server_stopping and blocking, and connection threads
 * inherit the blocked mask, so a stop never interrupts a read or a WAIT.
 */
#include "protocol.h"
#include "server.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define CONN_IN_SIZE	  (2 * PROTO_MAX_LINE)	/* > PROTO_MAX_LINE: room to see an overlong line */
#define CONN_OUT_SIZE	  (2 * PROTO_MAX_REPLY)
#define THREAD_STACK_MIN  (32u << 10)		/* both buffers, libc frames (snprintf), TLS */
#define STREAM_CHUNK	  (64u << 10)		/* what proto_stream_chunk has contiguous */
#define ACCEPT_BATCH	  64			/* then look at signals again */
#define ACCEPT_BACKOFF_MS 100			/* out of fds or threads: let some close */

/*
 * A live connection, on its thread's stack. The registry links them all so
 * that shutdown can shutdown() every socket and wake threads blocked in it.
 */
struct conn {
	int fd;
	struct conn *prev, *next;
};

static struct {
	pthread_mutex_t lock;
	pthread_cond_t drained;	/* broadcast when threads drops to 0 */
	struct conn list;	/* circular, list itself is the head */
	unsigned threads;	/* created and not yet finished */
	bool closed;		/* shutting down: registrations refused */
} registry = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.drained = PTHREAD_COND_INITIALIZER,
	.list = { -1, &registry.list, &registry.list },
};

static bool tcp_nodelay;	/* TCP: replies must not wait for Nagle */

/* ---- registry ----------------------------------------------------------- */

static void registry_hold(void)
{
	pthread_mutex_lock(&registry.lock);
	registry.threads++;
	pthread_mutex_unlock(&registry.lock);
}

/* The thread's first act; false once shutdown began, and then it just leaves. */
static bool registry_add(struct conn *c)
{
	bool open;

	pthread_mutex_lock(&registry.lock);
	open = !registry.closed;
	if (open) {
		c->prev = &registry.list;
		c->next = registry.list.next;
		c->next->prev = c;
		registry.list.next = c;
	}
	pthread_mutex_unlock(&registry.lock);
	return open;
}

/*
 * The thread's last act. The fd is closed under the lock so that
 * registry_close() can never shutdown() a number the kernel already handed
 * to a newer connection.
 */
static void registry_release(struct conn *c)
{
	pthread_mutex_lock(&registry.lock);
	if (c->next) {
		c->prev->next = c->next;
		c->next->prev = c->prev;
	}
	close(c->fd);
	if (--registry.threads == 0)
		pthread_cond_broadcast(&registry.drained);
	pthread_mutex_unlock(&registry.lock);
}

/*
 * Wake every connection thread (a blocked read returns 0, a blocked write
 * EPIPE, a WAIT ends) and give them a second to leave. One still deep in a
 * BURN is not waited for: exit() takes it down with the process.
 */
static void registry_close(void)
{
	struct timespec deadline;
	struct conn *c;

	pthread_mutex_lock(&registry.lock);
	registry.closed = true;
	for (c = registry.list.next; c != &registry.list; c = c->next)
		shutdown(c->fd, SHUT_RDWR);
	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += 1;
	while (registry.threads &&
	       pthread_cond_timedwait(&registry.drained, &registry.lock, &deadline) != ETIMEDOUT)
		;
	pthread_mutex_unlock(&registry.lock);
}

/* ---- I/O ---------------------------------------------------------------- */

/* Replies are batched and go out in one write before the thread blocks. */
struct reply {
	size_t len;
	char buf[CONN_OUT_SIZE];
};

static bool write_all(int fd, const char *p, size_t len)
{
	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return false;	/* EPIPE, ECONNRESET: the peer is gone */
		}
		p += n;
		len -= (size_t)n;
	}
	return true;
}

static bool reply_flush(int fd, struct reply *out)
{
	size_t len = out->len;

	out->len = 0;
	return write_all(fd, out->buf, len);
}

static bool stream_send(int fd, uint64_t len)
{
	uint64_t sent = 0;

	while (sent < len) {
		size_t chunk = len - sent < STREAM_CHUNK ? (size_t)(len - sent) : STREAM_CHUNK;
		const char *p = proto_stream_chunk(sent, &chunk);

		if (!write_all(fd, p, chunk))
			return false;
		sent += chunk;
	}
	return true;
}

/*
 * WAIT: this model simply sleeps in the connection's thread. poll() with no
 * events is that sleep, except that POLLHUP/POLLERR still end it: a peer that
 * reset, or registry_close() shutting the socket down, so a stop need not sit
 * out a long WAIT. False when the connection is over.
 */
static bool conn_sleep(int fd, uint64_t ms)
{
	struct pollfd pfd = { .fd = fd, .events = 0 };

	return poll(&pfd, 1, (int)ms) == 0;
}

/* ---- the connection ----------------------------------------------------- */

/* Serve one request; false when the connection is over. */
static bool conn_request(int fd, const struct proto_req *req, struct reply *out)
{
	switch (req->cmd) {
	case PROTO_WAIT:
		if (!reply_flush(fd, out) || !conn_sleep(fd, req->arg))
			return false;
		break;
	case PROTO_STREAM:
		if (!reply_flush(fd, out) || !stream_send(fd, req->arg))
			return false;
		break;
	default:
		break;
	}
	if (out->len + PROTO_MAX_REPLY > sizeof(out->buf) && !reply_flush(fd, out))
		return false;
	out->len += proto_reply(req, out->buf + out->len);
	if (req->cmd == PROTO_QUIT || req->cmd == PROTO_TOOLONG) {
		reply_flush(fd, out);	/* the last word, then close */
		return false;
	}
	return true;
}

/* Read, serve every complete line in order, answer; until EOF or error. */
static void conn_serve(int fd)
{
	char in[CONN_IN_SIZE];
	struct reply out;
	size_t in_len = 0;

	out.len = 0;
	for (;;) {
		struct proto_req req;
		size_t off = 0, used;
		ssize_t n = read(fd, in + in_len, sizeof(in) - in_len);

		if (n <= 0) {
			if (n < 0 && errno == EINTR)
				continue;
			return;		/* EOF or reset: nothing to say */
		}
		in_len += (size_t)n;
		while ((used = proto_parse(in + off, in_len - off, &req))) {
			off += used;
			if (!conn_request(fd, &req, &out))
				return;
		}
		if (!reply_flush(fd, &out))
			return;
		/* a partial line (at most PROTO_MAX_LINE) waits for the rest */
		memmove(in, in + off, in_len - off);
		in_len -= off;
	}
}

static void *conn_thread(void *arg)
{
	struct conn c = { .fd = (int)(intptr_t)arg };

	if (registry_add(&c))
		conn_serve(c.fd);
	registry_release(&c);
	return NULL;
}

/* ---- accepting ---------------------------------------------------------- */

static bool conn_start(int fd, const pthread_attr_t *attr)
{
	pthread_t thread;
	int one = 1, err;

	if (tcp_nodelay)
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	registry_hold();
	err = pthread_create(&thread, attr, conn_thread, (void *)(intptr_t)fd);
	if (err) {
		struct conn orphan = { .fd = fd };

		registry_release(&orphan);
		return false;
	}
	return true;
}

/* Accept what the backlog holds; false when out of fds or threads. */
static bool accept_batch(int listen_fd, const pthread_attr_t *attr)
{
	for (int i = 0; i < ACCEPT_BATCH; i++) {
		int fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);

		if (fd < 0) {
			if (errno == ECONNABORTED || errno == EINTR)
				continue;
			return errno == EAGAIN || errno == EWOULDBLOCK;
		}
		if (!conn_start(fd, attr))
			return false;
	}
	return true;
}

/* An idle connection is an fd: let the process have every one it may. */
static void raise_fd_limit(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

static void thread_attr_init(pthread_attr_t *attr, const struct server_config *cfg)
{
	int err;

	pthread_attr_init(attr);
	pthread_attr_setdetachstate(attr, PTHREAD_CREATE_DETACHED);
	if (!cfg->stack_size)
		return;		/* the system default (RLIMIT_STACK) */
	if (cfg->stack_size < THREAD_STACK_MIN) {
		fprintf(stderr, "%s: stack size %zu is too small (at least %u)\n", cfg->name,
			cfg->stack_size, THREAD_STACK_MIN);
		exit(2);
	}
	err = pthread_attr_setstacksize(attr, cfg->stack_size);
	if (err) {
		fprintf(stderr, "%s: stack size %zu: %s\n", cfg->name, cfg->stack_size,
			strerror(err));
		exit(2);
	}
}

int main(int argc, char **argv)
{
	const struct timespec backoff = { 0, ACCEPT_BACKOFF_MS * 1000000L };
	struct server_config cfg;
	sigset_t stop_signals, wait_mask;
	pthread_attr_t attr;
	bool accepting = true;
	int listen_fd;

	server_parse_args(argc, argv, &cfg, SERVER_OPT_STACK,
			  "  -s, --stack SIZE      stack of each connection thread (default: system)\n");
	thread_attr_init(&attr, &cfg);
	raise_fd_limit();
	server_install_signals();
	sigemptyset(&stop_signals);
	sigaddset(&stop_signals, SIGINT);
	sigaddset(&stop_signals, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &stop_signals, &wait_mask);
	sigdelset(&wait_mask, SIGINT);
	sigdelset(&wait_mask, SIGTERM);

	/* non-blocking, so one wake-up can take a batch and stop at EAGAIN */
	listen_fd = server_listen(&cfg, SERVER_LISTEN_NONBLOCK);
	tcp_nodelay = !cfg.unix_path;
	server_announce(&cfg, listen_fd);

	while (!server_stopping) {
		struct pollfd pfd = { .fd = listen_fd, .events = POLLIN };

		if (!accepting) {
			/* out of fds or threads: retrying at once would only spin */
			ppoll(NULL, 0, &backoff, &wait_mask);
			accepting = true;
			continue;
		}
		if (ppoll(&pfd, 1, NULL, &wait_mask) > 0)
			accepting = accept_batch(listen_fd, &attr);
	}

	close(listen_fd);
	registry_close();
	pthread_attr_destroy(&attr);
	server_cleanup(&cfg);
	return 0;
}
