// SPDX-License-Identifier: MIT
/*
 * uring_echo: the io_uring model of the conctrace reference servers.
 *
 * One thread, one ring, no readiness polling: the kernel accepts (multishot
 * accept), receives (multishot recv) and sends on our behalf, and a
 * completion tells us when it has. Received bytes land in a ring of provided
 * buffers shared by every connection and go back to the ring before the
 * completion handler returns, so an idle connection holds no buffer: only
 * its slot in a table indexed by fd and the kernel's own objects.
 *
 * user_data = fd << 8 | op. A connection's fd stays open until every
 * operation on it has completed, so while any completion can still name an
 * fd, that fd means exactly one connection.
 *
 * A connection serves one request at a time, in order. Replies to quick
 * requests (PING, echo, BURN, errors) are gathered in a heap buffer and go
 * out in one send; WAIT is a timeout op and STREAM a chain of sends from the
 * protocol's static pattern. While either runs, or a send is in flight, new
 * input waits in a per-connection heap buffer; when too much waits, the
 * connection stops receiving until it catches up.
 */
#include <errno.h>
#include <liburing.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "protocol.h"
#include "server.h"

#define DEFAULT_ENTRIES	256		/* submission queue; -e overrides */
#define CQ_PER_SQ	16		/* multishot ops complete many times per submission */
#define BUF_GROUP	0
#define BUF_COUNT	256		/* receive buffers shared by all connections */
#define BUF_SIZE	4096
#define OUT_BATCH	(64u << 10)	/* send gathered replies once this many are due */
#define IN_PAUSE	(64u << 10)	/* stop receiving while this much input waits */
#define CONN_TABLE_MAX	(1u << 24)	/* fds; the table is lazily faulted-in memory */

enum op {
	OP_ACCEPT = 1,		/* multishot accept on the listening socket */
	OP_ACCEPT_RETRY,	/* timer: accept failed for lack of fds or memory */
	OP_SIGNAL,		/* poll on the signalfd: SIGINT or SIGTERM */
	OP_CANCEL,		/* a cancel request failed: nothing to do */
	OP_RECV,		/* multishot recv of a connection */
	OP_SEND,		/* send of gathered replies or of STREAM bytes */
	OP_WAIT,		/* timeout that stands for a WAIT request */
};
#define OP_BITS	8
#define OP_MASK	((1u << OP_BITS) - 1)

enum conn_flag {
	CONN_OPEN	= 1 << 0,
	CONN_RECVING	= 1 << 1,	/* multishot recv armed */
	CONN_SENDING	= 1 << 2,	/* one send in flight */
	CONN_WAITING	= 1 << 3,	/* WAIT timeout in flight */
	CONN_RECV_STOP	= 1 << 4,	/* recv cancel requested, its last CQE still due */
	CONN_STARVED	= 1 << 5,	/* recv hit an empty buffer ring; queued for a retry */
	CONN_EOF	= 1 << 6,	/* peer sent FIN: serve what came, then close */
	CONN_LAST	= 1 << 7,	/* QUIT or overlong line: close once answered */
	CONN_CLOSING	= 1 << 8,	/* torn down; freed when nothing refers to it */
};
#define CONN_IN_FLIGHT	(CONN_RECVING | CONN_SENDING | CONN_WAITING | CONN_STARVED)

/* Bytes a connection keeps between completions; allocated only while needed. */
struct buf {
	uint32_t head;		/* consumed (input) or sent (output) */
	uint32_t len;		/* stored, head included */
	uint32_t cap;
	char data[];
};

/* 40 bytes: all an idle connection costs us in user memory. */
struct conn {
	struct buf *in;		/* a partial line, or requests waiting their turn */
	struct buf *out;	/* gathered replies; stable while a send is in flight */
	union {
		/* WAIT: the kernel reads it when the timeout is submitted */
		struct __kernel_timespec wait;
		/* STREAM: payload then the "DONE\n" trailer; a finished WAIT
		 * becomes a stream with no payload. left == 0: not streaming. */
		struct {
			uint64_t off;
			uint64_t left;
		} stream;
	};
	uint16_t flags;
	int32_t next_starved;	/* fd after this one in the starved queue */
};

