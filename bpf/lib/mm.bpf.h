/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * An address space's resident set, read exactly: its RSS counters are
 * per-CPU since 6.2, summed here through each CPU's per-CPU offset, which
 * the scheduler's program learns (learn_cpu_offset); and its page tables.
 * Where an address space's counting starts: its baseline (first_sight).
 * Its own peak, of exact readings (rss_state.peak_pages).
 */
#ifndef CONCTRACE_LIB_MM_BPF_H
#define CONCTRACE_LIB_MM_BPF_H

#include "lib/config.bpf.h"
#include "lib/maps.bpf.h"
#include "lib/thread.bpf.h"

/*
 * This CPU's per-CPU offset, once: its struct rq (runqueues) is in its
 * per-CPU area, and this_cpu_off, which holds the offset, lies a fixed
 * distance from it (userspace found the distance in BTF). task is any
 * task switching on this CPU.
 */
static __always_inline void learn_cpu_offset(struct task_struct *task)
{
	__u32 zero = 0;
	__u64 *off;

	if (!rq_to_this_cpu_off)
		return;
	off = bpf_map_lookup_elem(&cpu_off, &zero);
	if (off && !*off) {
		struct rq *r = BPF_CORE_READ(task, se.cfs_rq, rq);

		/* trust it only if it is this CPU's own */
		if (r && BPF_CORE_READ(r, cpu) == (int)bpf_get_smp_processor_id())
			bpf_probe_read_kernel(off, sizeof(*off),
					      (void *)((__u64)r + rq_to_this_cpu_off));
	}
}

/*
 * An mm's RSS counters are per-CPU (percpu_counter): the exact value is the
 * global count plus every CPU's unfolded share, which is what the rss_stat
 * event itself reports (percpu_counter_sum_positive). The global count
 * alone moves in batches of 32 pages, which would charge 128 KiB at a time
 * to whichever connection happened to be current.
 */
/* CPU cpu's per-CPU offset as learn_cpu_offset found it; 0: not yet (the
 * CPU has not switched since we attached) or never (no distance known). */
static __always_inline __u64 cpu_offset(__u32 cpu)
{
	__u32 zero = 0;
	__u64 *off;

	if (!rq_to_this_cpu_off)
		return 0;
	off = bpf_map_lookup_percpu_elem(&cpu_off, &zero, cpu);
	return off ? *off : 0;
}

