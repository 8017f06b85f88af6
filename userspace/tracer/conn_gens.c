// SPDX-License-Identifier: MIT
/*
 * The connection map's generations (bpf/lib/maps.bpf.h): their sizes, the
 * next one added as open connections rise, and the walks over the records
 * they hold.
 */
#include "tracer/conn_gens.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "conctrace.skel.h"

/*
 * CONCTRACE_CONN_GEN0: a smaller first generation of the connection map,
 * for the tests that watch it grow without 20,000 connections. Not an
 * option: the default is sized so that a burst between two polls fits.
 */
__u32 conn_gen0_from_env(void)
{
	const char *v = getenv("CONCTRACE_CONN_GEN0");
	unsigned long n;
	char *end;

	if (!v)
		return CONN_GEN0;
	n = strtoul(v, &end, 10);
	if (*end || n < 2 || n > CONN_GEN0) {
		fprintf(stderr, "conctrace: warning: ignoring CONCTRACE_CONN_GEN0=%s "
			"(2 to %d)\n", v, CONN_GEN0);
		return CONN_GEN0;
	}
	return (__u32)n;
}

int conn_gen_sizes(unsigned long max_conns, __u32 first, __u32 size[CONN_GENS])
{
	unsigned long left = max_conns ? max_conns : 1, next = first ? first : 1;
	int n = 0;

	while (left && n < CONN_GENS) {
		size[n] = (__u32)(n == CONN_GENS - 1 || next > left ? left : next);
		left -= size[n++];
		next *= CONN_GEN_GROWTH;
	}
	return n;
}

int tracer_attach_sweep(struct tracer *t, int g)
{
	union bpf_iter_link_info linfo = { .map.map_fd = (__u32)t->gen_fd[g] };
	LIBBPF_OPTS(bpf_iter_attach_opts, iopts, .link_info = &linfo,
		    .link_info_len = sizeof(linfo));

	t->sweep[g] = bpf_program__attach_iter(t->skel->progs.sweep_ended, &iopts);
	return t->sweep[g] ? 0 : -1;
}

/*
 * Add the connection map's next generation once its elements (open
 * connections and socket pairs) reach half of what those present hold:
 * BPF inserts into the newest with room, so the rest is the burst a poll
 * may come late for. Published to
 * BPF only once in the outer map; if the kernel refuses one, the
 * generations present are what there is (a full map counts untracked
 * connections, as --max-conns does).
 */
void tracer_grow(struct tracer *t)
{
	struct conctrace_bpf__bss *bss = t->skel->bss;

	while (t->n_gens < t->n_gens_planned &&
	       __atomic_load_n(&bss->conn_elems, __ATOMIC_RELAXED) >=
	       __atomic_load_n(&bss->grow_at, __ATOMIC_RELAXED)) {
		LIBBPF_OPTS(bpf_map_create_opts, mo, .map_flags = BPF_F_NO_PREALLOC);
		__u32 g = (__u32)t->n_gens, held = 0;
		char name[16];
		int fd;

		snprintf(name, sizeof(name), "conns_g%u", g);
		fd = bpf_map_create(BPF_MAP_TYPE_HASH, name, sizeof(__u64), sizeof(struct conn),
				    t->gen_size[g], &mo);
		if (fd < 0 || bpf_map_update_elem(bpf_map__fd(t->skel->maps.conns), &g, &fd, BPF_ANY)) {
			fprintf(stderr, "conctrace: warning: cannot add connection map generation "
				"%u (%u entries): %s; tracking at most the %d present\n", g,
				t->gen_size[g], strerror(errno), t->n_gens);
			if (fd >= 0)
				close(fd);
			t->n_gens_planned = t->n_gens;
			__atomic_store_n(&bss->grow_at, 0, __ATOMIC_RELAXED);
			return;
		}
		t->gen_fd[g] = fd;
		t->n_gens++;
		if (t->sweep[0] && tracer_attach_sweep(t, (int)g))
			t->sweep_in_userspace = true;	/* this one swept from here */
		for (int i = 0; i < t->n_gens; i++)
			held += t->gen_size[i];
		__atomic_store_n(&bss->extra_gens, (__u32)t->n_gens - 1, __ATOMIC_RELEASE);
		__atomic_store_n(&bss->grow_at, t->n_gens < t->n_gens_planned ? (__s64)held / 2 : 0,
				 __ATOMIC_RELAXED);
		__atomic_store_n(&bss->grow_asked, 0, __ATOMIC_RELAXED);
	}
}

/* The connections the sweep ends, gathered before any is deleted: a hash
 * map walked while it shrinks may skip or repeat entries. */
