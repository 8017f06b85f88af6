// SPDX-License-Identifier: MIT
/* The human report, printed when tracing ends. */
#include "report/report.h"

#include <stdlib.h>
#include <string.h>

#include "host/uring_ops.h"
#include "model/syscalls.h"
#include "report/format.h"

typedef char *(*fmt_fn)(double, char *, size_t);

static void dist_row(FILE *f, const char *label, const struct dist *d, fmt_fn fmt)
{
	char a[32], b[32], c[32], e[32];

	fprintf(f, "  %-14s %10s %10s %10s %10s\n", label, fmt(d->mean, a, sizeof(a)),
		fmt((double)d->p50, b, sizeof(b)), fmt((double)d->p99, c, sizeof(c)),
		fmt((double)d->max, e, sizeof(e)));
}

/* The per-connection distributions, in the report's order. */
static const struct {
	enum metric metric;
	const char *label;
	fmt_fn fmt;
} dist_rows[] = {
	{ M_SYSCALLS, "syscalls", fmt_count },
	{ M_CTX_SWITCHES, "ctx switches", fmt_count },
	{ M_CPU_NS, "cpu time", fmt_ns },
	{ M_BYTES_RX, "bytes rx", fmt_bytes },
	{ M_BYTES_TX, "bytes tx", fmt_bytes },
	{ M_KERNEL_HELD, "kernel memory", fmt_bytes },	/* held while open */
	{ M_KERNEL_BYTES, "kernel peak", fmt_bytes },
	{ M_USER_BYTES, "user memory", fmt_bytes },
};

struct nr_count {
	unsigned nr;
	__u64 count;
};

static int cmp_count_desc(const void *x, const void *y)
{
	const struct nr_count *a = x, *b = y;

	return a->count < b->count ? 1 : (a->count > b->count ? -1 : 0);
}

static void syscall_line(FILE *f, const char *label, const __u64 *counts, double per)
{
	struct nr_count v[SYSCALL_MAX];
	size_t n = 0;
	char buf[32], name[SYSCALL_LABEL_LEN];

	for (unsigned nr = 0; nr < SYSCALL_MAX; nr++)
		if (counts[nr])
			v[n++] = (struct nr_count){ nr, counts[nr] };
	qsort(v, n, sizeof(v[0]), cmp_count_desc);
	fprintf(f, "%s", label);
	for (size_t i = 0; i < n && i < 8; i++)
		fprintf(f, "%s %s %s", i ? "," : "", syscall_label(v[i].nr, name, sizeof(name)),
			fmt_count((double)v[i].count / per, buf, sizeof(buf)));
	fprintf(f, n ? "\n" : " none\n");
}

static void uring_line(FILE *f, const struct agg *a)
{
	bool any = false;
	char buf[32];

	for (unsigned op = 0; op < 256; op++) {
		char label[URING_OP_LABEL_LEN];

		if (!a->uring_by_op[op])
			continue;
		fprintf(f, "%s %s %s", any ? "," : "  io_uring ops/conn:",
			uring_op_label(op, label, sizeof(label)),
			fmt_count((double)a->uring_by_op[op] / (double)a->n, buf, sizeof(buf)));
		any = true;
	}
	if (any)
		fprintf(f, "\n");
}

/* Where a connection's kernel memory goes, biggest first (means). */
static void kmem_line(FILE *f, const struct agg *a)
{
	int order[KM_COUNT], n = 0;
	char buf[32];

	for (int k = 0; k < KM_COUNT; k++)
		if (a->kmem_by_cat[k])
			order[n++] = k;
	for (int i = 1; i < n; i++)	/* insertion sort: a dozen entries */
		for (int j = i; j > 0 && a->kmem_by_cat[order[j]] > a->kmem_by_cat[order[j - 1]]; j--) {
			int t = order[j];

			order[j] = order[j - 1];
			order[j - 1] = t;
		}
	for (int i = 0; i < n; i++)
		fprintf(f, "%s %s %s", i ? "," : "  kernel memory/conn:", kmem_category_names[order[i]],
			fmt_bytes((double)a->kmem_by_cat[order[i]] / (double)a->n, buf, sizeof(buf)));
	if (n)
		fprintf(f, "\n");
}

