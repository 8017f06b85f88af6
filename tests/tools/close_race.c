// SPDX-License-Identifier: MIT
/*
 * close_race: a server whose threads all touch one connection while it
 * closes, for test_records.py. Per accepted connection, every thread
 * (the main one and -t workers) sends one byte on it, so each has it as
 * its current connection; the main thread closes it; then all of them,
 * released at the same instant by a spinning barrier, wait on an epoll
 * set (timeout 0): each moves on from the closed connection at once,
 * which is when conctrace finalizes its record. A connection finalized
 * twice, or made anew after its record went, shows as a second record.
 *
 *   close_race [-t WORKERS] [-n CONNECTIONS]
 *
 * Prints "listening on tcp 127.0.0.1:PORT (pid PID)", serves -n
 * connections one after another, then "accepted N" and exits 0.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

static int conn_fd = -1, epfd;
static int nthreads;			/* workers + main */
static pthread_barrier_t round_start, round_end;
static atomic_uint spin_count, spin_gen;

/* All threads pass together: the race needs them on CPUs at one instant,
 * not woken one after another by a futex. Yields while waiting, so more
 * threads than CPUs still get through. */
static void spin_barrier(void)
{
	unsigned gen = atomic_load(&spin_gen);

	if (atomic_fetch_add(&spin_count, 1) + 1 == (unsigned)nthreads) {
		atomic_store(&spin_count, 0);
		atomic_fetch_add(&spin_gen, 1);
		return;
	}
	while (atomic_load(&spin_gen) == gen)
		sched_yield();
}

/* One round on the connection published in conn_fd; `closer` closes it. */
static void touch_and_move_on(int closer)
{
	struct epoll_event ev;
	char byte = 'x';

	if (send(conn_fd, &byte, 1, MSG_NOSIGNAL) != 1)
		perror("close_race: send");
	spin_barrier();			/* every thread has it current */
	if (closer)
		close(conn_fd);
	spin_barrier();			/* closed: everyone moves on at once */
	epoll_wait(epfd, &ev, 1, 0);
}

static void *worker(void *arg)
{
	(void)arg;
	for (;;) {
		pthread_barrier_wait(&round_start);
		if (conn_fd < 0)
			return NULL;
		touch_and_move_on(0);
		pthread_barrier_wait(&round_end);
	}
}

int main(int argc, char **argv)
{
	struct sockaddr_in addr = { .sin_family = AF_INET };
	socklen_t len = sizeof(addr);
	int workers = 3, conns = 200, lfd, opt, one = 1, accepted = 0;
	pthread_t *tids;

	while ((opt = getopt(argc, argv, "t:n:")) != -1) {
		if (opt == 't')
			workers = atoi(optarg);
		else if (opt == 'n')
			conns = atoi(optarg);
		else
			return 2;
	}
	if (workers < 1 || conns < 1)
		return 2;
	nthreads = workers + 1;
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	lfd = socket(AF_INET, SOCK_STREAM, 0);
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&addr, sizeof(addr)) ||
	    listen(lfd, 128) || getsockname(lfd, (struct sockaddr *)&addr, &len)) {
		perror("close_race: listen");
		return 1;
	}
	epfd = epoll_create1(0);
	pthread_barrier_init(&round_start, NULL, nthreads);
	pthread_barrier_init(&round_end, NULL, nthreads);
	tids = calloc(workers, sizeof(*tids));
	for (int i = 0; i < workers; i++)
		pthread_create(&tids[i], NULL, worker, NULL);
	printf("listening on tcp 127.0.0.1:%d (pid %d)\n", ntohs(addr.sin_port), (int)getpid());
	fflush(stdout);
	while (accepted < conns) {
		int fd = accept(lfd, NULL, NULL);

		if (fd < 0) {
			perror("close_race: accept");
			continue;
		}
		accepted++;
		conn_fd = fd;
		pthread_barrier_wait(&round_start);
		touch_and_move_on(1);
		pthread_barrier_wait(&round_end);
	}
	conn_fd = -1;
	pthread_barrier_wait(&round_start);
	for (int i = 0; i < workers; i++)
		pthread_join(tids[i], NULL);
	printf("accepted %d\n", accepted);
	return 0;
}
