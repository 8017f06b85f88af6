/* SPDX-License-Identifier: MIT */
/* --load: run servers/loadgen against the target once it listens. */
#ifndef CONCTRACE_LOADDRIVER_H
#define CONCTRACE_LOADDRIVER_H

#include <stdbool.h>
#include <sys/types.h>

#include "conctrace.h"

struct loaddriver {
	pid_t pid;		/* loadgen, 0 before it starts */
	bool done;
	bool stopped;		/* we ended it early (SIGINT): not its failure */
	int status;
};

/* Start loadgen aimed at where the target listens, with the user's ARGS
 * (split like a shell would, without command substitution). */
int loaddriver_start(struct loaddriver *ld, const struct listen_event *where,
		     const char *args);

/* Reap loadgen if it has finished; true once it has. */
bool loaddriver_poll(struct loaddriver *ld);

/* Stop loadgen early (it prints its report on SIGINT) and reap it. */
void loaddriver_stop(struct loaddriver *ld);

/* Why the load failed ("loadgen exited 2"), or NULL if it ran as asked
 * (or was stopped early by us); buf for the words. */
const char *loaddriver_failure(const struct loaddriver *ld, char *buf, size_t len);

#endif /* CONCTRACE_LOADDRIVER_H */
