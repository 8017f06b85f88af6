// SPDX-License-Identifier: MIT
/* Aggregation of connection records (see aggregate.h). */
#include "model/aggregate.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

const char *const metric_names[M_COUNT] = {
	[M_SYSCALLS] = "syscalls",
	[M_CTX_SWITCHES] = "ctx_switches",
	[M_CPU_NS] = "cpu_ns",
	[M_BYTES_RX] = "bytes_rx",
	[M_BYTES_TX] = "bytes_tx",
	[M_KERNEL_BYTES] = "kernel_bytes",
	[M_USER_BYTES] = "user_bytes",
	[M_KERNEL_HELD] = "kernel_bytes_held",
};

const __u16 agg_families[3] = { 2 /* AF_INET */, 10 /* AF_INET6 */, 1 /* AF_UNIX */ };

int agg_family_index(__u16 family)
{
	for (int i = 0; i < 3; i++)
		if (agg_families[i] == family)
			return i;
	return -1;
}

void agg_init(struct agg *a, size_t keep)
{
	memset(a, 0, sizeof(*a));
	a->keep = keep;
	for (int m = 0; m < M_COUNT; m++)
		hist_init(&a->dist[m]);
}

void agg_free(struct agg *a)
{
	free(a->top);
	free(a->recent);
	free(a->waiting);
	free(a->untold_since);
	memset(a, 0, sizeof(*a));
}

__u64 conn_metric(const struct conn_view *v, enum metric m)
{
	const struct conn *c = &v->rec;

	switch (m) {
	case M_SYSCALLS: return v->syscalls;
	case M_CTX_SWITCHES: return c->ctx_voluntary + c->ctx_involuntary;
	case M_CPU_NS: return c->cpu_ns;
	case M_BYTES_RX: return c->bytes_rx;
	case M_BYTES_TX: return c->bytes_tx;
	case M_KERNEL_BYTES: return v->kernel_bytes_peak;
	case M_USER_BYTES: return c->user_bytes_peak > 0 ? (__u64)c->user_bytes_peak : 0;
	case M_KERNEL_HELD: return v->kernel_bytes_held;
	case M_COUNT: break;
	}
	return 0;
}

int conn_cost_cmp(const struct conn_view *a, const struct conn_view *b)
{
	if (a->rec.cpu_ns != b->rec.cpu_ns)
		return a->rec.cpu_ns < b->rec.cpu_ns ? -1 : 1;
	if (a->syscalls != b->syscalls)
		return a->syscalls < b->syscalls ? -1 : 1;
	/* older first */
	return a->rec.id < b->rec.id ? 1 : (a->rec.id > b->rec.id ? -1 : 0);
}

static void heap_swap(struct conn_view *h, size_t i, size_t j)
{
	struct conn_view t = h[i];

	h[i] = h[j];
	h[j] = t;
}

static void sift_down(struct conn_view *h, size_t n, size_t i)
{
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, min = i;

		if (l < n && conn_cost_cmp(&h[l], &h[min]) < 0)
			min = l;
		if (r < n && conn_cost_cmp(&h[r], &h[min]) < 0)
			min = r;
		if (min == i)
			return;
		heap_swap(h, i, min);
		i = min;
	}
}

static void sift_up(struct conn_view *h, size_t i)
{
	while (i > 0 && conn_cost_cmp(&h[i], &h[(i - 1) / 2]) < 0) {
		heap_swap(h, i, (i - 1) / 2);
		i = (i - 1) / 2;
	}
}

/* Keep the `keep` costliest: a min-heap whose root is the cheapest kept. */
static void keep_top(struct agg *a, const struct conn_view *c)
{
	if (!a->keep)
		return;
	if (!a->top) {
		a->top = calloc(a->keep, sizeof(*a->top));
		if (!a->top)
			return;
	}
	if (a->ntop < a->keep) {
		a->top[a->ntop] = *c;
		sift_up(a->top, a->ntop++);
	} else if (conn_cost_cmp(c, &a->top[0]) > 0) {
		a->top[0] = *c;
		sift_down(a->top, a->ntop, 0);
	}
}

/* The sums over syscall numbers and io_uring opcodes: each record's own,
 * so a second record of a connection adds only what it holds. */
static void add_tables(struct agg *a, const struct conn *c)
{
	for (int i = 0; i < CONN_SC_SLOTS; i++) {
		__u32 nr = c->sc[i].nr;

		if (nr && nr - 1 < SYSCALL_MAX)
			a->syscalls_by_nr[nr - 1] += c->sc[i].count;
	}
	a->syscalls_other += c->sc_other;
	for (int i = 0; i < CONN_URING_SLOTS; i++) {
		__u32 op = c->uring[i].opcode;

		if (op && op - 1 < 256)
			a->uring_by_op[op - 1] += c->uring[i].count;
	}
}