/* The line to remember: what RSS shows of a connection's true cost. */
static void summary_line(FILE *f, const struct agg *a)
{
	struct dist k, u;
	char kb[32], ub[32];

	agg_dist(a, M_KERNEL_HELD, &k);	/* what an open connection holds */
	agg_dist(a, M_USER_BYTES, &u);
	if (k.mean + u.mean <= 0)
		return;
	fprintf(f, "  => kernel %s + user %s per connection: RSS shows %.0f%% of it\n",
		fmt_bytes(k.mean, kb, sizeof(kb)), fmt_bytes(u.mean, ub, sizeof(ub)),
		100.0 * u.mean / (k.mean + u.mean));
}

/* A bucket of no single connection: the event loop's, the pool's. */
static void bucket_line(FILE *f, const char *label, const struct bucket_counts *b)
{
	char b1[32], b2[32], b3[32];

	fprintf(f, "%s %s syscalls, %s ctx switches (%llu voluntary), %s cpu\n", label,
		fmt_count((double)b->syscalls, b1, sizeof(b1)),
		fmt_count((double)(b->ctx_voluntary + b->ctx_involuntary), b2, sizeof(b2)),
		(unsigned long long)b->ctx_voluntary, fmt_ns((double)b->cpu_ns, b3, sizeof(b3)));
}

