// SPDX-License-Identifier: MIT
/* What each BPF program measures and what stands in for it (programs.h). */
#include "tracer/programs.h"

#include <string.h>

#define BYTES_RX "bytes received per connection"
#define BYTES_TX "bytes sent per connection"
#define RUNTIME_GC "a runtime's garbage collection (Python's, V8's) kept apart from the connection whose code set it off"
#define PY_JOBS "Python thread-pool jobs (run_in_executor) per connection"
#define V8_OWN "V8's compilers and worker threads kept apart from the connection whose code set them off (Node)"
#define GO_CHAN "Go channel jobs taken from a parked sender, per connection (a pool's queued jobs)"
#define RSS_CHANGES "user memory per connection, and a process's RSS peak between samples (wait4's inexact ru_maxrss stands in)"
#define URING_DONE "io_uring completions (armed requests; completion work to its connection)"

/* a program, the figure a run without it loses, then what else it is */
#define CORE(n, fig, ...)	{ .name = n, .need = NEED_CORE, .figure = fig, __VA_ARGS__ }
#define FULL(n, fig, ...)	{ .name = n, .need = NEED_FULL_MODE, .figure = fig, __VA_ARGS__ }
#define OPT(n, fig, ...)	{ .name = n, .need = NEED_OPTIONAL, .figure = fig, __VA_ARGS__ }

static const struct prog_role roles[] = {
	/* the core: who the connections are, switches and CPU */
	CORE("on_sched_switch", "context switches and CPU time", .nargs = 4),
	/* the event passed no prev_state before 5.18 */
	OPT("on_sched_switch_stateless", "context switches and CPU time",
	    .fallback_for = "on_sched_switch", .nargs = 3),
	CORE("on_process_fork", "threads, and the processes a server forks"),
	CORE("on_process_exit", "threads, and the end of a thread's connection"),
	/* syscalls: the raw tracepoints, or where a kernel lacks or refuses
	 * them, a trampoline on x64_sys_call (the same figures). Not the
	 * other way round: a thread that exits inside the fexit trampoline
	 * (exit, exit_group: every process's end) never leaves it, so the
	 * kernel can never free that trampoline once detached, a leak on
	 * every run; and under emulation it cost no less */
	FULL("on_sys_enter", "syscalls and connections"),
	FULL("on_sys_exit", "syscalls and connections"),
	OPT("on_sys_call", "syscalls and connections", .fallback_for = "on_sys_enter"),
	OPT("on_sys_return", "syscalls and connections", .fallback_for = "on_sys_exit"),

	/* socket I/O: bytes, and in light mode the only thing that names a
	 * connection; 6.12 has the tracepoints, 6.1 does not: fexit programs
	 * on the protocols' recvmsg/sendmsg stand in there */
	OPT("on_sock_recv_length", BYTES_RX, .names_conns = true),
	OPT("on_sock_send_length", BYTES_TX, .names_conns = true),
	OPT("on_inet_recvmsg", BYTES_RX " (TCP)", .fallback_for = "on_sock_recv_length",
	    .names_conns = true),
	OPT("on_inet6_recvmsg", BYTES_RX " (TCP over IPv6)",
	    .fallback_for = "on_sock_recv_length", .names_conns = true),
	OPT("on_unix_stream_recvmsg", BYTES_RX " (Unix stream)",
	    .fallback_for = "on_sock_recv_length", .names_conns = true),
	OPT("on_unix_seqpacket_recvmsg", BYTES_RX " (Unix seqpacket)",
	    .fallback_for = "on_sock_recv_length", .names_conns = true),
	OPT("on_inet_sendmsg", BYTES_TX " (TCP)", .fallback_for = "on_sock_send_length",
	    .names_conns = true),
	OPT("on_inet6_sendmsg", BYTES_TX " (TCP over IPv6)",
	    .fallback_for = "on_sock_send_length", .names_conns = true),
	OPT("on_unix_stream_sendmsg", BYTES_TX " (Unix stream)",
	    .fallback_for = "on_sock_send_length", .names_conns = true),
	OPT("on_unix_seqpacket_sendmsg", BYTES_TX " (Unix seqpacket)",
	    .fallback_for = "on_sock_send_length", .names_conns = true),

	OPT("on_sched_waking", "work handed between threads (a pool's work to its connection)"),
	OPT("on_sched_wakeup", "run-queue wait"),
	OPT("on_sched_wakeup_new",
	    "run-queue wait of new threads, and new threads in the threads at peak"),
	OPT("on_inet_sock_set_state",
	    "light mode's end of TCP connections at their close (they end at the next sample), "
	    "and full mode's of those a forking server's child serves (they end at the parent's "
	    "close())"),
	OPT("snapshot_tcp",
	    "TCP socket buffers at each sample (and light mode's end of reset TCP connections)"),
	OPT("snapshot_unix",
	    "Unix socket buffers at each sample (and light mode's end of Unix connections)"),
	OPT("snapshot_files", "samples' walk of the target's own sockets",
	    .instead = "each memory sample walks every socket of the machine instead"),
	OPT("sweep_ended", "light mode's end of connections whose socket is gone",
	    .instead = "userspace walks the connection map instead"),

	/* rss_stat took the counter's value until 6.2, when RSS counters
	 * became per-CPU and the event lost that argument */
	OPT("on_rss_stat", RSS_CHANGES, .nargs = 2),
	OPT("on_rss_stat_count", RSS_CHANGES, .fallback_for = "on_rss_stat", .nargs = 3),

	/* io_uring's submission event is io_uring_submit_sqe on 6.1,
	 * io_uring_submit_req on 6.12; its completion event takes the cqe's
	 * fields one by one on 6.1 and 6.12, the cqe itself on 6.18 */
	OPT("on_io_uring_submit_req", "io_uring requests per connection", .nargs = 1),
	OPT("on_io_uring_submit_sqe", "io_uring requests per connection",
	    .fallback_for = "on_io_uring_submit_req", .nargs = 2),
	OPT("on_io_uring_complete", URING_DONE, .nargs = 3),
	OPT("on_io_uring_complete_res", URING_DONE, .fallback_for = "on_io_uring_complete",
	    .nargs = 7),

	/* -p: what the target held before; bpf_task_pt_regs is 5.15's,
	 * bpf_find_vma 5.17's */
	OPT("held_sockets", "connections open before attaching (-p)"),
	OPT("held_threads", "threads serving connections open before attaching (-p)"),
	OPT("held_uring", "io_uring requests armed before attaching (-p)"),
	OPT("held_stacks", "coroutine stacks of connections open before attaching (-p)"),

	/* uprobes, attached where a binary has libuv (uv_probes.c) */
	OPT("on_uv_queue_work", "libuv threadpool jobs per connection (Node)"),
	OPT("on_uv_work", "libuv threadpool jobs per connection (Node)"),
	OPT("on_uv_work_done", "libuv threadpool jobs per connection (Node)"),
	OPT("on_uv_queue_work_run", "libuv threadpool jobs per connection (Node)"),
	/* uprobes, attached in Go binaries (go_probes.c) */
	OPT("on_go_chan_park", GO_CHAN),
	OPT("on_go_chan_recv", GO_CHAN),
	OPT("on_go_chan_send", "Go channel jobs handed to a pool worker locked to its thread, "
	    "whichever thread wakes it"),
	/* a uprobe, attached in a Python's asyncio module (py_probes.c) */
	OPT("on_asyncio_step", "asyncio coroutines' work per connection, resumed after other "
	    "connections' reads (Python)"),
	OPT("on_py_queue_put", PY_JOBS),
	OPT("on_py_queue_got", PY_JOBS),
	OPT("on_gc_start", RUNTIME_GC),
	OPT("on_gc_done", RUNTIME_GC),
	OPT("on_compile_start", V8_OWN),
	OPT("on_compile_done", V8_OWN),
	OPT("on_runtime_thread", V8_OWN),

	OPT("on_kmem_cache_alloc", "the kmem flame view (slab allocations)"),
	OPT("on_kmalloc", "the kmem flame view (kmalloc)"),
	OPT("on_cpu_sample", "the cpu flame view"),
};

