// SPDX-License-Identifier: MIT
/* --top: the live view (see live_view.h). */
#include "live/live_view.h"

#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "host/procfs.h"
#include "live/open_conns.h"
#include "report/format.h"

#define ALT_SCREEN_ON	"\033[?1049h\033[?25l"	/* and hide the cursor */
#define ALT_SCREEN_OFF	"\033[?25h\033[?1049l"
#define HOME_CLEAR	"\033[H\033[2J"
#define BOLD		"\033[1m"
#define REVERSE		"\033[7m"
#define NORMAL		"\033[0m"

static const char *const order_names[] = {
	[VO_KERNEL_BYTES] = "kernel memory",
	[VO_SWITCHES] = "context switches",
	[VO_SYSCALLS] = "syscalls",
	[VO_CPU] = "cpu time",
};

static const struct slab_sizes *order_slabs;	/* for by_kernel_bytes */

static int cmp_u64(__u64 a, __u64 b, const struct conn *x, const struct conn *y)
{
	if (a != b)
		return a > b ? 1 : -1;
	return conn_cost_cmp(x, y);
}

static int by_kernel_bytes(const struct conn *a, const struct conn *b)
{
	return cmp_u64(conn_kernel_memory_now(a, order_slabs),
		       conn_kernel_memory_now(b, order_slabs), a, b);
}

static int by_switches(const struct conn *a, const struct conn *b)
{
	return cmp_u64(a->ctx_voluntary + a->ctx_involuntary,
		       b->ctx_voluntary + b->ctx_involuntary, a, b);
}

static int by_syscalls(const struct conn *a, const struct conn *b)
{
	return cmp_u64(a->syscalls, b->syscalls, a, b);
}

static const conn_order_fn orders[] = {
	[VO_KERNEL_BYTES] = by_kernel_bytes,
	[VO_SWITCHES] = by_switches,
	[VO_SYSCALLS] = by_syscalls,
	[VO_CPU] = conn_cost_cmp,
};

static struct live_view *restore_on_exit;

static void restore_terminal(void)
{
	if (restore_on_exit)
		live_view_stop(restore_on_exit);
}

void live_view_start(struct live_view *v, FILE *out, double period_s,
		     const struct run_source *src)
{
	memset(v, 0, sizeof(*v));
	v->on = true;
	v->out = out;
	v->src = *src;
	v->period = period_s;
	v->next = src->t0 + period_s;	/* rates need a period behind them */
	v->last_t = src->t0;
	v->order = VO_KERNEL_BYTES;
	v->tty = isatty(fileno(out));
	order_slabs = src->slabs;
	if (!v->tty)
		return;
	/* keys without Enter and without echo; Ctrl-C still signals */
	if (isatty(STDIN_FILENO) && !tcgetattr(STDIN_FILENO, &v->saved)) {
		struct termios raw = v->saved;

		raw.c_lflag &= ~(tcflag_t)(ICANON | ECHO);
		raw.c_cc[VMIN] = 0;
		raw.c_cc[VTIME] = 0;
		v->raw = !tcsetattr(STDIN_FILENO, TCSANOW, &raw);
	}
	fputs(ALT_SCREEN_ON, out);
	fflush(out);
	restore_on_exit = v;
	atexit(restore_terminal);
}

void live_view_stop(struct live_view *v)
{
	if (!v->on)
		return;
	v->on = false;
	if (v->raw)
		tcsetattr(STDIN_FILENO, TCSANOW, &v->saved);
	if (v->tty) {
		fputs(ALT_SCREEN_OFF, v->out);
		fflush(v->out);
	}
	restore_on_exit = NULL;
}

/* Keys typed since the last poll; true on q. */
static bool read_keys(struct live_view *v)
{
	struct pollfd p = { .fd = STDIN_FILENO, .events = POLLIN };
	char keys[16];
	ssize_t n;

	if (!v->raw || poll(&p, 1, 0) != 1)
		return false;
	n = read(STDIN_FILENO, keys, sizeof(keys));
	for (ssize_t i = 0; i < n; i++) {
		enum view_order was = v->order;

		switch (keys[i]) {
		case 'q': case 'Q': return true;
		case 'k': v->order = VO_KERNEL_BYTES; break;
		case 'x': v->order = VO_SWITCHES; break;
		case 's': v->order = VO_SYSCALLS; break;
		case 'c': v->order = VO_CPU; break;
		default: break;
		}
		if (v->order != was)
			v->next = 0;	/* redraw now */
	}
	return false;
}

