/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * Memory, included by conctrace.bpf.c (it uses its maps, struct
 * thread_state and the charging helpers): the socket iterators that read
 * every tracked connection's buffers when userspace asks, and the rss_stat
 * program that charges RSS changes to the current connection.
 */
#ifndef CONCTRACE_MEMORY_BPF_H
#define CONCTRACE_MEMORY_BPF_H

/* ---- buffer snapshots: every tracked socket, when userspace asks -------- */

/*
 * Data can sit in a socket the server never reads, with no event of ours
 * firing. Userspace runs these iterators (like ss -m does its netlink dump)
 * at each sample and before the report, so current and peak buffers are as
 * of then. Each run is a numbered snapshot, begun at snapshot_ns, and
 * marks the connections whose sockets it finds alive (sweep_ended).
 */
__u32 snapshot_gen = 0;
__u64 snapshot_ns = 0;
/* conctrace's own network namespace: the iterators see only its sockets */
const volatile __u32 tracer_netns = 0;
/* the families whose iterator this kernel has: only their absence is news */
const volatile bool sweep_tcp = false, sweep_unix = false;

static __always_inline void snapshot(struct sock *sk)
{
	__u64 id = socket_file_ino(sk->sk_socket);
	struct buffers b;
	struct conn *c;

	if (!id)
		return;
	c = bpf_map_lookup_elem(&conns, &id);
	if (!c)
		return;
	c->seen_gen = snapshot_gen;
	read_buffers(sk, &b);
	conn_set_buffers(c, &b, b.rx, b.tx, b.fwd, buffers_sum(&b));
}

SEC("iter/tcp")
int snapshot_tcp(struct bpf_iter__tcp *ctx)
{
	struct sock_common *skc = ctx->sk_common;
	struct tcp_sock *tp;

	if (!skc)
		return 0;
	tp = bpf_skc_to_tcp_sock(skc);
	if (tp)
		snapshot(&tp->inet_conn.icsk_inet.sk);
	return 0;
}

SEC("iter/unix")
int snapshot_unix(struct bpf_iter__unix *ctx)
{
	struct unix_sock *u = ctx->unix_sk;

	if (u)
		snapshot(&u->sk);
	return 0;
}

/*
 * Light mode sees no close(). A Unix socket's release fires no tracepoint,
 * and a TCP socket reset by its peer changes no state when it is closed
 * later. After a snapshot, this walks the connection map: a connection of
 * our namespace, known before the snapshot began, whose socket the
 * snapshot did not find alive (released; for TCP, also unhashed by a
 * reset), has ended since the last one. It ends as of this snapshot's
 * start, the earliest time known to be after its end (README: such close
 * times are bounds).
 */
SEC("iter/bpf_map_elem")
int sweep_ended(struct bpf_iter__bpf_map_elem *ctx)
{
	__u64 *id = ctx->key;
	struct conn *c = ctx->value;

	if (!id || !c)
		return 0;
	if (c->close_ns || c->seen_gen == snapshot_gen || c->open_ns >= snapshot_ns ||
	    c->netns != tracer_netns)
		return 0;
	if (c->family == AF_UNIX ? !sweep_unix : !sweep_tcp)
		return 0;
	c->close_ns = snapshot_ns;
	count_live(&live_conns, &conns_peak, -1);
	conn_finalize(*id, c);
	return 0;
}

/* ---- user memory ------------------------------------------------------ */

/*
 * An mm's RSS counters are per-CPU (percpu_counter): the exact value is the
 * global count plus every CPU's unfolded share, which is what the rss_stat
 * event itself reports (percpu_counter_sum_positive). The global count
 * alone moves in batches of 32 pages, which would charge 128 KiB at a time
 * to whichever connection happened to be current.
 */
static __always_inline __s64 counter_sum(struct percpu_counter *fbc, bool *exact)
{
	__s64 sum = fbc->count;
	__u64 counters = (__u64)fbc->counters;
	__u32 zero = 0;

	*exact = rq_to_this_cpu_off != 0;
	for (__u32 cpu = 0; cpu < MAX_CPUS && cpu < nr_cpus && *exact; cpu++) {
		__u64 *off = bpf_map_lookup_percpu_elem(&cpu_off, &zero, cpu);
		__s32 v = 0;

		if (!off || !*off) {
			*exact = false;	/* this CPU has not switched since we attached */
			break;
		}
		bpf_probe_read_kernel(&v, sizeof(v), (void *)(counters + *off));
		sum += v;
	}
	return sum > 0 ? sum : 0;
}

