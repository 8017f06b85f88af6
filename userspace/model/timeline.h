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

/*
 * When the next memory sample is due. A sample's CPU grows with what its
 * iterators walk (the target's sockets; at times every socket of the
 * machine) and the records it reads: about 1.6 us per open connection
 * here, so a sample every second would take a whole CPU from some 600,000
 * open. The pacer keeps samples to 1/ratio of a CPU at any scale, as
 * often as every min_s: below about 30,000 connections here that is at
 * least once a second, beyond it the timeline thins instead of conctrace
 * growing. A host's stall can make one sample look costly; the least of
 * the last PACE_COSTS is taken as the cost at the present scale.
 */
#define PACE_COSTS 3

struct sample_pace {
	double min_s, ratio;
	double cost_s[PACE_COSTS];	/* the last samples' CPU, a ring */
	unsigned int n;			/* samples paced */
	double cost_max_s;		/* the most CPU one sample took */
	double interval_max_s;		/* the longest interval it set (none with -i) */
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
	struct sample_pace pace;
};

void timeline_init(struct timeline *tl);
/* Samples as often as min_s apart, their CPU 1/ratio of a CPU at most. */
void timeline_pace(struct timeline *tl, double min_s, double ratio);
/* A sample just took cost_s of CPU. */
void timeline_sample_cost(struct timeline *tl, double cost_s);
/* The seconds until the next sample, from the costs noted so far. */
double timeline_next_interval(struct timeline *tl);
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
