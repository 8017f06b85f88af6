// SPDX-License-Identifier: MIT
/* One line of /proc/PID/maps, parsed with bounds (see proc_maps.h). */
#include "host/proc_maps.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- /proc/PID/maps lines -------------------------------------------------- */

/* Reads 1 to 16 hex digits (no sign, no "0x", no spaces: strtoull takes all
 * three) and advances *p past them. */
static int parse_hex(const char **p, unsigned long long *out)
{
	const char *s = *p;
	unsigned long long v = 0;
	int n = 0;

	for (;; s++, n++) {
		int d;

		if (*s >= '0' && *s <= '9')
			d = *s - '0';
		else if (*s >= 'a' && *s <= 'f')
			d = *s - 'a' + 10;
		else if (*s >= 'A' && *s <= 'F')
			d = *s - 'A' + 10;
		else
			break;
		if (n == 16)
			return -EINVAL;
		v = v << 4 | (unsigned)d;
	}
	if (!n)
		return -EINVAL;
	*p = s;
	*out = v;
	return 0;
}

static int parse_dec(const char **p, unsigned long long *out)
{
	const char *s = *p;
	unsigned long long v = 0;

	if (*s < '0' || *s > '9')
		return -EINVAL;
	for (; *s >= '0' && *s <= '9'; s++) {
		if (v > (~0ULL - 9) / 10)
			return -EINVAL;
		v = v * 10 + (unsigned)(*s - '0');
	}
	*p = s;
	*out = v;
	return 0;
}

static int expect(const char **p, char c)
{
	if (**p != c)
		return -EINVAL;
	(*p)++;
	return 0;
}

int maps_parse_line(const char *line, struct map_entry *out)
{
	static const char deleted[] = " (deleted)";
	const char *p = line;
	unsigned long long major, minor;
	size_t len;

	memset(out, 0, sizeof(*out));
	if (parse_hex(&p, &out->start) || expect(&p, '-') ||
	    parse_hex(&p, &out->end) || expect(&p, ' '))
		return -EINVAL;
	for (int i = 0; i < 4; i++) {
		static const char allowed[4][3] = { "r-", "w-", "x-", "ps" };

		if (!*p || !strchr(allowed[i], *p))
			return -EINVAL;
		out->perms[i] = *p++;
	}
	if (expect(&p, ' ') || parse_hex(&p, &out->pgoff) || expect(&p, ' ') ||
	    parse_hex(&p, &major) || expect(&p, ':') || parse_hex(&p, &minor) ||
	    expect(&p, ' ') || parse_dec(&p, &out->inode))
		return -EINVAL;
	if (out->start >= out->end || major > 0xfff || minor > 0xfffff)
		return -EINVAL;
	out->dev_major = (unsigned)major;
	out->dev_minor = (unsigned)minor;

	/* the path starts after the padding and runs to the end of the line:
	 * it may hold spaces */
	if (*p && *p != '\n' && *p != ' ')
		return -EINVAL;
	while (*p == ' ')
		p++;
	len = strcspn(p, "\n");
	if (p[len] == '\n' && p[len + 1])
		return -EINVAL;			/* two lines */
	if (len >= sizeof(deleted) - 1 &&
	    !memcmp(p + len - (sizeof(deleted) - 1), deleted, sizeof(deleted) - 1)) {
		out->deleted = true;
		len -= sizeof(deleted) - 1;
	}
	if (len >= sizeof(out->path))
		return -ENAMETOOLONG;
	memcpy(out->path, p, len);
	out->path[len] = '\0';
	return 0;
}

bool maps_file_offset(int pid, unsigned long long addr, char *path, size_t len,
		      unsigned long long *offset)
{
	char name[64], line[PATH_MAX + 128];
	struct map_entry e;
	bool found = false;
	FILE *f;

	snprintf(name, sizeof(name), "/proc/%d/maps", pid);
	f = fopen(name, "r");
	if (!f)
		return false;
	while (!found && fgets(line, sizeof(line), f))
		if (!maps_parse_line(line, &e) && e.start <= addr && addr < e.end &&
		    e.path[0] == '/' && !e.deleted) {
			snprintf(path, len, "%s", e.path);
			*offset = addr - e.start + e.pgoff;
			found = true;
		}
	fclose(f);
	return found;
}
