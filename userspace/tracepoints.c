// SPDX-License-Identifier: MIT
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <bpf/btf.h>

#include "tracepoints.h"

void drop_missing_attach_points(struct bpf_object *obj, const char *who)
{
	struct btf *vmlinux = btf__load_vmlinux_btf();
	struct bpf_program *prog;
	char name[128];

	if (!vmlinux)
		return;	/* load will fail and say why */
	bpf_object__for_each_program(prog, obj) {
		const char *sec = bpf_program__section_name(prog);
		const char *tp = strchr(sec, '/');
		bool tracepoint = strncmp(sec, "tp_btf/", 7) == 0;

		if (!bpf_program__autoload(prog))
			continue;
		if (!tracepoint && strncmp(sec, "iter/", 5) != 0)
			continue;
		/* each tracepoint has a btf_trace_<name> typedef in vmlinux BTF,
		 * each iterator its context, struct bpf_iter__<name> */
		if (tracepoint)
			snprintf(name, sizeof(name), "btf_trace_%s", tp + 1);
		else
			snprintf(name, sizeof(name), "bpf_iter__%s", tp + 1);
		if (btf__find_by_name_kind(vmlinux, name,
					   tracepoint ? BTF_KIND_TYPEDEF : BTF_KIND_STRUCT) < 0) {
			fprintf(stderr, "%s: warning: this kernel has no %s %s: %s disabled\n",
				who, tp + 1, tracepoint ? "tracepoint" : "iterator",
				bpf_program__name(prog));
			bpf_program__set_autoload(prog, false);
		}
	}
	btf__free(vmlinux);
}
