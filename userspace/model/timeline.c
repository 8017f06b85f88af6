// SPDX-License-Identifier: MIT
/* Memory over time (see timeline.h). */
#include "model/timeline.h"

#include <stdlib.h>
#include <string.h>

void timeline_init(struct timeline *tl)
{
	memset(tl, 0, sizeof(*tl));
}

void timeline_free(struct timeline *tl)
{
	free(tl->v);
	memset(tl, 0, sizeof(*tl));
}

int timeline_add(struct timeline *tl, const struct sample *s)
{
	if (tl->n == tl->cap) {
		size_t cap = tl->cap ? tl->cap * 2 : 64;
		struct sample *v = realloc(tl->v, cap * sizeof(*v));

		if (!v)
			return -1;
		tl->v = v;
		tl->cap = cap;
	}
	tl->v[tl->n++] = *s;
	if (s->rss_bytes > tl->rss_peak)
		tl->rss_peak = s->rss_bytes;
	if (s->kernel_bytes > tl->kernel_peak)
		tl->kernel_peak = s->kernel_bytes;
	if (s->tracer_bytes > tl->tracer_peak)
		tl->tracer_peak = s->tracer_bytes;
	return 0;
}

const struct sample *timeline_last(const struct timeline *tl)
{
	return tl->n ? &tl->v[tl->n - 1] : NULL;
}
