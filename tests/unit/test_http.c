// SPDX-License-Identifier: MIT
/*
 * Unit tests for the metrics endpoint's HTTP request parser and listen
 * address parser (userspace/live/http_server.c): a table of well-formed requests,
 * a table of malformed and hostile ones with the status each must get, and
 * every prefix of valid requests (a client may send one byte at a time),
 * which must stay "incomplete" until the last byte, never an error.
 *
 * Build and run:  make build/tests/test_http && build/tests/test_http
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "live/http_server.h"

#define CRLF "\r\n"

static int parse(const char *s, struct http_request *req)
{
	return http_parse_request(s, strlen(s), req);
}

/* ---- accepted ------------------------------------------------------------- */

static const struct {
	const char *req;
	enum http_method method;
	const char *path;
} good[] = {
	{ "GET /metrics HTTP/1.1" CRLF "Host: x" CRLF CRLF, HTTP_GET, "/metrics" },
	{ "HEAD /metrics HTTP/1.1" CRLF "Host: x" CRLF CRLF, HTTP_HEAD, "/metrics" },
	{ "GET /metrics?name[]=x HTTP/1.1" CRLF "Host: x" CRLF CRLF, HTTP_GET, "/metrics" },
	{ "GET / HTTP/1.0" CRLF CRLF, HTTP_GET, "/" },	/* 1.0: Host optional */
	{ "GET /metrics HTTP/1.1\nHost: x\n\n", HTTP_GET, "/metrics" },	/* bare LF lines */
	/* what Prometheus 2.x sends */
	{ "GET /metrics HTTP/1.1" CRLF "Host: 127.0.0.1:9464" CRLF
	  "User-Agent: Prometheus/2.42.0" CRLF
	  "Accept: application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5,*/*;q=0.1" CRLF
	  "Accept-Encoding: gzip" CRLF "X-Prometheus-Scrape-Timeout-Seconds: 10" CRLF CRLF,
	  HTTP_GET, "/metrics" },
	/* urllib's */
	{ "GET /metrics HTTP/1.1" CRLF "Accept-Encoding: identity" CRLF "Host: 127.0.0.1:1"
	  CRLF "User-Agent: Python-urllib/3.11" CRLF "Connection: close" CRLF CRLF,
	  HTTP_GET, "/metrics" },
	{ "GET /metrics HTTP/1.1" CRLF "host:x" CRLF "Content-Length: 0" CRLF CRLF,
	  HTTP_GET, "/metrics" },
	{ "GET /metrics HTTP/1.1" CRLF "Host: \t x \t" CRLF "X-Empty:" CRLF CRLF,
	  HTTP_GET, "/metrics" },
	{ "GET /metrics HTTP/1.1" CRLF "Host: x" CRLF "X-Utf8: caf\xc3\xa9" CRLF CRLF,
	  HTTP_GET, "/metrics" },
};

static void test_good_requests(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		struct http_request req;
		int r = parse(good[i].req, &req);

		if (r != 0)
			fail_msg("request %zu: got %d, want 0", i, r);
		assert_int_equal(req.method, good[i].method);
		assert_string_equal(req.path, good[i].path);
	}
}

/* Every prefix of a valid request is incomplete: no premature verdict. */
static void test_every_prefix_is_incomplete(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		size_t len = strlen(good[i].req);

		for (size_t n = 0; n < len; n++) {
			struct http_request req;
			int r = http_parse_request(good[i].req, n, &req);

			if (r != HTTP_INCOMPLETE)
				fail_msg("request %zu, first %zu of %zu bytes: got %d", i, n, len, r);
		}
	}
}

/* ---- refused -------------------------------------------------------------- */

