/* SPDX-License-Identifier: MIT */
/* Memory over time: samples taken at each --interval and at the end. */
#ifndef CONCTRACE_TIMELINE_H
#define CONCTRACE_TIMELINE_H

#include <stdbool.h>
#include <stddef.h>
#include <linux/types.h>

struct sample {
	double t_s;		/* since tracing began */
	__u64 rss_bytes;	/* the VmRSS of every traced process alive, summed */
	__u64 kernel_bytes;	/* kernel memory of its open connections */
	__u64 open_conns;
	__u64 tracer_bytes;	/* conctrace's own BPF maps, as the kernel counts them */
	__u32 procs;		/* traced processes alive, whose VmRSS rss_bytes sums */
};

/* One traced process's memory as a sample read it (/proc/PID/status). */
struct proc_reading {
	__s32 pid;
	__u64 rss;		/* VmRSS */
	__u64 hwm;		/* VmHWM: its own peak since its fork or exec */
	bool hwm_in_trace;	/* false: traced mid-life (-p), its VmHWM may predate tracing */
};

/* One traced process over the run. */
struct proc_peak {
	__s32 pid;
	__u64 peak;	/* its own peak as last read: VmHWM, or for one traced
			 * mid-life the most VmRSS a sample saw */
	__u64 rss_end;	/* VmRSS at the last sample, 0 once it is gone */
	bool alive;	/* at the last sample */
};

struct timeline {
	struct sample *v;
	size_t n, cap;
	__u64 rss_peak, kernel_peak, tracer_peak;	/* over the samples */
	/* every traced process any sample saw, in the order first seen */
	struct proc_peak *procs;
	size_t nprocs, procs_cap;
	/* the largest one process's own peak: its VmHWM read alive, or what
	 * wait4() gave for the launched command's tree (timeline_note_reaped) */
	__u64 proc_peak_max;
};

void timeline_init(struct timeline *tl);
void timeline_free(struct timeline *tl);
/* Returns -1 when out of memory (the sample is dropped). */
int timeline_add(struct timeline *tl, const struct sample *s);
const struct sample *timeline_last(const struct timeline *tl);

/* The processes read alive at a sample: each one's peak is kept, those
 * not among them are marked gone. Returns -1 when out of memory (a
 * process not yet seen is then left out). */
int timeline_note_procs(struct timeline *tl, const struct proc_reading *r, size_t n);
/* The largest peak any one process of the tree had, in bytes, exited
 * ones too, as known beside the samples (BPF's, or wait4()'s ru_maxrss
 * for the launched command). */
void timeline_note_process_peak(struct timeline *tl, __u64 peak_bytes);

/* The tree's RSS peak as conctrace can state it: the largest sampled sum
 * of the live processes' VmRSS, and never less than one process's own
 * peak (the tree held at least that then). A lower bound of the true peak
 * of the sum. */
__u64 timeline_rss_peak(const struct timeline *tl);
/* Every seen process's own peak, summed: what the tree would hold had
 * they all peaked at once; above the true peak of the sum, but for growth
 * after the last sample a process was seen alive. */
__u64 timeline_rss_peaks_summed(const struct timeline *tl);

#endif /* CONCTRACE_TIMELINE_H */
