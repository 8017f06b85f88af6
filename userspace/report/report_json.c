// SPDX-License-Identifier: MIT
/* The JSON report (--json). Field names are a contract: see docs/outputs.md. */
#include "report/report.h"

#include <math.h>

#include "host/uring_ops.h"
#include "model/syscalls.h"
#include "report/format.h"
#include "report/json.h"

static void syscalls_object(struct json *j, const char *key, const struct conn *c)
{
	json_begin_object(j, key);
	for (int i = 0; i < CONN_SC_SLOTS; i++) {
		char label[SYSCALL_LABEL_LEN];

		if (!c->sc[i].nr)
			continue;
		json_u64(j, syscall_label(c->sc[i].nr - 1, label, sizeof(label)), c->sc[i].count);
	}
	if (c->sc_other)
		json_u64(j, "other", c->sc_other);
	json_end_object(j);
}

static void uring_object(struct json *j, const char *key, const struct conn *c)
{
	json_begin_object(j, key);
	for (int i = 0; i < CONN_URING_SLOTS; i++) {
		char label[URING_OP_LABEL_LEN];

		if (!c->uring[i].opcode)
			continue;
		json_u64(j, uring_op_label(c->uring[i].opcode - 1, label, sizeof(label)),
			 c->uring[i].count);
	}
	json_end_object(j);
}

/* timed: --syscall-time, so syscall_ns means something */
static void conn_object(struct json *j, const struct conn_view *v, bool timed)
{
	const struct conn *c = &v->rec;
	char addr[160];	/* a Unix path is up to 108 bytes */

	json_begin_object(j, NULL);
	json_u64(j, "id", c->id);
	json_i64(j, "fd", c->fd);
	json_string(j, "family", fmt_family(c->family));
	json_string(j, "origin", conn_origin(c));
	json_string(j, "local", fmt_conn_addr(c, v->unix_path, true, addr, sizeof(addr)));
	json_string(j, "remote", fmt_conn_addr(c, NULL, false, addr, sizeof(addr)));
	json_u64(j, "open_ns", c->open_ns);
	json_u64(j, "close_ns", c->close_ns);
	json_u64(j, "syscalls_total", v->syscalls);
	if (timed)
		json_u64(j, "syscall_ns", c->syscall_ns);
	syscalls_object(j, "syscalls", c);
	json_u64(j, "ctx_switches_voluntary", c->ctx_voluntary);
	json_u64(j, "ctx_switches_involuntary", c->ctx_involuntary);
	json_u64(j, "cpu_ns", c->cpu_ns);
	json_u64(j, "runq_ns", c->runq_ns);
	json_u64(j, "bytes_rx", c->bytes_rx);
	json_u64(j, "bytes_tx", c->bytes_tx);
	json_u64(j, "uring_ops", c->uring_ops);
	uring_object(j, "uring_ops_by_name", c);
	json_u64(j, "kernel_bytes_peak", v->kernel_bytes_peak);
	json_u64(j, "kernel_bytes_held", v->kernel_bytes_held);
	json_u64(j, "buffers_held", conn_buffers_held(c));
	json_i64(j, "user_bytes", c->user_bytes_peak);
	json_i64(j, "user_bytes_net", c->user_bytes);
	json_u64(j, "epoll_items", c->epoll_items_peak);
	json_u64(j, "threads", c->threads);
	json_u64(j, "rx_queue", c->rx_queue);
	json_u64(j, "rx_queue_peak", c->rx_queue_peak);
	json_u64(j, "tx_queue", c->tx_queue);
	json_u64(j, "tx_queue_peak", c->tx_queue_peak);
	json_i64(j, "forward_alloc", c->forward_alloc);
	json_end_object(j);
}

static void by_syscall(struct json *j, const char *key, const __u64 *counts)
{
	json_begin_object(j, key);
	for (unsigned nr = 0; nr < SYSCALL_MAX; nr++) {
		char label[SYSCALL_LABEL_LEN];

		if (counts[nr])
			json_u64(j, syscall_label(nr, label, sizeof(label)), counts[nr]);
	}
	json_end_object(j);
}

