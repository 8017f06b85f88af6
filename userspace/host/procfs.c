// SPDX-License-Identifier: MIT
/* Small /proc files: a process's RSS, a BPF map's memory (see procfs.h). */
#include "host/procfs.h"

#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* "\nName:\tN" in a status text: its number; -1 if absent. */
static long long status_field(const char *status, const char *field)
{
	const char *p = strstr(status, field);
	long long n;

	if (!p || sscanf(p + strlen(field), "%lld", &n) != 1 || n < 0)
		return -1;
	return n;
}

/* "\nName:   N kB" in a status text, in bytes; -1 if absent. */
static long long status_kib_field(const char *status, const char *field)
{
	long long kib = status_field(status, field);

	return kib < 0 ? -1 : kib * 1024;	/* the kernel prints kB, meaning KiB */
}

long long status_vmrss(const char *status)
{
	return status_kib_field(status, "\nVmRSS:");
}

long long status_vmhwm(const char *status)
{
	return status_kib_field(status, "\nVmHWM:");
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

bool proc_rss_hwm(pid_t pid, long long *rss, long long *hwm)
{
	char path[64], buf[4096];

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	if (!read_proc_text(path, buf, sizeof(buf)))
		return false;
	*rss = status_vmrss(buf);
	*hwm = status_vmhwm(buf);
	return *rss >= 0 && *hwm >= 0;
}

long long schedstat_run_ns(const char *schedstat)
{
	char *end;
	long long ns;

	errno = 0;
	ns = strtoll(schedstat, &end, 10);
	return end == schedstat || errno || ns < 0 || (*end != ' ' && *end != '\n') ? -1 : ns;
}

long long proc_run_ns(pid_t pid)
{
	char path[64], buf[128];

	snprintf(path, sizeof(path), "/proc/%d/schedstat", (int)pid);
	return read_proc_text(path, buf, sizeof(buf)) ? schedstat_run_ns(buf) : -1;
}

bool status_switches(const char *status, long long *voluntary, long long *involuntary)
{
	*voluntary = status_field(status, "\nvoluntary_ctxt_switches:");
	*involuntary = status_field(status, "\nnonvoluntary_ctxt_switches:");
	return *voluntary >= 0 && *involuntary >= 0;
}

bool proc_switches(pid_t pid, long long *voluntary, long long *involuntary)
{
	/* the counts are the file's last lines, after the CPU and node masks
	 * that grow with the machine */
	char path[64], buf[16384];

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	return read_proc_text(path, buf, sizeof(buf)) &&
	       status_switches(buf, voluntary, involuntary);
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

bool stat_flags(const char *stat, unsigned long *flags)
{
	const char *p = strrchr(stat, ')');

	/* after "pid (comm)": state ppid pgrp session tty_nr tpgid flags */
	return p && sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %lu", flags) == 1;
}

#define PF_KTHREAD 0x00200000	/* include/linux/sched.h, stable since 2.6.27 */

bool proc_is_kernel_thread(pid_t pid)
{
	char path[64], buf[1024];
	unsigned long flags;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	return read_proc_text(path, buf, sizeof(buf)) && stat_flags(buf, &flags) &&
	       (flags & PF_KTHREAD);
}

int proc_socket_count(pid_t pid)
{
	char path[64], link[96], target[64];
	struct dirent *de;
	int n = 0;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	d = opendir(path);
	if (!d)
		return -1;
	while ((de = readdir(d))) {
		ssize_t len;

		if (de->d_name[0] == '.')
			continue;
		snprintf(link, sizeof(link), "%s/%.16s", path, de->d_name);
		len = readlink(link, target, sizeof(target) - 1);
		if (len > 0 && !strncmp(target, "socket:", 7))
			n++;
	}
	closedir(d);
	return n;
}

long proc_thread_count(pid_t pid)
{
	char path[64];
	struct dirent *de;
	long n = 0;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	d = opendir(path);
	if (!d)
		return 0;
	while ((de = readdir(d)))
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

bool proc_cmdline(pid_t pid, char *buf, size_t len)
{
	char path[64];
	size_t n;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
	f = fopen(path, "r");
	if (!f)
		return false;
	n = fread(buf, 1, len - 1, f);
	fclose(f);
	while (n && buf[n - 1] == '\0')
		n--;
	for (size_t i = 0; i < n; i++)
		if (buf[i] == '\0')
			buf[i] = ' ';
	buf[n] = '\0';
	return n > 0;
}
