// SPDX-License-Identifier: MIT
/* The kernel's slab caches, from /sys/kernel/slab or /proc/slabinfo (see slabs.h). */
#include "host/slabs.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char *read_file(const char *path);

unsigned int slabinfo_objsize(const char *text, const char *cache)
{
	size_t n = strlen(cache);

	for (const char *line = text; line && *line; line = strchr(line, '\n')) {
		unsigned long active, num, objsize;

		if (*line == '\n')
			line++;
		if (strncmp(line, cache, n) || (line[n] != ' ' && line[n] != '\t'))
			continue;
		/* name <active_objs> <num_objs> <objsize> ... */
		if (sscanf(line + n, "%lu %lu %lu", &active, &num, &objsize) == 3)
			return (unsigned int)objsize;
	}
	return 0;
}

static char *read_file(const char *path)
{
	size_t cap = 1 << 16, len = 0;
	char *buf = malloc(cap);
	FILE *f = fopen(path, "r");

	if (!buf || !f) {
		free(buf);
		if (f)
			fclose(f);
		return NULL;
	}
	for (;;) {
		size_t n = fread(buf + len, 1, cap - len - 1, f);

		len += n;
		if (n == 0)
			break;
		if (len + 1 == cap) {
			char *bigger = realloc(buf, cap * 2);

			if (!bigger)
				break;
			buf = bigger;
			cap *= 2;
		}
	}
	buf[len] = '\0';
	fclose(f);
	return buf;
}

unsigned int slabinfo_kmalloc_class(const char *text, unsigned int size)
{
	static const char *const prefixes[] = { "kmalloc-cg-", "kmalloc-" };

	/* the cgroup-charged caches where the kernel has them (5.14 on):
	 * map memory is charged to the loader's cgroup */
	for (size_t p = 0; p < sizeof(prefixes) / sizeof(prefixes[0]); p++) {
		size_t n = strlen(prefixes[p]);
		unsigned long best = 0;

		for (const char *line = text; line && *line; line = strchr(line, '\n')) {
			unsigned long active, num, objsize;
			const char *sp;

			if (*line == '\n')
				line++;
			/* kmalloc-N or kmalloc-Nk, not kmalloc-rcl-, -dma-, -cg- */
			if (strncmp(line, prefixes[p], n) || line[n] < '0' || line[n] > '9')
				continue;
			sp = strpbrk(line, " \t");
			if (!sp || sscanf(sp, "%lu %lu %lu", &active, &num, &objsize) != 3)
				continue;
			if (objsize >= size && (!best || objsize < best))
				best = objsize;
		}
		if (best)
			return (unsigned int)best;
	}
	return 0;
}

unsigned int kmalloc_class_read(unsigned int size)
{
	char *slabinfo = read_file("/proc/slabinfo");
	unsigned int v = slabinfo ? slabinfo_kmalloc_class(slabinfo, size) : 0;

	free(slabinfo);
	return v;
}

/* SLUB's own figure first; /proc/slabinfo for other allocators */
static unsigned int slab_size(const char *cache, const char *slabinfo)
{
	char path[128];
	unsigned int v = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/sys/kernel/slab/%s/slab_size", cache);
	f = fopen(path, "r");
	if (f) {
		if (fscanf(f, "%u", &v) != 1)
			v = 0;
		fclose(f);
	}
	if (!v && slabinfo)
		v = slabinfo_objsize(slabinfo, cache);
	return v;
}

void slab_sizes_read(struct slab_sizes *s)
{
	char *slabinfo = read_file("/proc/slabinfo");

	s->sock_inode = slab_size("sock_inode_cache", slabinfo);
	s->filp = slab_size("filp", slabinfo);
	s->dentry = slab_size("dentry", slabinfo);
	s->lsm_inode = slab_size("lsm_inode_cache", slabinfo);
	s->lsm_file = slab_size("lsm_file_cache", slabinfo);
	s->epitem = slab_size("eventpoll_epi", slabinfo);
	s->eppoll_entry = slab_size("eventpoll_pwq", slabinfo);
	s->task_struct = slab_size("task_struct", slabinfo);
	s->pid = slab_size("pid", slabinfo);
	s->io_kiocb = slab_size("io_kiocb", slabinfo);
	s->vm_area = slab_size("vm_area_struct", slabinfo);
	free(slabinfo);
}

static long long read_number(const char *cache, const char *attr)
{
	char path[128], link[PATH_MAX];
	long long v = -1;
	FILE *f;

	/* a merged cache is a link to its alias: its counts mix others' objects */
	snprintf(path, sizeof(path), "/sys/kernel/slab/%s", cache);
	if (readlink(path, link, sizeof(link)) > 0)
		return -1;
	snprintf(path, sizeof(path), "/sys/kernel/slab/%s/%s", cache, attr);
	f = fopen(path, "r");
	if (!f)
		return -1;
	if (fscanf(f, "%lld", &v) != 1)
		v = -1;
	fclose(f);
	return v;
}

void slab_counts_read(struct slab_counts *s)
{
	memset(s, 0, sizeof(*s));
	for (int i = 0; i < CC_COUNT; i++) {
		long long size = read_number(closure_cache_names[i], "slab_size");

		s->objects[i] = read_number(closure_cache_names[i], "objects");
		s->slab_size[i] = size > 0 ? (unsigned int)size : 0;
		if (s->objects[i] >= 0)
			s->valid = true;
	}
}
