// SPDX-License-Identifier: MIT
/* One walk over the open connections (see open_conns.h). */
#include "live/open_conns.h"

#include "model/aggregate.h"

static void visit(void *ctx, const struct conn *rec)
{
	struct open_conns *o = ctx;
	struct conn c = *rec;
	size_t i;

	if (c.close_ns)
		return;	/* closing: its final record is on its way */
	conn_sum_syscalls(&c);
	o->conns++;
	o->kernel_bytes += conn_kernel_memory_now(&c, o->slabs);
	o->bytes_rx += c.bytes_rx;
	o->bytes_tx += c.bytes_tx;
	if (!o->want || (o->ntop == o->want && o->order(&c, &o->top[o->ntop - 1]) <= 0))
		return;
	if (o->ntop < o->want)
		o->ntop++;
	/* insertion: `want` is a screenful at most */
	for (i = o->ntop - 1; i > 0 && o->order(&c, &o->top[i - 1]) > 0; i--)
		o->top[i] = o->top[i - 1];
	o->top[i] = c;
}

void open_conns_walk(struct tracer *t, struct open_conns *o)
{
	o->ntop = 0;
	o->conns = o->kernel_bytes = o->bytes_rx = o->bytes_tx = 0;
	tracer_for_each_open(t, visit, o);
}
