// SPDX-License-Identifier: MIT
/* Output files created for their owner only (see outfile.h). */
#include "report/outfile.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

FILE *outfile_open(const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	FILE *f;

	if (fd < 0)
		return NULL;
	f = fdopen(fd, "w");
	if (!f) {
		int e = errno;

		close(fd);
		errno = e;
	}
	return f;
}