static __always_inline __s64 counter_sum(struct percpu_counter *fbc, bool *exact)
{
	__s64 sum = fbc->count;
	__u64 counters = (__u64)fbc->counters;

	*exact = true;
	for (__u32 cpu = 0; cpu < MAX_CPUS && cpu < nr_cpus; cpu++) {
		__u64 off = cpu_offset(cpu);
		__s32 v = 0;

		if (!off) {
			*exact = false;
			break;
		}
		bpf_probe_read_kernel(&v, sizeof(v), (void *)(counters + off));
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

/* Before 6.2, an mm's RSS counters were atomics in struct mm_rss_stat. */
struct mm_rss_stat___atomic {
	atomic_long_t count[4];
} __attribute__((preserve_access_index));

struct mm_struct___atomic_rss {
	struct mm_rss_stat___atomic rss_stat;
} __attribute__((preserve_access_index));

static __always_inline __s64 rss_pages_atomic(struct mm_struct *mm, int member)
{
	struct mm_struct___atomic_rss *old = (void *)mm;
	__s64 v;

	switch (member) {
	case 0: v = BPF_CORE_READ(old, rss_stat.count[0].counter); break;
	case 1: v = BPF_CORE_READ(old, rss_stat.count[1].counter); break;
	case 3: v = BPF_CORE_READ(old, rss_stat.count[3].counter); break;
	default: v = 0;
	}
	return v > 0 ? v : 0;
}

/* mm->pgtables_bytes: page-table pages of the address space, in bytes
 * (absent on kernels without an MMU, where there is nothing to count) */
static __always_inline __s64 page_table_bytes(struct mm_struct *mm)
{
	if (!bpf_core_field_exists(mm->pgtables_bytes))
		return 0;
	return BPF_CORE_READ(mm, pgtables_bytes.counter);
}

/* Which mm lives at an address: mm_structs are freed and their slots reused
 * (an exited worker's, a replaced image's), so the address alone does not
 * say whether a state is this mm's. x86 numbers every mm (ctx_id, never
 * reused while the kernel runs); elsewhere 0, and the address decides. */
static __always_inline __u32 mm_id(struct mm_struct *mm)
{
	if (!bpf_core_field_exists(mm->context.ctx_id))
		return 0;
	return (__u32)BPF_CORE_READ(mm, context.ctx_id);
}

/*
 * True while the task is inside execve() (from before its new image is
 * installed until the call returns). An mm first seen by its own task then
 * is the new image's, empty when exec made it: all of its RSS grew in the
 * target. Any other first sight (a forked copy of its parent, which still
 * holds what the parent grew; a process traced mid-life; conctrace's own
 * child before it execs the command) only gives a baseline.
 */
static __always_inline bool task_in_execve(struct task_struct *t)
{
	if (!bpf_core_field_exists(t->in_execve))
		return false;	/* a baseline then: never more than RSS grew */
	return BPF_CORE_READ_BITFIELD_PROBED(t, in_execve);
}

/* An address space's resident pages as its state holds them: file, anon
 * and shmem (swapped out is not resident). */
static __always_inline __s64 rss_state_pages(const struct rss_state *st)
{
	return st->pages[0] + st->pages[1] + st->pages[3];
}

/*
 * Whether the address space at addr (mm_id id) is still some task's after
 * an exec left it: a vfork child's exec (posix_spawn, Python's subprocess,
 * Go's os/exec) leaves its parent's, which it borrowed, in use; an image
 * the exec replaced has no user left (exec_mmap's mmput, before the new
 * image's first change). Read by address: the mm may be freed, its slot
 * reused, so x86's ctx_id must still be the one the thread saw.
 */
static __always_inline bool mm_still_used(__u64 addr, __u32 id)
{
	struct mm_struct *mm = (void *)addr;
	__u64 ctx_id = 0;
	int users = 0;

	if (bpf_core_field_exists(mm->context.ctx_id) &&
	    (bpf_core_read(&ctx_id, sizeof(ctx_id), &mm->context.ctx_id) || (__u32)ctx_id != id))
		return false;
	if (bpf_core_read(&users, sizeof(users), &mm->mm_users.counter))
		return false;
	return users > 0;
}

/* Take the state at key out of the rss map if it is still mm id's: true,
 * with a copy in *gone (a deleted element may be reused at once), for the
 * one caller whose delete took it. */
static __always_inline bool take_rss_state(__u64 key, __u32 id, struct rss_state *gone)
{
	struct rss_state *st = bpf_map_lookup_elem(&rss, &key);

	if (!st || st->mm_id != id)
		return false;
	*gone = *st;
	return !bpf_map_delete_elem(&rss, &key);
}

/* What an address space's changes were charged, given back by the event
 * loop: connections keep their peaks, and the charges of the address
 * spaces alive add up to their growth. */
static __always_inline void give_back_image(struct proc_counters *pc, const struct rss_state *st)
{
	pc->loop.user_bytes -= rss_state_pages(st) * (__s64)page_size - st->base_bytes;
	pc->loop.page_table_bytes -= st->page_table_bytes - st->base_page_table_bytes;
	pc->loop.vmas -= st->map_count - st->base_vmas;
}

/*
 * An execve() replaced the image whose RSS this thread last changed: that
 * memory is gone, so what its changes were charged, the event loop gives
 * back. Its teardown (image_torn_down) did it already where it ran in the
 * target's thread and changed a counter; this is for an image torn down
 * elsewhere. Without it a launched command's figures began with
 * conctrace's own child between fork and exec (about 1.2 MB above any
 * RSS the command had). Its peak goes too, for the same reason: a
 * replaced image's peak is in the tree's only if a sample saw it.
 */
static __always_inline void drop_replaced_image(struct task_struct *task,
						struct proc_counters *pc, __u64 new_key)
{
	struct thread_state *ts = bpf_task_storage_get(&threads, task, 0, 0);
	struct rss_state gone;

	if (!ts || !ts->mm_key || ts->mm_key == new_key)
		return;
	/* a vfork child's exec: the image it leaves is its parent's, alive */
	if (!mm_still_used(ts->mm_key, ts->mm_id) && take_rss_state(ts->mm_key, ts->mm_id, &gone))
		give_back_image(pc, &gone);
	ts->mm_key = 0;
}

/*
 * mm, whose last user is gone (mm_users 0), changed: its teardown
 * (exit_mmap unmapping it), here in a target thread, in an exiting process
 * (exit_mm) or in an execve() that replaced it (exec_mmap). Its memory is
 * gone: the event loop gives back what its changes were charged (a forking
 * server's child, a CGI script's image, would otherwise add their whole
 * growth to the loop for the rest of the run) and its state leaves the
 * map, an exited process's peak kept (rss_gone_peak_pages). The first
 * target process's own exit, and every exit once userspace stops the
 * target, are the run's end: their charges stay, as the report shows
 * them. The first change of the teardown does it, the state deleted then:
 * later ones find none.
 */
static __always_inline void image_torn_down(struct task_struct *task, struct mm_struct *mm,
					    struct proc_counters *pc)
{
	bool exiting = task->flags & PF_EXITING;
	struct rss_state gone;

	if (exiting && (task->tgid == target_tgid || target_stopping))
		return;
	if (!take_rss_state((__u64)mm, mm_id(mm), &gone))
		return;
	if (exiting)
		raise_peak(&rss_gone_peak_pages, gone.peak_pages);
	give_back_image(pc, &gone);
}

/* An mm's RSS counters are atomics (before 6.2), not per-CPU counters.
 * Asked of mm_struct's field, not of struct mm_rss_stat's existence: a
 * type vmlinux lacks sends libbpf through every module's BTF */
static __always_inline bool rss_counters_atomic(void)
{
	return bpf_core_field_exists(((struct mm_struct___atomic_rss *)0)->rss_stat.count);
}

/* A counter's pages as they stand, whichever kind this kernel keeps. */
static __always_inline __s64 rss_pages_now(struct mm_struct *mm, int member)
{
	bool exact;

	return rss_counters_atomic() ? rss_pages_atomic(mm, member) : rss_pages(mm, member, &exact);
}

/*
 * The state of an address space first seen now (or whose address a dead
 * one's state, gone, still holds: its peak is kept apart). An image exec
 * made starts empty, so its first change counts from zero; any other mm's
 * first values are only its baseline: the pages a fork inherited, a
 * process traced mid-life, conctrace's own child before it execs the
 * command. NULL: nothing to charge for this event.
 */
static __always_inline struct rss_state *first_sight(struct task_struct *task, struct mm_struct *mm,
						     struct proc_counters *pc,
						     const struct rss_state *gone)
{
	struct rss_state *st, zero = { .mm_id = mm_id(mm) };
	__u64 key = (__u64)mm;

	/* plain stores here and below, no atomics: the switch-in comes here,
	 * and the core programs need nothing of 5.12's (a lost race at the
	 * reuse of an address keeps the smaller peak: still a lower bound) */
	if (gone && gone->peak_pages > rss_gone_peak_pages)
		rss_gone_peak_pages = gone->peak_pages;
	bpf_map_update_elem(&rss, &key, &zero, BPF_ANY);
	st = bpf_map_lookup_elem(&rss, &key);
	if (!st)
		return NULL;
	if (task_in_execve(task)) {
		drop_replaced_image(task, pc, key);
		return st;
	}
	st->pages[0] = rss_pages_now(mm, 0);
	st->pages[1] = rss_pages_now(mm, 1);
	st->pages[3] = rss_pages_now(mm, 3);
	st->page_table_bytes = page_table_bytes(mm);
	st->map_count = mm->map_count;
	st->peak_pages = rss_state_pages(st);
	st->base_bytes = st->peak_pages * (__s64)page_size;
	st->base_page_table_bytes = st->page_table_bytes;
	st->base_vmas = st->map_count;
	return NULL;
}

/* The state of mm (its mm_id, id) as held, or if held for a dead mm at
 * its address or not at all, as first seen now (first_sight's NULL). */
static __always_inline struct rss_state *rss_state_of(struct task_struct *task,
						      struct mm_struct *mm, __u32 id,
						      struct proc_counters *pc)
{
	__u64 key = (__u64)mm;
	struct rss_state *st = bpf_map_lookup_elem(&rss, &key);

	if (st && st->mm_id == id)
		return st;
	return first_sight(task, mm, pc, st);
}

/*
 * Whether an mm's counters can be summed exactly now: every CPU's per-CPU
 * offset is known (or the counters are atomics, or no offset can ever be
 * learned here). Each CPU's is learned at its first switch after
 * attaching, and conctrace makes every CPU switch once attached
 * (switch_on_every_cpu); an attached server's thread can switch in
 * before that, and a baseline taken then lacked the other CPU's share:
 * 39 to 53 pages below the address space's RSS, charged as growth at its
 * next change, in 3 runs of 5 of a test that spawns from Python.
 */
static __always_inline bool rss_sums_exact(void)
{
	if (rss_counters_atomic() || !rq_to_this_cpu_off)
		return true;
	for (__u32 cpu = 0; cpu < MAX_CPUS && cpu < nr_cpus; cpu++)
		if (!cpu_offset(cpu))
			return false;
	return true;
}

/*
 * A target thread switches in: its address space is seen from now if it
 * was not yet (a process attached to, a child just forked), so that its
 * first RSS change is counted, not taken into the baseline with what the
 * counters held: seen first at that change, a page went uncounted on
 * every attached server (test_conctrace.py's RSS check). Not inside
 * execve(): the new image's first change counts from zero (first_sight).
 * The thread's own mm_key says it is seen, with no helper call: a
 * thread's mm changes only by exec, whose new mm cannot have the old
 * one's address while the old is still in use.
 */
static __always_inline void rss_seen_at_switch(struct task_struct *task, struct thread_state *ts,
					       struct proc_counters *pc)
{
	struct mm_struct *mm = task->mm;
	__u32 id;

	if (!mm || ts->mm_key == (__u64)mm || task_in_execve(task) || !rss_sums_exact())
		return;	/* a later switch-in sees it, or its first change */
	id = mm_id(mm);
	rss_state_of(task, mm, id, pc);
	ts->mm_key = (__u64)mm;
	ts->mm_id = id;
}

#endif /* CONCTRACE_LIB_MM_BPF_H */
