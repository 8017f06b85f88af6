// SPDX-License-Identifier: MIT
#include <stdio.h>
#include <string.h>
#include <bpf/btf.h>

#include "tracepoints.h"

void drop_missing_tracepoints(struct bpf_object *obj, const char *who)
{
	struct btf *vmlinux = btf__load_vmlinux_btf();
	struct bpf_program *prog;
	char name[128];

	if (!vmlinux)
		return;	/* load will fail and say why */
	bpf_object__for_each_program(prog, obj) {
		const char *sec = bpf_program__section_name(prog);
		const char *tp = strchr(sec, '/');

		if (!bpf_program__autoload(prog))
			continue;
		if (strncmp(sec, "tp_btf/", 7) != 0)
			continue;	/* iterators are checked by the verifier */
		/* each tracepoint has a btf_trace_<name> typedef in vmlinux BTF */
		snprintf(name, sizeof(name), "btf_trace_%s", tp + 1);
		if (btf__find_by_name_kind(vmlinux, name, BTF_KIND_TYPEDEF) < 0) {
			fprintf(stderr, "%s: warning: this kernel has no %s tracepoint: "
				"%s disabled\n", who, tp + 1, bpf_program__name(prog));
			bpf_program__set_autoload(prog, false);
		}
	}
	btf__free(vmlinux);
}