static const struct {
	const char *req;
	int status;
	const char *why;
} bad[] = {
	{ "POST /metrics HTTP/1.1" CRLF "Host: x" CRLF CRLF, 405, "method" },
	{ "DELETE /metrics HTTP/1.1" CRLF CRLF, 405, "method, judged on the line" },
	{ "get /metrics HTTP/1.1" CRLF "Host: x" CRLF CRLF, 405, "methods are case-sensitive" },
	{ "GET /metrics HTTP/2.0" CRLF "Host: x" CRLF CRLF, 505, "version" },
	{ "GET /metrics HTTP/0.9" CRLF CRLF, 505, "version" },
	{ "GET /metrics" CRLF CRLF, 400, "HTTP/0.9 style, no version" },
	{ "GET /metrics HTTP/1.1 " CRLF "Host: x" CRLF CRLF, 400, "trailing space" },
	{ "GET  /metrics HTTP/1.1" CRLF "Host: x" CRLF CRLF, 400, "two spaces" },
	{ "GET /metrics  HTTP/1.1" CRLF "Host: x" CRLF CRLF, 400, "two spaces" },
	{ "GET\t/metrics HTTP/1.1" CRLF "Host: x" CRLF CRLF, 400, "tab separator" },
	{ "GET /metrics HTTP/1.1x" CRLF CRLF, 400, "junk after version" },
	{ "GET /metrics HTTPS/1.1" CRLF CRLF, 400, "protocol" },
	{ "GET /metrics HTTP/1.11" CRLF CRLF, 400, "version digits" },
	{ " GET /metrics HTTP/1.1" CRLF "Host: x" CRLF CRLF, 400, "leading space" },
	{ CRLF "GET /metrics HTTP/1.1" CRLF "Host: x" CRLF CRLF, 400, "leading blank line" },
	{ CRLF CRLF, 400, "only blank lines" },
	{ "GET metrics HTTP/1.1" CRLF "Host: x" CRLF CRLF, 400, "relative target" },
	{ "GET http://x/metrics HTTP/1.1" CRLF "Host: x" CRLF CRLF, 400, "absolute form" },
	{ "GET * HTTP/1.1" CRLF "Host: x" CRLF CRLF, 400, "asterisk form" },
	{ "GET /metrics#x HTTP/1.1" CRLF "Host: x" CRLF CRLF, 400, "fragment" },
	{ "GET /met\x7frics HTTP/1.1" CRLF "Host: x" CRLF CRLF, 400, "DEL in target" },
	{ "GET /m\xc3\xa9trics HTTP/1.1" CRLF "Host: x" CRLF CRLF, 400, "raw UTF-8 in target" },
	{ "G(T /metrics HTTP/1.1" CRLF "Host: x" CRLF CRLF, 400, "separator in method" },
	{ "GET /metrics HTTP/1.1" CRLF CRLF, 400, "1.1 without Host" },
	{ "GET /metrics HTTP/1.1" CRLF "Host: a" CRLF "Host: b" CRLF CRLF, 400, "two Hosts" },
	{ "GET /metrics HTTP/1.0" CRLF "Host: a" CRLF "Host: b" CRLF CRLF, 400, "two Hosts" },
	{ "GET /metrics HTTP/1.1" CRLF "Host : x" CRLF CRLF, 400, "space before colon" },
	{ "GET /metrics HTTP/1.1" CRLF "Host: x" CRLF " folded" CRLF CRLF, 400, "obs-fold" },
	{ "GET /metrics HTTP/1.1" CRLF "Host: x" CRLF "\tfolded" CRLF CRLF, 400, "obs-fold" },
	{ "GET /metrics HTTP/1.1" CRLF "Host: x" CRLF "NoColon" CRLF CRLF, 400, "no colon" },
	{ "GET /metrics HTTP/1.1" CRLF "Host: x" CRLF ": v" CRLF CRLF, 400, "empty name" },
	{ "GET /metrics HTTP/1.1" CRLF "Ho\"st: x" CRLF CRLF, 400, "quote in name" },
	{ "GET /metrics HTTP/1.1" CRLF "Host: x\x01y" CRLF CRLF, 400, "control in value" },
	{ "GET /metrics HTTP/1.1" CRLF "Host: x\ry" CRLF CRLF, 400, "bare CR in value" },
	{ "GET /metrics HTTP/1.1\rHost: x" CRLF CRLF, 400, "bare CR as line end" },
	{ "GET /metrics HTTP/1.1" CRLF "Host: x" CRLF "Content-Length: 5" CRLF CRLF "hello",
	  400, "a body" },
	{ "GET /metrics HTTP/1.1" CRLF "Host: x" CRLF "Content-Length: -1" CRLF CRLF, 400,
	  "negative length" },
	{ "GET /metrics HTTP/1.1" CRLF "Host: x" CRLF "Content-Length: 0x0" CRLF CRLF, 400,
	  "hex length" },
	{ "GET /metrics HTTP/1.1" CRLF "Host: x" CRLF "Content-Length:" CRLF CRLF, 400,
	  "empty length" },
	{ "GET /metrics HTTP/1.1" CRLF "Host: x" CRLF "Content-Length: 0" CRLF
	  "Content-Length: 0" CRLF CRLF, 400, "two lengths (smuggling)" },
	{ "GET /metrics HTTP/1.1" CRLF "Host: x" CRLF "Transfer-Encoding: chunked" CRLF CRLF,
	  400, "chunked body" },
	{ "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 400, "a TLS ClientHello" },
	{ "SSH-2.0-OpenSSH_9.2p1 Debian-2" CRLF, 400, "an SSH banner" },
	{ "PRI * HTTP/2.0" CRLF CRLF "SM" CRLF CRLF, 505, "HTTP/2 preface" },
};

static void test_bad_requests(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct http_request req;
		int r = parse(bad[i].req, &req);

		if (r != bad[i].status)
			fail_msg("bad request %zu (%s): got %d, want %d", i, bad[i].why, r,
				 bad[i].status);
	}
}

