// SPDX-License-Identifier: MIT
/* Flame views: from BPF stacks and the memory breakdown to folded stacks. */
#include "flame/flame.h"

#include <errno.h>
#include <linux/bpf.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "flame/flame_svg.h"
#include "flame/folded.h"
#include "flame/stack_frames.h"
#include "flame/symbolize.h"
#include "model/aggregate.h"
#include "model/memory.h"
#include "model/syscalls.h"
#include "report/outfile.h"
#include "tracer/tracer.h"

/* ---- memory composition: what a connection is made of ----------------- */

static const char *const kmem_objects[KM_COUNT] = {
	[KM_SOCK] = "sock object",
	[KM_INODE] = "sock_inode_cache",
	[KM_FILE] = "filp",
	[KM_DENTRY] = "dentry",
	[KM_LSM] = "lsm blobs",
	[KM_EPOLL] = "eventpoll_epi + eventpoll_pwq",
	[KM_THREAD] = "task_struct + pid + kernel stack",
	[KM_IO_URING] = "io_kiocb",
	[KM_PAGE_TABLES] = "page-table pages",
	[KM_VMAS] = "vm_area_struct",
	[KM_RX_QUEUE] = "sk_rmem_alloc",
	[KM_TX_QUEUE] = "sk_wmem_queued",
	[KM_FORWARD_ALLOC] = "sk_forward_alloc",
};

/* The concurrency model, as the kernel sees it. */
static const char *model_of(const __u64 kmem[KM_COUNT])
{
	if (kmem[KM_THREAD])
		return "threads";
	if (kmem[KM_IO_URING])
		return "io_uring";
	if (kmem[KM_EPOLL])
		return "epoll";
	return "sockets";
}

static int add_composition(struct folded *f, const char *process, const char *model,
			   const char *conn, const double kmem[KM_COUNT], double user)
{
	const char *frames[6];
	size_t n = 0;
	int err = 0;

	frames[n++] = process;
	frames[n++] = model;
	if (conn)
		frames[n++] = conn;
	for (int k = 0; k < KM_COUNT && !err; k++) {
		unsigned long long v = (unsigned long long)llround(kmem[k]);

		if (!v)
			continue;
		frames[n] = "kernel";
		frames[n + 1] = kmem_category_names[k];
		frames[n + 2] = kmem_objects[k];
		err = folded_add(f, frames, n + 3, v);
	}
	if (!err && user >= 0.5) {
		frames[n] = "user";
		frames[n + 1] = "rss";
		frames[n + 2] = "pages touched";
		err = folded_add(f, frames, n + 3, (unsigned long long)llround(user));
	}
	return err;
}

static int build_mem(const struct flame_input *in, struct folded *f)
{
	struct agg *a = in->agg;
	double kmem[KM_COUNT];
	const char *model = model_of(a->kmem_by_cat);
	struct dist user;
	int err = 0;

	if (!a->n)
		return 0;
	if (!in->by_conn) {	/* the mean connection */
		agg_dist(a, M_USER_BYTES, &user);
		for (int k = 0; k < KM_COUNT; k++)
			kmem[k] = (double)a->kmem_by_cat[k] / (double)a->n;
		return add_composition(f, in->process, model, NULL, kmem, user.mean);
	}
	{
		size_t n;
		const struct conn_view *top = agg_top(a, &n);

		for (size_t i = 0; i < n && !err; i++) {
			const struct conn *c = &top[i].rec;
			char label[48];

			for (int k = 0; k < KM_COUNT; k++)
				kmem[k] = (double)top[i].kmem_peak[k];
			snprintf(label, sizeof(label), "conn %llu", (unsigned long long)c->id);
			err = add_composition(f, in->process, model, label, kmem,
					      c->user_bytes_peak > 0 ? (double)c->user_bytes_peak : 0);
		}
	}
	return err;
}

/* ---- stack views --------------------------------------------------------- */

#define MAX_FRAMES (3 + 2 * FLAME_STACK_DEPTH)
#define FRAME_LEN 160

struct stack_build {
	const struct flame_input *in;
	struct folded **out;
	struct self_cpu *self;
	unsigned int mask;
	char (*progs)[BPF_OBJ_NAME_LEN * 4];	/* conctrace's programs, by name */
	size_t nprogs;
	char names[MAX_FRAMES][FRAME_LEN];
	char stack[FLAME_STACK_DEPTH][STACK_FRAME_LEN];	/* one stack's, before push */
	const char *frames[MAX_FRAMES];
	int err;
};