static int screen_rows(const struct live_view *v)
{
	struct winsize ws;

	if (ioctl(fileno(v->out), TIOCGWINSZ, &ws) || ws.ws_row < 12)
		return 24;
	return ws.ws_row;
}

struct tick {
	double t, dt;
	struct proc_counters p;
	__u64 syscalls, open, rx, tx;
	struct open_conns oc;
};

static void header(struct live_view *v, const struct tick *k, FILE *f)
{
	char b[6][32];
	double dt = k->dt > 0 ? k->dt : 1;

	fprintf(f, BOLD "conctrace" NORMAL " %s (pid %d)   %.1f s   order: %s\n",
		v->src.target, (int)v->src.pid, k->t - v->src.t0, order_names[v->order]);
	fprintf(f, "connections: %llu open, %llu total, %s/s opened, %s/s closed\n",
		(unsigned long long)k->open, (unsigned long long)k->p.conns_opened,
		fmt_count((double)(k->p.conns_opened - v->last_opened) / dt, b[0], sizeof(b[0])),
		fmt_count((double)(*v->src.closed - v->last_closed) / dt, b[1], sizeof(b[1])));
	fprintf(f, "per second:  syscalls %s  switches %s  cpu %.1f%%  rx %s  tx %s\n",
		fmt_count((double)(k->syscalls - v->last_syscalls) / dt, b[0], sizeof(b[0])),
		fmt_count((double)(k->p.ctx_voluntary + k->p.ctx_involuntary - v->last_switches) / dt,
			  b[1], sizeof(b[1])),
		(double)(k->p.cpu_ns - v->last_cpu_ns) / dt / 1e7,
		fmt_bytes((double)(k->rx - v->last_rx) / dt, b[2], sizeof(b[2])),
		fmt_bytes((double)(k->tx - v->last_tx) / dt, b[3], sizeof(b[3])));
	{
		long long rss = proc_vmrss(v->src.pid);

		fprintf(f, "memory:      RSS %s   open connections' kernel memory %s (%s each)\n",
			rss >= 0 ? fmt_bytes((double)rss, b[4], sizeof(b[4])) : "?",
			fmt_bytes((double)k->oc.kernel_bytes, b[0], sizeof(b[0])),
			fmt_bytes(k->oc.conns ? (double)k->oc.kernel_bytes / (double)k->oc.conns : 0,
				  b[1], sizeof(b[1])));
	}
	fprintf(f, "lost events: %llu%s\n", (unsigned long long)k->p.lost_events,
		k->p.lost_events ? "  (the ring buffer overflowed: figures are short)" : "");
}

static void table(struct live_view *v, const struct tick *k, FILE *f)
{
	fprintf(f, "\n" REVERSE "  %-10s %-22s %10s %9s %9s %10s %9s %9s " NORMAL "\n",
		"id", "remote", "kernel", "switches", "syscalls", "cpu", "rx", "tx");
	for (size_t i = 0; i < k->oc.ntop; i++) {
		const struct conn *c = &k->oc.top[i];
		char addr[160], km[32], cpu[32], rx[32], tx[32];

		fprintf(f, "  %-10llu %-22.22s %10s %9llu %9llu %10s %9s %9s\n",
			(unsigned long long)c->id, fmt_conn_addr(c, false, addr, sizeof(addr)),
			fmt_bytes((double)conn_kernel_memory_now(c, v->src.slabs), km, sizeof(km)),
			(unsigned long long)(c->ctx_voluntary + c->ctx_involuntary),
			(unsigned long long)c->syscalls, fmt_ns((double)c->cpu_ns, cpu, sizeof(cpu)),
			fmt_bytes((double)c->bytes_rx, rx, sizeof(rx)),
			fmt_bytes((double)c->bytes_tx, tx, sizeof(tx)));
	}
	if (!k->oc.ntop)
		fprintf(f, "  (no connection open)\n");
	fprintf(f, "\nkeys: k kernel memory  x switches  s syscalls  c cpu  q stop and report\n");
}

