/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * User memory: every change of the target's resident set, charged to the
 * connection its thread served.
 */
#ifndef CONCTRACE_PROGS_RSS_BPF_H
#define CONCTRACE_PROGS_RSS_BPF_H

#include "lib/charging.bpf.h"
#include "lib/mm.bpf.h"
#include "lib/stacks.bpf.h"
#include "lib/thread.bpf.h"

/*
 * A collector's helper threads (V8's parallel scavengers and markers)
 * grow the heap for the collection its thread runs, charged where that
 * thread's own growth goes: to the connection whose allocation began it
 * (page tables of the pages they evacuate to, 40-60 B of an idle Node
 * connection's 290). False if that connection's record takes nothing
 * more (closed meanwhile): the bucket's, then.
 */
static __always_inline bool charge_collection(__u64 id, __s64 user_bytes,
					      __s64 page_table_bytes, __s32 vmas)
{
	struct conn *c = conn_hold(id);

	if (!c)
		return false;
	conn_add_memory(c, user_bytes, 0, page_table_bytes, vmas);
	conn_put(id, c);
	return true;
}

/* The address space's pages as its counters now stand (each read exactly
 * at its last change), and the most they were at once. */
static __always_inline void note_rss_peak(struct rss_state *st)
{
	raise_peak(&st->peak_pages, rss_state_pages(st));
}

/*
 * The state's counters moved to what the kernel's now hold, after a
 * change of member (-1 count: summed per CPU here; else the value the
 * event carried, before 6.2): what each of its figures changed by, in
 * bytes (user pages, page tables) and VMAs. False: nothing changed.
 */
static __always_inline bool rss_state_update(struct rss_state *st, struct mm_struct *mm,
					     int member, long count, struct proc_counters *pc,
					     __s64 *delta, __s64 *pt_delta, __s32 *vma_delta)
{
	__s64 pages, prev, pt;
	__s32 vmas;
	bool exact;

	if (count < 0) {
		pages = rss_pages(mm, member, &exact);
		if (!exact)
			pc->rss_inexact++;
	} else {
		pages = count;
	}
	prev = __sync_lock_test_and_set(&st->pages[member & 3], pages);
	*delta = (pages - prev) * (__s64)page_size;
	if (*delta > 0)
		note_rss_peak(st);
	/* page tables are allocated by the fault that maps the page, VMAs by
	 * the mmap before it: both are settled by the time RSS moves */
	pt = page_table_bytes(mm);
	*pt_delta = pt - __sync_lock_test_and_set(&st->page_table_bytes, pt);
	vmas = mm->map_count;
	*vma_delta = vmas - __sync_lock_test_and_set(&st->map_count, vmas);
	return *delta || *pt_delta || *vma_delta;
}

/* Whether mm is a target process's, from wherever it changes: its owner
 * (the task memory cgroups charge it to; CONFIG_MEMCG) is one of the
 * target's. Without memory cgroups, no change from elsewhere is seen. */
static __always_inline bool mm_of_target(struct mm_struct *mm)
{
	struct task_struct *owner;

	if (!bpf_core_field_exists(mm->owner))
		return false;
	owner = mm->owner;
	return owner && tgid_is_target(owner->tgid);
}

/*
 * A change of mm made where it is not the current task's address space.
 * Its teardown (no user left) by a target's exiting or exec'ing thread
 * gives back what it was charged (image_torn_down). In use, and a
 * target's: reclaim unmapped its pages (kswapd, another process's direct
 * reclaim, a proactive reclaimer such as DAMON's kdamond, process_madvise),
 * khugepaged collapsed them, or a debugger wrote to it. No request's
 * doing: the event loop's. Unseen, it went to whichever thread next
 * changed that counter, in one lump: a request that faulted one page back
 * in was charged the whole reclaim, minus that page
 * (test_tree_rss.py's pageout). Otherwise someone else's memory.
 */
static __always_inline void rss_changed_elsewhere(struct task_struct *task, struct mm_struct *mm,
						  int member, long count,
						  struct proc_counters *pc)
{
	__s64 delta, pt_delta;
	__s32 vma_delta;
	struct rss_state *st;
	__u64 key = (__u64)mm;

	if (mm->mm_users.counter <= 0) {
		if (task)
			image_torn_down(task, mm, pc);
		return;
	}
	if (!mm_of_target(mm))
		return;
	st = bpf_map_lookup_elem(&rss, &key);
	if (!st || st->mm_id != mm_id(mm))
		return;	/* not seen yet: its first sight reads what this left */
	if (!rss_state_update(st, mm, member, count, pc, &delta, &pt_delta, &vma_delta))
		return;
	pc->loop.user_bytes += delta;
	pc->loop.page_table_bytes += pt_delta;
	pc->loop.vmas += vma_delta;
}

