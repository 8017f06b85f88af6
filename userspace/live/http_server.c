// SPDX-License-Identifier: MIT
/* A small, non-blocking HTTP/1.1 responder (see http_server.h). */
#include "live/http_server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <unistd.h>

/* ---- request parsing ------------------------------------------------------ */

/* RFC 9110 tchar: what a method or a header name may be made of */
static bool is_tchar(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       (c && strchr("!#$%&'*+-.^_`|~", c));
}

/* field-value: visible ASCII, space, tab, and obs-text (bytes >= 0x80) */
static bool is_field_char(unsigned char c)
{
	return c == ' ' || c == '\t' || (c > 0x20 && c != 0x7f);
}

/* Where the head ends (just past its blank line), or 0 if not there yet. */
static size_t head_end(const char *buf, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		if (buf[i] != '\n')
			continue;
		if (i + 1 < len && buf[i + 1] == '\n')
			return i + 2;
		if (i + 2 < len && buf[i + 1] == '\r' && buf[i + 2] == '\n')
			return i + 3;
	}
	return 0;
}

/* The next line of [*p, end): its length without CR LF (or LF); -1 if a
 * bare CR is inside it, which some parsers take as a line end and others
 * not: a request smuggler's tool, refused. */
static long next_line(const char **p, const char *end, const char **line)
{
	const char *nl = memchr(*p, '\n', (size_t)(end - *p));
	size_t n;

	if (!nl)
		return -2;	/* no line end: incomplete */
	*line = *p;
	n = (size_t)(nl - *p);
	*p = nl + 1;
	if (n && (*line)[n - 1] == '\r')
		n--;
	if (memchr(*line, '\r', n))
		return -1;
	return (long)n;
}

static bool ieq(const char *s, size_t n, const char *lit)
{
	return strlen(lit) == n && !strncasecmp(s, lit, n);
}

/* Request line: METHOD SP TARGET SP HTTP/1.x */
static int parse_request_line(const char *l, size_t n, struct http_request *req, int *minor)
{
	const char *sp1 = memchr(l, ' ', n), *sp2, *target, *q;
	size_t tlen, plen;

	if (!sp1 || sp1 == l)
		return 400;
	for (const char *c = l; c < sp1; c++)
		if (!is_tchar((unsigned char)*c))
			return 400;
	target = sp1 + 1;
	sp2 = memchr(target, ' ', n - (size_t)(target - l));
	if (!sp2 || sp2 == target)
		return 400;
	tlen = (size_t)(sp2 - target);
	for (size_t i = 0; i < tlen; i++)
		if ((unsigned char)target[i] <= 0x20 || (unsigned char)target[i] >= 0x7f)
			return 400;
	/* version: exactly HTTP/D.D, then nothing */
	if (n - (size_t)(sp2 + 1 - l) != 8 || memcmp(sp2 + 1, "HTTP/", 5) ||
	    sp2[6] < '0' || sp2[6] > '9' || sp2[7] != '.' || sp2[8] < '0' || sp2[8] > '9')
		return 400;
	if (sp2[6] != '1' || (sp2[8] != '0' && sp2[8] != '1'))
		return 505;
	*minor = sp2[8] - '0';

	if ((size_t)(sp1 - l) == 3 && !memcmp(l, "GET", 3))
		req->method = HTTP_GET;
	else if ((size_t)(sp1 - l) == 4 && !memcmp(l, "HEAD", 4))
		req->method = HTTP_HEAD;
	else
		return 405;
	if (target[0] != '/')
		return 400;	/* only origin-form: no proxy, no "*" */
	q = memchr(target, '?', tlen);
	plen = q ? (size_t)(q - target) : tlen;
	if (memchr(target, '#', tlen))
		return 400;	/* a fragment is never sent */
	if (plen >= sizeof(req->path))
		return 414;
	memcpy(req->path, target, plen);
	req->path[plen] = '\0';
	return 0;
}

