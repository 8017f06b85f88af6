// SPDX-License-Identifier: MIT
/* Aggregation of connection records (see aggregate.h). */
#include "aggregate.h"

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
};

void agg_init(struct agg *a, size_t keep)
{
	memset(a, 0, sizeof(*a));
	a->keep = keep;
}

void agg_free(struct agg *a)
{
	for (int m = 0; m < M_COUNT; m++)
		free(a->metric[m]);
	free(a->open_ns);
	free(a->close_ns);
	free(a->top);
	memset(a, 0, sizeof(*a));
}

void conn_sum_syscalls(struct conn *c)
{
	c->syscalls = c->sc_other;
	c->syscall_ns = c->sc_other_ns;
	for (int i = 0; i < CONN_SC_SLOTS; i++) {
		c->syscalls += c->sc[i].count;
		c->syscall_ns += c->sc[i].ns;
	}
}

__u64 conn_metric(const struct conn *c, enum metric m)
{
	switch (m) {
	case M_SYSCALLS: return c->syscalls;
	case M_CTX_SWITCHES: return c->ctx_voluntary + c->ctx_involuntary;
	case M_CPU_NS: return c->cpu_ns;
	case M_BYTES_RX: return c->bytes_rx;
	case M_BYTES_TX: return c->bytes_tx;
	case M_KERNEL_BYTES: return c->kernel_bytes_peak;
	case M_USER_BYTES: return c->user_bytes_peak > 0 ? (__u64)c->user_bytes_peak : 0;
	case M_COUNT: break;
	}
	return 0;
}

int conn_cost_cmp(const struct conn *a, const struct conn *b)
{
	if (a->cpu_ns != b->cpu_ns)
		return a->cpu_ns < b->cpu_ns ? -1 : 1;
	if (a->syscalls != b->syscalls)
		return a->syscalls < b->syscalls ? -1 : 1;
	return a->id < b->id ? 1 : (a->id > b->id ? -1 : 0);	/* older first */
}

void agg_add_kmem(struct agg *a, const __u64 kmem[KM_COUNT])
{
	for (int k = 0; k < KM_COUNT; k++)
		a->kmem_by_cat[k] += kmem[k];
}

static int grow(struct agg *a)
{
	size_t cap = a->cap ? a->cap * 2 : 1024;
	__u64 **arrays[M_COUNT + 2];
	int i;

	for (i = 0; i < M_COUNT; i++)
		arrays[i] = &a->metric[i];
	arrays[M_COUNT] = &a->open_ns;
	arrays[M_COUNT + 1] = &a->close_ns;
	for (i = 0; i < M_COUNT + 2; i++) {
		__u64 *p = realloc(*arrays[i], cap * sizeof(__u64));

		if (!p)
			return -1;	/* arrays already grown keep their data */
		*arrays[i] = p;
	}
	a->cap = cap;
	return 0;
}

static void heap_swap(struct conn *h, size_t i, size_t j)
{
	struct conn t = h[i];

	h[i] = h[j];
	h[j] = t;
}

static void sift_down(struct conn *h, size_t n, size_t i)
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

static void sift_up(struct conn *h, size_t i)
{
	while (i > 0 && conn_cost_cmp(&h[i], &h[(i - 1) / 2]) < 0) {
		heap_swap(h, i, (i - 1) / 2);
		i = (i - 1) / 2;
	}
}

/* Keep the `keep` costliest: a min-heap whose root is the cheapest kept. */
static void keep_top(struct agg *a, const struct conn *c)
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

int agg_add(struct agg *a, const struct conn *c)
{
	if (a->n == a->cap && grow(a))
		return -1;
	for (int m = 0; m < M_COUNT; m++)
		a->metric[m][a->n] = conn_metric(c, m);
	a->open_ns[a->n] = c->open_ns;
	a->close_ns[a->n] = c->close_ns;
	a->n++;
	if (!c->close_ns)
		a->open_at_end++;

	for (int i = 0; i < CONN_SC_SLOTS; i++) {
		__u32 nr = c->sc[i].nr;

		if (nr && nr - 1 < SYSCALL_MAX) {
			a->syscalls_by_nr[nr - 1] += c->sc[i].count;
			a->syscall_ns_by_nr[nr - 1] += c->sc[i].ns;
		}
	}
	a->syscalls_other += c->sc_other;
	for (int i = 0; i < CONN_URING_SLOTS; i++) {
		__u32 op = c->uring[i].opcode;

		if (op && op - 1 < 256)
			a->uring_by_op[op - 1] += c->uring[i].count;
	}
	keep_top(a, c);
	return 0;
}

static int cmp_u64(const void *x, const void *y)
{
	__u64 a = *(const __u64 *)x, b = *(const __u64 *)y;

	return a < b ? -1 : a > b;
}

/* nearest rank: the smallest value with at least p of the data at or below */
static __u64 rank(const __u64 *sorted, size_t n, double p)
{
	size_t k = (size_t)(p * (double)n);

	if ((double)k < p * (double)n)
		k++;
	return sorted[k ? k - 1 : 0];
}

void agg_dist(const struct agg *a, enum metric m, struct dist *out)
{
	__u64 *v;
	double sum = 0;

	memset(out, 0, sizeof(*out));
	if (!a->n)
		return;
	v = malloc(a->n * sizeof(*v));
	if (!v)
		return;
	memcpy(v, a->metric[m], a->n * sizeof(*v));
	qsort(v, a->n, sizeof(*v), cmp_u64);
	for (size_t i = 0; i < a->n; i++)
		sum += (double)v[i];
	out->mean = sum / (double)a->n;
	out->p50 = rank(v, a->n, 0.50);
	out->p99 = rank(v, a->n, 0.99);
	out->max = v[a->n - 1];
	free(v);
}

struct edge {
	__u64 t;
	int delta;
};

static int cmp_edge(const void *x, const void *y)
{
	const struct edge *a = x, *b = y;

	if (a->t != b->t)
		return a->t < b->t ? -1 : 1;
	return a->delta - b->delta;	/* a close at t ends before an open at t */
}

__u64 agg_peak_open(const struct agg *a)
{
	struct edge *e = malloc(2 * a->n * sizeof(*e) + 1);
	size_t ne = 0;
	__s64 open = 0, peak = 0;

	if (!e)
		return 0;
	for (size_t i = 0; i < a->n; i++) {
		e[ne++] = (struct edge){ a->open_ns[i], +1 };
		if (a->close_ns[i])
			e[ne++] = (struct edge){ a->close_ns[i], -1 };
	}
	qsort(e, ne, sizeof(*e), cmp_edge);
	for (size_t i = 0; i < ne; i++) {
		open += e[i].delta;
		if (open > peak)
			peak = open;
	}
	free(e);
	return (__u64)peak;
}

static int cmp_cost_desc(const void *x, const void *y)
{
	return -conn_cost_cmp(x, y);
}

const struct conn *agg_top(struct agg *a, size_t *n)
{
	/* sorting breaks the heap: nothing may be added after this */
	if (a->ntop > 1)
		qsort(a->top, a->ntop, sizeof(*a->top), cmp_cost_desc);
	*n = a->ntop;
	return a->top;
}
