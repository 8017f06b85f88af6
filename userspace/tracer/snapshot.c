// SPDX-License-Identifier: MIT
/*
 * The samples' walks over sockets (see snapshot.h). A walk of every TCP
 * socket of the machine visits every bucket of the kernel's established
 * hash, empty ones too, and every other process's sockets: a quarter of
 * conctrace's CPU at 15,000 idle connections here, and on loopback the
 * clients' sockets as many as the server's. The target's own descriptors
 * hold its connections; the machine's sockets are walked only where
 * those did not find every open one (a connection another process holds
 * now, one ended without an event in light mode), at least every
 * WHOLE_EVERY samples, and before the report.
 */
#include "tracer/snapshot.h"

#include <errno.h>
#include <time.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "conctrace.skel.h"
#include "tracer/conn_gens.h"

#define WHOLE_EVERY	10	/* samples: a socket pair another process holds is found then */
#define OWN_WALK_MAX	32	/* processes walked one by one; more: the machine's walk */

void tracer_run_iter(struct bpf_link *link)
{
	char buf[64];
	int fd;

	if (!link)
		return;
	fd = bpf_iter_create(bpf_link__fd(link));
	if (fd < 0)
		return;
	while (read(fd, buf, sizeof(buf)) > 0)
		;
	close(fd);
}

void snapshot_plan(struct conctrace_bpf *skel, const struct btf *vmlinux)
{
	struct bpf_program *p = skel->progs.snapshot_files;

	/* linked per process at each sample, not by the skeleton */
	bpf_program__set_autoattach(p, false);
	/* a task iterator given one process: 6.1's bpf_iter_task_type */
	if (!vmlinux || btf__find_by_name_kind(vmlinux, "bpf_iter_task_type", BTF_KIND_ENUM) <= 0)
		bpf_program__set_autoload(p, false);
}

/* snapshot_files over one process's descriptors; false if the kernel
 * refused the iterator. */
static bool walk_process(struct tracer *t, __u32 tgid)
{
	union bpf_iter_link_info linfo = { .task.pid = tgid };
	LIBBPF_OPTS(bpf_iter_attach_opts, opts, .link_info = &linfo,
		    .link_info_len = sizeof(linfo));
	struct bpf_link *link = bpf_program__attach_iter(t->skel->progs.snapshot_files, &opts);

	if (!link)
		return false;
	tracer_run_iter(link);
	bpf_link__destroy(link);
	return true;
}

/* Every target process's descriptors; false where they could not all be
 * walked (no such iterator, too many processes). */
static bool walk_own_files(struct tracer *t)
{
	struct conctrace_bpf__bss *bss = t->skel->bss;
	__u32 key, next, *prev = NULL, n = 0;
	int fd = bpf_map__fd(t->skel->maps.targets);

	if (!bpf_program__autoload(t->skel->progs.snapshot_files) ||
	    bss->nr_extra_targets >= OWN_WALK_MAX || !walk_process(t, bss->target_tgid))
		return false;
	/* forked and -p's other processes (an exited one walks nothing) */
	while (bss->nr_extra_targets && bpf_map_get_next_key(fd, prev, &next) == 0) {
		if (++n >= OWN_WALK_MAX || !walk_process(t, next))
			return false;
		key = next;
		prev = &key;
	}
	return true;
}

/* The machine's sockets, then what that walk lets end: light mode's
 * connections whose socket is gone, full mode's outlived ones. */
static void walk_machine(struct tracer *t, __u64 outlived_marked)
{
	tracer_run_iter(t->skel->links.snapshot_tcp);
	tracer_run_iter(t->skel->links.snapshot_unix);
	for (int g = 0; g < t->n_gens; g++)
		tracer_run_iter(t->sweep[g]);	/* light mode */
	if (t->sweep_in_userspace) {
		tracer_sweep_from_userspace(t);
	} else if (!t->light && (outlived_marked != t->outlived_swept || t->outlived_open)) {
		/* full mode: the connections a close() left to another holder
		 * (CONN_OUTLIVED), while any may be open: a walk of the map */
		t->outlived_swept = outlived_marked;
		t->outlived_open = tracer_sweep_from_userspace(t) > 0;
	}
}

void tracer_snapshot(struct tracer *t, bool whole)
{
	struct conctrace_bpf__bss *bss = t->skel->bss;
	__u64 marked = __atomic_load_n(&bss->outlived_marked, __ATOMIC_ACQUIRE);
	struct timespec now;

	/* no record to find, to sample or to end: nothing to walk (a server
	 * without connections walked every socket of the machine every
	 * WHOLE_EVERY samples, a fifth of an idle conctrace's CPU); one made
	 * meanwhile is sampled at its own I/O, and walked next time */
	if (__atomic_load_n(&bss->conn_elems, __ATOMIC_RELAXED) <= 0) {
		t->outlived_swept = marked;
		t->outlived_open = false;
		return;
	}
	/* bpf_ktime_get_ns() is CLOCK_MONOTONIC */
	clock_gettime(CLOCK_MONOTONIC, &now);
	bss->snapshot_ns = (__u64)now.tv_sec * 1000000000ull + (__u64)now.tv_nsec;
	bss->snapshot_gen++;
	__atomic_store_n(&bss->snapshot_found, 0, __ATOMIC_RELAXED);
	/* A connection opened during the walk and not found makes the count
	 * short: the machine's walk then. One found and closed during it can
	 * hide one not found; WHOLE_EVERY bounds how long. */
	if (!whole && marked == t->outlived_swept && ++t->since_whole < WHOLE_EVERY &&
	    walk_own_files(t) &&
	    __atomic_load_n(&bss->snapshot_found, __ATOMIC_RELAXED) >= tracer_open_conns(t)) {
		t->own_walks++;
		return;
	}
	t->since_whole = 0;
	t->machine_walks++;
	walk_machine(t, marked);
}