/* NUL bytes, anywhere: strlen-based parsing would see a different request. */
static void test_nul_bytes(void **state)
{
	static const char req[] = "GET /metrics HTTP/1.1\r\nHost: x\0y\r\n\r\n";
	static const char line[] = "GET /metr\0ics";
	struct http_request r;

	(void)state;
	assert_int_equal(http_parse_request(req, sizeof(req) - 1, &r), 400);
	assert_int_equal(http_parse_request(line, sizeof(line) - 1, &r), 400);
}

/* Sizes: a head up to the limit is fine, one byte over is 431; a target
 * path that does not fit is 414; no head end within the limit is 431. */
static void test_size_limits(void **state)
{
	static char buf[HTTP_MAX_REQUEST + 64];
	const char *head = "GET /metrics HTTP/1.1\r\nHost: x\r\nX: ";
	struct http_request r;
	size_t hl = strlen(head), fill;

	(void)state;
	/* exactly HTTP_MAX_REQUEST bytes including the final CRLF CRLF */
	fill = HTTP_MAX_REQUEST - hl - 4;
	memcpy(buf, head, hl);
	memset(buf + hl, 'a', fill);
	memcpy(buf + hl + fill, "\r\n\r\n", 4);
	assert_int_equal(http_parse_request(buf, HTTP_MAX_REQUEST, &r), 0);
	/* one more byte of header value */
	memset(buf + hl, 'a', fill + 1);
	memcpy(buf + hl + fill + 1, "\r\n\r\n", 4);
	assert_int_equal(http_parse_request(buf, HTTP_MAX_REQUEST + 1, &r), 431);
	/* a full buffer with no end of head: never waits for more */
	memcpy(buf, head, hl);
	memset(buf + hl, 'a', HTTP_MAX_REQUEST - hl);
	assert_int_equal(http_parse_request(buf, HTTP_MAX_REQUEST, &r), 431);
	assert_int_equal(http_parse_request(buf, HTTP_MAX_REQUEST - 1, &r), HTTP_INCOMPLETE);

	/* path of 255 bytes fits, 256 does not */
	snprintf(buf, sizeof(buf), "GET /%0254d HTTP/1.1\r\nHost: x\r\n\r\n", 0);
	assert_int_equal(http_parse_request(buf, strlen(buf), &r), 0);
	assert_int_equal(strlen(r.path), 255);
	snprintf(buf, sizeof(buf), "GET /%0255d HTTP/1.1\r\nHost: x\r\n\r\n", 0);
	assert_int_equal(http_parse_request(buf, strlen(buf), &r), 414);
	/* a long query does not count against the path */
	snprintf(buf, sizeof(buf), "GET /metrics?%01000d HTTP/1.1\r\nHost: x\r\n\r\n", 0);
	assert_int_equal(http_parse_request(buf, strlen(buf), &r), 0);
	assert_string_equal(r.path, "/metrics");
}

/* Garbage is judged as soon as its first line is whole, not at timeout. */
static void test_early_verdict(void **state)
{
	struct http_request r;

	(void)state;
	assert_int_equal(parse("BLAH\r\n", &r), 400);
	assert_int_equal(parse("POST /metrics HTTP/1.1\r\n", &r), 405);
	assert_int_equal(parse("GET /metrics HTTP/1.1\r\nHost: x\r\n", &r), HTTP_INCOMPLETE);
	assert_int_equal(parse("GET /metrics HTTP/1.1", &r), HTTP_INCOMPLETE);
	assert_int_equal(parse("", &r), HTTP_INCOMPLETE);
}

