// SPDX-License-Identifier: MIT
/*
 * iowq_workers: a process whose threads io_uring makes, for
 * test_lifecycle.py. Each round sets up a ring and submits N opens of N
 * FIFOs for reading (IOSQE_ASYNC): an open waits for a writer, and cannot
 * be polled, so each blocks an io-wq worker of its own, a thread of this process made
 * by create_io_thread(), which no clone() names. Once the kernel counts
 * all N, the FIFOs are opened for writing, the opens complete and the
 * ring is torn down, which ends its workers.
 * Two rounds: a tracer that counts the workers' ends but not their starts
 * (or the other way round) is off by N in the second.
 *
 *   iowq_workers [N]
 *
 * Prints "threads at peak T" (the most /proc/self/status said, main
 * thread included) and exits 0; 1 if the kernel never showed N workers.
 */
#include <fcntl.h>
#include <liburing.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MAX_WORKERS 16
#define WAIT_MS 5000

static int threads_now(void)
{
	char line[256];
	int n = -1;
	FILE *f = fopen("/proc/self/status", "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "Threads: %d", &n) == 1)
			break;
	fclose(f);
	return n;
}

/* polls the kernel's count until it is want; returns the last one seen */
static int wait_threads(int want)
{
	struct timespec ms = { 0, 1000 * 1000 };
	int n = threads_now();

	for (int i = 0; i < WAIT_MS && n != want; i++) {
		nanosleep(&ms, NULL);
		n = threads_now();
	}
	return n;
}

static int round_of(const char *dir, int workers, int *peak)
{
	char fifos[MAX_WORKERS][64];
	int writers[MAX_WORKERS], n, err = 0;
	struct io_uring ring;
	struct io_uring_cqe *cqe;

	if (io_uring_queue_init(2 * MAX_WORKERS, &ring, 0))
		return -1;
	for (int i = 0; i < workers; i++) {
		struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);

		snprintf(fifos[i], sizeof(fifos[i]), "%s/%d", dir, i);
		if (mkfifo(fifos[i], 0600))
			return -1;
		io_uring_prep_openat(sqe, AT_FDCWD, fifos[i], O_RDONLY, 0);
		/* inline, the ring would try O_NONBLOCK first, which a FIFO
		 * grants: straight to a worker, which waits */
		sqe->flags |= IOSQE_ASYNC;
	}
	if (io_uring_submit(&ring) != workers)
		return -1;
	n = wait_threads(1 + workers);
	if (n > *peak)
		*peak = n;
	if (n != 1 + workers)
		err = -1;
	/* a reader waits in each: a writer's open returns at once */
	for (int i = 0; i < workers; i++)
		if ((writers[i] = open(fifos[i], O_WRONLY | O_NONBLOCK)) < 0)
			return -1;
	for (int i = 0; i < workers; i++) {
		if (io_uring_wait_cqe(&ring, &cqe) || cqe->res < 0)
			return -1;
		close(cqe->res);
		io_uring_cqe_seen(&ring, cqe);
	}
	io_uring_queue_exit(&ring);
	for (int i = 0; i < workers; i++) {
		close(writers[i]);
		unlink(fifos[i]);
	}
	if (wait_threads(1) != 1)	/* the workers have ended */
		err = -1;
	return err;
}

int main(int argc, char **argv)
{
	int workers = argc > 1 ? atoi(argv[1]) : 4, peak = 0, err = 0;
	char dir[] = "/tmp/iowq_workers.XXXXXX";

	if (workers < 1 || workers > MAX_WORKERS) {
		fprintf(stderr, "iowq_workers: N is 1 to %d\n", MAX_WORKERS);
		return 2;
	}
	if (!mkdtemp(dir)) {
		perror("iowq_workers: mkdtemp");
		return 1;
	}
	for (int r = 0; r < 2 && !err; r++)
		if ((err = round_of(dir, workers, &peak)))
			fprintf(stderr, "iowq_workers: round %d: the kernel did not show %d workers, "
				"then none (threads at peak %d)\n", r + 1, workers, peak);
	for (int i = 0; i < workers; i++) {	/* a failed round's FIFOs */
		char path[sizeof(dir) + 16];

		snprintf(path, sizeof(path), "%s/%d", dir, i);
		unlink(path);
	}
	rmdir(dir);
	if (err)
		return 1;
	printf("threads at peak %d\n", peak);
	return 0;
}
