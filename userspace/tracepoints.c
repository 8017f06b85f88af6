// SPDX-License-Identifier: MIT
#include <stdio.h>
#include <string.h>
#include <bpf/btf.h>

#include "tracepoints.h"

int attach_point_btf(const char *sec, char *name, size_t len)
{
	const char *what = strchr(sec, '/');

	if (!what || !what[1])
		return 0;
	/* each tracepoint has a btf_trace_<name> typedef in vmlinux BTF,
	 * each iterator its context, struct bpf_iter__<kind> */
	if (strncmp(sec, "tp_btf/", 7) == 0) {
		snprintf(name, len, "btf_trace_%s", what + 1);
		return BTF_KIND_TYPEDEF;
	}
	if (strncmp(sec, "iter/", 5) == 0) {
		snprintf(name, len, "bpf_iter__%s", what + 1);
		return BTF_KIND_STRUCT;
	}
	if (strncmp(sec, "fentry/", 7) == 0 || strncmp(sec, "fexit/", 6) == 0) {
		snprintf(name, len, "%s", what + 1);
		return BTF_KIND_FUNC;
	}
	return 0;
}

/* A tracepoint's arguments: btf_trace_X is a pointer to a function whose
 * first parameter is the tracepoint's private data, not an argument. */
static int tracepoint_nargs(const struct btf *btf, int typedef_id)
{
	const struct btf_type *t = btf__type_by_id(btf, typedef_id);

	while (t && (btf_is_typedef(t) || btf_is_ptr(t)))
		t = btf__type_by_id(btf, t->type);
	if (!t || !btf_is_func_proto(t))
		return -1;
	return btf_vlen(t) - 1;
}

bool attach_point_present(const struct btf *vmlinux, const char *sec, int nargs,
			  char *why, size_t len)
{
	char name[128];
	int kind = attach_point_btf(sec, name, sizeof(name));
	const char *what = kind ? strchr(sec, '/') + 1 : NULL;
	int id, have;

	if (!kind)
		return true;
	id = btf__find_by_name_kind(vmlinux, name, kind);
	if (id < 0) {
		snprintf(why, len, "this kernel has no %s %s", what,
			 kind == BTF_KIND_TYPEDEF ? "tracepoint" :
			 kind == BTF_KIND_STRUCT ? "iterator" : "function to hook");
		return false;
	}
	if (kind == BTF_KIND_TYPEDEF && nargs > 0 &&
	    (have = tracepoint_nargs(vmlinux, id)) != nargs) {
		snprintf(why, len, "this kernel's %s tracepoint takes %d arguments, not %d",
			 what, have, nargs);
		return false;
	}
	return true;
}

void drop_missing_attach_points(struct bpf_object *obj, const char *who)
{
	struct btf *vmlinux = btf__load_vmlinux_btf();
	struct bpf_program *prog;
	char why[160];

	if (!vmlinux)
		return;	/* load will fail and say why */
	bpf_object__for_each_program(prog, obj) {
		if (!bpf_program__autoload(prog))
			continue;
		if (!attach_point_present(vmlinux, bpf_program__section_name(prog), 0,
					  why, sizeof(why))) {
			fprintf(stderr, "%s: warning: %s: %s disabled\n", who, why,
				bpf_program__name(prog));
			bpf_program__set_autoload(prog, false);
		}
	}
	btf__free(vmlinux);
}
