/* SPDX-License-Identifier: MIT */
/*
 * A small HTTP/1.1 responder for the metrics endpoint, driven from the
 * tracing loop: every call does a bounded amount of non-blocking work and
 * never waits, so no client, however slow, malformed or numerous, can hold
 * the loop. One request per connection (answered with Connection: close),
 * GET and HEAD only.
 *
 * Limits, all fixed: HTTP_MAX_CLIENTS connections at once (a new one evicts
 * the oldest when full, so idle floods cannot lock a scraper out for good),
 * HTTP_MAX_REQUEST bytes of request head, HTTP_CLIENT_TIMEOUT_S for a client
 * to send its request and read the answer, HTTP_ACCEPTS_PER_POLL accepts and
 * HTTP_EVENTS_PER_POLL events handled per call.
 */
#ifndef CONCTRACE_HTTP_SERVER_H
#define CONCTRACE_HTTP_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#define HTTP_MAX_CLIENTS	32
#define HTTP_MAX_REQUEST	4096
#define HTTP_CLIENT_TIMEOUT_S	5.0
#define HTTP_ACCEPTS_PER_POLL	64
#define HTTP_EVENTS_PER_POLL	64

/* ---- request parsing (pure: unit-tested alone) ---------------------------- */

enum http_method { HTTP_GET, HTTP_HEAD };

struct http_request {
	enum http_method method;
	char path[256];		/* the target's path, without the query */
};

/*
 * Parse a request head from buf[0..len). Returns 0 when a whole, valid head
 * is there (filled in *req), HTTP_INCOMPLETE when more bytes may make it
 * one, or the HTTP status to answer it with: 400 malformed, 405 a method
 * other than GET/HEAD, 414 target too long, 431 head over HTTP_MAX_REQUEST,
 * 505 a version other than HTTP/1.0 or 1.1. A body (Content-Length > 0,
 * Transfer-Encoding) is refused with 400: no method here takes one.
 */
#define HTTP_INCOMPLETE 1
int http_parse_request(const char *buf, size_t len, struct http_request *req);

const char *http_status_text(int status);

/*
 * Parse a listen address: "PORT" (binds 127.0.0.1), "ADDR:PORT" with an
 * IPv4 literal, "[ADDR]:PORT" with IPv6. Other interfaces only when named.
 * Returns 0 or -1 (with why in err, for the usage message).
 */
int http_parse_listen_addr(const char *s, struct sockaddr_storage *out, socklen_t *len,
			   const char **err);

/* ---- the server ------------------------------------------------------------ */

/* What to answer GET path with: set *body and *len to a buffer that stays valid
 * until the next call, return the status (200, 404). */
typedef int (*http_handler_fn)(void *ctx, const char *path, const char **body, size_t *len);

struct http_client;

struct http_server {
	int listen_fd, epoll_fd;
	http_handler_fn handler;
	void *ctx;
	const char *content_type;
	struct http_client *clients[HTTP_MAX_CLIENTS];
	unsigned long served, refused, evicted, timed_out;	/* counters */
	unsigned long accepted;		/* clients ever accepted: their order */
};

/* Bind and listen (non-blocking). Returns 0 or a negative errno. */
int http_server_start(struct http_server *s, const struct sockaddr_storage *addr,
		      socklen_t addr_len, const char *content_type,
		      http_handler_fn handler, void *ctx);

/* Do whatever work is ready now, without waiting; now_s is CLOCK_MONOTONIC. */
void http_server_poll(struct http_server *s, double now_s);

/* The port actually bound (useful with port 0). */
int http_server_port(const struct http_server *s);

void http_server_stop(struct http_server *s);

#endif /* CONCTRACE_HTTP_SERVER_H */
