// SPDX-License-Identifier: MIT
/* A connection's derived figures (see conn_view.h). */
#include "model/conn_view.h"

void conn_complete(struct conn_view *v, const struct conn *rec, const struct slab_sizes *s)
{
	v->rec = *rec;
	v->syscalls = rec->sc_other;
	v->syscall_ns = rec->sc_other_ns;
	for (int i = 0; i < CONN_SC_SLOTS; i++) {
		v->syscalls += rec->sc[i].count;
		v->syscall_ns += rec->sc[i].ns;
	}
	v->kernel_bytes_peak = conn_kernel_memory(rec, s, v->kmem_peak);
	v->kernel_bytes_now = conn_kernel_memory_now(rec, s, v->kmem_peak);
}

const char *conn_origin(const struct conn *c)
{
	if (c->flags & CONN_BEFORE_ATTACH)
		return "before_attach";	/* its counts start at attach */
	if (c->flags & CONN_ACCEPTED)
		return "accept";
	if (c->flags & CONN_CONNECTED)
		return "connect";
	if (c->flags & CONN_URING)
		return "io_uring";
	return "seen";	/* first seen in use: a socket event or an fd syscall */
}
