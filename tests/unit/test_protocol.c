// SPDX-License-Identifier: MIT
/*
 * Unit tests for the line protocol (servers/protocol.c): the parser, the
 * replies, BURN's computation and the STREAM payload pattern.
 *
 * Build and run:  make build/tests/test_protocol && build/tests/test_protocol
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "protocol.h"

/* ---- helpers --------------------------------------------------------------- */

/* Parse a NUL-terminated buffer (the NUL is not part of the input). */
static size_t parse_str(const char *s, struct proto_req *req)
{
	return proto_parse(s, strlen(s), req);
}

/* Parse `line` (one complete request) and check that it is consumed whole
 * and is the command `cmd`. */
static void assert_parses_as(const char *line, enum proto_cmd cmd, struct proto_req *req)
{
	size_t n = parse_str(line, req);

	if (n != strlen(line) || req->cmd != cmd)
		fail_msg("\"%s\": consumed %zu of %zu bytes, cmd %d, want cmd %d",
			 line, n, strlen(line), (int)req->cmd, (int)cmd);
	assert_ptr_equal(req->line, line);
	assert_int_equal(req->len, strlen(line));
}

/* Parse one complete request and check its reply, byte for byte. */
static void assert_reply(const char *line, const char *expected)
{
	static char out[PROTO_MAX_REPLY];
	struct proto_req req;
	size_t n;

	assert_int_equal(parse_str(line, &req), strlen(line));
	n = proto_reply(&req, out);
	if (n != strlen(expected) || memcmp(out, expected, n) != 0)
		fail_msg("reply to \"%s\": got \"%.*s\" (%zu bytes), want \"%s\"",
			 line, (int)n, out, n, expected);
}

/* A bad argument: PROTO_ERROR with a message, whole line consumed, and a
 * one-line "ERR <message>\n" reply. */
static void assert_bad_argument(const char *line)
{
	char out[PROTO_MAX_REPLY];
	char want[PROTO_MAX_REPLY];
	struct proto_req req;
	size_t n;

	assert_parses_as(line, PROTO_ERROR, &req);
	if (!req.err || !req.err[0])
		fail_msg("\"%s\": PROTO_ERROR without a message", line);
	n = proto_reply(&req, out);
	snprintf(want, sizeof(want), "ERR %s\n", req.err);
	assert_int_equal(n, strlen(want));
	assert_memory_equal(out, want, n);
	/* exactly one line */
	assert_ptr_equal(memchr(out, '\n', n), out + n - 1);
}

/* An n-byte buffer of `fill`, optionally ending in '\n' (one more byte). */
static char *make_line(size_t n, char fill, int newline)
{
	char *buf = malloc(n + 1);

	assert_non_null(buf);
	memset(buf, fill, n);
	if (newline)
		buf[n] = '\n';
	return buf;
}

/* The reference value of the STREAM payload at byte offset off. */
static char pattern_at(uint64_t off)
{
	return (char)('0' + off % 64);
}

/* ---- PING, QUIT ------------------------------------------------------------ */

static void test_ping_replies_pong(void **state)
{
	struct proto_req req;

	(void)state;
	assert_parses_as("PING\n", PROTO_PING, &req);
	assert_reply("PING\n", "PONG\n");
}

static void test_ping_with_argument_is_an_error(void **state)
{
	(void)state;
	assert_bad_argument("PING x\n");
	assert_bad_argument("PING 1\n");
}

static void test_ping_trailing_blanks_are_ignored(void **state)
{
	struct proto_req req;

	(void)state;
	assert_parses_as("PING \n", PROTO_PING, &req);
	assert_parses_as("PING\t\n", PROTO_PING, &req);
}

static void test_quit_has_no_reply(void **state)
{
	char out[PROTO_MAX_REPLY];
	struct proto_req req;

	(void)state;
	assert_parses_as("QUIT\n", PROTO_QUIT, &req);
	assert_int_equal(proto_reply(&req, out), 0);
	assert_bad_argument("QUIT now\n");
}

/* ---- echo ------------------------------------------------------------------ */