/*
 * Every change of a target's RSS, in the context of the thread that made
 * it (a page fault, an munmap, an madvise): the delta is charged to that
 * thread's current connection. Thread stacks, coroutine stacks and
 * connection buffers land where they were touched.
 *
 * count: the counter's new value in pages, as kernels before 6.2 give it
 * (their counters are atomics, not per-CPU); -1 where the event does not,
 * and the per-CPU counters are summed instead.
 */
static __always_inline int rss_changed(void *ctx, struct mm_struct *mm, int member, long count)
{
	struct proc_counters *pc = proc_counters();
	struct rss_state *st;
	struct task_struct *task, *cur;
	struct thread_state *ts;
	__s64 delta, pt_delta;
	__s32 vma_delta;
	__u64 key = (__u64)mm;
	__u32 id;
	bool program_pages, collecting;

	/* an anonymous enum in the kernel, so no CO-RE: its order (file,
	 * anon, swap, shmem) has held since 4.5 */
	if (!pc || member < 0 || member > 3 || member == MM_SWAPENTS)
		return 0;	/* swapped out is not resident */
	/* every task's page faults come here: one whose own memory changed
	 * and which is not the target's leaves at once, as before */
	cur = bpf_get_current_task_btf();
	task = tgid_is_target(cur->tgid) ? cur : NULL;
	if (!task || task->mm != mm) {
		if (task || cur->mm != mm)
			rss_changed_elsewhere(task, mm, member, count, pc);
		return 0;
	}
	id = mm_id(mm);
	st = rss_state_of(task, mm, id, pc);
	if (!st)
		return 0;
	if (!rss_state_update(st, mm, member, count, pc, &delta, &pt_delta, &vma_delta))
		return 0;
	ts = thread_state(task);
	if (ts && ts->mm_key != key) {
		ts->mm_key = key;
		ts->mm_id = id;
	}
	/* file pages are the program's code and files, faulted in (16 at a
	 * time: fault-around) by whatever first runs that code: no
	 * connection's, though one happens to be current */
	program_pages = member == MM_FILEPAGES;
	if (delta > 0 && flame_wants(FV_UMEM))
		flame_add(ctx, FV_UMEM, ts && !program_pages ? ts->cur_conn : 0, 0, delta,
			  true, false);
	/* a collection's growth is its owner's, whether or not the thread
	 * sleeps in it (V8's main thread waits for its helpers: pending
	 * after, its growth went to the next connection it named, or to the
	 * loop if it waited for events first) */
	collecting = ts && ts->runtime_depth && st->collector_conn;
	if (ts && (ts->pending || ts->cur_conn) && !program_pages && !collecting) {
		/* pending, for the connection named next (or, if the thread
		 * sleeps first, the current one) */
		bool teardown = (pt_delta || vma_delta) && current_in_teardown(ts);

		if (ts->pending)
			owe_user_bytes(&ts->deferred.user_bytes, &ts->deferred.user_bytes_most, delta);
		else
			owe_user_bytes(&ts->owed.user_bytes, &ts->owed.user_bytes_most, delta);
		if (teardown) {
			/* teardown's: a runtime collecting as it closes (V8
			 * grew its heap's page tables by 200 B a connection
			 * while 900 closed at once; a thread that closed one
			 * is pending for the next, which is closing too), a
			 * thread unmapping its stack. Neither what an open
			 * connection held nor its peak, so the bucket's */
			struct bucket_counts *b = idle_bucket(pc, ts);

			b->page_table_bytes += pt_delta;
			b->vmas += vma_delta;
		} else if (ts->pending) {
			ts->deferred.page_table_bytes += pt_delta;
			ts->deferred.vmas += vma_delta;
		} else {
			ts->owed.page_table_bytes += pt_delta;
			ts->owed.vmas += vma_delta;
		}
	} else if (!ts || program_pages || !st->collector_conn ||
		   !charge_collection(st->collector_conn, delta, pt_delta, vma_delta)) {
		struct bucket_counts *b = idle_bucket(pc, ts);

		b->user_bytes += delta;
		b->page_table_bytes += pt_delta;
		b->vmas += vma_delta;
	}
	return 0;
}

SEC("tp_btf/rss_stat")
int BPF_PROG(on_rss_stat, struct mm_struct *mm, int member)
{
	return rss_changed(ctx, mm, member, -1);
}

/* Before 6.2 the event carried the counter's value (programs.c picks the
 * variant whose signature the kernel has). */
SEC("tp_btf/rss_stat")
int BPF_PROG(on_rss_stat_count, struct mm_struct *mm, int member, long count)
{
	return rss_changed(ctx, mm, member, count < 0 ? 0 : count);
}

#endif /* CONCTRACE_PROGS_RSS_BPF_H */