void report_text(FILE *f, struct report *r)
{
	struct agg *a = r->agg;
	const struct proc_counters *p = &r->proc;
	__u64 proc_syscalls = 0, counts[SYSCALL_MAX];
	struct dist d;
	char b1[32], b2[32], b3[32], b4[32];

	for (unsigned nr = 0; nr < SYSCALL_MAX; nr++) {
		counts[nr] = r->syscalls[nr].count;
		proc_syscalls += counts[nr];
	}

	fprintf(f, "\nconctrace: %s (pid %d): traced %.2f s%s%s\n", r->target, (int)r->pid,
		r->duration_s, r->exit_desc ? ", target " : "", r->exit_desc ? r->exit_desc : "");
	if (r->load_failure)
		fprintf(f, "LOAD FAILED: %s: the figures below are not of the load asked for\n",
			r->load_failure);
	if (p->conns_untracked)	/* the headline counts every connection */
		fprintf(f, "connections: %llu (%zu tracked, %llu not: --max-conns), ",
			(unsigned long long)(a->n + p->conns_untracked), a->n,
			(unsigned long long)p->conns_untracked);
	else
		fprintf(f, "connections: %zu total, ", a->n);
	fprintf(f, "%llu peak open, %llu open at end\n",
		(unsigned long long)r->peak_open, (unsigned long long)a->open_at_end);
	if (a->pairs.n)
		fprintf(f, "internal socket pairs (socketpair(), not connections): %llu sockets, "
			"cpu %s, %s syscalls, kernel memory %s at peak\n",
			(unsigned long long)a->pairs.n, fmt_ns((double)a->pairs.sum[M_CPU_NS], b1, sizeof(b1)),
			fmt_count((double)a->pairs.sum[M_SYSCALLS], b2, sizeof(b2)),
			fmt_bytes((double)a->pairs.sum[M_KERNEL_BYTES], b3, sizeof(b3)));

	if (a->n) {
		fprintf(f, "\nper connection   %10s %10s %10s %10s\n", "mean", "p50", "p99", "max");
		for (size_t i = 0; i < sizeof(dist_rows) / sizeof(dist_rows[0]); i++) {
			agg_dist(a, dist_rows[i].metric, &d);
			dist_row(f, dist_rows[i].label, &d, dist_rows[i].fmt);
		}
		syscall_line(f, "  syscalls/conn:", a->syscalls_by_nr, (double)a->n);
		uring_line(f, a);
		kmem_line(f, a);
		summary_line(f, a);
	}

	fputc('\n', f);
	bucket_line(f, "event loop (no single connection):", &p->loop);
	bucket_line(f, "pool/runtime (threads between handed work):", &p->pool);
	fprintf(f, "process: %s syscalls, %llu voluntary + %llu involuntary ctx switches, "
		"%s cpu, %ld thread%s at peak\n",
		fmt_count((double)proc_syscalls, b1, sizeof(b1)),
		(unsigned long long)p->ctx_voluntary, (unsigned long long)p->ctx_involuntary,
		fmt_ns((double)p->cpu_ns, b2, sizeof(b2)), r->threads_peak,
		r->threads_peak == 1 ? "" : "s");
	if (r->reaped.processes && r->nvcsw_before >= 0 && r->cpu_before_ns >= 0)
		/* the kernel's books for the same tree and span, to hold the
		 * line above against (docs/report.md says where they part) */
		fprintf(f, "  wait4() since tracing began: %lld voluntary + %lld involuntary "
			"ctx switches, %s cpu\n", r->reaped.nvcsw - r->nvcsw_before,
			r->reaped.nivcsw - r->nivcsw_before,
			fmt_ns((double)(r->reaped.cpu_ns - r->cpu_before_ns), b1, sizeof(b1)));
	if (p->cpu_unsplit_ns)
		fprintf(f, "  of the cpu, %s is not yet split between connections and the loop "
			"(the kernel counted more for a run than the clock that splits it)\n",
			fmt_ns((double)p->cpu_unsplit_ns, b1, sizeof(b1)));
	syscall_line(f, "  syscalls:", counts, 1);
	if (r->timeline && r->timeline->n) {
		const struct sample *end = timeline_last(r->timeline);

		fprintf(f, "memory: RSS peak %s, at end %s",
			fmt_bytes((double)timeline_rss_peak(r->timeline), b1, sizeof(b1)),
			fmt_bytes((double)end->rss_bytes, b2, sizeof(b2)));
		if (r->timeline->nprocs > 1)	/* a wrapper's, a master's and its workers' */
			fprintf(f, ", summed over %zu traced processes (%u at end; their own peaks "
				"add up to %s)", r->timeline->nprocs, end->procs,
				fmt_bytes((double)timeline_rss_peaks_summed(r->timeline),
					  b3, sizeof(b3)));
		fprintf(f, "; connections' kernel memory peak %s, "
			"at end %s (sampled %zu time%s",
			fmt_bytes((double)r->timeline->kernel_peak, b3, sizeof(b3)),
			fmt_bytes((double)end->kernel_bytes, b4, sizeof(b4)),
			r->timeline->n, r->timeline->n == 1 ? "" : "s");
		if (r->timeline->pace.interval_max_s > 1.0) {
			const struct sample_pace *p = &r->timeline->pace;

			/* many sockets: the timeline thinned, conctrace did not grow */
			fprintf(f, ", as far apart as %.1f s: one took %s of CPU, and samples "
				"are kept to 1/%g of a CPU", p->interval_max_s,
				fmt_ns(p->cost_max_s * 1e9, b1, sizeof(b1)), p->ratio);
		}
		fprintf(f, ")\n");
		char alloc[64] = "";

		if (r->conn_alloc_bytes)	/* the record in its hash element */
			snprintf(alloc, sizeof(alloc), ", %llu B as the kernel allocates it",
				 (unsigned long long)r->conn_alloc_bytes);
		fprintf(f, "conctrace itself: BPF maps peak %s, at end %s (each tracked "
			"connection: a %zu B record%s); event ring %s, at most %s unread, "
			"%llu record%s through the overflow map\n",
			fmt_bytes((double)r->timeline->tracer_peak, b1, sizeof(b1)),
			fmt_bytes((double)end->tracer_bytes, b2, sizeof(b2)), sizeof(struct conn), alloc,
			fmt_bytes((double)r->ring_bytes, b3, sizeof(b3)),
			fmt_bytes((double)r->ring_backlog_peak, b4, sizeof(b4)),
			(unsigned long long)r->ring_overflowed, r->ring_overflowed == 1 ? "" : "s");
	}

	if (r->self_cpu.sampled_ns) {
		const struct self_cpu *c = &r->self_cpu;
		double share = (double)c->own_ns / (double)c->sampled_ns;

		/* it runs in the target's threads: their cpu time includes it */
		fprintf(f, "conctrace itself on the target's CPU: %s of the %s sampled (%.1f%%) "
			"ran its programs, %s of it collecting stacks; the cpu flame shows it "
			"apart, as \"" SELF_CPU_FRAME "\"%s\n",
			fmt_ns((double)c->own_ns, b1, sizeof(b1)),
			fmt_ns((double)c->sampled_ns, b2, sizeof(b2)), 100.0 * share,
			fmt_ns((double)c->stacks_ns, b3, sizeof(b3)),
			c->stacks_ns * 10 >= c->sampled_ns ? " (fewer --flame views cost less)" : "");
	}

	if (r->top_conns && a->ntop) {
		size_t n;
		const struct conn_view *top = agg_top(a, &n);

		fprintf(f, "\ntop %zu connections by cpu time:\n", n < r->top_conns ? n : r->top_conns);
		fprintf(f, "  %-10s %-22s %8s %8s %10s %10s %10s\n", "id", "remote", "syscalls",
			"switches", "cpu", "rx", "tx");
		for (size_t i = 0; i < n && i < r->top_conns; i++) {
			const struct conn *c = &top[i].rec;
			char addr[160], cpu[32], rx[32], tx[32];

			fprintf(f, "  %-10llu %-22s %8llu %8llu %10s %10s %10s\n",
				(unsigned long long)c->id, fmt_conn_addr(c, NULL, false, addr, sizeof(addr)),
				(unsigned long long)top[i].syscalls,
				(unsigned long long)(c->ctx_voluntary + c->ctx_involuntary),
				fmt_ns((double)c->cpu_ns, cpu, sizeof(cpu)),
				fmt_bytes((double)c->bytes_rx, rx, sizeof(rx)),
				fmt_bytes((double)c->bytes_tx, tx, sizeof(tx)));
		}
	}

	if (r->has_closure && r->closure.growth_bytes > 0 && !r->closure.attributed_bytes) {
		size_t n = r->timeline ? r->timeline->n : 0;

		/* the samples are taken at the start, every 0.1 to 1 s, and at the end */
		if (n > 2)
			fprintf(f, "closure: no connection was open at any of the %zu memory samples: "
				"nothing to compare\n", n);
		else
			fprintf(f, "closure: the run was too short for a memory sample while "
				"connections were open: nothing to compare\n");
	} else if (r->has_closure && r->closure.growth_bytes > 0) {
		const struct closure *c = &r->closure;

		double pct = 100.0 * (double)c->attributed_bytes / (double)c->growth_bytes;

		fprintf(f, "closure: open connections hold %s of the %s the TCP, socket inode, file,"
			" dentry, task and io_kiocb caches grew by: %.0f%%%s\n",
			fmt_bytes((double)c->attributed_bytes, b1, sizeof(b1)),
			fmt_bytes((double)c->growth_bytes, b2, sizeof(b2)), pct,
			pct > 100.5 ? " (more than the growth: other processes freed objects of"
				      " the same caches meanwhile)"
				    : " (the rest is other processes': a local client's sockets sit in"
				      " the same caches)");
	}
	if (r->memcg.valid) {
		const struct closure_memcg *m = &r->memcg;
		char b3[32], b4[32];

		fprintf(f, "cgroup %s (v%d): kernel memory charged %s%s, open connections' objects %s",
			m->path, m->version, m->kernel_growth < 0 ? "-" : "+",
			fmt_bytes((double)llabs(m->kernel_growth), b1, sizeof(b1)),
			fmt_bytes((double)m->attributed_objects, b2, sizeof(b2)));
		if (m->kernel_growth > 0)
			fprintf(f, ": explained %.0f%%", 100.0 * (double)m->attributed_objects /
							 (double)m->kernel_growth);
		fprintf(f, "; socket buffers charged %s%s, connections' buffers %s\n",
			m->sock_growth < 0 ? "-" : "+",
			fmt_bytes((double)llabs(m->sock_growth), b3, sizeof(b3)),
			fmt_bytes((double)m->attributed_buffers, b4, sizeof(b4)));
	}

	fprintf(f, "\nlost events: %llu", (unsigned long long)p->lost_events);
	if (p->stacks_lost)
		fprintf(f, ", flame samples without a stack (stack map full): %llu",
			(unsigned long long)p->stacks_lost);
	if (p->conns_untracked)
		fprintf(f, ", connections not tracked (map full, raise --max-conns): %llu",
			(unsigned long long)p->conns_untracked);
	/* BPF sends one record per connection: a second one is a fault, said */
	if (r->agg->merged)
		fprintf(f, ", second records of a connection (merged into its first): %llu",
			(unsigned long long)r->agg->merged);
	fprintf(f, "\n");
}
