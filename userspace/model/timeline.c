// SPDX-License-Identifier: MIT
/* Memory over time (see timeline.h). */
#include "model/timeline.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void timeline_init(struct timeline *tl)
{
	memset(tl, 0, sizeof(*tl));
}

void timeline_free(struct timeline *tl)
{
	free(tl->v);
	memset(tl, 0, sizeof(*tl));
}

int timeline_add(struct timeline *tl, const struct sample *s)
{
	if (tl->n == tl->cap) {
		size_t cap = tl->cap ? tl->cap * 2 : 64;
		struct sample *v = realloc(tl->v, cap * sizeof(*v));

		if (!v)
			return -1;
		tl->v = v;
		tl->cap = cap;
	}
	tl->v[tl->n++] = *s;
	if (s->rss_bytes > tl->rss_peak)
		tl->rss_peak = s->rss_bytes;
	if (s->kernel_bytes > tl->kernel_peak)
		tl->kernel_peak = s->kernel_bytes;
	if (s->tracer_bytes > tl->tracer_peak)
		tl->tracer_peak = s->tracer_bytes;
	return 0;
}

const struct sample *timeline_last(const struct timeline *tl)
{
	return tl->n ? &tl->v[tl->n - 1] : NULL;
}

long long status_vmrss(const char *status)
{
	const char *p = strstr(status, "\nVmRSS:");
	long long kib;

	if (!p || sscanf(p + 7, "%lld", &kib) != 1 || kib < 0)
		return -1;
	return kib * 1024;	/* the kernel prints kB, meaning KiB */
}

/* A small /proc file's text into buf, NUL-terminated; false if unreadable. */
static bool read_proc_text(const char *path, char *buf, size_t len)
{
	FILE *f = fopen(path, "r");
	size_t n;

	if (!f)
		return false;
	n = fread(buf, 1, len - 1, f);
	fclose(f);
	buf[n] = '\0';
	return true;
}

long long proc_vmrss(pid_t pid)
{
	char path[64], buf[4096];

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	return read_proc_text(path, buf, sizeof(buf)) ? status_vmrss(buf) : -1;
}

long long fdinfo_memlock(const char *fdinfo)
{
	const char *p = fdinfo;
	long long bytes;

	if (strncmp(p, "memlock:", 8)) {
		p = strstr(fdinfo, "\nmemlock:");
		if (!p)
			return -1;
		p++;
	}
	if (sscanf(p + 8, "%lld", &bytes) != 1 || bytes < 0)
		return -1;
	return bytes;
}

long long map_fd_memlock(int fd)
{
	char path[64], buf[1024];

	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	return read_proc_text(path, buf, sizeof(buf)) ? fdinfo_memlock(buf) : -1;
}
