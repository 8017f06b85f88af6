/* SPDX-License-Identifier: MIT */
/*
 * Output files (--json, --folded, --svg): written so that nobody can
 * redirect them. conctrace runs as root and writes where it is told, often
 * in a directory other users share (/tmp): a symlink or a hard link planted
 * at the path must never make it write through to another file.
 *
 * Each file is written to a new one made with O_EXCL under a random name in
 * the destination's directory, mode 0600 (what conctrace writes describes
 * another program: its peers' addresses, its code paths), owned by the
 * user who ran sudo (SUDO_UID, SUDO_GID) so that they can read it, then
 * renamed over the destination: whatever was planted there is replaced,
 * never written to. An existing file's mode and owner are replaced too.
 *
 * Refused, as the kernel's fs.protected_symlinks and fs.protected_regular
 * would refuse them whatever those sysctls say here:
 *   - a directory writable by everyone and not sticky (anyone can swap the
 *     file between the check and the write);
 *   - an existing destination in a shared sticky directory (/tmp) that
 *     belongs to another user: not ours to replace;
 *   - a symlink on the way to the directory that another user planted in a
 *     shared directory;
 *   - a directory, a block device or a socket at the path, and a pipe
 *     (FIFO) that another user made (they would read the report).
 * Written to as they are, with nothing to replace: a character device
 * (a terminal, /dev/null: only root can make one) or one's own pipe at the
 * path, and conctrace's own descriptors by name (/dev/stdout, /dev/stderr,
 * /dev/fd/N, /proc/self/fd/N: `--folded /dev/stdout | flamegraph.pl`,
 * a shell's >(...)).
 *
 * Layer: part of report/ (see report.h).
 */
#ifndef CONCTRACE_OUTFILE_H
#define CONCTRACE_OUTFILE_H

#include <stdbool.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/types.h>

/* Fills f with the output; 0, or a negative errno. */
typedef int (*outfile_fill)(FILE *f, void *ctx);

/* Whether path can be written as outfile_write will write it: every
 * refusal above, and a probe file created and removed in its directory.
 * Meant for before tracing starts, so that a run is never lost to a path
 * that was wrong from the outset. 0, or -errno with *why saying what is
 * wrong, in words (strerror's when the system said it). */
int outfile_check(const char *path, const char **why);

/* Writes path with fill, as described above. 0, or -errno with *why. */
int outfile_write(const char *path, outfile_fill fill, void *ctx, const char **why);

/* ---- the policy, pure (unit-tested) ---------------------------------------- */

/* Who conctrace writes for: its effective uid, and the user who ran sudo
 * when it runs as root through sudo (else owner_valid is false). */
struct outfile_who {
	uid_t me;
	bool owner_valid;
	uid_t owner_uid;
	gid_t owner_gid;
};

/* SUDO_UID and SUDO_GID as sudo sets them (decimal ids); false when
 * either is missing or not a plain id. */
bool outfile_parse_owner(const char *uid, const char *gid, uid_t *uid_out, gid_t *gid_out);

/* Why the entry dest (lstat; NULL when absent) in directory dir may not
 * be written for who, or NULL when it may; then *in_place says whether it
 * is written as it is (a device, a pipe) rather than replaced. */
const char *outfile_refusal(const struct stat *dir, const struct stat *dest,
			    const struct outfile_who *who, bool *in_place);

/* Why the symlink link (lstat), found in directory dir on the way to the
 * destination's directory, may not be followed, or NULL when it may. */
const char *outfile_link_refusal(const struct stat *dir, const struct stat *link,
				 const struct outfile_who *who);

/* The descriptor a path names by itself (/dev/stdout 1, /dev/stderr 2,
 * /dev/fd/N and /proc/self/fd/N N), or -1. */
int outfile_own_fd(const char *path);

#endif /* CONCTRACE_OUTFILE_H */