static struct server_config cfg;
static struct io_uring ring;
static struct io_uring_buf_ring *buf_ring;
static char *buf_base;
static struct conn *conns;	/* indexed by fd */
static unsigned nr_conns;	/* table size: the fd soft limit */
static int listen_fd, signal_fd;

/*
 * Connections whose recv failed with -ENOBUFS, oldest first. They get their
 * recv back after a batch of completions has returned buffers to the ring,
 * no more at a time than the ring holds, instead of all retrying at once
 * against a ring that is still dry.
 */
static int starved_head = -1, starved_tail = -1;

/* Back off this long when accept runs out of fds or memory: retrying at
 * once would spin, since the pending connection stays in the backlog. */
static struct __kernel_timespec accept_backoff = { .tv_nsec = 100 * 1000 * 1000 };

static void die(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", cfg.name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

static uint64_t op_data(int fd, enum op op)
{
	return (uint64_t)fd << OP_BITS | op;
}

static struct io_uring_sqe *get_sqe(void)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);

	if (!sqe) {
		/* SQ full: hand what we have to the kernel and carry on */
		io_uring_submit(&ring);
		sqe = io_uring_get_sqe(&ring);
		if (!sqe)
			die("no free submission queue entry");
	}
	return sqe;
}

/* ---- buffers ---- */

static char *buf_addr(unsigned bid)
{
	return buf_base + (size_t)bid * BUF_SIZE;
}

static void buf_recycle(unsigned bid)
{
	io_uring_buf_ring_add(buf_ring, buf_addr(bid), BUF_SIZE, (unsigned short)bid,
			      io_uring_buf_ring_mask(BUF_COUNT), 0);
	io_uring_buf_ring_advance(buf_ring, 1);
}

static uint32_t buf_pending(const struct buf *b)
{
	return b ? b->len - b->head : 0;
}

static void buf_free(struct buf **bp)
{
	free(*bp);
	*bp = NULL;
}

static void buf_append(struct buf **bp, const char *p, size_t n)
{
	struct buf *b = *bp;
	size_t need, cap;

	if (!n)
		return;
	if (b && b->head) {
		/* only ever reached when no send is in flight on b */
		memmove(b->data, b->data + b->head, b->len - b->head);
		b->len -= b->head;
		b->head = 0;
	}
	need = (b ? b->len : 0) + n;
	if (!b || need > b->cap) {
		for (cap = b ? b->cap : 64; cap < need; cap *= 2)
			;
		b = realloc(b, sizeof(*b) + cap);
		if (!b)
			die("out of memory");
		if (!*bp)
			b->head = b->len = 0;
		b->cap = (uint32_t)cap;
		*bp = b;
	}
	memcpy(b->data + b->len, p, n);
	b->len += (uint32_t)n;
}

static void buf_consume(struct buf **bp, size_t n)
{
	struct buf *b = *bp;

	if (!n)
		return;
	b->head += (uint32_t)n;
	if (b->head == b->len)
		buf_free(bp);
}

/* ---- operations on a connection ---- */

static void conn_arm_recv(int fd, struct conn *c)
{
	struct io_uring_sqe *sqe = get_sqe();

	io_uring_prep_recv_multishot(sqe, fd, NULL, 0, 0);
	sqe->flags |= IOSQE_BUFFER_SELECT;
	sqe->buf_group = BUF_GROUP;
	io_uring_sqe_set_data64(sqe, op_data(fd, OP_RECV));
	c->flags |= CONN_RECVING;
}

static void conn_send(int fd, struct conn *c, const char *p, size_t n)
{
	struct io_uring_sqe *sqe = get_sqe();

	io_uring_prep_send(sqe, fd, p, n, MSG_NOSIGNAL);
	io_uring_sqe_set_data64(sqe, op_data(fd, OP_SEND));
	c->flags |= CONN_SENDING;
}

