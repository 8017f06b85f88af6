/* SPDX-License-Identifier: MIT */
/* Lines of /proc/PID/maps, parsed: the mappings flame/symbolize.c names
 * frames by, and the file an address is mapped from (for a uprobe). */
#ifndef CONCTRACE_PROC_MAPS_H
#define CONCTRACE_PROC_MAPS_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>

/* One line of /proc/PID/maps:
 * "start-end perms pgoff major:minor inode   path" */
struct map_entry {
	unsigned long long start, end;	/* [start, end) */
	unsigned long long pgoff;	/* file offset of start */
	unsigned long long inode;
	unsigned int dev_major, dev_minor;
	char perms[5];			/* "r-xp" */
	bool deleted;			/* path ended in " (deleted)", now stripped */
	char path[PATH_MAX];		/* "" if anonymous; "[vdso]", "[stack]" ... */
};

/* Parses one line (with or without its '\n'). Returns 0, -EINVAL when a
 * field is missing or malformed (or start >= end), -ENAMETOOLONG when the
 * path does not fit in out->path. */
int maps_parse_line(const char *line, struct map_entry *out);

/* The file and file offset that addr in process pid's mappings is mapped
 * from, into path (len bytes) and *offset: what a uprobe is set by. False
 * if no mapping of a file (present, not deleted) holds it. */
bool maps_file_offset(int pid, unsigned long long addr, char *path, size_t len,
		      unsigned long long *offset);

#endif /* CONCTRACE_PROC_MAPS_H */