/* Not a terminal: one line per period. */
static void line(struct live_view *v, const struct tick *k)
{
	char b[6][32];
	double dt = k->dt > 0 ? k->dt : 1;

	fprintf(v->out, "[%7.1fs] open %llu total %llu | syscalls %s/s | switches %s/s | cpu %.1f%%"
		" | rx %s/s tx %s/s | conns' kernel memory %s | lost %llu\n",
		k->t - v->src.t0, (unsigned long long)k->open,
		(unsigned long long)k->p.conns_opened,
		fmt_count((double)(k->syscalls - v->last_syscalls) / dt, b[0], sizeof(b[0])),
		fmt_count((double)(k->p.ctx_voluntary + k->p.ctx_involuntary - v->last_switches) / dt,
			  b[1], sizeof(b[1])),
		(double)(k->p.cpu_ns - v->last_cpu_ns) / dt / 1e7,
		fmt_bytes((double)(k->rx - v->last_rx) / dt, b[2], sizeof(b[2])),
		fmt_bytes((double)(k->tx - v->last_tx) / dt, b[3], sizeof(b[3])),
		fmt_bytes((double)k->oc.kernel_bytes, b[4], sizeof(b[4])),
		(unsigned long long)k->p.lost_events);
	fflush(v->out);
}

static void draw(struct live_view *v, double now)
{
	static struct syscall_total totals[SYSCALL_MAX];
	static struct conn top[LIVE_VIEW_MAX_ROWS];
	struct tick k = { .t = now, .dt = now - v->last_t };
	const struct agg *a = v->src.agg;
	char *screen = NULL;
	size_t len = 0;
	FILE *f;
	int rows = v->tty ? screen_rows(v) - 10 : 0;	/* 9 lines of text around */

	k.oc = (struct open_conns){ .slabs = v->src.slabs, .order = orders[v->order], .top = top,
				    .want = rows < 0 ? 0 : rows > LIVE_VIEW_MAX_ROWS
					    ? LIVE_VIEW_MAX_ROWS : (size_t)rows };
	/* the aggregated connections' bytes: their histograms' exact sums */
	v->closed_rx = a->dist[M_BYTES_RX].sum;
	v->closed_tx = a->dist[M_BYTES_TX].sum;
	tracer_read_proc(v->src.tracer, &k.p);
	tracer_read_syscalls(v->src.tracer, totals);
	for (int i = 0; i < SYSCALL_MAX; i++)
		k.syscalls += totals[i].count;
	open_conns_walk(v->src.tracer, &k.oc);
	k.open = k.p.conns_opened > *v->src.closed ? k.p.conns_opened - *v->src.closed : 0;
	k.rx = v->closed_rx + k.oc.bytes_rx;
	k.tx = v->closed_tx + k.oc.bytes_tx;
	if (k.rx < v->last_rx)
		k.rx = v->last_rx;	/* a record in flight: no negative rate */
	if (k.tx < v->last_tx)
		k.tx = v->last_tx;

	if (!v->tty) {
		line(v, &k);
	} else if ((f = open_memstream(&screen, &len))) {
		/* one write per screen: no flicker */
		fputs(HOME_CLEAR, f);
		header(v, &k, f);
		table(v, &k, f);
		fclose(f);
		fwrite(screen, 1, len, v->out);
		fflush(v->out);
		free(screen);
	}
	v->last_t = now;
	v->last_syscalls = k.syscalls;
	v->last_switches = k.p.ctx_voluntary + k.p.ctx_involuntary;
	v->last_cpu_ns = k.p.cpu_ns;
	v->last_rx = k.rx;
	v->last_tx = k.tx;
	v->last_opened = k.p.conns_opened;
	v->last_closed = *v->src.closed;
}

bool live_view_poll(struct live_view *v, double now_s)
{
	if (!v->on)
		return false;
	if (read_keys(v))
		return true;
	if (now_s >= v->next) {
		draw(v, now_s);
		v->next = now_s + v->period;
	}
	return false;
}
