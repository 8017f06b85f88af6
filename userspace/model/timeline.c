// SPDX-License-Identifier: MIT
/* Memory over time (see timeline.h). */
#include "model/timeline.h"

#include <stdlib.h>
#include <string.h>

void timeline_init(struct timeline *tl)
{
	memset(tl, 0, sizeof(*tl));
}

void timeline_pace(struct timeline *tl, double min_s, double ratio)
{
	memset(&tl->pace, 0, sizeof(tl->pace));
	tl->pace.min_s = min_s;
	tl->pace.ratio = ratio;
}

void timeline_sample_cost(struct timeline *tl, double cost_s)
{
	struct sample_pace *p = &tl->pace;

	if (cost_s < 0)
		cost_s = 0;
	p->cost_s[p->n++ % PACE_COSTS] = cost_s;
	if (cost_s > p->cost_max_s)
		p->cost_max_s = cost_s;
}

double timeline_next_interval(struct timeline *tl)
{
	struct sample_pace *p = &tl->pace;
	unsigned int kept = p->n < PACE_COSTS ? p->n : PACE_COSTS;
	double least = 0, every;

	for (unsigned int i = 0; i < kept; i++)
		if (i == 0 || p->cost_s[i] < least)
			least = p->cost_s[i];
	every = least * p->ratio;
	if (every < p->min_s)
		every = p->min_s;
	if (every > p->interval_max_s)
		p->interval_max_s = every;
	return every;
}

void timeline_free(struct timeline *tl)
{
	free(tl->v);
	free(tl->procs);
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

int timeline_note_procs(struct timeline *tl, const struct proc_reading *r, size_t n)
{
	int err = 0;

	for (size_t i = 0; i < tl->nprocs; i++)
		tl->procs[i].alive = false;
	for (size_t k = 0; k < n; k++) {
		__u64 peak = r[k].hwm_in_trace ? r[k].hwm : r[k].rss;
		struct proc_peak *p = NULL;

		/* a linear search: a tree is a few processes, and this runs
		 * once a sample */
		for (size_t i = 0; i < tl->nprocs && !p; i++)
			if (tl->procs[i].pid == r[k].pid)
				p = &tl->procs[i];
		if (!p) {
			if (tl->nprocs == tl->procs_cap) {
				size_t cap = tl->procs_cap ? tl->procs_cap * 2 : 8;
				struct proc_peak *v = realloc(tl->procs, cap * sizeof(*v));

				if (!v) {
					err = -1;
					continue;
				}
				tl->procs = v;
				tl->procs_cap = cap;
			}
			p = &tl->procs[tl->nprocs++];
			memset(p, 0, sizeof(*p));
			p->pid = r[k].pid;
		}
		if (peak > p->peak)
			p->peak = peak;
		p->rss_end = r[k].rss;
		p->alive = true;
		if (p->peak > tl->proc_peak_max)
			tl->proc_peak_max = p->peak;
	}
	for (size_t i = 0; i < tl->nprocs; i++)
		if (!tl->procs[i].alive)
			tl->procs[i].rss_end = 0;
	return err;
}

void timeline_note_process_peak(struct timeline *tl, __u64 peak_bytes)
{
	if (peak_bytes > tl->proc_peak_max)
		tl->proc_peak_max = peak_bytes;
}

__u64 timeline_rss_peak(const struct timeline *tl)
{
	return tl->rss_peak > tl->proc_peak_max ? tl->rss_peak : tl->proc_peak_max;
}

__u64 timeline_rss_peaks_summed(const struct timeline *tl)
{
	__u64 sum = 0;

	for (size_t i = 0; i < tl->nprocs; i++)
		sum += tl->procs[i].peak;
	/* the reaped figure may be a process no sample saw */
	return sum > timeline_rss_peak(tl) ? sum : timeline_rss_peak(tl);
}