static void test_command_prefix_is_echoed(void **state)
{
	struct proto_req req;

	(void)state;
	assert_parses_as("PINGX\n", PROTO_ECHO, &req);
	assert_reply("PINGX\n", "PINGX\n");
	assert_parses_as("WAITING 5\n", PROTO_ECHO, &req);
	assert_parses_as("STREAMS\n", PROTO_ECHO, &req);
	assert_parses_as("QUITE\n", PROTO_ECHO, &req);
	assert_parses_as("BURNT 3\n", PROTO_ECHO, &req);
}

static void test_commands_are_case_and_position_sensitive(void **state)
{
	struct proto_req req;

	(void)state;
	assert_parses_as("ping\n", PROTO_ECHO, &req);
	assert_parses_as(" PING\n", PROTO_ECHO, &req);
	assert_parses_as("Quit\n", PROTO_ECHO, &req);
	assert_reply("ping\n", "ping\n");
}

static void test_echo_returns_line_unchanged(void **state)
{
	(void)state;
	assert_reply("hello world\n", "hello world\n");
	assert_reply("  spaced  \n", "  spaced  \n");
	/* the reply is the raw line: a CRLF line comes back as CRLF */
	assert_reply("hello\r\n", "hello\r\n");
}

static void test_empty_line_is_echoed(void **state)
{
	struct proto_req req;

	(void)state;
	assert_parses_as("\n", PROTO_ECHO, &req);
	assert_reply("\n", "\n");
	assert_parses_as("\r\n", PROTO_ECHO, &req);
	assert_reply("\r\n", "\r\n");
}

static void test_echo_of_binary_bytes(void **state)
{
	static const char line[] = { 'a', '\0', '\x01', '\xff', 'b', '\n' };
	char out[PROTO_MAX_REPLY];
	struct proto_req req;

	(void)state;
	assert_int_equal(proto_parse(line, sizeof(line), &req), sizeof(line));
	assert_int_equal(req.cmd, PROTO_ECHO);
	assert_int_equal(proto_reply(&req, out), sizeof(line));
	assert_memory_equal(out, line, sizeof(line));
}

/* ---- WAIT, BURN, STREAM arguments ------------------------------------------ */

static void test_wait_parses_milliseconds(void **state)
{
	struct proto_req req;

	(void)state;
	assert_parses_as("WAIT 250\n", PROTO_WAIT, &req);
	assert_int_equal(req.arg, 250);
	assert_parses_as("WAIT 0\n", PROTO_WAIT, &req);
	assert_int_equal(req.arg, 0);
	assert_parses_as("WAIT\t007  \n", PROTO_WAIT, &req);
	assert_int_equal(req.arg, 7);
	assert_reply("WAIT 250\n", "DONE\n");
}

static void test_wait_limit_is_inclusive(void **state)
{
	char line[64];
	struct proto_req req;

	(void)state;
	snprintf(line, sizeof(line), "WAIT %u\n", PROTO_MAX_WAIT_MS);
	assert_parses_as(line, PROTO_WAIT, &req);
	assert_int_equal(req.arg, 60000);
	snprintf(line, sizeof(line), "WAIT %u\n", PROTO_MAX_WAIT_MS + 1);
	assert_bad_argument(line);
	assert_bad_argument("WAIT 99999999\n");
}

static void test_bad_numbers_are_errors(void **state)
{
	(void)state;
	assert_bad_argument("WAIT\n");			/* missing */
	assert_bad_argument("WAIT \n");			/* empty */
	assert_bad_argument("WAIT abc\n");		/* not a number */
	assert_bad_argument("WAIT -1\n");		/* negative */
	assert_bad_argument("WAIT +1\n");		/* sign */
	assert_bad_argument("WAIT 12abc\n");		/* trailing garbage */
	assert_bad_argument("WAIT 1 2\n");		/* two numbers */
	assert_bad_argument("WAIT 1e3\n");		/* not decimal */
	assert_bad_argument("WAIT 0x10\n");		/* not decimal */
	assert_bad_argument("WAIT 18446744073709551615\n");	/* UINT64_MAX */
	assert_bad_argument("WAIT 18446744073709551616\n");	/* UINT64_MAX + 1 */
	assert_bad_argument("WAIT 99999999999999999999999999999\n");	/* overflow */
	assert_bad_argument("BURN x\n");
	assert_bad_argument("STREAM -5\n");
	assert_bad_argument("STREAM\n");
}