static void conn_start_wait(int fd, struct conn *c, uint64_t ms)
{
	struct io_uring_sqe *sqe = get_sqe();

	c->wait.tv_sec = (long long)(ms / 1000);
	c->wait.tv_nsec = (long long)(ms % 1000) * 1000000;
	io_uring_prep_timeout(sqe, &c->wait, 0, 0);
	io_uring_sqe_set_data64(sqe, op_data(fd, OP_WAIT));
	c->flags |= CONN_WAITING;
}

static void conn_cancel(int fd, enum op op)
{
	struct io_uring_sqe *sqe = get_sqe();

	/* The target's own CQE reports the outcome; only a failed cancel
	 * (the op already finished) posts one of its own, and it is ignored. */
	io_uring_prep_cancel64(sqe, op_data(fd, op), 0);
	sqe->flags |= IOSQE_CQE_SKIP_SUCCESS;
	io_uring_sqe_set_data64(sqe, op_data(fd, OP_CANCEL));
}

/* Waiting for a send or a timer, or in the middle of a STREAM. */
static bool conn_busy(const struct conn *c)
{
	if (c->flags & (CONN_SENDING | CONN_WAITING))
		return true;
	return c->stream.left != 0;	/* the union holds stream when not waiting */
}

static void conn_close(int fd, struct conn *c)
{
	if (c->flags & CONN_CLOSING)
		return;
	c->flags |= CONN_CLOSING;
	buf_free(&c->in);
	/* c->out stays until its send completes: the kernel may still read it */
	if ((c->flags & CONN_RECVING) && !(c->flags & CONN_RECV_STOP))
		conn_cancel(fd, OP_RECV);
	if (c->flags & CONN_SENDING)
		conn_cancel(fd, OP_SEND);
	if (c->flags & CONN_WAITING)
		conn_cancel(fd, OP_WAIT);
}

static void conn_free(int fd, struct conn *c)
{
	close(fd);
	free(c->in);
	free(c->out);
	memset(c, 0, sizeof(*c));
}

/* ---- requests ---- */

static void conn_execute(int fd, struct conn *c, const struct proto_req *req)
{
	char reply[PROTO_MAX_REPLY];

	switch (req->cmd) {
	case PROTO_WAIT:
		conn_start_wait(fd, c, req->arg);
		return;
	case PROTO_STREAM:
		c->stream.off = 0;
		c->stream.left = req->arg + PROTO_DONE_LEN;
		return;
	case PROTO_QUIT:
		c->flags |= CONN_LAST;
		return;
	case PROTO_TOOLONG:
		c->flags |= CONN_LAST;
		break;
	default:
		break;
	}
	buf_append(&c->out, reply, proto_reply(req, reply));
}

/*
 * Serve the complete requests in p[0, n) until one has to wait for I/O.
 * Returns the bytes consumed; the caller keeps the rest for later.
 */
static size_t conn_run(int fd, struct conn *c, const char *p, size_t n)
{
	struct proto_req req;
	size_t done = 0, used;

	while (!conn_busy(c) && !(c->flags & CONN_LAST)) {
		if (buf_pending(c->out) >= OUT_BATCH)
			break;		/* send these before making more */
		used = proto_parse(p + done, n - done, &req);
		if (!used)
			break;
		if ((req.cmd == PROTO_WAIT || req.cmd == PROTO_STREAM) && c->out)
			break;		/* earlier replies first; parse it again then */
		done += used;
		conn_execute(fd, c, &req);
	}
	return done;
}

/* New bytes from a provided buffer, which goes back to the ring after this. */
static void conn_input(int fd, struct conn *c, const char *p, size_t n)
{
	if (c->flags & (CONN_LAST | CONN_CLOSING))
		return;		/* nothing after QUIT or an overlong line counts */
	if (!c->in) {
		/* the common case: serve straight from the ring buffer */
		size_t used = conn_run(fd, c, p, n);

		p += used;
		n -= used;
	}
	if (!(c->flags & CONN_LAST))
		buf_append(&c->in, p, n);
}

