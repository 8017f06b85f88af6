// SPDX-License-Identifier: MIT
/* Output files that nobody can redirect (see outfile.h). */
#include "report/outfile.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#define TEMP_TRIES 16	/* random names taken before giving up: 2^-64 each */
#define TEMP_NAME_LEN sizeof(".conctrace-0123456789abcdef.tmp")

/* ---- the policy -------------------------------------------------------------- */

bool outfile_parse_owner(const char *uid, const char *gid, uid_t *uid_out, gid_t *gid_out)
{
	const char *s[2] = { uid, gid };
	unsigned long v[2];

	for (int i = 0; i < 2; i++) {
		char *end;

		if (!s[i] || s[i][0] < '0' || s[i][0] > '9')
			return false;	/* also a sign or a space strtoul would take */
		errno = 0;
		v[i] = strtoul(s[i], &end, 10);
		/* (uid_t)-1 is "no change" to chown: never an owner */
		if (errno || *end || v[i] >= (uid_t)-1)
			return false;
	}
	*uid_out = (uid_t)v[0];
	*gid_out = (gid_t)v[1];
	return true;
}

/* Writable by others than its owner: where another user can plant. */
static bool shared(const struct stat *dir)
{
	return dir->st_mode & (S_IWGRP | S_IWOTH);
}

static bool open_to_all(const struct stat *dir)
{
	return (dir->st_mode & S_IWOTH) && !(dir->st_mode & S_ISVTX);
}

/* Whose files are ours to replace or follow: our own, the sudo user's, and
 * the directory owner's, who could replace them anyway (the kernel's own
 * protected_regular and protected_symlinks rules). */
static bool someone_else(uid_t uid, const struct stat *dir, const struct outfile_who *who)
{
	return uid != who->me && !(who->owner_valid && uid == who->owner_uid) &&
	       uid != dir->st_uid;
}

static const char refuse_open_dir[] =
	"its directory is writable by every user and not sticky: another user could "
	"swap the file; write it elsewhere";

const char *outfile_refusal(const struct stat *dir, const struct stat *dest,
			    const struct outfile_who *who, bool *in_place)
{
	*in_place = false;
	if (open_to_all(dir))
		return refuse_open_dir;
	if (!dest)
		return NULL;
	if (S_ISDIR(dest->st_mode))
		return "it is a directory: give a file name";
	if ((dir->st_mode & S_ISVTX) && shared(dir) && someone_else(dest->st_uid, dir, who))
		return "it exists and belongs to another user, in a shared directory: remove it "
		       "or choose another name";
	if (S_ISBLK(dest->st_mode) || S_ISSOCK(dest->st_mode))
		return "it is a block device or a socket, not a file";
	/* a pipe's reader gets the report: it must be ours */
	if (S_ISFIFO(dest->st_mode) && dest->st_uid != who->me &&
	    !(who->owner_valid && dest->st_uid == who->owner_uid))
		return "it is a pipe another user made, who would read the report";
	*in_place = S_ISCHR(dest->st_mode) || S_ISFIFO(dest->st_mode);
	return NULL;
}

const char *outfile_link_refusal(const struct stat *dir, const struct stat *link,
				 const struct outfile_who *who)
{
	if (open_to_all(dir) || ((dir->st_mode & S_ISVTX) && shared(dir) &&
				 someone_else(link->st_uid, dir, who)))
		return "a symlink on the way was made by another user, in a directory others "
		       "can write: give the path without it";
	return NULL;
}

int outfile_own_fd(const char *path)
{
	static const char *const prefixes[] = { "/dev/fd/", "/proc/self/fd/" };
	static const char *const names[] = { "/dev/stdin", "/dev/stdout", "/dev/stderr" };

	for (int i = 0; i < 3; i++)
		if (!strcmp(path, names[i]))
			return i;
	for (int i = 0; i < 2; i++) {
		size_t n = strlen(prefixes[i]);
		const char *s = path + n;
		char *end;
		long fd;

		if (strncmp(path, prefixes[i], n) || *s < '0' || *s > '9')
			continue;
		errno = 0;
		fd = strtol(s, &end, 10);
		if (!errno && !*end && fd <= INT_MAX)
			return (int)fd;
	}
	return -1;
}

