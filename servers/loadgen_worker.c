// SPDX-License-Identifier: MIT
/*
 * A worker: one thread, one edge-triggered epoll loop over its share of
 * the connections. Each turn starts the connects that are due, runs the
 * timers that are due, then waits for I/O until the next timer is due.
 * The supervisor ends that wait early through the worker's eventfd
 * (worker_wake) when it changes the phase.
 */
#include <errno.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/socket.h>

#include "common/histogram.h"
#include "loadgen.h"

#define EVENTS_PER_WAIT		256
#define WAKE_TOKEN		UINT32_MAX	/* epoll data of a worker's eventfd */

/* ---- worker loop --------------------------------------------------------- */

void worker_finished_one(struct worker *w, struct conn *c)
{
	if (c->flags & CF_FINISHED)
		return;
	c->flags |= CF_FINISHED;
	if (--w->unfinished == 0) {
		w->finish_ns = now_ns();
		atomic_fetch_add(&workers_finished, 1);
	}
}

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

void *worker_main(void *arg)
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

struct worker *worker_new(unsigned id, unsigned nconns)
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

void worker_free(struct worker *w)
{
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

void worker_wake(struct worker *w)
{
	uint64_t one = 1;

	if (write(w->wakefd, &one, sizeof(one)) < 0)
		perror(PROG ": eventfd");
}