int http_parse_request(const char *buf, size_t len, struct http_request *req)
{
	size_t end = head_end(buf, len);
	const char *p = buf, *stop, *line;
	int minor = 1, hosts = 0, err;
	bool has_length = false;
	long n;

	memset(req, 0, sizeof(*req));
	if (memchr(buf, '\0', len))
		return 400;
	if (!end) {
		/* judge the request line as soon as it is whole: garbage gets
		 * its answer at once instead of holding a slot until timeout */
		n = next_line(&p, buf + len, &line);
		if (n == -1)
			return 400;
		/* a method is a token: binary (TLS, SSH) fails on its first bytes */
		for (size_t i = 0; i < len && buf[i] != ' '; i++)
			if (!is_tchar((unsigned char)buf[i]) && buf[i] != '\r' && buf[i] != '\n')
				return 400;
		if (n >= 0 && (err = parse_request_line(line, (size_t)n, req, &minor)))
			return err;
		return len >= HTTP_MAX_REQUEST ? 431 : HTTP_INCOMPLETE;
	}
	if (end > HTTP_MAX_REQUEST)
		return 431;
	stop = buf + end;
	n = next_line(&p, stop, &line);
	if (n < 0)
		return 400;
	if ((err = parse_request_line(line, (size_t)n, req, &minor)))
		return err;

	while ((n = next_line(&p, stop, &line)) > 0) {
		const char *colon = memchr(line, ':', (size_t)n), *v;
		size_t nlen, vlen;

		if (!colon || colon == line)
			return 400;	/* also obs-fold: a line starting with SP/HT */
		nlen = (size_t)(colon - line);
		for (size_t i = 0; i < nlen; i++)
			if (!is_tchar((unsigned char)line[i]))
				return 400;
		v = colon + 1;
		vlen = (size_t)n - nlen - 1;
		for (size_t i = 0; i < vlen; i++)
			if (!is_field_char((unsigned char)v[i]))
				return 400;
		while (vlen && (*v == ' ' || *v == '\t'))
			v++, vlen--;
		while (vlen && (v[vlen - 1] == ' ' || v[vlen - 1] == '\t'))
			vlen--;
		if (ieq(line, nlen, "host")) {
			hosts++;
		} else if (ieq(line, nlen, "transfer-encoding")) {
			return 400;
		} else if (ieq(line, nlen, "content-length")) {
			if (has_length || !vlen)
				return 400;
			has_length = true;
			for (size_t i = 0; i < vlen; i++)
				if (v[i] != '0')
					return 400;	/* a body, or not a number */
		}
	}
	if (n < 0)
		return 400;
	/* RFC 9112 3.2: a 1.1 request without exactly one Host is a 400 */
	if (minor == 1 ? hosts != 1 : hosts > 1)
		return 400;
	return 0;
}

const char *http_status_text(int status)
{
	switch (status) {
	case 200: return "OK";
	case 400: return "Bad Request";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 414: return "URI Too Long";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 505: return "HTTP Version Not Supported";
	default: return "Error";
	}
}

int http_parse_listen_addr(const char *s, struct sockaddr_storage *out, socklen_t *len,
			   const char **err)
{
	char host[64];
	const char *port_s;
	unsigned long port;
	char *end;

	memset(out, 0, sizeof(*out));
	if (s[0] == '[') {
		const char *rb = strchr(s, ']');

		if (!rb || rb[1] != ':' || (size_t)(rb - s - 1) >= sizeof(host)) {
			*err = "expected [IPV6]:PORT";
			return -1;
		}
		memcpy(host, s + 1, (size_t)(rb - s - 1));
		host[rb - s - 1] = '\0';
		port_s = rb + 2;
	} else if (strchr(s, ':')) {
		const char *colon = strrchr(s, ':');

		if ((size_t)(colon - s) >= sizeof(host) || strchr(s, ':') != colon) {
			*err = "expected ADDR:PORT (IPv6 in brackets: [::1]:PORT)";
			return -1;
		}
		memcpy(host, s, (size_t)(colon - s));
		host[colon - s] = '\0';
		port_s = colon + 1;
	} else {
		strcpy(host, "127.0.0.1");	/* a bare port stays on this machine */
		port_s = s;
	}
	errno = 0;
	port = strtoul(port_s, &end, 10);
	if (errno || end == port_s || *end || port_s[0] == '-' || port_s[0] == '+' ||
	    port > 65535) {
		*err = "expected a port 0..65535";
		return -1;
	}
	if (!strcmp(host, "localhost"))
		strcpy(host, "127.0.0.1");
	if (s[0] == '[') {
		struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)out;

		if (inet_pton(AF_INET6, host, &a6->sin6_addr) != 1) {
			*err = "not an IPv6 address";
			return -1;
		}
		a6->sin6_family = AF_INET6;
		a6->sin6_port = htons((unsigned short)port);
		*len = sizeof(*a6);
	} else {
		struct sockaddr_in *a4 = (struct sockaddr_in *)out;

		if (inet_pton(AF_INET, host, &a4->sin_addr) != 1) {
			*err = "not an IPv4 address (no host names; IPv6 as [ADDR]:PORT)";
			return -1;
		}
		a4->sin_family = AF_INET;
		a4->sin_port = htons((unsigned short)port);
		*len = sizeof(*a4);
	}
	return 0;
}

