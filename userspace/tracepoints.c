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
	return 0;
}

void drop_missing_attach_points(struct bpf_object *obj, const char *who)
{
	struct btf *vmlinux = btf__load_vmlinux_btf();
	struct bpf_program *prog;
	char name[128];

	if (!vmlinux)
		return;	/* load will fail and say why */
	bpf_object__for_each_program(prog, obj) {
		const char *sec = bpf_program__section_name(prog);
		int kind = attach_point_btf(sec, name, sizeof(name));

		if (!bpf_program__autoload(prog) || !kind)
			continue;
		if (btf__find_by_name_kind(vmlinux, name, kind) < 0) {
			fprintf(stderr, "%s: warning: this kernel has no %s %s: %s disabled\n",
				who, strchr(sec, '/') + 1,
				kind == BTF_KIND_TYPEDEF ? "tracepoint" : "iterator",
				bpf_program__name(prog));
			bpf_program__set_autoload(prog, false);
		}
	}
	btf__free(vmlinux);
}
