// SPDX-License-Identifier: MIT
/* The target's own memory cgroup (see memcg.h). */
#include "host/memcg.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <time.h>
#include <unistd.h>
#include <linux/magic.h>

#define CGROUP_ROOT	"/sys/fs/cgroup"
#define CGROUP_V1_MEM	"/sys/fs/cgroup/memory"

static int write_file(const char *dir, const char *file, const char *text)
{
	char path[PATH_MAX + 64];
	ssize_t n;
	int fd, err = 0;

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = write(fd, text, strlen(text));
	if (n < 0)
		err = -errno;
	close(fd);
	return err;
}

/* Up to len-1 bytes of dir/file, NUL-terminated; -errno if unreadable. */
static int read_file(const char *dir, const char *file, char *buf, size_t len)
{
	char path[PATH_MAX + 64];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, len - 1);
	close(fd);
	if (n < 0)
		return -errno;
	buf[n] = '\0';
	return 0;
}

static long long read_number(const char *dir, const char *file)
{
	char buf[64];

	if (read_file(dir, file, buf, sizeof(buf)))
		return -1;
	return strtoll(buf, NULL, 10);
}

static bool has_word(const char *list, const char *word)
{
	size_t n = strlen(word);

	for (const char *p = list; (p = strstr(p, word)); p += n)
		if ((p == list || p[-1] == ' ') && (p[n] == ' ' || p[n] == '\n' || !p[n]))
			return true;
	return false;
}

/* v2 when / is a cgroup2 mount whose memory controller is enabled for
 * children (enabling it is our job if it is available but off). */
static bool v2_memory(const char **why)
{
	struct statfs fs;
	char buf[512];

	if (statfs(CGROUP_ROOT, &fs) || fs.f_type != CGROUP2_SUPER_MAGIC)
		return false;
	if (read_file(CGROUP_ROOT, "cgroup.controllers", buf, sizeof(buf)) ||
	    !has_word(buf, "memory")) {
		*why = "the cgroup v2 hierarchy has no memory controller";
		return false;
	}
	if (!read_file(CGROUP_ROOT, "cgroup.subtree_control", buf, sizeof(buf)) &&
	    !has_word(buf, "memory") &&
	    write_file(CGROUP_ROOT, "cgroup.subtree_control", "+memory")) {
		*why = "cannot enable the memory controller in " CGROUP_ROOT;
		return false;
	}
	return true;
}

int memcg_create(struct memcg *cg, const char *name, const char **why)
{
	struct stat st;
	const char *parent;

	memset(cg, 0, sizeof(*cg));
	*why = NULL;
	if (v2_memory(why)) {
		cg->version = 2;
		parent = CGROUP_ROOT;
	} else if (!*why && !stat(CGROUP_V1_MEM "/memory.usage_in_bytes", &st)) {
		cg->version = 1;
		parent = CGROUP_V1_MEM;
	} else {
		if (!*why)
			*why = "no memory cgroup hierarchy is mounted (v2 at " CGROUP_ROOT
			       " or v1 at " CGROUP_V1_MEM ")";
		return -ENOENT;
	}
	snprintf(cg->path, sizeof(cg->path), "%s/%s", parent, name);
	if (mkdir(cg->path, 0755)) {
		int err = -errno;

		*why = "cannot create the cgroup";
		cg->version = 0;
		return err;
	}
	/* v1 charges socket memory only once a tcp limit has been written:
	 * "unlimited" turns the accounting on (the kernel logs that the knob
	 * is deprecated), so the cgroup sees sockets as v2 would */
	if (cg->version == 1)
		write_file(cg->path, "memory.kmem.tcp.limit_in_bytes", "-1");
	return 0;
}

int memcg_add(const struct memcg *cg, pid_t pid)
{
	char buf[32];

	snprintf(buf, sizeof(buf), "%d\n", (int)pid);
	return write_file(cg->path, "cgroup.procs", buf);
}

static long long stat_field(const char *text, const char *key)
{
	size_t n = strlen(key);

	for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
		if (!strncmp(p, key, n) && p[n] == ' ')
			return strtoll(p + n + 1, NULL, 10);
	return -1;
}

void memcg_parse_stat_v2(const char *text, struct memcg_counters *out)
{
	static const char *const parts[] = { "slab", "kernel_stack", "pagetables", "percpu" };

	memset(out, 0, sizeof(*out));
	out->kernel = stat_field(text, "kernel");
	if (out->kernel < 0) {	/* before 5.18: the sum of its parts */
		out->kernel = 0;
		for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++) {
			long long v = stat_field(text, parts[i]);

			if (v > 0)
				out->kernel += v;
		}
	}
	out->sock = stat_field(text, "sock");
	out->valid = out->sock >= 0;
	if (out->sock < 0)
		out->sock = 0;
}

void memcg_read(const struct memcg *cg, struct memcg_counters *out)
{
	memset(out, 0, sizeof(*out));
	if (cg->version == 2) {
		static char text[8192];

		if (!read_file(cg->path, "memory.stat", text, sizeof(text)))
			memcg_parse_stat_v2(text, out);
	} else if (cg->version == 1) {
		out->kernel = read_number(cg->path, "memory.kmem.usage_in_bytes");
		out->sock = read_number(cg->path, "memory.kmem.tcp.usage_in_bytes");
		out->valid = out->kernel >= 0 && out->sock >= 0;
	}
}

int memcg_signal(const struct memcg *cg, int sig)
{
	char path[PATH_MAX + 16];
	FILE *f;
	int pid, n = 0;

	if (!cg->version)
		return 0;
	if (sig == SIGKILL && cg->version == 2)
		write_file(cg->path, "cgroup.kill", "1");
	snprintf(path, sizeof(path), "%s/cgroup.procs", cg->path);
	f = fopen(path, "r");
	if (!f)
		return 0;
	while (fscanf(f, "%d", &pid) == 1) {
		if (kill(pid, sig) == 0)
			n++;
	}
	fclose(f);
	return n;
}

int memcg_destroy(struct memcg *cg)
{
	const struct timespec pause = { .tv_nsec = 10 * 1000 * 1000 };
	int err = 0;

	if (!cg->version)
		return 0;
	/* a process just reaped can take a moment to leave the cgroup */
	for (int i = 0; i < 100; i++) {
		err = rmdir(cg->path) ? -errno : 0;
		if (err != -EBUSY)
			break;
		nanosleep(&pause, NULL);
	}
	cg->version = 0;
	return err;
}