static void test_overflow_does_not_wrap_to_a_valid_value(void **state)
{
	struct proto_req req;

	(void)state;
	/* 2^64 + 5 would wrap to 5 with unchecked arithmetic */
	assert_int_equal(parse_str("WAIT 18446744073709551621\n", &req), 26);
	assert_int_equal(req.cmd, PROTO_ERROR);
	/* 2^64 exactly would wrap to 0 */
	assert_int_equal(parse_str("STREAM 18446744073709551616\n", &req), 28);
	assert_int_equal(req.cmd, PROTO_ERROR);
}

static void test_burn_limits(void **state)
{
	char line[64];
	struct proto_req req;

	(void)state;
	assert_parses_as("BURN 0\n", PROTO_BURN, &req);
	assert_int_equal(req.arg, 0);
	snprintf(line, sizeof(line), "BURN %u\n", PROTO_MAX_BURN);
	assert_parses_as(line, PROTO_BURN, &req);
	assert_int_equal(req.arg, 100000000);
	snprintf(line, sizeof(line), "BURN %u\n", PROTO_MAX_BURN + 1);
	assert_bad_argument(line);
}

static void test_stream_limits(void **state)
{
	char line[64];
	struct proto_req req;

	(void)state;
	assert_parses_as("STREAM 0\n", PROTO_STREAM, &req);
	assert_int_equal(req.arg, 0);
	assert_parses_as("STREAM 1048576\n", PROTO_STREAM, &req);
	assert_int_equal(req.arg, 1048576);
	snprintf(line, sizeof(line), "STREAM %u\n", PROTO_MAX_STREAM);
	assert_parses_as(line, PROTO_STREAM, &req);
	assert_int_equal(req.arg, 268435456);
	snprintf(line, sizeof(line), "STREAM %u\n", PROTO_MAX_STREAM + 1);
	assert_bad_argument(line);
	/* STREAM's immediate reply is its trailer, due after the payload */
	assert_reply("STREAM 10\n", "DONE\n");
}

/* ---- BURN's computation ---------------------------------------------------- */

static void test_burn_known_values(void **state)
{
	(void)state;
	/* splitmix64 from a golden-ratio seed; values from an independent
	 * Python port (tests/integration/test_conformance.py has the same). */
	assert_true(proto_burn(0) == 11400714819323198485ull);
	assert_true(proto_burn(1) == 7960286522194355700ull);
	assert_true(proto_burn(2) == 5095610196844313600ull);
	assert_true(proto_burn(10) == 13057369437395382393ull);
	assert_true(proto_burn(1000) == 1178161401219602615ull);
	assert_true(proto_burn(100000) == 3572302042858980449ull);
}

static void test_burn_is_deterministic(void **state)
{
	(void)state;
	assert_true(proto_burn(12345) == proto_burn(12345));
	assert_true(proto_burn(12345) != proto_burn(12346));
}

static void test_burn_reply_is_result_line(void **state)
{
	(void)state;
	assert_reply("BURN 0\n", "RESULT 11400714819323198485\n");
	assert_reply("BURN 1000\n", "RESULT 1178161401219602615\n");
	assert_reply("BURN 10\r\n", "RESULT 13057369437395382393\n");
}

/* ---- CRLF ------------------------------------------------------------------ */

static void test_crlf_is_tolerated(void **state)
{
	struct proto_req req;

	(void)state;
	assert_parses_as("PING\r\n", PROTO_PING, &req);
	assert_int_equal(req.len, 6);
	assert_reply("PING\r\n", "PONG\n");
	assert_parses_as("WAIT 5\r\n", PROTO_WAIT, &req);
	assert_int_equal(req.arg, 5);
	assert_parses_as("STREAM 3\r\n", PROTO_STREAM, &req);
	assert_int_equal(req.arg, 3);
	assert_parses_as("QUIT\r\n", PROTO_QUIT, &req);
	/* only one trailing CR is stripped, and only right before the '\n':
	 * "PING\r" is not PING followed by a blank, so it is a line to echo */
	assert_parses_as("PING\r\r\n", PROTO_ECHO, &req);
	assert_parses_as("PI\rNG\n", PROTO_ECHO, &req);
}

