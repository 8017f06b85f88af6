// SPDX-License-Identifier: MIT
/*
 * Which programs a run loads (plan.h): what this kernel lacks or refused
 * is left out, a stand-in takes its place where one exists, the core's
 * absence is fatal, and each figure lost is said once.
 */
#include "tracer/plan.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "conctrace.skel.h"
#include "tracer/programs.h"
#include "tracer/tracepoints.h"

struct dropped_prog *plan_find(struct tracer *t, const char *name)
{
	for (int i = 0; i < t->ndropped; i++)
		if (!strcmp(t->dropped[i].name, name))
			return &t->dropped[i];
	return NULL;
}

void plan_drop(struct tracer *t, const char *name, const char *why)
{
	struct dropped_prog *d;

	if (plan_find(t, name) || t->ndropped == TRACER_MAX_PROGS)
		return;
	d = &t->dropped[t->ndropped++];
	snprintf(d->name, sizeof(d->name), "%s", name);
	snprintf(d->why, sizeof(d->why), "%s", why);
}

/*
 * Will the kernel load a tracing program (fentry, fexit) on the function
 * a section names? Some builds refuse the program type (EPERM): asked
 * with an empty program, at a cost of a millisecond, rather than by
 * loading the whole object only to have it refused and load it again.
 */
static bool tracing_allowed(const struct btf *vmlinux, const char *sec, char *why, size_t len)
{
	const struct bpf_insn ret0[] = {
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = 0 },
		{ .code = BPF_JMP | BPF_EXIT },
	};
	bool fexit = strncmp(sec, "fexit/", 6) == 0;
	char func[128];
	int id, fd;

	/* the attach point's function, as attach_point_present found it */
	if (attach_point_btf(sec, func, sizeof(func)) != BTF_KIND_FUNC)
		return true;
	id = btf__find_by_name_kind(vmlinux, func, BTF_KIND_FUNC);
	if (id < 0)
		return true;	/* attach_point_present says so */
	LIBBPF_OPTS(bpf_prog_load_opts, opts, .attach_btf_id = id,
		    .expected_attach_type = fexit ? BPF_TRACE_FEXIT : BPF_TRACE_FENTRY);
	fd = bpf_prog_load(BPF_PROG_TYPE_TRACING, NULL, "GPL", ret0, 2, &opts);
	if (fd >= 0) {
		close(fd);
		return true;
	}
	snprintf(why, len, "the kernel refuses %s programs on %s: %s", fexit ? "fexit" : "fentry",
		 func, strerror(errno));
	return false;
}

/*
 * Leave out what this kernel cannot run: programs whose attach point it
 * lacks (or has with another signature), and those dropped by an earlier
 * attempt. A stand-in (prog_role's fallback_for) loads only where the
 * program it stands in for is left out, so primaries are decided first.
 * CONCTRACE_DROP_PROGS lists programs to treat as refused: the tests use
 * it to take every path a kernel might force.
 */
void plan_programs(struct tracer *t, struct bpf_object *obj, const struct btf *vmlinux)
{
	const char *test_drops = getenv("CONCTRACE_DROP_PROGS");
	struct bpf_program *prog;
	char why[256];

	for (int pass = 0; pass < 2; pass++) {
		bpf_object__for_each_program(prog, obj) {
			const char *name = bpf_program__name(prog);
			const struct prog_role *r = prog_role(name);
			bool stand_in = r && r->fallback_for;

			if (stand_in != (pass == 1))
				continue;
			if (stand_in && !plan_find(t, r->fallback_for))
				bpf_program__set_autoload(prog, false);
			if (!bpf_program__autoload(prog))
				continue;	/* not needed in this mode */
			if (prog_listed(test_drops, name)) {
				snprintf(why, sizeof(why), "%s left out by CONCTRACE_DROP_PROGS",
					 name);
				plan_drop(t, name, why);
			} else if (vmlinux && (!attach_point_present(vmlinux,
					bpf_program__section_name(prog), r ? r->nargs : 0,
					why, sizeof(why)) ||
				   !tracing_allowed(vmlinux, bpf_program__section_name(prog),
						    why, sizeof(why))))
				plan_drop(t, name, why);
			if (plan_find(t, name))
				bpf_program__set_autoload(prog, false);
		}
	}
}

/* Is the program left out, and every stand-in for it too? */
bool plan_all_dropped(struct tracer *t, const char *name)
{
	const char *alts[8];
	unsigned int n = prog_fallbacks(name, alts, 8);

	if (!plan_find(t, name))
		return false;
	for (unsigned int i = 0; i < n; i++)
		if (!plan_all_dropped(t, alts[i]))
			return false;
	return true;
}