/* Start the next send: gathered replies, else STREAM payload, else its trailer. */
static void conn_send_next(int fd, struct conn *c)
{
	if (c->out) {
		conn_send(fd, c, c->out->data + c->out->head, buf_pending(c->out));
	} else if (c->stream.left > PROTO_DONE_LEN) {
		size_t len = c->stream.left - PROTO_DONE_LEN;
		const char *p = proto_stream_chunk(c->stream.off, &len);

		conn_send(fd, c, p, len);
	} else if (c->stream.left) {
		conn_send(fd, c, &PROTO_DONE[PROTO_DONE_LEN - c->stream.left], c->stream.left);
	}
}

/* Receive while input keeps up; stop while too much waits unanswered. */
static void conn_steer_recv(int fd, struct conn *c)
{
	bool want = !(c->flags & (CONN_EOF | CONN_LAST)) && buf_pending(c->in) < IN_PAUSE;

	if (want && !(c->flags & (CONN_RECVING | CONN_STARVED))) {
		conn_arm_recv(fd, c);
	} else if (!want && (c->flags & CONN_RECVING) && !(c->flags & CONN_RECV_STOP)) {
		conn_cancel(fd, OP_RECV);
		c->flags |= CONN_RECV_STOP;
	}
}

/* Decide a connection's next step; runs after every completion on it. */
static void conn_advance(int fd)
{
	struct conn *c = &conns[fd];

	if (!(c->flags & CONN_CLOSING)) {
		if (c->in && !conn_busy(c))
			buf_consume(&c->in, conn_run(fd, c, c->in->data + c->in->head,
						     buf_pending(c->in)));
		if (c->flags & CONN_LAST)
			buf_free(&c->in);
		if (!(c->flags & (CONN_SENDING | CONN_WAITING)))
			conn_send_next(fd, c);
		/* not busy now means nothing is left to answer */
		if ((c->flags & (CONN_EOF | CONN_LAST)) && !conn_busy(c))
			conn_close(fd, c);
		else
			conn_steer_recv(fd, c);
	}
	if ((c->flags & CONN_CLOSING) && !(c->flags & CONN_IN_FLIGHT))
		conn_free(fd, c);
}

static void conn_starve(int fd, struct conn *c)
{
	c->flags |= CONN_STARVED;
	c->next_starved = -1;
	if (starved_tail < 0)
		starved_head = fd;
	else
		conns[starved_tail].next_starved = fd;
	starved_tail = fd;
}

/* Called once a batch of completions has given every buffer back. */
static void feed_starved(void)
{
	for (unsigned n = 0; n < BUF_COUNT && starved_head >= 0; n++) {
		int fd = starved_head;

		starved_head = conns[fd].next_starved;
		if (starved_head < 0)
			starved_tail = -1;
		conns[fd].flags &= ~CONN_STARVED;
		conn_advance(fd);	/* re-arms its recv, or frees it if closing */
	}
}

/* ---- completions ---- */

static void on_recv(int fd, const struct io_uring_cqe *cqe)
{
	struct conn *c = &conns[fd];

	if (!(cqe->flags & IORING_CQE_F_MORE))
		c->flags &= ~(CONN_RECVING | CONN_RECV_STOP);
	if (cqe->flags & IORING_CQE_F_BUFFER) {
		unsigned bid = cqe->flags >> IORING_CQE_BUFFER_SHIFT;

		if (cqe->res > 0)
			conn_input(fd, c, buf_addr(bid), (size_t)cqe->res);
		buf_recycle(bid);
	}
	if (cqe->res == 0)
		c->flags |= CONN_EOF;
	else if (cqe->res == -ENOBUFS)
		conn_starve(fd, c);	/* the ring ran dry: wait for buffers */
	else if (cqe->res < 0 && cqe->res != -ECANCELED)
		conn_close(fd, c);	/* reset or other error */
}