/* ---- partial lines --------------------------------------------------------- */

static void test_empty_buffer_needs_more(void **state)
{
	struct proto_req req;

	(void)state;
	assert_int_equal(proto_parse("", 0, &req), 0);
}

static void test_partial_line_needs_more(void **state)
{
	static const char line[] = "STREAM 12345\r\n";
	struct proto_req req;
	size_t i, n = strlen(line);

	(void)state;
	/* every strict prefix, including the one ending in '\r', is incomplete */
	for (i = 0; i < n; i++) {
		size_t got = proto_parse(line, i, &req);

		if (got != 0)
			fail_msg("prefix of %zu bytes consumed %zu, want 0", i, got);
	}
	assert_int_equal(proto_parse(line, n, &req), n);
	assert_int_equal(req.cmd, PROTO_STREAM);
	assert_int_equal(req.arg, 12345);
}

static void test_bytes_after_newline_are_not_consumed(void **state)
{
	static const char buf[] = "WAIT 10\nWAI";
	struct proto_req req;

	(void)state;
	assert_int_equal(parse_str(buf, &req), 8);
	assert_int_equal(req.cmd, PROTO_WAIT);
	assert_int_equal(req.arg, 10);
	/* the rest is a partial line */
	assert_int_equal(parse_str(buf + 8, &req), 0);
}

/* ---- pipelining ------------------------------------------------------------ */

static void test_pipelined_requests_one_at_a_time(void **state)
{
	static const char buf[] =
		"PING\nWAIT 5\nhello\n\nSTREAM 10\r\nBURN 2\nPINGX\nWAIT x\nQUIT\nPIN";
	static const struct {
		enum proto_cmd cmd;
		size_t len;
		uint64_t arg;
	} want[] = {
		{ PROTO_PING,   5,  0 },
		{ PROTO_WAIT,   7,  5 },
		{ PROTO_ECHO,   6,  0 },
		{ PROTO_ECHO,   1,  0 },
		{ PROTO_STREAM, 11, 10 },
		{ PROTO_BURN,   7,  2 },
		{ PROTO_ECHO,   6,  0 },
		{ PROTO_ERROR,  7,  0 },
		{ PROTO_QUIT,   5,  0 },
	};
	struct proto_req req;
	size_t off = 0, total = strlen(buf), i;

	(void)state;
	for (i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		size_t n = proto_parse(buf + off, total - off, &req);

		if (n != want[i].len || req.cmd != want[i].cmd || req.arg != want[i].arg)
			fail_msg("request %zu at offset %zu: len %zu cmd %d arg %llu", i, off,
				 n, (int)req.cmd, (unsigned long long)req.arg);
		assert_ptr_equal(req.line, buf + off);
		assert_int_equal(req.len, n);
		off += n;
	}
	/* "PIN" is left over, waiting for more input */
	assert_int_equal(total - off, 3);
	assert_int_equal(proto_parse(buf + off, total - off, &req), 0);
}

static void test_pipelined_replies_in_order(void **state)
{
	static const char buf[] = "PING\nabc\nBURN 0\nPING\n";
	static const char want[] = "PONG\nabc\nRESULT 11400714819323198485\nPONG\n";
	char out[4 * PROTO_MAX_REPLY];
	struct proto_req req;
	size_t off = 0, olen = 0, n;

	(void)state;
	while ((n = proto_parse(buf + off, strlen(buf) - off, &req)) > 0) {
		olen += proto_reply(&req, out + olen);
		off += n;
	}
	assert_int_equal(off, strlen(buf));
	assert_int_equal(olen, strlen(want));
	assert_memory_equal(out, want, olen);
}

/* ---- overlong lines -------------------------------------------------------- */