/* The kept connection with this id, or NULL. Only for a second record:
 * a walk of at most `keep` entries, rare. */
static struct conn_view *kept(struct agg *a, __u64 id)
{
	for (size_t i = 0; i < a->ntop; i++)
		if (a->top[i].rec.id == id)
			return &a->top[i];
	return NULL;
}

/* A recorded connection is about to grow (a later record, late counts):
 * its metrics leave the distributions; its kept entry, if any, is returned
 * for restate() to update. */
static struct conn_view *unstate(struct agg *a, const struct conn_view *first)
{
	for (int m = 0; m < M_COUNT; m++)
		hist_forget(&a->dist[m], conn_metric(first, m));
	return kept(a, first->rec.id);
}

/* ... and has grown: its metrics back in the distributions, its kept
 * entry (top, from unstate()) updated, or first kept if it now ranks. */
static void restate(struct agg *a, const struct conn_view *first, struct conn_view *top)
{
	for (int m = 0; m < M_COUNT; m++)
		hist_record(&a->dist[m], conn_metric(first, m));
	if (top) {
		*top = *first;
		sift_down(a->top, a->ntop, (size_t)(top - a->top));	/* its cost only grew */
	} else {
		keep_top(a, first);
	}
}

/* v is a later record of first's connection: its distributions, sums and
 * kept entry become the merged connection's; first becomes the merge. */
static void merge_record(struct agg *a, struct conn_view *first, const struct conn_view *v)
{
	struct conn_view *top = unstate(a, first);
	bool was_open = conn_is_open(&first->rec);

	for (int k = 0; k < KM_COUNT; k++)
		a->kmem_by_cat[k] -= first->kmem_peak[k];
	conn_view_merge(first, v);
	for (int k = 0; k < KM_COUNT; k++)
		a->kmem_by_cat[k] += first->kmem_peak[k];
	a->open_at_end += conn_is_open(&first->rec) - was_open;
	add_tables(a, &v->rec);
	a->merged++;
	restate(a, first, top);
}

/* An internal pair's record: summed apart. A second record of one adds
 * its counts, not a second pair. */
static void add_pair(struct agg *a, const struct conn_view *v, bool again)
{
	for (int m = 0; m < M_COUNT; m++)
		if (!again || (m != M_KERNEL_BYTES && m != M_USER_BYTES && m != M_KERNEL_HELD))
			a->pairs.sum[m] += conn_metric(v, m);
	if (again) {
		a->merged++;
		return;
	}
	a->pairs.n++;
	if (conn_is_open(&v->rec))
		a->pairs.open_at_end++;
}

/* The recent records' slot of id (the newest record whose id hashes
 * there), or NULL if they could not be allocated. */
static struct conn_view *recent_slot(struct agg *a, __u64 id)
{
	if (!a->recent)
		a->recent = calloc(AGG_RECENT, sizeof(*a->recent));
	return a->recent ? &a->recent[(id * 0x9e3779b97f4a7c15ull) >> 52 & (AGG_RECENT - 1)] : NULL;
}

void agg_add_late(struct agg *a, const struct conn_late_event *late)
{
	struct conn_view *first = recent_slot(a, late->id), *top, only = { 0 };	/* only: the late counts */

	if (!first || !late->id || first->rec.id != late->id) {
		if (!a->waiting)
			a->waiting = calloc(AGG_LATE_WAITING, sizeof(*a->waiting));
		if (a->waiting && a->nwaiting < AGG_LATE_WAITING)
			a->waiting[a->nwaiting++] = *late;	/* its record may be on its way */
		else
			a->late_unmatched++;
		return;
	}
	a->late++;
	if (conn_is_pair(&first->rec)) {
		conn_view_add_late(&only, late, NULL);
		for (int m = 0; m < M_COUNT; m++)
			if (m != M_KERNEL_BYTES && m != M_USER_BYTES && m != M_KERNEL_HELD)
				a->pairs.sum[m] += conn_metric(&only, m);
		conn_view_add_late(first, late, a->slabs);
		return;
	}
	top = unstate(a, first);
	for (int k = 0; k < KM_COUNT; k++)
		a->kmem_by_cat[k] -= first->kmem_peak[k];
	conn_view_add_late(first, late, a->slabs);
	for (int k = 0; k < KM_COUNT; k++)
		a->kmem_by_cat[k] += first->kmem_peak[k];
	conn_view_add_late(&only, late, NULL);
	add_tables(a, &only.rec);	/* its syscalls, in the sums by number */
	restate(a, first, top);
}