static size_t push(struct stack_build *b, size_t n, const char *fmt, const char *s)
{
	if (n >= MAX_FRAMES)
		return n;
	snprintf(b->names[n], FRAME_LEN, fmt, s);
	b->frames[n] = b->names[n];
	return n + 1;
}

/* A stack's frames, outermost first (see stack_frames.h). */
static size_t push_stack(struct stack_build *b, size_t n, __u64 id, enum stack_kind kind)
{
	__u64 ips[FLAME_STACK_DEPTH];
	int got;

	if (tracer_read_stack(b->in->tracer, id, ips))
		return n;
	got = stack_frames(b->in->sym, b->in->pid, ips, kind, b->stack);
	for (int i = 0; i < got; i++)
		n = push(b, n, "%s", b->stack[i]);
	return n;
}

/* ---- conctrace's own programs, apart ---------------------------------- */

static void add_prog(void *ctx, const char *name)
{
	struct stack_build *b = ctx;
	char (*p)[sizeof(*b->progs)] = realloc(b->progs, (b->nprogs + 1) * sizeof(*p));

	if (!p) {
		b->err = -ENOMEM;
		return;
	}
	b->progs = p;
	snprintf(b->progs[b->nprogs++], sizeof(*p), "%s", name);
}

/* Is this kernel frame one of conctrace's programs, or a function one
 * calls? The kernel names that code "bpf_prog_<16 hex digits of its
 * tag>_<name>", the name cut to BPF_OBJ_NAME_LEN - 1 where the program
 * has no BTF. */
static bool own_prog(const struct stack_build *b, const char *frame)
{
	const char *name = frame + 9 + 16 + 1;
	size_t len;

	if (strncmp(frame, "bpf_prog_", 9) || strlen(frame) <= 9 + 16 + 1 + 4 ||
	    strspn(frame + 9, "0123456789abcdef") != 16 || frame[9 + 16] != '_')
		return false;
	len = strlen(name) - 4;			/* "_[k]" */
	for (size_t i = 0; i < b->nprogs; i++) {
		size_t plen = strlen(b->progs[i]);

		if ((plen == len || (len == BPF_OBJ_NAME_LEN - 1 && plen > len)) &&
		    !strncmp(b->progs[i], name, len))
			return true;
	}
	return false;
}

/* Where conctrace's own code starts in the kernel frames [from, n), or n:
 * at one of its programs; in a sample that landed in the glue that calls
 * BPF programs at a tracepoint (bpf_trace_run*) and in no program yet, at
 * the glue. conctrace cannot tell whose programs that glue was about to
 * run: it counts them its own, a tracer of its own hooks being the rule. */
static size_t own_start(const struct stack_build *b, size_t from, size_t n)
{
	size_t glue = n;

	for (size_t i = from; i < n; i++) {
		if (own_prog(b, b->names[i]))
			return i;
		if (!strncmp(b->names[i], "bpf_prog_", 9))
			return n;		/* another's program */
		if (glue == n && !strncmp(b->names[i], "bpf_trace_run", 13))
			glue = i;
	}
	return glue;
}

/* Frames [own, n) of a stack, conctrace's own code: moved under the
 * process as SELF_CPU_FRAME;program;what it called. What
 * ran it (the user stack, the hook) is left out: that is no cost of the
 * target's code. Returns the new frame count. */
static size_t set_apart(struct stack_build *b, size_t own, size_t n)
{
	size_t k = push(b, 1, "%s", SELF_CPU_FRAME);

	for (size_t i = own; i < n; i++, k++)
		memmove(b->names[k], b->names[i], FRAME_LEN);	/* k < i: nothing overwritten */
	return k;
}

/* A cpu sample: the totals of struct self_cpu. */
static void count_self(struct stack_build *b, size_t own, size_t n, __u64 value)
{
	b->self->sampled_ns += value;
	if (own >= n)
		return;
	b->self->own_ns += value;
	for (size_t i = own; i < n; i++)
		if (!strncmp(b->names[i], "bpf_get_stack", 13) ||
		    !strncmp(b->names[i], "__bpf_get_stack", 15)) {
			b->self->stacks_ns += value;
			return;
		}
}