static void test_line_at_limit_is_accepted(void **state)
{
	char *buf = make_line(PROTO_MAX_LINE, 'a', 1);	/* 4096 bytes + '\n' */
	char out[PROTO_MAX_REPLY];
	struct proto_req req;

	(void)state;
	assert_int_equal(proto_parse(buf, PROTO_MAX_LINE + 1, &req), PROTO_MAX_LINE + 1);
	assert_int_equal(req.cmd, PROTO_ECHO);
	assert_int_equal(proto_reply(&req, out), PROTO_MAX_LINE + 1);
	assert_memory_equal(out, buf, PROTO_MAX_LINE + 1);
	free(buf);
}

static void test_limit_without_newline_needs_more(void **state)
{
	char *buf = make_line(PROTO_MAX_LINE, 'a', 0);	/* 4096 bytes, no '\n' */
	struct proto_req req;

	(void)state;
	assert_int_equal(proto_parse(buf, PROTO_MAX_LINE, &req), 0);
	free(buf);
}

static void test_one_past_limit_is_too_long(void **state)
{
	char *buf = make_line(PROTO_MAX_LINE + 1, 'a', 0);	/* 4097 bytes, no '\n' */
	char out[PROTO_MAX_REPLY];
	struct proto_req req;
	size_t n;

	(void)state;
	assert_int_equal(proto_parse(buf, PROTO_MAX_LINE + 1, &req), PROTO_MAX_LINE + 1);
	assert_int_equal(req.cmd, PROTO_TOOLONG);
	assert_int_equal(req.len, PROTO_MAX_LINE + 1);
	n = proto_reply(&req, out);
	assert_int_equal(n, strlen("ERR line too long\n"));
	assert_memory_equal(out, "ERR line too long\n", n);
	free(buf);
}

static void test_newline_past_limit_is_too_long(void **state)
{
	/* 4097 content bytes, then '\n': the newline comes too late */
	char *buf = make_line(PROTO_MAX_LINE + 1, 'a', 1);
	struct proto_req req;

	(void)state;
	assert_true(proto_parse(buf, PROTO_MAX_LINE + 2, &req) > 0);
	assert_int_equal(req.cmd, PROTO_TOOLONG);
	free(buf);
}

static void test_huge_buffer_is_too_long_and_consumed(void **state)
{
	size_t n = 1 << 20;
	char *buf = make_line(n, 'x', 0);
	struct proto_req req;

	(void)state;
	assert_int_equal(proto_parse(buf, n, &req), n);
	assert_int_equal(req.cmd, PROTO_TOOLONG);
	assert_int_equal(req.len, n);		/* everything is consumed */
	free(buf);
}

static void test_short_line_before_overlong_data_is_served(void **state)
{
	size_t tail = 2 * PROTO_MAX_LINE;
	char *buf = malloc(5 + tail);
	struct proto_req req;

	(void)state;
	assert_non_null(buf);
	memcpy(buf, "PING\n", 5);
	memset(buf + 5, 'z', tail);
	assert_int_equal(proto_parse(buf, 5 + tail, &req), 5);
	assert_int_equal(req.cmd, PROTO_PING);
	assert_int_equal(proto_parse(buf + 5, tail, &req), tail);
	assert_int_equal(req.cmd, PROTO_TOOLONG);
	free(buf);
}

/* ---- STREAM payload -------------------------------------------------------- */

static void test_stream_chunk_pattern(void **state)
{
	static const uint64_t offsets[] = {
		0, 1, 63, 64, 65, 4095, 65536, 12345678, (1ull << 32) + 7, UINT64_MAX - 100,
	};
	size_t k, i;

	(void)state;
	for (k = 0; k < sizeof(offsets) / sizeof(offsets[0]); k++) {
		size_t len = 1000;
		const char *p = proto_stream_chunk(offsets[k], &len);

		assert_int_equal(len, 1000);
		for (i = 0; i < len; i++)
			if (p[i] != pattern_at(offsets[k] + i))
				fail_msg("offset %llu + %zu: got 0x%02x, want '%c'",
					 (unsigned long long)offsets[k], i,
					 (unsigned char)p[i], pattern_at(offsets[k] + i));
	}
}

