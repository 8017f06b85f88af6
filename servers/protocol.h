/* SPDX-License-Identifier: MIT */
/*
 * The line protocol every reference server speaks.
 *
 * Requests are newline-terminated lines (a trailing "\r" is tolerated).
 * The parser is pure: it never allocates or does I/O, so each server's file
 * holds only its concurrency model and calls into this module for meaning.
 *
 *   PING            -> PONG
 *   WAIT <ms>       -> (after ms) DONE
 *   BURN <n>        -> RESULT <x>          x = proto_burn(n), deterministic
 *   STREAM <n>      -> n payload bytes, then DONE
 *   QUIT            -> connection closed
 *   anything else   -> the line echoed back unchanged
 *   overlong line   -> ERR line too long, connection closed
 *   bad argument    -> ERR <reason>
 */
#ifndef CONCTRACE_PROTOCOL_H
#define CONCTRACE_PROTOCOL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define PROTO_MAX_LINE     4096u		/* bytes before the '\n', a '\r' included */
#define PROTO_MAX_WAIT_MS  60000u		/* one minute */
#define PROTO_MAX_STREAM   (256u << 20)		/* 256 MiB per request */
#define PROTO_MAX_BURN     100000000u		/* ~0.1-0.3 s of one core */
#define PROTO_MAX_REPLY    (PROTO_MAX_LINE + 2)	/* echo + "\r\n" worst case */

enum proto_cmd {
	PROTO_ECHO,	/* not a command: reply is the line itself */
	PROTO_PING,
	PROTO_WAIT,
	PROTO_BURN,
	PROTO_STREAM,
	PROTO_QUIT,
	PROTO_ERROR,	/* bad argument: reply is "ERR <msg>", keep going */
	PROTO_TOOLONG,	/* overlong line: reply, then close */
};

struct proto_req {
	enum proto_cmd cmd;
	uint64_t arg;		/* ms for WAIT, n for BURN and STREAM */
	const char *line;	/* the raw line, including its '\n' */
	size_t len;		/* length of line, including the '\n' */
	const char *err;	/* static message for PROTO_ERROR/PROTO_TOOLONG */
};

/*
 * Parse the first request in buf[0, n).
 * Returns the number of bytes it consumed (> 0) with *req filled in,
 * or 0 when no complete line is buffered yet and more input is needed.
 * A buffer holding more than PROTO_MAX_LINE bytes without a newline yields
 * PROTO_TOOLONG and consumes everything: the caller replies and closes.
 */
size_t proto_parse(const char *buf, size_t n, struct proto_req *req);

/*
 * Write the immediate reply for req into out (at least PROTO_MAX_REPLY bytes)
 * and return its length. For WAIT this is the reply due when the wait ends;
 * for STREAM, the trailer due after the payload; for QUIT, nothing (0).
 * BURN does its computation here, on the calling thread.
 */
size_t proto_reply(const struct proto_req *req, char *out);

/* The CPU-bound work behind BURN: n rounds of a 64-bit mixer. */
uint64_t proto_burn(uint64_t n);

/*
 * STREAM payload: bytes [off, off + *len) of an endless printable pattern
 * (no '\n'), served from a static buffer, so no server allocates for it.
 * Returns a pointer to the bytes and clamps *len to what is contiguous.
 */
const char *proto_stream_chunk(uint64_t off, size_t *len);

#define PROTO_DONE "DONE\n"
#define PROTO_DONE_LEN 5

#endif /* CONCTRACE_PROTOCOL_H */