/* ---- the file system --------------------------------------------------------- */

static void who_am_i(struct outfile_who *w)
{
	w->me = geteuid();
	/* only root can give a file away; sudo sets both ids */
	w->owner_valid = w->me == 0 && outfile_parse_owner(getenv("SUDO_UID"), getenv("SUDO_GID"),
							    &w->owner_uid, &w->owner_gid);
}

static int fail(int err, const char *reason, const char **why)
{
	*why = reason ? reason : strerror(-err);
	return err;
}

/* The directory part of path opened (O_PATH), one component at a time so
 * that each symlink on the way is judged in the directory it was found in,
 * whatever fs.protected_symlinks says. A followed link's own target is the
 * kernel's to resolve: the link was made by someone trusted with the
 * directory that holds it. Returns the descriptor or -errno. */
static int open_dir(const char *path, size_t len, const struct outfile_who *who,
		    const char **why)
{
	char buf[PATH_MAX], *save = NULL;
	int fd;

	if (len >= sizeof(buf))
		return fail(-ENAMETOOLONG, NULL, why);
	memcpy(buf, path, len);
	buf[len] = '\0';
	fd = open(path[0] == '/' ? "/" : ".", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return fail(-errno, NULL, why);
	for (char *c = strtok_r(buf, "/", &save); c; c = strtok_r(NULL, "/", &save)) {
		struct stat dir, link;
		const char *refused;
		int next = openat(fd, c, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		int err = next < 0 ? -errno : 0;

		if ((err == -ENOTDIR || err == -ELOOP) && !fstat(fd, &dir) &&
		    !fstatat(fd, c, &link, AT_SYMLINK_NOFOLLOW) && S_ISLNK(link.st_mode)) {
			refused = outfile_link_refusal(&dir, &link, who);
			if (refused) {
				close(fd);
				return fail(-EPERM, refused, why);
			}
			next = openat(fd, c, O_PATH | O_DIRECTORY | O_CLOEXEC);
			err = next < 0 ? -errno : 0;
		}
		close(fd);
		if (err)
			return fail(err, NULL, why);
		fd = next;
	}
	return fd;
}

struct dest {
	int dir_fd;
	const char *base;	/* the name in it */
	bool in_place;		/* a device or a pipe: written as it is */
};

/* Opens path's directory and judges what is at path now. */
static int open_dest(const char *path, const struct outfile_who *who, struct dest *d,
		     const char **why)
{
	const char *slash = strrchr(path, '/'), *refused;
	struct stat dir, st;
	bool exists;

	d->base = slash ? slash + 1 : path;
	if (!*d->base || !strcmp(d->base, ".") || !strcmp(d->base, ".."))
		return fail(-EISDIR, "it is a directory: give a file name", why);
	/* "/x" lives in "/", which the empty prefix opens */
	d->dir_fd = open_dir(path, slash ? (size_t)(slash - path) : 0, who, why);
	if (d->dir_fd < 0)
		return d->dir_fd;
	exists = !fstatat(d->dir_fd, d->base, &st, AT_SYMLINK_NOFOLLOW);
	if ((!exists && errno != ENOENT) || fstat(d->dir_fd, &dir)) {
		int err = -errno;

		close(d->dir_fd);
		return fail(err, NULL, why);
	}
	refused = outfile_refusal(&dir, exists ? &st : NULL, who, &d->in_place);
	if (refused) {
		close(d->dir_fd);
		return fail(exists && S_ISDIR(st.st_mode) ? -EISDIR : -EPERM, refused, why);
	}
	return 0;
}

/* A new file under a random name, mode 0600: O_EXCL and O_NOFOLLOW make
 * sure it is a file nobody else made or points at. */
static int create_temp(int dir_fd, char name[TEMP_NAME_LEN])
{
	for (int i = 0; i < TEMP_TRIES; i++) {
		unsigned long long r;
		int fd;

		if (getrandom(&r, sizeof(r), 0) != sizeof(r))
			return -EIO;
		snprintf(name, TEMP_NAME_LEN, ".conctrace-%016llx.tmp", r);
		fd = openat(dir_fd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
			    0600);
		if (fd >= 0 || errno != EEXIST)
			return fd >= 0 ? fd : -errno;
	}
	return -EEXIST;
}

static int own_fd_usable(int fd, const char **why)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl < 0)
		return fail(-EBADF, "it names a descriptor conctrace does not have open", why);
	if ((fl & O_ACCMODE) == O_RDONLY)
		return fail(-EBADF, "it names a descriptor open for reading only", why);
	return 0;
}

