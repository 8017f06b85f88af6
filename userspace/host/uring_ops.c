// SPDX-License-Identifier: MIT
/* io_uring opcode names from the kernel's BTF (see uring_ops.h). */
#include "host/uring_ops.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <bpf/btf.h>

#define MAX_OPS 256

static char names[MAX_OPS][32];
static bool loaded;

static void load_names(void)
{
	struct btf *btf = btf__load_vmlinux_btf();
	const struct btf_type *t;
	const struct btf_enum *e;
	int id;

	loaded = true;
	if (!btf)
		return;
	id = btf__find_by_name_kind(btf, "io_uring_op", BTF_KIND_ENUM);
	if (id > 0) {
		t = btf__type_by_id(btf, id);
		e = btf_enum(t);
		for (int i = 0; i < btf_vlen(t); i++, e++) {
			const char *name = btf__name_by_offset(btf, e->name_off);

			if (e->val < 0 || e->val >= MAX_OPS || !name)
				continue;
			if (!strncmp(name, "IORING_OP_", 10))
				name += 10;
			if (strcmp(name, "LAST"))
				snprintf(names[e->val], sizeof(names[0]), "%s", name);
		}
	}
	btf__free(btf);
}

const char *uring_op_name(unsigned int op)
{
	if (!loaded)
		load_names();
	return op < MAX_OPS && names[op][0] ? names[op] : NULL;
}

const char *uring_op_label(unsigned int op, char *buf, unsigned long len)
{
	const char *name = uring_op_name(op);

	if (name)
		return name;
	snprintf(buf, len, "op_%u", op);
	return buf;
}