/* A bucket of no single connection: the event loop's, the pool's. */
static void json_bucket(struct json *j, const char *name, const struct bucket_counts *b,
			bool timed)
{
	json_begin_object(j, name);
	json_u64(j, "syscalls", b->syscalls);
	if (timed)
		json_u64(j, "syscall_ns", b->syscall_ns);
	json_u64(j, "ctx_switches", b->ctx_voluntary + b->ctx_involuntary);
	json_u64(j, "ctx_switches_voluntary", b->ctx_voluntary);
	json_u64(j, "ctx_switches_involuntary", b->ctx_involuntary);
	json_u64(j, "cpu_ns", b->cpu_ns);
	json_u64(j, "runq_ns", b->runq_ns);
	json_i64(j, "user_bytes", b->user_bytes);
	/* the address space it grew: with conns[]' page tables and VMAs, the
	 * process's growth (VmPTE, map_count) */
	json_i64(j, "page_table_bytes", b->page_table_bytes);
	json_i64(j, "vmas", b->vmas);
	json_end_object(j);
}

void report_json(FILE *f, struct report *r)
{
	struct agg *a = r->agg;
	const struct proc_counters *p = &r->proc;
	__u64 total = 0, counts[SYSCALL_MAX], errors[SYSCALL_MAX], ns[SYSCALL_MAX];
	struct json j;

	for (unsigned nr = 0; nr < SYSCALL_MAX; nr++) {
		counts[nr] = r->syscalls[nr].count;
		errors[nr] = r->syscalls[nr].errors;
		ns[nr] = r->syscalls[nr].ns;
		total += counts[nr];
	}

	json_init(&j, f);
	json_begin_object(&j, NULL);
	json_string(&j, "target", r->target);
	json_i64(&j, "pid", r->pid);
	json_double(&j, "duration_s", r->duration_s);
	if (r->exit_desc)
		json_string(&j, "target_exit", r->exit_desc);
	if (r->load_failure)
		json_string(&j, "load_failed", r->load_failure);

	json_begin_object(&j, "connections");
	json_u64(&j, "total", a->n);
	json_u64(&j, "peak_open", r->peak_open);
	json_u64(&j, "open_at_end", a->open_at_end);
	json_u64(&j, "not_tracked", p->conns_untracked);
	/* second records of one connection, merged into its first: 0 */
	json_u64(&j, "records_merged", a->merged);
	json_u64(&j, "late_charges", a->late);
	json_u64(&j, "late_charges_unmatched", agg_late_unmatched(a));
	/* summed over the tracked connections, open and closed */
	json_u64(&j, "bytes_rx", a->dist[M_BYTES_RX].sum);
	json_u64(&j, "bytes_tx", a->dist[M_BYTES_TX].sum);
	json_begin_object(&j, "by_family");
	for (int i = 0; i < 3; i++)
		json_u64(&j, fmt_family(agg_families[i]), a->by_family[i]);
	json_end_object(&j);
	json_end_object(&j);

	/* the process's own socketpairs, apart from its connections; their
	 * cost is the process's: with conns[] and the event loop, it adds up */
	json_begin_object(&j, "internal_pairs");
	json_u64(&j, "sockets", a->pairs.n);
	json_u64(&j, "open_at_end", a->pairs.open_at_end);
	for (int m = 0; m < M_COUNT; m++)
		json_u64(&j, metric_names[m], a->pairs.sum[m]);
	json_end_object(&j);

	json_begin_object(&j, "per_connection");
	for (int m = 0; m < M_COUNT; m++) {
		struct dist d;

		agg_dist(a, m, &d);
		json_begin_object(&j, metric_names[m]);
		json_double(&j, "mean", d.mean);
		json_u64(&j, "p50", d.p50);
		json_u64(&j, "p99", d.p99);
		json_u64(&j, "max", d.max);
		json_end_object(&j);
	}
	/* means per connection, like the distributions above */
	json_begin_object(&j, "syscalls_by_name");
	for (unsigned nr = 0; nr < SYSCALL_MAX && a->n; nr++) {
		char label[SYSCALL_LABEL_LEN];

		if (a->syscalls_by_nr[nr])
			json_double(&j, syscall_label(nr, label, sizeof(label)),
				    (double)a->syscalls_by_nr[nr] / (double)a->n);
	}
	json_end_object(&j);
	json_begin_object(&j, "uring_ops_by_name");
	for (unsigned op = 0; op < 256 && a->n; op++) {
		char label[URING_OP_LABEL_LEN];

		if (a->uring_by_op[op])
			json_double(&j, uring_op_label(op, label, sizeof(label)),
				    (double)a->uring_by_op[op] / (double)a->n);
	}
	json_end_object(&j);
	json_end_object(&j);

	/* means per connection, of each connection's peak */
	json_begin_object(&j, "kernel_breakdown");
	for (int k = 0; k < KM_COUNT; k++)
		json_double(&j, kmem_category_names[k],
			    a->n ? (double)a->kmem_by_cat[k] / (double)a->n : 0);
	json_end_object(&j);
	if (r->slabs) {
		struct slab_size_entry list[SLAB_SIZE_ENTRIES];

		slab_sizes_list(r->slabs, list);
		json_begin_object(&j, "slab_sizes");
		for (int i = 0; i < SLAB_SIZE_ENTRIES; i++)
			json_u64(&j, list[i].cache, list[i].bytes);
		json_end_object(&j);
	}

	json_bucket(&j, "event_loop", &p->loop, r->syscall_time);
	json_bucket(&j, "pool", &p->pool, r->syscall_time);

	json_begin_object(&j, "process");
	json_u64(&j, "syscalls", total);
	by_syscall(&j, "syscalls_by_name", counts);
	by_syscall(&j, "syscall_errors_by_name", errors);
	if (r->syscall_time)
		by_syscall(&j, "syscall_ns_by_name", ns);
	json_u64(&j, "ctx_switches_voluntary", p->ctx_voluntary);
	json_u64(&j, "ctx_switches_involuntary", p->ctx_involuntary);
	json_u64(&j, "cpu_ns", p->cpu_ns);
	json_u64(&j, "cpu_unsplit_ns", p->cpu_unsplit_ns);
	json_u64(&j, "cpu_overcharged_ns", p->cpu_overcharged_ns);
	if (r->cpu_before_ns >= 0)
		json_i64(&j, "cpu_ns_before_tracing", r->cpu_before_ns);
	if (r->nvcsw_before >= 0 && r->nivcsw_before >= 0) {
		json_i64(&j, "ctx_switches_voluntary_before_tracing", r->nvcsw_before);
		json_i64(&j, "ctx_switches_involuntary_before_tracing", r->nivcsw_before);
	}
	if (r->reaped.processes) {
		json_begin_object(&j, "reaped");
		json_u64(&j, "processes", r->reaped.processes);
		json_i64(&j, "ctx_switches_voluntary", r->reaped.nvcsw);
		json_i64(&j, "ctx_switches_involuntary", r->reaped.nivcsw);
		json_i64(&j, "cpu_ns", r->reaped.cpu_ns);
		json_end_object(&j);
	}
	json_u64(&j, "runq_ns", p->runq_ns);
	json_i64(&j, "threads_peak", r->threads_peak);
	if (r->timeline && r->timeline->n) {
		const struct sample *end = timeline_last(r->timeline);

		/* the traced tree's: every process a sample found alive */
		json_u64(&j, "rss_peak_bytes", timeline_rss_peak(r->timeline));
		json_u64(&j, "rss_peak_sampled_bytes", r->timeline->rss_peak);
		json_u64(&j, "rss_peaks_summed_bytes", timeline_rss_peaks_summed(r->timeline));
		json_u64(&j, "rss_end_bytes", end->rss_bytes);
		json_u64(&j, "rss_processes", r->timeline->nprocs);
		json_u64(&j, "rss_processes_end", end->procs);
		json_u64(&j, "kernel_bytes_peak", r->timeline->kernel_peak);
		json_u64(&j, "kernel_bytes_end", end->kernel_bytes);
	}
	if (r->timeline && r->timeline->nprocs) {
		json_begin_array(&j, "processes");
		for (size_t i = 0; i < r->timeline->nprocs; i++) {
			const struct proc_peak *pp = &r->timeline->procs[i];

			json_begin_object(&j, NULL);
			json_i64(&j, "pid", pp->pid);
			json_u64(&j, "rss_peak_bytes", pp->peak);
			json_u64(&j, "rss_end_bytes", pp->rss_end);
			json_end_object(&j);
		}
		json_end_array(&j);
	}
	json_end_object(&j);

	/* sampled at each --interval, and once before the target is stopped */
	json_begin_array(&j, "timeline");
	for (size_t i = 0; r->timeline && i < r->timeline->n; i++) {
		const struct sample *s = &r->timeline->v[i];

		json_begin_object(&j, NULL);
		json_double(&j, "t_s", s->t_s);
		json_u64(&j, "rss_bytes", s->rss_bytes);
		json_u64(&j, "procs", s->procs);
		json_u64(&j, "kernel_bytes", s->kernel_bytes);
		json_u64(&j, "open_conns", s->open_conns);
		json_u64(&j, "tracer_bytes", s->tracer_bytes);
		json_end_object(&j);
	}
	json_end_array(&j);

	/* what tracing itself holds in the kernel: its maps, as the kernel
	 * counts them; the connection map grows by a record per open one */
	if (r->timeline && r->timeline->n) {
		json_begin_object(&j, "tracer");
		json_u64(&j, "bpf_map_bytes_peak", r->timeline->tracer_peak);
		json_u64(&j, "bpf_map_bytes_end", timeline_last(r->timeline)->tracer_bytes);
		json_u64(&j, "conn_record_bytes", sizeof(struct conn));
		json_u64(&j, "conn_alloc_bytes", r->conn_alloc_bytes);
		if (r->syscall_hooks)
			json_string(&j, "syscall_hooks", r->syscall_hooks);
		json_u64(&j, "ring_bytes", r->ring_bytes);
		json_u64(&j, "ring_backlog_peak_bytes", r->ring_backlog_peak);
		json_u64(&j, "ring_overflow_records", r->ring_overflowed);
		json_u64(&j, "memory_sample_cpu_ns_max",
			 (__u64)(r->timeline->pace.cost_max_s * 1e9));
		json_double(&j, "memory_sample_interval_max_s", r->timeline->pace.interval_max_s);
		json_u64(&j, "memory_samples_own_walks", r->walks_own);
		json_u64(&j, "memory_samples_machine_walks", r->walks_machine);
		json_end_object(&j);
	}

	if (r->has_closure) {
		const struct closure *c = &r->closure;

		/* open connections at the end vs the growth of caches of their own */
		json_begin_object(&j, "closure");
		json_i64(&j, "growth_bytes", c->growth_bytes);
		json_u64(&j, "attributed_bytes", c->attributed_bytes);
		json_double(&j, "explained", c->growth_bytes > 0 ?
			    (double)c->attributed_bytes / (double)c->growth_bytes : NAN);
		json_begin_object(&j, "caches");
		for (int i = 0; i < CC_COUNT; i++) {
			json_begin_object(&j, closure_cache_names[i]);
			json_i64(&j, "growth_objects", c->growth_objects[i]);
			json_u64(&j, "attributed_objects", c->attributed_objects[i]);
			json_end_object(&j);
		}
		json_end_object(&j);
		json_end_object(&j);
	}
	if (r->memcg.valid) {
		const struct closure_memcg *m = &r->memcg;

		/* the target's own cgroup (--cgroup), at the same sample */
		json_begin_object(&j, "closure_cgroup");
		json_string(&j, "path", m->path);
		json_u64(&j, "version", (__u64)m->version);
		json_i64(&j, "kernel_growth_bytes", m->kernel_growth);
		json_u64(&j, "attributed_object_bytes", m->attributed_objects);
		json_double(&j, "explained", m->kernel_growth > 0 ?
			    (double)m->attributed_objects / (double)m->kernel_growth : NAN);
		json_i64(&j, "sock_growth_bytes", m->sock_growth);
		json_u64(&j, "attributed_buffer_bytes", m->attributed_buffers);
		json_end_object(&j);
	}
	json_u64(&j, "lost_events", p->lost_events);
	json_u64(&j, "flame_samples_lost", p->stacks_lost);
	if (r->self_cpu.sampled_ns) {	/* --flame cpu: see struct self_cpu */
		json_begin_object(&j, "flame_cpu");
		json_u64(&j, "sampled_ns", r->self_cpu.sampled_ns);
		json_u64(&j, "conctrace_ns", r->self_cpu.own_ns);
		json_u64(&j, "conctrace_stacks_ns", r->self_cpu.stacks_ns);
		json_end_object(&j);
	}
	/* health: charges that found no per-thread state (should stay 0) */
	json_u64(&j, "thread_state_unavailable", p->no_thread_state);
	/* RSS changes read before every CPU's share could be summed */
	json_u64(&j, "rss_inexact", p->rss_inexact);

	json_begin_array(&j, "conns");
	{
		size_t n;
		const struct conn_view *top = agg_top(a, &n);

		for (size_t i = 0; i < n && i < r->json_conns; i++)
			conn_object(&j, &top[i], r->syscall_time);
	}
	json_end_array(&j);
	json_end_object(&j);
}