/* typed loads need constant offsets: one case per counter */
static __always_inline __s64 rss_pages(struct mm_struct *mm, int member, bool *exact)
{
	switch (member) {
	case 0: return counter_sum(&mm->rss_stat[0], exact);
	case 1: return counter_sum(&mm->rss_stat[1], exact);
	case 3: return counter_sum(&mm->rss_stat[3], exact);
	}
	*exact = true;
	return 0;
}

/* mm->pgtables_bytes: page-table pages of the address space, in bytes
 * (absent on kernels without an MMU, where there is nothing to count) */
static __always_inline __s64 page_table_bytes(struct mm_struct *mm)
{
	if (!bpf_core_field_exists(mm->pgtables_bytes))
		return 0;
	return BPF_CORE_READ(mm, pgtables_bytes.counter);
}

/*
 * Every change of a target's RSS, in the context of the thread that made
 * it (a page fault, an munmap, an madvise): the delta is charged to that
 * thread's current connection. Thread stacks, coroutine stacks and
 * connection buffers land where they were touched.
 */
SEC("tp_btf/rss_stat")
int BPF_PROG(on_rss_stat, struct mm_struct *mm, int member)
{
	struct proc_counters *pc = proc_counters();
	struct rss_state *st, zero = {};
	struct task_struct *task;
	struct thread_state *ts;
	__s64 pages, prev, delta, pt, pt_delta;
	__s32 vmas, vma_delta;
	__u64 key = (__u64)mm;
	bool exact, program_pages;

	task = target_current();
	if (!task || !pc)
		return 0;
	if (task->mm != mm)
		return 0;	/* another process's memory (process_vm_*, ptrace) */
	/* an anonymous enum in the kernel, so no CO-RE: its order (file,
	 * anon, swap, shmem) has held since 4.5 */
	if (member < 0 || member > 3 || member == MM_SWAPENTS)
		return 0;	/* swapped out is not resident */
	st = bpf_map_lookup_elem(&rss, &key);
	if (!st) {
		bpf_map_update_elem(&rss, &key, &zero, BPF_NOEXIST);
		st = bpf_map_lookup_elem(&rss, &key);
		if (!st)
			return 0;
		if (!rss_from_zero) {
			/* attached mid-life: these first values are the baseline */
			st->pages[0] = rss_pages(mm, 0, &exact);
			st->pages[1] = rss_pages(mm, 1, &exact);
			st->pages[3] = rss_pages(mm, 3, &exact);
			st->page_table_bytes = page_table_bytes(mm);
			st->map_count = mm->map_count;
			return 0;
		}
	}
	pages = rss_pages(mm, member, &exact);
	if (!exact)
		pc->rss_inexact++;
	prev = __sync_lock_test_and_set(&st->pages[member & 3], pages);
	delta = (pages - prev) * (__s64)page_size;
	/* page tables are allocated by the fault that maps the page, VMAs by
	 * the mmap before it: both are settled by the time RSS moves */
	pt = page_table_bytes(mm);
	pt_delta = pt - __sync_lock_test_and_set(&st->page_table_bytes, pt);
	vmas = mm->map_count;
	vma_delta = vmas - __sync_lock_test_and_set(&st->map_count, vmas);
	if (!delta && !pt_delta && !vma_delta)
		return 0;
	ts = thread_state(task);
	/* file pages are the program's code and files, faulted in (16 at a
	 * time: fault-around) by whatever first runs that code: no
	 * connection's, though one happens to be current */
	program_pages = member == MM_FILEPAGES;
	if (delta > 0 && flame_wants(FV_UMEM))
		flame_add(ctx, FV_UMEM, ts && !program_pages ? ts->cur_conn : 0, 0, delta,
			  true, false);
	if (ts && ts->cur_conn && !program_pages) {
		ts->owed.user_bytes += delta;
		ts->owed.page_table_bytes += pt_delta;
		ts->owed.vmas += vma_delta;
	} else {
		pc->loop_user_bytes += delta;
		pc->loop_page_table_bytes += pt_delta;
		pc->loop_vmas += vma_delta;
	}
	return 0;
}

#define IORING_CQE_F_MORE (1U << 1)	/* uapi */

/*
 * A request's final completion (a multishot one completes many times with
 * IORING_CQE_F_MORE first) frees its io_kiocb: one request fewer armed for
 * the connection its file is.
 */

#endif /* CONCTRACE_MEMORY_BPF_H */
