// SPDX-License-Identifier: MIT
/*
 * iowq_workers: a process whose threads io_uring makes, for
 * test_lifecycle.py and the kernel matrix. Each round sets up a ring and
 * submits N opens of N FIFOs for reading (IOSQE_ASYNC): an open waits for
 * a writer and cannot be polled, so each blocks an io-wq worker of its
 * own, a thread of this process made by create_io_thread(), which no
 * clone() names. Once the kernel counts all N, the FIFOs are opened for
 * writing and the opens complete. The workers then end: with the ring on
 * 6.18; before (6.1, 6.12), after 5 s idle, io-wq being the task's and
 * keeping one idle worker, which takes one open of the next round.
 * Two rounds: a tracer that counts the workers' ends but not their starts
 * says 1 thread at peak, one that counts their starts but not their ends
 * about twice the kernel's.
 *
 *   iowq_workers [N]
 *
 * Prints "threads at peak T" (the most /proc/self/status said, main
 * thread included) and exits 0; 1 if the kernel never showed N workers,
 * or kept more than one after a round.
 */
#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MAX_WORKERS 16
#define WAIT_MS 10000	/* io-wq's idle timeout is 5 s */

static int peak;		/* the most threads the kernel said, at any poll */

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
	if (n > peak)
		peak = n;
	return n;
}

/* polls the kernel's count until it is from lo to hi; returns the last seen.
 * io-wq may start a worker more than it needed for a while (6.1): the peak
 * is of every poll, not of the counts waited for. */
static int wait_threads(int lo, int hi)
{
	struct timespec ms = { 0, 1000 * 1000 };
	int n = threads_now();

	for (int i = 0; i < WAIT_MS && (n < lo || n > hi); i++) {
		nanosleep(&ms, NULL);
		n = threads_now();
	}
	return n;
}

static int open_writer(const char *fifo)
{
	struct timespec ms = { 0, 1000 * 1000 };
	int fd = open(fifo, O_WRONLY | O_NONBLOCK);

	for (int i = 0; i < WAIT_MS && fd < 0 && errno == ENXIO; i++) {
		nanosleep(&ms, NULL);
		fd = open(fifo, O_WRONLY | O_NONBLOCK);
	}
	return fd;
}

static int round_of(const char *dir, int workers)
{
	char fifos[MAX_WORKERS][64];
	int writers[MAX_WORKERS], n, err = 0;
	struct io_uring ring;
	struct io_uring_cqe *cqe;

	if ((n = io_uring_queue_init(2 * MAX_WORKERS, &ring, 0))) {
		fprintf(stderr, "iowq_workers: io_uring_queue_init: %s\n", strerror(-n));
		return -1;
	}
	for (int i = 0; i < workers; i++) {
		struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);

		snprintf(fifos[i], sizeof(fifos[i]), "%s/%d", dir, i);
		if (mkfifo(fifos[i], 0600)) {
			perror("iowq_workers: mkfifo");
			return -1;
		}
		io_uring_prep_openat(sqe, AT_FDCWD, fifos[i], O_RDONLY, 0);
		/* inline, the ring would try O_NONBLOCK first, which a FIFO
		 * grants: straight to a worker, which waits */
		sqe->flags |= IOSQE_ASYNC;
	}
	if ((n = io_uring_submit(&ring)) != workers) {
		fprintf(stderr, "iowq_workers: io_uring_submit: %d\n", n);
		return -1;
	}
	/* an idle worker left from the round before takes one open */
	n = wait_threads(1 + workers, 1 + workers);
	if (n != 1 + workers) {
		fprintf(stderr, "iowq_workers: %d threads with %d opens waiting\n", n, workers);
		err = -1;
	}
	/* a worker counted may not be waiting in its open yet (ENXIO: no
	 * reader); once it is, a writer's open returns at once */
	for (int i = 0; i < workers; i++)
		if ((writers[i] = open_writer(fifos[i])) < 0) {
			perror("iowq_workers: open for writing");
			return -1;
		}
	for (int i = 0; i < workers; i++) {
		if ((n = io_uring_wait_cqe(&ring, &cqe)) || (n = cqe->res) < 0) {
			fprintf(stderr, "iowq_workers: an open: %s\n", strerror(-n));
			return -1;
		}
		close(cqe->res);
		io_uring_cqe_seen(&ring, cqe);
	}
	io_uring_queue_exit(&ring);
	for (int i = 0; i < workers; i++) {
		close(writers[i]);
		unlink(fifos[i]);
	}
	/* the workers have ended, but for one kept idle */
	if ((n = wait_threads(1, 2)) > 2) {
		fprintf(stderr, "iowq_workers: %d threads once the opens were done\n", n);
		err = -1;
	}
	return err;
}

int main(int argc, char **argv)
{
	int workers = argc > 1 ? atoi(argv[1]) : 4, err = 0;
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
		if ((err = round_of(dir, workers)))
			fprintf(stderr, "iowq_workers: round %d: the kernel did not show %d workers, "
				"then at most one (threads at peak %d)\n", r + 1, workers, peak);
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
