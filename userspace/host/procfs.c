// SPDX-License-Identifier: MIT
/* Small /proc files: a process's RSS, a BPF map's memory (see procfs.h). */
#include "host/procfs.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

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
