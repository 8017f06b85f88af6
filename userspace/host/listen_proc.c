// SPDX-License-Identifier: MIT
/* Where a process listens, from /proc (see listen_proc.h). */
#include "host/listen_proc.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define TCP_LISTEN_STATE 0x0A
#define UNIX_ACCEPTCON	 0x00010000	/* __SO_ACCEPTCON in the Flags column */

/* /proc/net/tcp prints each 32-bit word of the address as the host-order
 * integer it is in memory: parsing it back gives the bytes in order. */
static bool parse_hex_addr(const char *s, size_t words, __u8 *out)
{
	for (size_t w = 0; w < words; w++) {
		char word[9];
		__u32 v;
		char *end;

		memcpy(word, s + w * 8, 8);
		word[8] = '\0';
		v = (__u32)strtoul(word, &end, 16);
		if (end != word + 8)
			return false;
		memcpy(out + w * 4, &v, 4);
	}
	return true;
}

bool parse_tcp_listener(const char *line, bool v6, unsigned long *inode, struct listen_event *out)
{
	char local[64], remote[64];
	unsigned int state, port;
	unsigned long ino;
	size_t words = v6 ? 4 : 1;
	char *colon;

	/* sl local rem st tx:rx tr:when retrnsmt uid timeout inode */
	if (sscanf(line, " %*s %63s %63s %x %*s %*s %*s %*s %*s %lu", local, remote, &state,
		   &ino) != 4)
		return false;
	if (state != TCP_LISTEN_STATE)
		return false;
	colon = strchr(local, ':');
	if (!colon || (size_t)(colon - local) != words * 8 || sscanf(colon + 1, "%x", &port) != 1 ||
	    port > 0xffff)
		return false;
	memset(out, 0, sizeof(*out));
	if (!parse_hex_addr(local, words, out->addr))
		return false;
	out->type = EV_LISTEN;
	out->family = v6 ? AF_INET6 : AF_INET;
	out->port = (__u16)port;
	*inode = ino;
	return true;
}

bool parse_unix_listener(const char *line, unsigned long *inode, struct listen_event *out)
{
	unsigned int flags, type;
	unsigned long ino;
	int path_at = 0;

	/* Num RefCount Protocol Flags Type St Inode Path */
	if (sscanf(line, " %*s %*s %*s %x %x %*s %lu %n", &flags, &type, &ino, &path_at) != 3)
		return false;
	if (!(flags & UNIX_ACCEPTCON) || type != SOCK_STREAM || !path_at || line[path_at] != '/')
		return false;
	memset(out, 0, sizeof(*out));
	out->type = EV_LISTEN;
	out->family = AF_UNIX;
	snprintf(out->unix_path, sizeof(out->unix_path), "%.*s", (int)strcspn(line + path_at, "\n"),
		 line + path_at);
	*inode = ino;
	return true;
}

/* Is inode one of pid's socket fds? */
static bool owns_socket(pid_t pid, unsigned long inode)
{
	char dir[64], path[320], link[64], want[40];
	struct dirent *d;
	bool found = false;
	DIR *fds;

	snprintf(dir, sizeof(dir), "/proc/%d/fd", (int)pid);
	snprintf(want, sizeof(want), "socket:[%lu]", inode);
	fds = opendir(dir);
	if (!fds)
		return false;
	while (!found && (d = readdir(fds))) {
		ssize_t n;

		snprintf(path, sizeof(path), "%s/%s", dir, d->d_name);
		n = readlink(path, link, sizeof(link) - 1);
		if (n > 0) {
			link[n] = '\0';
			found = !strcmp(link, want);
		}
	}
	closedir(fds);
	return found;
}

static int scan(pid_t pid, const char *table, struct listen_event *out)
{
	char path[64], line[512];
	bool unix_table = !strcmp(table, "unix"), v6 = !strcmp(table, "tcp6");
	FILE *f;
	int found = -1;

	snprintf(path, sizeof(path), "/proc/%d/net/%s", (int)pid, table);	/* its netns */
	f = fopen(path, "r");
	if (!f)
		return -1;
	if (!fgets(line, sizeof(line), f)) {	/* the header */
		fclose(f);
		return -1;
	}
	while (found && fgets(line, sizeof(line), f)) {
		unsigned long inode;
		bool listener = unix_table ? parse_unix_listener(line, &inode, out)
					   : parse_tcp_listener(line, v6, &inode, out);

		if (listener && owns_socket(pid, inode))
			found = 0;
	}
	fclose(f);
	return found;
}

static int listen_of(pid_t pid, struct listen_event *out)
{
	static const char *const tables[] = { "tcp", "tcp6", "unix" };

	for (size_t i = 0; i < sizeof(tables) / sizeof(tables[0]); i++)
		if (!scan(pid, tables[i], out)) {
			out->tgid = (__u32)pid;
			return 0;
		}
	return -1;
}

#define TREE_DEPTH 4	/* a wrapper (time, sudo, a shell) or two, then the server */

/* pid's, or else the first listener among its descendants: the launched
 * command may be a wrapper that forks the server (conctrace traces both). */
static int listen_in_tree(pid_t pid, struct listen_event *out, int depth)
{
	char path[64];
	DIR *tasks;
	struct dirent *t;
	int found = -1;

	if (!listen_of(pid, out))
		return 0;
	if (depth >= TREE_DEPTH)
		return -1;
	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	tasks = opendir(path);
	if (!tasks)
		return -1;
	while (found && (t = readdir(tasks))) {
		char children[320];
		FILE *f;
		int child;

		if (t->d_name[0] == '.')
			continue;
		snprintf(children, sizeof(children), "/proc/%d/task/%s/children", (int)pid,
			 t->d_name);
		f = fopen(children, "r");
		if (!f)
			continue;
		while (found && fscanf(f, "%d", &child) == 1)
			found = listen_in_tree(child, out, depth + 1);
		fclose(f);
	}
	closedir(tasks);
	return found;
}

int listen_from_proc(pid_t pid, struct listen_event *out)
{
	return listen_in_tree(pid, out, 0);
}