static void add_stack(void *ctx, const struct stack_key *k, __u64 value)
{
	struct stack_build *b = ctx;
	char conn[48], label[SYSCALL_LABEL_LEN];
	size_t n = 0, before, own;
	int v;

	for (v = 0; v < VIEW_COUNT; v++)
		if (view_bpf(v) == (int)k->view)
			break;
	if (v == VIEW_COUNT || !(b->mask & (1u << v)) || b->err)
		return;
	n = push(b, n, "%s", b->in->process);
	if (b->in->by_conn) {
		if (k->conn)
			snprintf(conn, sizeof(conn), "conn %llu", (unsigned long long)k->conn);
		else
			snprintf(conn, sizeof(conn), "event loop");
		n = push(b, n, "%s", conn);
	}
	before = n;
	n = push_stack(b, n, k->user_stack, STACK_USER);
	own = n;
	n = push_stack(b, n, k->kern_stack,
		       v == VIEW_CPU ? STACK_KERNEL_SAMPLED : STACK_KERNEL);
	own = own_start(b, own, n);
	if (v == VIEW_CPU)
		count_self(b, own, n, value);
	if (own < n)
		n = set_apart(b, own, n);
	if (n == before)
		n = push(b, n, "%s", "[stack lost]");
	if (v == VIEW_SYSCALLS)
		n = push(b, n, "%s", syscall_label(k->extra, label, sizeof(label)));
	b->err = folded_add(b->out[v], b->frames, n, value);
}

int flame_build(const struct flame_input *in, unsigned int mask, struct folded *out[VIEW_COUNT],
		struct self_cpu *self)
{
	struct stack_build *b;
	int err = 0;

	memset(out, 0, sizeof(*out) * VIEW_COUNT);
	memset(self, 0, sizeof(*self));
	for (int v = 0; v < VIEW_COUNT; v++)
		if ((mask & (1u << v)) && !(out[v] = folded_new()))
			return -ENOMEM;
	if (mask & (1u << VIEW_MEM))
		err = build_mem(in, out[VIEW_MEM]);
	if (err || !(mask & ~(1u << VIEW_MEM)))
		return err;
	b = calloc(1, sizeof(*b));	/* ~40 KiB of frame names */
	if (!b)
		return -ENOMEM;
	b->in = in;
	b->out = out;
	b->self = self;
	b->mask = mask;
	tracer_for_each_code_name(in->tracer, add_prog, b);
	if (!b->err)
		tracer_for_each_flame(in->tracer, add_stack, b);
	err = b->err;
	free(b->progs);
	free(b);
	return err;
}

static const struct {
	const char *title;
	enum flame_palette palette;
	enum flame_unit unit;
} view_style[VIEW_COUNT] = {
	[VIEW_MEM] = { "Memory per connection: what it is made of", FLAME_MEM, FLAME_BYTES },
	[VIEW_UMEM] = { "User memory growth by user stack", FLAME_MEM, FLAME_BYTES },
	[VIEW_KMEM] = { "Kernel allocations by stack", FLAME_MEM, FLAME_BYTES },
	[VIEW_OFFCPU] = { "Off-CPU time by stack (voluntary switches)", FLAME_BLUE, FLAME_NS },
	[VIEW_CPU] = { "On-CPU time by stack (sampled)", FLAME_HOT, FLAME_NS },
	[VIEW_SYSCALLS] = { "Syscalls by user stack", FLAME_IO, FLAME_COUNT },
};

struct svg_fill {
	const struct folded *f;
	const struct flame_opts *o;
};

static int fill_folded(FILE *out, void *f)
{
	return folded_write(f, out);
}

static int fill_svg(FILE *out, void *ctx)
{
	const struct svg_fill *s = ctx;

	return flame_svg_write(out, s->f, s->o);
}

int flame_write(enum view v, const struct folded *f, const char *process, const char *folded_path,
		const char *svg_path, const char **failed, const char **why)
{
	struct flame_opts o = {
		.title = view_style[v].title,
		.subtitle = process,
		.palette = view_style[v].palette,
		.unit = view_style[v].unit,
	};
	struct svg_fill svg = { f, &o };
	int err = 0;

	if (folded_path && (err = outfile_write(folded_path, fill_folded, (void *)f, why)))
		*failed = folded_path;
	else if (svg_path && (err = outfile_write(svg_path, fill_svg, &svg, why)))
		*failed = svg_path;
	return err;
}