static void tell(struct agg *a, const struct conn_view *v)
{
	__u64 metric[M_COUNT];

	for (int m = 0; m < M_COUNT; m++)
		metric[m] = conn_metric(v, m);
	a->observer(a->observer_ctx, v, metric);
}

/* The observer's view of a recent slot: told now if it waited (its record
 * is about to leave the slot, or has settled). */
static void tell_waiting(struct agg *a, size_t i)
{
	if (!a->untold_since || !a->untold_since[i])
		return;
	a->untold_since[i] = 0;
	a->untold--;
	tell(a, &a->recent[i]);
}

/* A new connection's record v, in its recent slot (or none): a record
 * that waited there to be told is told as it leaves; v waits in its turn,
 * if the observer waits and the slot can remember that. */
static void take_slot(struct agg *a, struct conn_view *slot, const struct conn_view *v,
		      bool observed)
{
	size_t i = slot ? (size_t)(slot - a->recent) : 0;
	bool wait = slot && a->observe_after_s > 0 && !conn_is_open(&v->rec);

	if (slot) {
		tell_waiting(a, i);
		*slot = *v;
	}
	if (!observed || !a->observer)
		return;
	if (wait && !a->untold_since)
		a->untold_since = calloc(AGG_RECENT, sizeof(*a->untold_since));
	if (wait && a->untold_since) {
		a->untold_since[i] = -1;
		a->untold++;
	} else {
		tell(a, v);	/* an open one is not final anyway */
	}
}

void agg_settle(struct agg *a, double now)
{
	for (size_t i = 0; a->untold && i < AGG_RECENT; i++) {
		if (!a->untold_since[i])
			continue;
		if (a->untold_since[i] < 0)
			a->untold_since[i] = now;
		if (isinf(now) || now - a->untold_since[i] >= a->observe_after_s)
			tell_waiting(a, i);
	}
}

static void add_record(struct agg *a, const struct conn_view *v)
{
	const struct conn *c = &v->rec;
	struct conn_view *slot = recent_slot(a, c->id);
	bool again = slot && c->id && slot->rec.id == c->id;
	int fam;

	if (conn_is_pair(c)) {
		add_pair(a, v, again);
		if (!again)
			take_slot(a, slot, v, false);
		return;
	}
	if (again) {
		merge_record(a, slot, v);
		return;
	}
	fam = agg_family_index(c->family);
	if (fam >= 0)
		a->by_family[fam]++;
	for (int m = 0; m < M_COUNT; m++)
		hist_record(&a->dist[m], conn_metric(v, m));
	a->n++;
	if (conn_is_open(c))
		a->open_at_end++;
	take_slot(a, slot, v, true);
	for (int k = 0; k < KM_COUNT; k++)
		a->kmem_by_cat[k] += v->kmem_peak[k];
	add_tables(a, c);
	keep_top(a, v);
}

__u64 agg_late_unmatched(const struct agg *a)
{
	return a->late_unmatched + a->nwaiting;
}

int agg_add(struct agg *a, const struct conn_view *v)
{
	add_record(a, v);
	/* late counts that came before their record (sent while its last
	 * holder was still writing it, lib/conns.bpf.h) join it now */
	for (size_t i = 0; i < a->nwaiting;) {
		if (a->waiting[i].id == v->rec.id) {
			struct conn_late_event late = a->waiting[i];

			a->waiting[i] = a->waiting[--a->nwaiting];
			agg_add_late(a, &late);
		} else {
			i++;
		}
	}
	return 0;
}

void agg_dist(const struct agg *a, enum metric m, struct dist *out)
{
	const struct hist *h = &a->dist[m];

	memset(out, 0, sizeof(*out));
	if (!h->count)
		return;
	out->mean = hist_mean(h);
	out->p50 = hist_percentile(h, 50.0);
	out->p99 = hist_percentile(h, 99.0);
	out->max = hist_max(h);
}

static int cmp_cost_desc(const void *x, const void *y)
{
	return -conn_cost_cmp(x, y);
}

const struct conn_view *agg_top(struct agg *a, size_t *n)
{
	/* sorting breaks the heap: nothing may be added after this */
	if (a->ntop > 1)
		qsort(a->top, a->ntop, sizeof(*a->top), cmp_cost_desc);
	*n = a->ntop;
	return a->top;
}