struct ended {
	struct tracer *t;
	__u64 *ids;
	size_t n, cap;
	size_t outlived_open;	/* full mode: those not closed, swept or not */
};

static void gather_ended(void *ctx, const struct conn *c)
{
	struct ended *e = ctx;
	const struct conctrace_bpf__bss *bss = e->t->skel->bss;
	const struct conctrace_bpf__rodata *ro = e->t->skel->rodata;

	/* full mode ends connections at close(), but for one a close()
	 * left to another holder (CONN_OUTLIVED: a forking server's child,
	 * or whatever held the file for a moment), whose socket's release a
	 * reset may have left without an event */
	if (!ro->no_syscall_hooks && !(c->flags & CONN_OUTLIVED))
		return;
	if (!ro->no_syscall_hooks && !c->close_ns)
		e->outlived_open++;
	/* the rule of the BPF sweep (progs/snapshots.bpf.h, sweep_ended) */
	if (c->close_ns || c->seen_gen == bss->snapshot_gen || c->open_ns >= bss->snapshot_ns ||
	    c->netns != ro->tracer_netns)
		return;
	if (c->family == 1 /* AF_UNIX */ ? !ro->sweep_unix : !ro->sweep_tcp)
		return;
	if (e->n == e->cap) {
		size_t cap = e->cap ? 2 * e->cap : 256;
		__u64 *ids = realloc(e->ids, cap * sizeof(*ids));

		if (!ids)
			return;	/* ended at the next sample instead */
		e->ids = ids;
		e->cap = cap;
	}
	e->ids[e->n++] = c->id;
}

/*
 * Light mode on a kernel that refuses the map iterator (sweep_ended), and
 * full mode's outlived connections: the same rule, from userspace. Each
 * connection the snapshot no longer found
 * is taken out of the map and its final record handed on as the ring
 * buffer would have: only if this delete took it out, since BPF may have
 * finalized it meanwhile (then its own record is on the way).
 */
size_t tracer_sweep_from_userspace(struct tracer *t)
{
	struct ended e = { .t = t };
	size_t swept = 0;

	tracer_for_each_open(t, gather_ended, &e);
	for (size_t i = 0; i < e.n; i++) {
		struct conn_event ev = { .type = EV_CONN_CLOSED };
		int g;

		for (g = 0; g < t->n_gens; g++)
			if (bpf_map_lookup_elem(t->gen_fd[g], &e.ids[i], &ev.conn) == 0)
				break;
		if (g == t->n_gens || bpf_map_delete_elem(t->gen_fd[g], &e.ids[i]))
			continue;
		swept++;
		__atomic_fetch_sub(&t->skel->bss->conn_elems, 1, __ATOMIC_RELAXED);
		ev.conn.close_ns = t->skel->bss->snapshot_ns;
		if (!(ev.conn.flags & CONN_PAIR))	/* BPF counts connections only */
			__atomic_fetch_sub(&t->skel->bss->live_conns, 1, __ATOMIC_RELAXED);
		if (t->on_event)
			t->on_event(t->ctx, &ev, sizeof(ev));
	}
	free(e.ids);
	return e.outlived_open > swept ? e.outlived_open - swept : 0;
}

static void for_each_in_gen(int fd, void (*fn)(void *ctx, const struct conn *c), void *ctx);

void tracer_for_each_open(struct tracer *t, void (*fn)(void *ctx, const struct conn *c),
			  void *ctx)
{
	for (int g = 0; g < t->n_gens; g++)
		for_each_in_gen(t->gen_fd[g], fn, ctx);
}

static void for_each_in_gen(int fd, void (*fn)(void *ctx, const struct conn *c), void *ctx)
{
	enum { BATCH = 256 };	/* 256 x 560 B: one syscall per 256 connections */
	__u64 key, next, *prev = NULL;
	__u64 keys[BATCH], out_batch;
	static struct conn batch[BATCH];
	struct conn c;
	bool started = false;

	for (;;) {
		__u32 n = BATCH;
		int err = bpf_map_lookup_batch(fd, started ? &out_batch : NULL, &out_batch,
					       keys, batch, &n, NULL);

		if (err && errno != ENOENT) {
			if (started)	/* the map changed under us: what we have will do */
				return;
			break;		/* no batch ops here: one entry at a time */
		}
		for (__u32 i = 0; i < n; i++)
			fn(ctx, &batch[i]);
		started = true;
		if (err)
			return;		/* ENOENT: that was the last batch */
	}
	while (bpf_map_get_next_key(fd, prev, &next) == 0) {
		if (bpf_map_lookup_elem(fd, &next, &c) == 0)
			fn(ctx, &c);
		key = next;
		prev = &key;
	}
}