/* ---- the server ------------------------------------------------------------ */

enum client_state { READING, WRITING, DRAINING };

struct http_client {
	int fd;
	enum client_state state;
	double deadline;
	unsigned long seq;	/* order of acceptance: who is oldest */
	size_t in_len;
	char in[HTTP_MAX_REQUEST];
	char *out;
	size_t out_len, out_off;
};

#define LISTENER_TAG ((uint64_t)0)	/* epoll data: 0 the listener, else slot + 1 */

static void client_write(struct http_server *s, int slot);

static void client_close(struct http_server *s, int slot)
{
	struct http_client *c = s->clients[slot];

	if (!c)
		return;
	close(c->fd);	/* also leaves the epoll set */
	free(c->out);
	free(c);
	s->clients[slot] = NULL;
}

static void client_want(struct http_server *s, int slot, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.u64 = (uint64_t)slot + 1 };

	epoll_ctl(s->epoll_fd, EPOLL_CTL_MOD, s->clients[slot]->fd, &ev);
}

static void respond(struct http_server *s, int slot, int status, const char *body,
		    size_t body_len, bool head_only)
{
	struct http_client *c = s->clients[slot];
	char hdr[256];
	int hlen;

	hlen = snprintf(hdr, sizeof(hdr),
			"HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
			"%sConnection: close\r\n\r\n",
			status, http_status_text(status),
			status == 200 ? s->content_type : "text/plain; charset=utf-8",
			body_len, status == 405 ? "Allow: GET, HEAD\r\n" : "");
	c->out_len = (size_t)hlen + (head_only ? 0 : body_len);
	c->out = malloc(c->out_len);
	if (!c->out) {
		client_close(s, slot);
		return;
	}
	memcpy(c->out, hdr, (size_t)hlen);
	if (!head_only)
		memcpy(c->out + hlen, body, body_len);
	c->state = WRITING;
	client_want(s, slot, EPOLLOUT);
	client_write(s, slot);	/* most answers fit the socket buffer now */
}

static void respond_error(struct http_server *s, int slot, int status, bool head_only)
{
	char body[64];
	int n = snprintf(body, sizeof(body), "%d %s\n", status, http_status_text(status));

	s->refused++;
	respond(s, slot, status, body, (size_t)n, head_only);
}

static void client_read(struct http_server *s, int slot)
{
	struct http_client *c = s->clients[slot];
	struct http_request req;
	const char *body = NULL;
	size_t body_len = 0;
	ssize_t n;
	int status;

	if (c->state == DRAINING) {
		char sink[1024];

		/* after the answer: wait for the client's close, so that unread
		 * bytes of its do not turn our close into a reset that loses it */
		while ((n = read(c->fd, sink, sizeof(sink))) > 0)
			;
		if (n == 0 || errno != EAGAIN)
			client_close(s, slot);
		return;
	}
	n = read(c->fd, c->in + c->in_len, sizeof(c->in) - c->in_len);
	if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
		client_close(s, slot);	/* gone before asking anything */
		return;
	}
	if (n < 0)
		return;
	c->in_len += (size_t)n;
	status = http_parse_request(c->in, c->in_len, &req);
	if (status == HTTP_INCOMPLETE)
		return;
	if (status) {
		respond_error(s, slot, status, false);
		return;
	}
	status = s->handler(s->ctx, req.path, &body, &body_len);
	if (status != 200) {
		respond_error(s, slot, status, req.method == HTTP_HEAD);
		return;
	}
	s->served++;
	respond(s, slot, 200, body, body_len, req.method == HTTP_HEAD);
}

static void client_write(struct http_server *s, int slot)
{
	struct http_client *c = s->clients[slot];
	ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);

	if (n < 0) {
		if (errno != EAGAIN && errno != EINTR)
			client_close(s, slot);
		return;
	}
	c->out_off += (size_t)n;
	if (c->out_off < c->out_len)
		return;
	shutdown(c->fd, SHUT_WR);
	c->state = DRAINING;
	client_want(s, slot, EPOLLIN | EPOLLRDHUP);
}

/* Full: the oldest client that has not sent a byte makes room (a flood of
 * idle connections must not push out a scrape being answered), else the
 * oldest of all. Order is acceptance order: one accept batch shares a
 * deadline, so deadlines cannot tell its members apart. */