int outfile_check(const char *path, const char **why)
{
	char temp[TEMP_NAME_LEN];
	struct outfile_who who;
	struct dest d;
	int fd = outfile_own_fd(path), err;

	if (fd >= 0)
		return own_fd_usable(fd, why);
	who_am_i(&who);
	err = open_dest(path, &who, &d, why);
	if (err || d.in_place) {	/* a pipe's reader may come later */
		if (!err)
			close(d.dir_fd);
		return err;
	}
	fd = create_temp(d.dir_fd, temp);
	if (fd >= 0) {
		close(fd);
		unlinkat(d.dir_fd, temp, 0);
	}
	close(d.dir_fd);
	return fd < 0 ? fail(fd, NULL, why) : 0;
}

/* fill into fd, then close it; 0 or -errno. */
static int fill_fd(int fd, outfile_fill fill, void *ctx)
{
	FILE *f = fdopen(fd, "w");
	int err;

	if (!f) {
		err = -errno;
		close(fd);
		return err;
	}
	err = fill(f, ctx);
	if (!err && fflush(f))
		err = -errno;
	if (fclose(f) && !err)
		err = -errno;
	return err;
}

/* A device or a pipe: opened as it is, and checked to be one still, since
 * a file could have taken its name after the check. */
static int write_in_place(const struct dest *d, outfile_fill fill, void *ctx)
{
	int fd = openat(d->dir_fd, d->base, O_WRONLY | O_NOCTTY | O_NOFOLLOW | O_CLOEXEC);
	struct stat st;

	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) || !(S_ISCHR(st.st_mode) || S_ISFIFO(st.st_mode))) {
		close(fd);
		return -ESTALE;
	}
	return fill_fd(fd, fill, ctx);
}

static int write_replacing(const struct dest *d, const struct outfile_who *who,
			   outfile_fill fill, void *ctx)
{
	char temp[TEMP_NAME_LEN];
	int fd = create_temp(d->dir_fd, temp), err = 0;

	if (fd < 0)
		return fd;
	/* 0600 whatever the umask; then the sudo user's, so that they can
	 * read what they asked for */
	if (fchmod(fd, 0600) || (who->owner_valid && fchown(fd, who->owner_uid, who->owner_gid)))
		err = -errno;
	if (!err) {
		int out = dup(fd);

		err = out < 0 ? -errno : fill_fd(out, fill, ctx);
	}
	if (!err && fsync(fd))
		err = -errno;	/* a crash after the rename leaves the new file whole */
	close(fd);
	if (!err && renameat(d->dir_fd, temp, d->dir_fd, d->base))
		err = -errno;
	if (err)
		unlinkat(d->dir_fd, temp, 0);
	return err;
}

int outfile_write(const char *path, outfile_fill fill, void *ctx, const char **why)
{
	struct outfile_who who;
	struct dest d;
	int fd = outfile_own_fd(path), err;

	if (fd >= 0) {
		/* after what stdio holds for the same descriptor */
		fflush(stdout);
		fflush(stderr);
		err = own_fd_usable(fd, why);
		if (!err && (fd = dup(fd)) < 0)
			err = fail(-errno, NULL, why);
		if (!err && (err = fill_fd(fd, fill, ctx)))
			fail(err, NULL, why);
		return err;
	}
	who_am_i(&who);
	err = open_dest(path, &who, &d, why);
	if (err)
		return err;
	err = d.in_place ? write_in_place(&d, fill, ctx) : write_replacing(&d, &who, fill, ctx);
	close(d.dir_fd);
	return err ? fail(err, err == -ESTALE ? "it changed while being written: try again" :
			  NULL, why) : 0;
}