/* Is the program in this run, or a stand-in for it? */
bool plan_covered(struct tracer *t, const char *name)
{
	const char *alts[8];
	unsigned int n = prog_fallbacks(name, alts, 8);
	struct bpf_program *prog = bpf_object__find_program_by_name(t->skel->obj, name);

	if (prog && bpf_program__autoload(prog) && !plan_find(t, name))
		return true;
	for (unsigned int i = 0; i < n; i++)
		if (plan_covered(t, alts[i]))
			return true;
	return false;
}

/* The first stand-in for name that was tried and left out, or NULL. */
static const struct dropped_prog *dropped_stand_in(struct tracer *t, const char *name)
{
	const char *alts[8];
	unsigned int n = prog_fallbacks(name, alts, 8);

	const struct dropped_prog *d = NULL;

	for (unsigned int i = 0; i < n && !d; i++)
		d = plan_find(t, alts[i]);
	return d;
}

/* A core program missing from the plan: nothing to measure without it. */
int plan_check_core(struct tracer *t)
{
	for (int i = 0; i < t->ndropped; i++) {
		const struct dropped_prog *d = &t->dropped[i];
		const struct prog_role *r = prog_role(d->name);

		if (prog_is_core(d->name, t->light) && !plan_covered(t, d->name)) {
			const struct dropped_prog *alt = dropped_stand_in(t, d->name);

			fprintf(stderr, "conctrace: cannot run without %s (%s): %s%s%s\n",
				d->name, r ? r->figure : "", d->why, alt ? "; " : "",
				alt ? alt->why : "");
			return -EOPNOTSUPP;
		}
	}
	return 0;
}

/* Light mode names connections only through socket I/O. */
int plan_check_light_mode(struct tracer *t)
{
	unsigned int n;
	const struct prog_role *roles = prog_roles(&n);
	const struct dropped_prog *d;

	if (!t->light)
		return 0;
	for (unsigned int i = 0; i < n; i++) {
		struct bpf_program *p;

		if (!roles[i].names_conns)
			continue;
		p = bpf_object__find_program_by_name(t->skel->obj, roles[i].name);
		if (p && bpf_program__autoload(p))
			return 0;
	}
	d = plan_find(t, "on_sock_recv_length");
	fprintf(stderr, "conctrace: light mode (--no-syscalls) finds connections through "
		"socket I/O events, which this kernel does not give (%s): run without "
		"--no-syscalls\n", d ? d->why : "no program for them");
	return -EOPNOTSUPP;
}

/*
 * One line per figure a left-out program takes with it, each prefixed,
 * with why (and why its stand-in could not take over). A stand-in left
 * out is its own line only where other stand-ins cover the rest (one
 * family's socket I/O). Programs a stand-in replaced, and those whose job
 * something else does (prog_role's instead), only when verbose.
 */
void plan_report(struct tracer *t, FILE *f, const char *prefix, bool verbose)
{
	char last[1024] = "";
	bool said_bytes = false;

	for (int i = 0; i < t->ndropped; i++) {
		const struct dropped_prog *d = &t->dropped[i];
		const struct prog_role *r = prog_role(d->name);
		const struct dropped_prog *alt = dropped_stand_in(t, d->name);
		char line[1024];

		if (r && r->fallback_for && !plan_covered(t, r->fallback_for))
			continue;	/* the program it stood in for says it */
		if (t->bytes_from_syscalls && r && r->names_conns) {
			if (!said_bytes)
				fprintf(f, "%sbytes per connection come from syscall results (read, "
					"write, send, recv, sendfile): io_uring's socket I/O goes "
					"uncounted: %s%s%s\n", prefix, d->why, alt ? "; " : "",
					alt ? alt->why : "");
			said_bytes = true;
			continue;
		}
		if ((r && r->instead) || plan_covered(t, d->name)) {
			if (verbose)
				fprintf(f, "%s%s left out (%s); %s\n", prefix, d->name, d->why,
					r && r->instead ? r->instead : "a stand-in measures the same");
			continue;
		}
		snprintf(line, sizeof(line), "%sno %s: %s%s%s\n", prefix, r ? r->figure : d->name,
			 d->why, alt ? "; " : "", alt ? alt->why : "");
		if (strcmp(line, last))
			fputs(line, f);
		snprintf(last, sizeof(last), "%s", line);
	}
}
