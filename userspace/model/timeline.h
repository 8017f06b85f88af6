/* SPDX-License-Identifier: MIT */
/* Memory over time: samples taken at each --interval and at the end. */
#ifndef CONCTRACE_TIMELINE_H
#define CONCTRACE_TIMELINE_H

#include <stddef.h>
#include <linux/types.h>

struct sample {
	double t_s;		/* since tracing began */
	__u64 rss_bytes;	/* the target's VmRSS, as the kernel reports it */
	__u64 kernel_bytes;	/* kernel memory of its open connections */
	__u64 open_conns;
	__u64 tracer_bytes;	/* conctrace's own BPF maps, as the kernel counts them */
};

struct timeline {
	struct sample *v;
	size_t n, cap;
	__u64 rss_peak, kernel_peak, tracer_peak;	/* over the samples */
};

void timeline_init(struct timeline *tl);
void timeline_free(struct timeline *tl);
/* Returns -1 when out of memory (the sample is dropped). */
int timeline_add(struct timeline *tl, const struct sample *s);
const struct sample *timeline_last(const struct timeline *tl);

#endif /* CONCTRACE_TIMELINE_H */
