/* SPDX-License-Identifier: MIT */
/*
 * Loading, attaching and reading the BPF side (tracer.c).
 *
 * Layer: tracer/ may include model/ host/ (and common/, conctrace.h). It
 * alone includes the BPF skeleton (conctrace.skel.h): the other layers
 * reach the programs and maps through the functions below, so a change
 * on the BPF side stops at this folder.
 */
#ifndef CONCTRACE_TRACER_H
#define CONCTRACE_TRACER_H

#include <stdbool.h>
#include <sys/types.h>
#include <linux/types.h>

#include "conctrace.h"

struct conctrace_bpf;
struct ring_buffer;

#define TRACER_MAX_PROGS 48

/* A program this run goes without, and why: the kernel lacks what it
 * hooks, or refused it (the verifier's words). */
struct dropped_prog {
	char name[64];
	char why[400];
};

/* Called for every ring-buffer record (struct conn_event, listen_event). */
typedef int (*tracer_event_fn)(void *ctx, void *data, size_t len);

struct btf;

#define TRACER_UV_LINKS 32

struct tracer {
	struct conctrace_bpf *skel;
	struct ring_buffer *rb;
	struct bpf_link **cpu_links;	/* --flame cpu: a perf event per CPU */
	int n_cpu_links;
	/* the connection map's generations (conctrace.h CONN_GENS): the
	 * size each is planned to have, the fds of those made (the first is
	 * the skeleton's), and in light mode the sweep over each */
	__u32 gen_size[CONN_GENS];
	int n_gens_planned, n_gens;
	int gen_fd[CONN_GENS];
	struct bpf_link *sweep[CONN_GENS];	/* --no-syscalls: ends connections whose socket is gone */
	/* libuv's threadpool (uv_probes.c): uv_queue_work's probes, and each
	 * work callback's entry and return */
	struct bpf_link *uv_links[TRACER_UV_LINKS];
	int n_uv_links;
	/* Go's channels (go_probes.c): runtime.chanparkcommit's, recv's, send's */
	struct bpf_link *go_links[3];
	/* CPython (py_probes.c): where an asyncio Task's step resumes (each
	 * call of it the module makes), and where a garbage collection starts
	 * and ends */
#define TRACER_PY_STEP_SITES 4
	struct bpf_link *py_step_links[TRACER_PY_STEP_SITES];
	struct bpf_link *py_gc_links[2];
	/* its thread pools' queue (py_jobs.c): SimpleQueue's put, get's return */
	struct bpf_link *py_job_links[2];
	/* V8's (v8_probes.c): its collector's and compilers' entries and
	 * returns, its worker threads' start */
#define V8_LINKS 8
	struct bpf_link *v8_links[V8_LINKS];
	__u32 conn_elem_bytes;		/* a connection map element (own_figures.c) */
	__u64 fixed_map_bytes;		/* the skeleton's maps that do not grow (own_figures.c) */
	bool light;			/* --no-syscalls */
	bool syscall_time;		/* --syscall-time */
	/* light mode where the kernel refuses the map iterator: userspace
	 * ends the connections whose socket is gone (tracer_snapshot) */
	bool sweep_in_userspace;
	/* full mode: CONN_OUTLIVED connections marked as of the last sweep
	 * of them, and whether it left some open (tracer_snapshot) */
	__u64 outlived_swept;
	bool outlived_open;
	/* samples that walked the target's descriptors alone, and those
	 * that walked every socket of the machine (snapshot.c) */
	__u64 own_walks, machine_walks;
	unsigned int since_whole;	/* samples since the machine's last walk */
	/* full mode where the kernel gives no socket I/O event (neither the
	 * tracepoints nor fexit): bytes are the syscalls' results */
	bool bytes_from_syscalls;
	tracer_event_fn on_event;
	void *ctx;
	__u64 overflow_drained;		/* ring_overflowed when last drained */
	struct dropped_prog dropped[TRACER_MAX_PROGS];
	int ndropped;
};

struct tracer_opts {
	pid_t target;
	unsigned long max_conns;
	long initial_threads;	/* threads the target has when we attach */
	const pid_t *more_targets;	/* -p with several pids: the others */
	unsigned int n_more_targets;
	bool verbose;
	bool no_syscalls;	/* skip the sys_enter/sys_exit programs */
	bool syscall_time;	/* time each syscall (two clock reads a call) */
	bool held;		/* attached: find what the target holds already */
	const char *exe;	/* launched: the command's file (attached: /proc/PID/exe) */
	__u32 flame_views;	/* bits of enum flame_view to collect stacks for */
	bool flame_by_conn;	/* a frame level per connection */
	unsigned int cpu_sample_hz;	/* FV_CPU sampling frequency */
	tracer_event_fn on_event;
	void *ctx;
};

/* Load and attach. A program the kernel lacks or refuses is left out with
 * a warning naming the figure lost, unless it is one of the core's; then
 * this prints one line saying why and returns a negative errno, the
 * tracer already cleaned up. */
int tracer_start(struct tracer *t, const struct tracer_opts *o);

/* The oldest kernel conctrace loads on, and the oldest where it measures
 * every figure (README, -V). */
#define TRACER_MIN_KERNEL	"5.11"
#define TRACER_FULL_KERNEL	"6.1"

/* The target is about to be stopped: the processes that exit from now on
 * keep what their memory was charged (an exited process's is given back
 * during the run: bpf/lib/mm.bpf.h, image_torn_down). */
void tracer_note_target_stopping(struct tracer *t);

/* Wait up to timeout_ms for records and hand them to on_event; add a
 * generation to the connection map if the open connections want one. */
int tracer_poll(struct tracer *t, int timeout_ms);

