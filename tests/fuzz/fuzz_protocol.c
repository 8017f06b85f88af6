// SPDX-License-Identifier: MIT
/*
 * libFuzzer target for the line protocol (servers/protocol.c).
 *
 * The input is what a client sends on one connection. It is parsed the way
 * every server does (proto_parse on the buffered bytes, reply, advance),
 * and each request is checked against the contract in protocol.h, so the
 * fuzzer finds wrong answers as well as out-of-bounds accesses:
 *   - a request consumes 1..n bytes and starts where the previous ended;
 *   - a complete request ends at its first '\n' and is at most
 *     PROTO_MAX_LINE + 1 bytes; a prefix without that '\n' needs more input
 *     (returns 0), and the request alone parses the same as in the stream;
 *   - the reply fits PROTO_MAX_REPLY (the output buffer is exactly that big,
 *     on the heap, so ASan sees a single byte too many), is one line, and an
 *     echo is the line itself;
 *   - proto_stream_chunk serves the pattern for any offset and length.
 *
 * Build and run: make fuzz (FUZZ_SECONDS=60).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "protocol.h"

/* BURN computes in proto_reply: a large n is seconds of work, not a bug */
#define FUZZ_MAX_BURN 4096

#define check(cond) do { if (!(cond)) __builtin_trap(); } while (0)

static char *reply_buf;

static void check_reply(const struct proto_req *req)
{
	size_t n;

	if (req->cmd == PROTO_BURN && req->arg > FUZZ_MAX_BURN)
		return;
	n = proto_reply(req, reply_buf);
	check(n <= PROTO_MAX_REPLY);
	switch (req->cmd) {
	case PROTO_ECHO:
		check(n == req->len && memcmp(reply_buf, req->line, n) == 0);
		break;
	case PROTO_QUIT:
		check(n == 0);
		break;
	default:
		/* exactly one line */
		check(n > 0 && reply_buf[n - 1] == '\n');
		check(memchr(reply_buf, '\n', n) == reply_buf + n - 1);
		break;
	}
	if (req->cmd == PROTO_ERROR || req->cmd == PROTO_TOOLONG)
		check(req->err && n == 4 + strlen(req->err) + 1 &&
		      memcmp(reply_buf, "ERR ", 4) == 0);
}

/* The same request, parsed alone, gives the same answer; one byte less of
 * it is an incomplete line. */
static void check_alone(const char *line, size_t len, const struct proto_req *want)
{
	struct proto_req req;

	check(proto_parse(line, len, &req) == len);
	check(req.cmd == want->cmd && req.arg == want->arg && req.len == want->len);
	check(req.line == line);
	check(proto_parse(line, len - 1, &req) == 0);
}

static void check_stream_chunk(const uint8_t *data, size_t size)
{
	uint64_t off = 0;
	size_t len = 0;
	const char *p;

	if (size < 12)
		return;
	memcpy(&off, data, 8);
	len = (size_t)data[8] << 16 | (size_t)data[9] << 8 | data[10];
	p = proto_stream_chunk(off, &len);
	check(len <= (64u << 10));
	for (size_t i = 0; i < len; i += 997)
		check(p[i] == (char)('0' + (off + i) % 64));
	if (len)
		check(p[len - 1] == (char)('0' + (off + len - 1) % 64));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* a heap copy of exactly `size` bytes: reading past it is caught */
	char *buf = malloc(size ? size : 1);
	size_t off = 0;

	if (!reply_buf)
		reply_buf = malloc(PROTO_MAX_REPLY);
	check(buf && reply_buf);
	if (size)
		memcpy(buf, data, size);

	while (off < size) {
		struct proto_req req;
		size_t n = proto_parse(buf + off, size - off, &req);
		const char *nl;

		check(req.line == buf + off);
		if (n == 0) {
			/* more input needed: no '\n' yet, and not over the limit */
			check(size - off <= PROTO_MAX_LINE);
			check(!memchr(buf + off, '\n', size - off));
			break;
		}
		check(n <= size - off && n == req.len);
		if (req.cmd == PROTO_TOOLONG) {
			/* everything buffered is consumed; the caller closes */
			check(n == size - off && n > PROTO_MAX_LINE);
			nl = memchr(buf + off, '\n', n);
			check(!nl || (size_t)(nl - (buf + off)) > PROTO_MAX_LINE);
			check_reply(&req);
			break;
		}
		check(n <= PROTO_MAX_LINE + 1 && buf[off + n - 1] == '\n');
		check(memchr(buf + off, '\n', n) == buf + off + n - 1);
		if (req.cmd != PROTO_ERROR)
			check(req.err == NULL);
		check_alone(buf + off, n, &req);
		check_reply(&req);
		if (req.cmd == PROTO_QUIT)
			break;		/* the server closes: the rest is never read */
		off += n;
	}
	check_stream_chunk(data, size);
	free(buf);
	return 0;
}
