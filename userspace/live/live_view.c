// SPDX-License-Identifier: MIT
/* --top: the live view (see live_view.h). */
#include "live/live_view.h"

#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

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

static int cmp_u64(__u64 a, __u64 b, const struct conn_view *x, const struct conn_view *y)
{
	if (a != b)
		return a > b ? 1 : -1;
	return conn_cost_cmp(x, y);
}

static int by_kernel_bytes(const struct conn_view *a, const struct conn_view *b)
{
	return cmp_u64(a->kernel_bytes_now, b->kernel_bytes_now, a, b);
}

static int by_switches(const struct conn_view *a, const struct conn_view *b)
{
	return cmp_u64(a->rec.ctx_voluntary + a->rec.ctx_involuntary,
		       b->rec.ctx_voluntary + b->rec.ctx_involuntary, a, b);
}

static int by_syscalls(const struct conn_view *a, const struct conn_view *b)
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
	v->last.t = src->t0;
	v->order = VO_KERNEL_BYTES;
	v->tty = isatty(fileno(out));
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

static void header(struct live_view *v, const struct live_snapshot *k,
		   const struct live_rates *r, FILE *f)
{
	char b[5][32];

	fprintf(f, BOLD "conctrace" NORMAL " %s (pid %d)   %.1f s   order: %s\n",
		v->src.target, (int)v->src.pid, k->t - v->src.t0, order_names[v->order]);
	fprintf(f, "connections: %llu open, %llu total, %s/s opened, %s/s closed\n",
		(unsigned long long)k->open, (unsigned long long)k->proc.conns_opened,
		fmt_count(r->opened, b[0], sizeof(b[0])), fmt_count(r->closed, b[1], sizeof(b[1])));
	fprintf(f, "per second:  syscalls %s  switches %s  cpu %.1f%%  rx %s  tx %s\n",
		fmt_count(r->syscalls, b[0], sizeof(b[0])), fmt_count(r->switches, b[1], sizeof(b[1])),
		r->cpu_pct, fmt_bytes(r->rx, b[2], sizeof(b[2])), fmt_bytes(r->tx, b[3], sizeof(b[3])));
	fprintf(f, "memory:      RSS %s   open connections' kernel memory %s (%s each)\n",
		k->rss >= 0 ? fmt_bytes((double)k->rss, b[4], sizeof(b[4])) : "?",
		fmt_bytes((double)k->kernel_bytes, b[0], sizeof(b[0])),
		fmt_bytes(k->open ? (double)k->kernel_bytes / (double)k->open : 0, b[1], sizeof(b[1])));
	fprintf(f, "lost events: %llu%s\n", (unsigned long long)k->proc.lost_events,
		k->proc.lost_events ? "  (the ring buffer overflowed: figures are short)" : "");
}

static void table(const struct live_snapshot *k, FILE *f)
{
	fprintf(f, "\n" REVERSE "  %-10s %-22s %10s %9s %9s %10s %9s %9s " NORMAL "\n",
		"id", "remote", "kernel", "switches", "syscalls", "cpu", "rx", "tx");
	for (size_t i = 0; i < k->ntop; i++) {
		const struct conn_view *v = &k->top[i];
		const struct conn *c = &v->rec;
		char addr[160], km[32], cpu[32], rx[32], tx[32];

		fprintf(f, "  %-10llu %-22.22s %10s %9llu %9llu %10s %9s %9s\n",
			(unsigned long long)c->id, fmt_conn_addr(c, NULL, false, addr, sizeof(addr)),
			fmt_bytes((double)v->kernel_bytes_now, km, sizeof(km)),
			(unsigned long long)(c->ctx_voluntary + c->ctx_involuntary),
			(unsigned long long)v->syscalls, fmt_ns((double)c->cpu_ns, cpu, sizeof(cpu)),
			fmt_bytes((double)c->bytes_rx, rx, sizeof(rx)),
			fmt_bytes((double)c->bytes_tx, tx, sizeof(tx)));
	}
	if (!k->ntop)
		fprintf(f, "  (no connection open)\n");
	fprintf(f, "\nkeys: k kernel memory  x switches  s syscalls  c cpu  q stop and report\n");
}

static void draw(struct live_view *v, double now)
{
	int rows = v->tty ? screen_rows(v) - 10 : 0;	/* 9 lines of text around */
	struct live_snapshot k = {
		.order = orders[v->order], .top = v->top, .by_nr = v->by_nr,
		.want = rows < 0 ? 0 : rows > LIVE_VIEW_MAX_ROWS ? LIVE_VIEW_MAX_ROWS : (size_t)rows,
	};
	struct live_rates r;
	char *screen = NULL;
	size_t len = 0;
	FILE *f;

	live_snapshot_take(&k, &v->src, &v->last, now);
	live_rates(&k, &v->last, &r);
	if (!v->tty) {
		live_print_line(v->out, &k, &r, v->src.t0);
	} else if ((f = open_memstream(&screen, &len))) {
		/* one write per screen: no flicker */
		fputs(HOME_CLEAR, f);
		header(v, &k, &r, f);
		table(&k, f);
		fclose(f);
		fwrite(screen, 1, len, v->out);
		fflush(v->out);
		free(screen);
	}
	v->last = k;
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
