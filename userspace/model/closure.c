// SPDX-License-Identifier: MIT
/* Closure against slab growth (see closure.h). */
#include "model/closure.h"

#include <string.h>
#include <sys/socket.h>

const char *const closure_cache_names[CC_COUNT] = {
	[CC_TCP] = "TCP",
	[CC_TCPV6] = "TCPv6",
	[CC_SOCK_INODE] = "sock_inode_cache",
	[CC_FILP] = "filp",
	[CC_DENTRY] = "dentry",
	[CC_TASK] = "task_struct",
	[CC_IO_KIOCB] = "io_kiocb",
};

void conn_closure_objects(const struct conn *c, __u64 out[CC_COUNT])
{
	memset(out, 0, sizeof(__u64) * CC_COUNT);
	if (c->family == AF_INET)
		out[CC_TCP] = 1;
	else if (c->family == AF_INET6)
		out[CC_TCPV6] = 1;
	out[CC_SOCK_INODE] = 1;
	out[CC_FILP] = 1;
	out[CC_DENTRY] = 1;
	out[CC_TASK] = c->threads;
	out[CC_IO_KIOCB] = c->uring_armed;
}

void closure_compute(const struct slab_counts *start, const struct slab_counts *end,
		     const __u64 attributed[CC_COUNT], struct closure *out)
{
	memset(out, 0, sizeof(*out));
	for (int i = 0; i < CC_COUNT; i++) {
		if (start->objects[i] < 0 || end->objects[i] < 0)
			continue;	/* absent or merged: nothing to compare */
		out->growth_objects[i] = end->objects[i] - start->objects[i];
		out->attributed_objects[i] = attributed[i];
		out->growth_bytes += out->growth_objects[i] * (long long)end->slab_size[i];
		out->attributed_bytes += attributed[i] * end->slab_size[i];
	}
}

bool closure_read_due(const struct closure_mark *m, __u64 objects_bytes, double t, bool last)
{
	__u64 then = m->kernel_bytes - m->buffers;

	if (!m->taken || objects_bytes > then)
		return true;
	return objects_bytes == then && (last || t - m->t >= CLOSURE_PLATEAU_S);
}
