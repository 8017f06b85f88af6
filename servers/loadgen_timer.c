// SPDX-License-Identifier: MIT
/*
 * A worker's timers: one binary min-heap of its connections, keyed by
 * conn.deadline, each connection in it at most once (conn.heap_pos). All
 * the waits of a connection (connect and reply timeouts, open-loop send
 * times, reconnect back-off) share that one deadline: the earliest wins
 * and the wake-up re-arms for the next. So the worker's next timer is at
 * the heap's top, and arming or cancelling one costs O(log connections),
 * never a walk over all of them.
 */
#include <stdint.h>

#include "loadgen.h"

static void heap_place(struct worker *w, unsigned pos, uint32_t ci)
{
	w->heap[pos] = ci;
	w->conns[ci].heap_pos = pos;
}

static void heap_up(struct worker *w, unsigned pos)
{
	uint32_t ci = w->heap[pos];
	uint64_t key = w->conns[ci].deadline;

	while (pos > 0) {
		unsigned parent = (pos - 1) / 2;

		if (w->conns[w->heap[parent]].deadline <= key)
			break;
		heap_place(w, pos, w->heap[parent]);
		pos = parent;
	}
	heap_place(w, pos, ci);
}

static void heap_down(struct worker *w, unsigned pos)
{
	uint32_t ci = w->heap[pos];
	uint64_t key = w->conns[ci].deadline;

	for (;;) {
		unsigned child = 2 * pos + 1;

		if (child >= w->heap_len)
			break;
		if (child + 1 < w->heap_len &&
		    w->conns[w->heap[child + 1]].deadline < w->conns[w->heap[child]].deadline)
			child++;
		if (key <= w->conns[w->heap[child]].deadline)
			break;
		heap_place(w, pos, w->heap[child]);
		pos = child;
	}
	heap_place(w, pos, ci);
}

void timer_cancel(struct worker *w, struct conn *c)
{
	unsigned pos = c->heap_pos;

	if (pos == HEAP_NONE)
		return;
	c->heap_pos = HEAP_NONE;
	if (pos == --w->heap_len)
		return;
	heap_place(w, pos, w->heap[w->heap_len]);
	heap_up(w, pos);
	heap_down(w, w->conns[w->heap[pos]].heap_pos);
}

/*
 * Ask to be woken at `when`. Deadlines that move later are not pushed
 * down the heap: the early wake-up re-checks the connection and re-arms,
 * which is cheaper than a heap update after every reply.
 */
void timer_want(struct worker *w, struct conn *c, uint64_t when)
{
	if (c->heap_pos == HEAP_NONE) {
		c->deadline = when;
		heap_place(w, w->heap_len, (uint32_t)(c - w->conns));
		heap_up(w, w->heap_len++);
	} else if (when < c->deadline) {
		c->deadline = when;
		heap_up(w, c->heap_pos);
	}
}