static void on_send(int fd, int res)
{
	struct conn *c = &conns[fd];

	c->flags &= ~CONN_SENDING;
	if (res < 0) {
		conn_close(fd, c);	/* peer gone, or cancelled by conn_close */
	} else if (c->out) {
		buf_consume(&c->out, (size_t)res);	/* short send: the rest goes next */
	} else {
		c->stream.off += (uint64_t)res;
		c->stream.left -= (uint64_t)res;
	}
}

static void on_wait(int fd, int res)
{
	struct conn *c = &conns[fd];

	c->flags &= ~CONN_WAITING;
	if (res != -ETIME) {
		conn_close(fd, c);	/* cancelled: the connection is closing */
		return;
	}
	c->stream.off = 0;
	c->stream.left = PROTO_DONE_LEN;
}

static void arm_accept(void)
{
	struct io_uring_sqe *sqe = get_sqe();

	io_uring_prep_multishot_accept(sqe, listen_fd, NULL, NULL, SOCK_CLOEXEC);
	io_uring_sqe_set_data64(sqe, op_data(listen_fd, OP_ACCEPT));
}

static void arm_accept_retry(void)
{
	struct io_uring_sqe *sqe = get_sqe();

	io_uring_prep_timeout(sqe, &accept_backoff, 0, 0);
	io_uring_sqe_set_data64(sqe, op_data(listen_fd, OP_ACCEPT_RETRY));
}

static void on_accept(const struct io_uring_cqe *cqe)
{
	static bool warned;
	int fd = cqe->res;

	if (fd >= 0 && (unsigned)fd >= nr_conns) {
		close(fd);	/* cannot happen while the fd limit is unchanged */
	} else if (fd >= 0) {
		int one = 1;

		/* as in the other servers: a reply must not wait for the ACK of
		 * the previous one (Nagle), e.g. STREAM's trailer */
		if (!cfg.unix_path)
			setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		conns[fd].flags = CONN_OPEN;
		conn_advance(fd);	/* arms its recv */
	} else if (fd != -ECONNABORTED && fd != -EINTR) {
		if (!warned)
			fprintf(stderr, "%s: accept: %s; pausing accepts\n", cfg.name,
				strerror(-fd));
		warned = true;
		if (!(cqe->flags & IORING_CQE_F_MORE))
			arm_accept_retry();
		return;
	}
	if (!(cqe->flags & IORING_CQE_F_MORE))
		arm_accept();
}

static void arm_signal(void)
{
	struct io_uring_sqe *sqe = get_sqe();

	io_uring_prep_poll_add(sqe, signal_fd, POLLIN);
	io_uring_sqe_set_data64(sqe, op_data(signal_fd, OP_SIGNAL));
}

static void handle_cqe(const struct io_uring_cqe *cqe)
{
	int fd = (int)(cqe->user_data >> OP_BITS);

	switch (cqe->user_data & OP_MASK) {
	case OP_ACCEPT:
		on_accept(cqe);
		return;
	case OP_ACCEPT_RETRY:
		arm_accept();
		return;
	case OP_SIGNAL:
		server_stopping = 1;
		return;
	case OP_CANCEL:
		return;
	case OP_RECV:
		on_recv(fd, cqe);
		break;
	case OP_SEND:
		on_send(fd, cqe->res);
		break;
	case OP_WAIT:
		on_wait(fd, cqe->res);
		break;
	}
	conn_advance(fd);
}

/* ---- setup ---- */

static void setup_ring(unsigned entries)
{
	struct io_uring_params p = {
		.flags = IORING_SETUP_CQSIZE | IORING_SETUP_SUBMIT_ALL |
			 IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN,
		.cq_entries = entries * CQ_PER_SQ,
	};
	int ret = io_uring_queue_init_params(entries, &ring, &p);

	if (ret == -EINVAL) {
		/* kernels before 6.1 lack DEFER_TASKRUN; it only saves wakeups */
		p.flags = IORING_SETUP_CQSIZE;
		ret = io_uring_queue_init_params(entries, &ring, &p);
	}
	if (ret == -EPERM)
		die("io_uring_setup: %s (is sysctl kernel.io_uring_disabled set?)",
		    strerror(-ret));
	if (ret == -ENOSYS)
		die("io_uring_setup: this kernel has no io_uring");
	if (ret < 0)
		die("io_uring_setup: %s", strerror(-ret));
}