const struct prog_role *prog_roles(unsigned int *n)
{
	*n = sizeof(roles) / sizeof(roles[0]);
	return roles;
}

const struct prog_role *prog_role(const char *name)
{
	for (unsigned int i = 0; i < sizeof(roles) / sizeof(roles[0]); i++)
		if (!strcmp(roles[i].name, name))
			return &roles[i];
	return NULL;
}

bool prog_is_core(const char *name, bool light_mode)
{
	const struct prog_role *r = prog_role(name);

	if (!r)
		return false;
	return r->need == NEED_CORE || (r->need == NEED_FULL_MODE && !light_mode);
}

unsigned int prog_fallbacks(const char *name, const char **out, unsigned int max)
{
	unsigned int n = 0;

	for (unsigned int i = 0; i < sizeof(roles) / sizeof(roles[0]) && n < max; i++)
		if (roles[i].fallback_for && !strcmp(roles[i].fallback_for, name))
			out[n++] = roles[i].name;
	return n;
}

bool prog_listed(const char *list, const char *name)
{
	size_t len = strlen(name);

	for (const char *p = list; p && *p; ) {
		const char *end = strchr(p, ',');
		size_t n = end ? (size_t)(end - p) : strlen(p);

		if (n == len && !strncmp(p, name, len))
			return true;
		p = end ? end + 1 : NULL;
	}
	return false;
}
