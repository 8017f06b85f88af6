// SPDX-License-Identifier: MIT
/* Flame view names and output paths (see views.h). */
#include "flame/views.h"

#include <stdio.h>
#include <string.h>

#include "conctrace.h"

const char *const view_names[VIEW_COUNT] = {
	[VIEW_MEM] = "mem",
	[VIEW_UMEM] = "umem",
	[VIEW_KMEM] = "kmem",
	[VIEW_OFFCPU] = "offcpu",
	[VIEW_CPU] = "cpu",
	[VIEW_SYSCALLS] = "syscalls",
};

/* which BPF view feeds which output view (VIEW_MEM needs none) */
static const int bpf_view_of[VIEW_COUNT] = {
	[VIEW_MEM] = -1,
	[VIEW_UMEM] = FV_UMEM,
	[VIEW_KMEM] = FV_KMEM,
	[VIEW_OFFCPU] = FV_OFFCPU,
	[VIEW_CPU] = FV_CPU,
	[VIEW_SYSCALLS] = FV_SYSCALLS,
};

int views_parse(const char *arg, unsigned int *mask, const char **bad, size_t *bad_len)
{
	*mask = 0;
	for (const char *p = arg;;) {
		size_t n = strcspn(p, ",");
		int v;

		if (n == 3 && !strncmp(p, "all", 3)) {
			*mask |= (1u << VIEW_COUNT) - 1;
		} else {
			for (v = 0; v < VIEW_COUNT; v++)
				if (strlen(view_names[v]) == n && !strncmp(p, view_names[v], n))
					break;
			if (v == VIEW_COUNT) {
				*bad = p;
				*bad_len = n;
				return -1;
			}
			*mask |= 1u << v;
		}
		if (!p[n])
			return 0;
		p += n + 1;
	}
}

int view_bpf(enum view v)
{
	return bpf_view_of[v];
}

__u32 views_bpf(unsigned int mask)
{
	__u32 bpf = 0;

	for (int v = 0; v < VIEW_COUNT; v++)
		if ((mask & (1u << v)) && bpf_view_of[v] >= 0)
			bpf |= 1u << bpf_view_of[v];
	return bpf;
}

void view_path(const char *path, unsigned int mask, enum view v, char *buf, size_t len)
{
	const char *slash = strrchr(path, '/');
	const char *dot = strrchr(slash ? slash : path, '.');

	if (!(mask & (mask - 1)) || !dot || dot == (slash ? slash + 1 : path))
		dot = NULL;	/* one view, or no extension to keep */
	if (!(mask & (mask - 1)))
		snprintf(buf, len, "%s", path);
	else if (dot)
		snprintf(buf, len, "%.*s.%s%s", (int)(dot - path), path, view_names[v], dot);
	else
		snprintf(buf, len, "%s.%s", path, view_names[v]);
}