static void test_stream_pattern_is_printable_without_newline(void **state)
{
	size_t len = 64;
	const char *p = proto_stream_chunk(0, &len);
	size_t i;

	(void)state;
	assert_int_equal(len, 64);
	assert_int_equal(p[0], '0');
	assert_int_equal(p[63], 'o');
	for (i = 0; i < len; i++)
		assert_true(p[i] > ' ' && p[i] < 0x7f);
}

static void test_stream_chunk_clamps_length(void **state)
{
	size_t len;
	const char *p;
	size_t i;

	(void)state;
	len = 0;
	proto_stream_chunk(0, &len);
	assert_int_equal(len, 0);
	len = 10;
	proto_stream_chunk(5, &len);
	assert_int_equal(len, 10);
	/* asking for more than is contiguous gets a clamped but non-empty
	 * chunk, and every byte of it is valid */
	len = 16u << 20;
	p = proto_stream_chunk(33, &len);
	assert_true(len >= 4096);
	assert_true(len < (16u << 20));
	for (i = 0; i < len; i++)
		if (p[i] != pattern_at(33 + i))
			fail_msg("clamped chunk byte %zu wrong", i);
}

static void test_stream_assembled_from_chunks(void **state)
{
	/* how a server sends STREAM n: chunk after chunk, clamped each time */
	const uint64_t total = 1000003;
	uint64_t off = 0;
	unsigned chunks = 0;

	(void)state;
	while (off < total) {
		size_t want = (size_t)(total - off), len = want, i;
		const char *p = proto_stream_chunk(off, &len);

		assert_true(len > 0 && len <= want);
		for (i = 0; i < len; i++)
			if (p[i] != pattern_at(off + i))
				fail_msg("byte %llu wrong", (unsigned long long)(off + i));
		off += len;
		chunks++;
	}
	assert_true(off == total);
	assert_true(chunks < 100);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ping_replies_pong),
		cmocka_unit_test(test_ping_with_argument_is_an_error),
		cmocka_unit_test(test_ping_trailing_blanks_are_ignored),
		cmocka_unit_test(test_quit_has_no_reply),
		cmocka_unit_test(test_command_prefix_is_echoed),
		cmocka_unit_test(test_commands_are_case_and_position_sensitive),
		cmocka_unit_test(test_echo_returns_line_unchanged),
		cmocka_unit_test(test_empty_line_is_echoed),
		cmocka_unit_test(test_echo_of_binary_bytes),
		cmocka_unit_test(test_wait_parses_milliseconds),
		cmocka_unit_test(test_wait_limit_is_inclusive),
		cmocka_unit_test(test_bad_numbers_are_errors),
		cmocka_unit_test(test_overflow_does_not_wrap_to_a_valid_value),
		cmocka_unit_test(test_burn_limits),
		cmocka_unit_test(test_stream_limits),
		cmocka_unit_test(test_burn_known_values),
		cmocka_unit_test(test_burn_is_deterministic),
		cmocka_unit_test(test_burn_reply_is_result_line),
		cmocka_unit_test(test_crlf_is_tolerated),
		cmocka_unit_test(test_empty_buffer_needs_more),
		cmocka_unit_test(test_partial_line_needs_more),
		cmocka_unit_test(test_bytes_after_newline_are_not_consumed),
		cmocka_unit_test(test_pipelined_requests_one_at_a_time),
		cmocka_unit_test(test_pipelined_replies_in_order),
		cmocka_unit_test(test_line_at_limit_is_accepted),
		cmocka_unit_test(test_limit_without_newline_needs_more),
		cmocka_unit_test(test_one_past_limit_is_too_long),
		cmocka_unit_test(test_newline_past_limit_is_too_long),
		cmocka_unit_test(test_huge_buffer_is_too_long_and_consumed),
		cmocka_unit_test(test_short_line_before_overlong_data_is_served),
		cmocka_unit_test(test_stream_chunk_pattern),
		cmocka_unit_test(test_stream_pattern_is_printable_without_newline),
		cmocka_unit_test(test_stream_chunk_clamps_length),
		cmocka_unit_test(test_stream_assembled_from_chunks),
	};

	return cmocka_run_group_tests_name("protocol", tests, NULL, NULL);
}