static void setup_buffers(void)
{
	size_t ring_size = BUF_COUNT * sizeof(struct io_uring_buf);
	struct io_uring_buf_reg reg = { .ring_entries = BUF_COUNT, .bgid = BUF_GROUP };
	void *mem;
	int ret;

	/* populated now, so the pool counts as fixed cost, not per connection */
	mem = mmap(NULL, ring_size + (size_t)BUF_COUNT * BUF_SIZE, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	if (mem == MAP_FAILED)
		die("mmap receive buffers: %s", strerror(errno));
	buf_ring = mem;
	buf_base = (char *)mem + ring_size;
	reg.ring_addr = (uintptr_t)buf_ring;
	ret = io_uring_register_buf_ring(&ring, &reg, 0);
	if (ret)
		die("io_uring_register_buf_ring: %s (needs Linux 5.19)", strerror(-ret));
	io_uring_buf_ring_init(buf_ring);
	for (unsigned bid = 0; bid < BUF_COUNT; bid++)
		io_uring_buf_ring_add(buf_ring, buf_addr(bid), BUF_SIZE, (unsigned short)bid,
				      io_uring_buf_ring_mask(BUF_COUNT), (int)bid);
	io_uring_buf_ring_advance(buf_ring, BUF_COUNT);
}

static void setup_conns(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur > CONN_TABLE_MAX)
		rl.rlim_cur = CONN_TABLE_MAX;
	nr_conns = (unsigned)rl.rlim_cur;
	/* a large calloc is fresh mmap memory: pages fault in as fds get used */
	conns = calloc(nr_conns, sizeof(*conns));
	if (!conns)
		die("out of memory for %u connections", nr_conns);
}

/*
 * SIGINT and SIGTERM arrive as a completion on a signalfd instead of
 * interrupting a wait: no window between testing server_stopping and going
 * to sleep in which a signal could be missed, even under constant load.
 */
static void setup_signals(void)
{
	sigset_t set;

	server_install_signals();	/* SIGPIPE ignored; handlers stay unused */
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigprocmask(SIG_BLOCK, &set, NULL);
	signal_fd = signalfd(-1, &set, SFD_CLOEXEC);
	if (signal_fd < 0)
		die("signalfd: %s", strerror(errno));
}

static void run(void)
{
	while (!server_stopping) {
		struct io_uring_cqe *cqe;
		unsigned head, seen = 0;
		int ret = io_uring_submit_and_wait(&ring, 1);

		if (ret < 0 && ret != -EINTR && ret != -EBUSY)
			die("io_uring_submit_and_wait: %s", strerror(-ret));
		io_uring_for_each_cqe(&ring, head, cqe) {
			handle_cqe(cqe);
			seen++;
		}
		io_uring_cq_advance(&ring, seen);
		feed_starved();
	}
}

static void teardown(void)
{
	/* The ring goes first: it cancels the ops still using our buffers. */
	io_uring_queue_exit(&ring);
	for (unsigned fd = 0; fd < nr_conns; fd++)
		if (conns[fd].flags & CONN_OPEN)
			conn_free((int)fd, &conns[fd]);
	free(conns);
	munmap(buf_ring, BUF_COUNT * sizeof(struct io_uring_buf) + (size_t)BUF_COUNT * BUF_SIZE);
	close(signal_fd);
	close(listen_fd);
	server_cleanup(&cfg);
}

int main(int argc, char **argv)
{
	server_parse_args(argc, argv, &cfg, SERVER_OPT_ENTRIES,
			  "  -e, --entries N       io_uring submission queue entries (default 256)\n");
	setup_signals();
	listen_fd = server_listen(&cfg, 0);
	setup_ring(cfg.entries ? cfg.entries : DEFAULT_ENTRIES);
	setup_buffers();
	setup_conns();
	arm_signal();
	arm_accept();
	server_announce(&cfg, listen_fd);
	run();
	teardown();
	return 0;
}