/* The sizes of the connection map's generations for max_conns: the first
 * CONN_GEN0 (or max_conns if less), each next CONN_GEN_GROWTH times the
 * one before, the last what is left; returns how many. */
int conn_gen_sizes(unsigned long max_conns, __u32 first, __u32 size[CONN_GENS]);

/* Process-wide counters summed over CPUs. */
void tracer_read_proc(struct tracer *t, struct proc_counters *out);
void tracer_read_syscalls(struct tracer *t, struct syscall_total out[SYSCALL_MAX]);
long tracer_threads_peak(struct tracer *t);
/* The most RSS one traced process had at once, exited ones too, from BPF's
 * exact reading of each change (an image an exec replaced, and the
 * launched command's before its exec, left out): false, with 0, where no
 * program of this run watched RSS change. */
bool tracer_process_rss_peak(struct tracer *t, __u64 *bytes);

/* How the first target process ended (a wait() status), -1 if it has not
 * or was not seen to: for an attached one, which is not our child. */
int tracer_target_exit_status(struct tracer *t);
/* The processes traced beside the first: those -p named after it and
 * every process a target forked (BPF adds each at fork and never removes
 * one, so an exited process stays listed). Up to max into out; returns
 * how many there are. */
unsigned int tracer_extra_targets(struct tracer *t, pid_t *out, unsigned int max);
/* Most tracked connections open at once. */
__u64 tracer_conns_peak(struct tracer *t);
/* Tracked connections open now (conn_is_open): BPF's own count, no walk. */
__u64 tracer_open_conns(struct tracer *t);

/* What conctrace's own BPF maps hold now, as the kernel counts it (their
 * fdinfo memlock): the connection map grows with tracked connections. */
__u64 tracer_map_bytes(struct tracer *t);
/* What one tracked connection's element of the connection map takes from
 * the kernel's allocator: the record in a hash element, in the kmalloc
 * size class that holds it; 0 if the kernel's BTF or slabinfo do not say.
 * For reports. */
__u64 tracer_conn_alloc_bytes(struct tracer *t);
/* tracer.c's, at start, with the kernel's BTF it loads anyway: the
 * element's size, for the above. */
void tracer_learn_conn_elem(struct tracer *t, const struct btf *vmlinux);
/* tracer.c's, once the skeleton's maps exist: what those of a fixed size
 * hold, for tracer_map_bytes. */
void tracer_learn_fixed_maps(struct tracer *t);
/* Which hooks count syscalls: "fentry" (a trampoline on x64_sys_call),
 * "tracepoints" (raw sys_enter, sys_exit: every syscall on the machine
 * takes the slow path while they are attached) or "none" (light mode). */
const char *tracer_syscall_hooks(struct tracer *t);
/* The event ring's size, and the most of it ever unread (BPF's reading
 * after each record it sent): lost records begin where they meet. */
__u64 tracer_ring_bytes(struct tracer *t);
__u64 tracer_ring_backlog_peak(struct tracer *t);
/* Records that found the ring full and waited in the overflow map. */
__u64 tracer_ring_overflowed(struct tracer *t);

/* Sample every tracked socket's buffers now (data the server never read
 * raises no event of ours). In light mode, also end the connections whose
 * sockets are gone: a Unix socket's release, or a reset TCP socket's,
 * raises no event either. whole: walk every socket of the machine, not
 * only the target's descriptors (the report's, to be exact at the end). */
void tracer_snapshot(struct tracer *t, bool whole);

/* A Unix connection's path (conn.unix_addr: the key of its address in
 * BPF's unix_paths) into out; false, and "" in out, if it has none or it
 * is no longer there (more addresses in use than the map keeps). */
bool tracer_unix_path(struct tracer *t, __u64 unix_addr, char out[CONN_UNIX_PATH + 1]);

/* Hand every connection still open to fn. */
void tracer_for_each_open(struct tracer *t, void (*fn)(void *ctx, const struct conn *c),
			  void *ctx);

/* Hand every flame sample (key and summed value) to fn. */
void tracer_for_each_flame(struct tracer *t,
			   void (*fn)(void *ctx, const struct stack_key *k, __u64 value), void *ctx);

/* Hand fn every name the kernel gives conctrace's code in a stack
 * ("bpf_prog_<tag>_<name>"): each program's, and each function one calls
 * that is not inlined (the global ones, bpf_loop's and bpf_find_vma's
 * callbacks): every function in the object's BTF. */
void tracer_for_each_code_name(struct tracer *t, void (*fn)(void *ctx, const char *name),
			       void *ctx);

/* Hand every loaded program's name and what it has cost so far to fn
 * (run_ns, run_cnt: the kernel counts them only while someone holds a
 * bpf_enable_stats() fd, as --bpf-stats does). */
void tracer_for_each_prog(struct tracer *t,
			  void (*fn)(void *ctx, const char *name, __u64 run_ns, __u64 run_cnt),
			  void *ctx);

/* A stack's instruction pointers, innermost first, 0-terminated if shorter;
 * -1 if the id is not (or no longer) in the stack map. */
int tracer_read_stack(struct tracer *t, __u64 id, __u64 ips[FLAME_STACK_DEPTH]);

/* Detach and free everything: no program, link or map survives this. */
void tracer_stop(struct tracer *t);

/* Destroy links[0..n) (NULL ones skipped) and set them to NULL: the
 * runtime probes' detach (uv_probes.c, go_probes.c, py_probes.c, v8_probes.c). */
void tracer_links_destroy(struct bpf_link **links, int n);

/* Does the BPF side load here, in full and in light mode, and what does
 * this kernel lack? Prints the answer (for --version); 0 if both load. */
int tracer_probe(bool verbose);

#endif /* CONCTRACE_TRACER_H */