static int free_slot(struct http_server *s)
{
	int victim = -1;

	for (int i = 0; i < HTTP_MAX_CLIENTS; i++) {
		const struct http_client *c = s->clients[i], *v;

		if (!c)
			return i;
		v = victim < 0 ? NULL : s->clients[victim];
		if (!v || (!c->in_len && v->in_len) ||
		    (!c->in_len == !v->in_len && c->seq < v->seq))
			victim = i;
	}
	client_close(s, victim);
	s->evicted++;
	return victim;
}

static void accept_some(struct http_server *s, double now)
{
	for (int i = 0; i < HTTP_ACCEPTS_PER_POLL; i++) {
		int fd = accept4(s->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		struct epoll_event ev = { .events = EPOLLIN | EPOLLRDHUP };
		struct http_client *c;
		int slot;

		if (fd < 0)
			return;	/* EAGAIN, or out of fds: try again next poll */
		c = calloc(1, sizeof(*c));
		if (!c) {
			close(fd);
			return;
		}
		slot = free_slot(s);
		c->fd = fd;
		c->state = READING;
		c->deadline = now + HTTP_CLIENT_TIMEOUT_S;
		c->seq = ++s->accepted;
		ev.data.u64 = (uint64_t)slot + 1;
		if (epoll_ctl(s->epoll_fd, EPOLL_CTL_ADD, fd, &ev)) {
			close(fd);
			free(c);
			return;
		}
		s->clients[slot] = c;
		/* the request usually came with the handshake's last packet:
		 * answer it in this call, not one tracing-loop turn later */
		client_read(s, slot);
	}
}

void http_server_poll(struct http_server *s, double now_s)
{
	struct epoll_event ev[HTTP_EVENTS_PER_POLL];
	int n;

	if (s->listen_fd < 0)
		return;
	n = epoll_wait(s->epoll_fd, ev, HTTP_EVENTS_PER_POLL, 0);
	for (int i = 0; i < n; i++) {
		int slot = (int)ev[i].data.u64 - 1;

		if (ev[i].data.u64 == LISTENER_TAG) {
			accept_some(s, now_s);
			continue;
		}
		if (!s->clients[slot])
			continue;	/* closed earlier in this batch */
		if (s->clients[slot]->state == WRITING) {
			if (ev[i].events & (EPOLLERR | EPOLLHUP))
				client_close(s, slot);
			else
				client_write(s, slot);
		} else {
			client_read(s, slot);
		}
	}
	for (int i = 0; i < HTTP_MAX_CLIENTS; i++) {
		if (s->clients[i] && now_s > s->clients[i]->deadline) {
			if (s->clients[i]->state != DRAINING)
				s->timed_out++;
			client_close(s, i);
		}
	}
}

int http_server_start(struct http_server *s, const struct sockaddr_storage *addr,
		      socklen_t addr_len, const char *content_type,
		      http_handler_fn handler, void *ctx)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = LISTENER_TAG };
	int one = 1, err;

	memset(s, 0, sizeof(*s));
	s->handler = handler;
	s->ctx = ctx;
	s->content_type = content_type;
	s->epoll_fd = -1;
	s->listen_fd = socket(addr->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (s->listen_fd < 0)
		return -errno;
	setsockopt(s->listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(s->listen_fd, (const struct sockaddr *)addr, addr_len) ||
	    listen(s->listen_fd, 128))
		goto fail;
	s->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
	if (s->epoll_fd < 0 || epoll_ctl(s->epoll_fd, EPOLL_CTL_ADD, s->listen_fd, &ev))
		goto fail;
	return 0;
fail:
	err = -errno;
	http_server_stop(s);
	return err;
}

int http_server_port(const struct http_server *s)
{
	struct sockaddr_storage a;
	socklen_t len = sizeof(a);

	if (getsockname(s->listen_fd, (struct sockaddr *)&a, &len))
		return -1;
	if (a.ss_family == AF_INET6)
		return ntohs(((struct sockaddr_in6 *)&a)->sin6_port);
	return ntohs(((struct sockaddr_in *)&a)->sin_port);
}

void http_server_stop(struct http_server *s)
{
	for (int i = 0; i < HTTP_MAX_CLIENTS; i++)
		client_close(s, i);
	if (s->listen_fd >= 0)
		close(s->listen_fd);
	if (s->epoll_fd >= 0)
		close(s->epoll_fd);
	s->listen_fd = s->epoll_fd = -1;
}