/* Random bytes never crash it, never read past len, and never pass unless
 * they happen to be a request (ASan catches an overread). */
static void test_random_bytes(void **state)
{
	unsigned int seed = 12345;

	(void)state;
	for (int i = 0; i < 20000; i++) {
		size_t len = (size_t)(rand_r(&seed) % 300);
		char *buf = malloc(len ? len : 1);
		struct http_request r;
		int v;

		assert_non_null(buf);
		for (size_t k = 0; k < len; k++) {
			/* half the time printable, with line ends, to get deeper */
			int x = rand_r(&seed);

			buf[k] = (x & 1) ? "GET /metrics HTTP/1.1\r\nHost:: x\n"[x % 33] : (char)(x >> 8);
		}
		v = http_parse_request(buf, len, &r);
		assert_true(v == 0 || v == HTTP_INCOMPLETE || (v >= 400 && v <= 505));
		if (v == 0)
			assert_true(r.path[0] == '/' && strlen(r.path) < sizeof(r.path));
		free(buf);
	}
}

/* ---- listen addresses ------------------------------------------------------ */

static void test_listen_addresses(void **state)
{
	static const struct {
		const char *s;
		int family;
		const char *addr;
		int port;
	} ok[] = {
		{ "9464", AF_INET, "127.0.0.1", 9464 },		/* bare port: loopback */
		{ "0", AF_INET, "127.0.0.1", 0 },
		{ "127.0.0.1:9464", AF_INET, "127.0.0.1", 9464 },
		{ "0.0.0.0:65535", AF_INET, "0.0.0.0", 65535 },	/* all interfaces: explicit */
		{ "localhost:80", AF_INET, "127.0.0.1", 80 },
		{ "[::1]:9464", AF_INET6, "::1", 9464 },
		{ "[::]:1", AF_INET6, "::", 1 },
	};
	static const char *const nope[] = {
		"", ":", "x", "65536", "-1", "+80", "9464x", "127.0.0.1:", "127.0.0.1",
		"::1:9464", "[::1]9464", "[::1]:", "[::1", "[127.0.0.1]:80", "example.com:80",
		"256.0.0.1:80", "127.0.0.1:99999", "1.2.3:80",
		"[aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa]:1",
	};
	(void)state;
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		struct sockaddr_storage a;
		socklen_t len;
		const char *why = NULL;
		char got[64];

		if (http_parse_listen_addr(ok[i].s, &a, &len, &why))
			fail_msg("'%s' refused: %s", ok[i].s, why);
		assert_int_equal(a.ss_family, ok[i].family);
		if (ok[i].family == AF_INET) {
			const struct sockaddr_in *a4 = (const void *)&a;

			inet_ntop(AF_INET, &a4->sin_addr, got, sizeof(got));
			assert_int_equal(ntohs(a4->sin_port), ok[i].port);
			assert_int_equal(len, sizeof(*a4));
		} else {
			const struct sockaddr_in6 *a6 = (const void *)&a;

			inet_ntop(AF_INET6, &a6->sin6_addr, got, sizeof(got));
			assert_int_equal(ntohs(a6->sin6_port), ok[i].port);
			assert_int_equal(len, sizeof(*a6));
		}
		assert_string_equal(got, ok[i].addr);
	}
	for (size_t i = 0; i < sizeof(nope) / sizeof(nope[0]); i++) {
		struct sockaddr_storage a;
		socklen_t len;
		const char *why = NULL;

		if (!http_parse_listen_addr(nope[i], &a, &len, &why))
			fail_msg("'%s' accepted", nope[i]);
		assert_non_null(why);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good_requests),
		cmocka_unit_test(test_every_prefix_is_incomplete),
		cmocka_unit_test(test_bad_requests),
		cmocka_unit_test(test_nul_bytes),
		cmocka_unit_test(test_size_limits),
		cmocka_unit_test(test_early_verdict),
		cmocka_unit_test(test_random_bytes),
		cmocka_unit_test(test_listen_addresses),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
