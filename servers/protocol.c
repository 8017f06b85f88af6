// SPDX-License-Identifier: MIT
/* The line protocol: parsing and replies, shared by every reference server. */
#include "protocol.h"

#include <stdio.h>
#include <string.h>

static int is_space(char c)
{
	return c == ' ' || c == '\t';
}

/*
 * Parse the decimal argument of a command. Strict on purpose: a load
 * generator that sends "WAIT 1e3" or "WAIT -1" has a bug worth seeing.
 */
static const char *parse_u64(const char *p, const char *end, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;
	const char *start;

	while (p < end && is_space(*p))
		p++;
	start = p;
	for (; p < end && *p >= '0' && *p <= '9'; p++) {
		if (v > (UINT64_MAX - 9) / 10)
			return "number too large";
		v = v * 10 + (uint64_t)(*p - '0');
	}
	if (p == start)
		return "expected a non-negative decimal number";
	while (p < end && is_space(*p))
		p++;
	if (p != end)
		return "trailing characters after number";
	if (v > max)
		return "argument above the limit";
	*out = v;
	return NULL;
}

struct command {
	const char *word;
	size_t len;
	enum proto_cmd cmd;
	uint64_t max;		/* 0: takes no argument */
};

static const struct command commands[] = {
	{ "PING",   4, PROTO_PING,   0 },
	{ "WAIT",   4, PROTO_WAIT,   PROTO_MAX_WAIT_MS },
	{ "BURN",   4, PROTO_BURN,   PROTO_MAX_BURN },
	{ "STREAM", 6, PROTO_STREAM, PROTO_MAX_STREAM },
	{ "QUIT",   4, PROTO_QUIT,   0 },
};

size_t proto_parse(const char *buf, size_t n, struct proto_req *req)
{
	size_t scan = n < PROTO_MAX_LINE + 1 ? n : PROTO_MAX_LINE + 1;
	const char *nl = memchr(buf, '\n', scan);
	const char *end;
	size_t i;

	memset(req, 0, sizeof(*req));
	req->line = buf;
	if (!nl) {
		if (n <= PROTO_MAX_LINE)
			return 0;
		req->cmd = PROTO_TOOLONG;
		req->err = "line too long";
		req->len = n;
		return n;
	}
	req->len = (size_t)(nl - buf) + 1;
	end = nl;
	if (end > buf && end[-1] == '\r')
		end--;

	req->cmd = PROTO_ECHO;
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		const struct command *c = &commands[i];
		size_t len = (size_t)(end - buf);

		if (len < c->len || memcmp(buf, c->word, c->len) != 0)
			continue;
		if (len > c->len && !is_space(buf[c->len]))
			continue;	/* "PINGX" is just a line to echo */
		req->cmd = c->cmd;
		if (c->max == 0) {
			const char *p = buf + c->len;

			while (p < end && is_space(*p))
				p++;
			if (p != end) {
				req->cmd = PROTO_ERROR;
				req->err = "command takes no argument";
			}
		} else {
			req->err = parse_u64(buf + c->len, end, c->max, &req->arg);
			if (req->err)
				req->cmd = PROTO_ERROR;
		}
		break;
	}
	return req->len;
}

uint64_t proto_burn(uint64_t n)
{
	/* splitmix64 rounds: data-dependent, so no compiler folds the loop */
	uint64_t x = 0x9e3779b97f4a7c15ull;

	while (n--) {
		x += 0x9e3779b97f4a7c15ull;
		x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
		x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
		x ^= x >> 31;
	}
	return x;
}

size_t proto_reply(const struct proto_req *req, char *out)
{
	int len;

	switch (req->cmd) {
	case PROTO_ECHO:
		memcpy(out, req->line, req->len);
		return req->len;
	case PROTO_PING:
		memcpy(out, "PONG\n", 5);
		return 5;
	case PROTO_WAIT:
	case PROTO_STREAM:
		memcpy(out, PROTO_DONE, PROTO_DONE_LEN);
		return PROTO_DONE_LEN;
	case PROTO_BURN:
		len = snprintf(out, PROTO_MAX_REPLY, "RESULT %llu\n",
			       (unsigned long long)proto_burn(req->arg));
		return (size_t)len;
	case PROTO_ERROR:
	case PROTO_TOOLONG:
		len = snprintf(out, PROTO_MAX_REPLY, "ERR %s\n", req->err);
		return (size_t)len;
	case PROTO_QUIT:
		break;
	}
	return 0;
}

/* 64 KiB of pattern plus one period, so any offset has 64 KiB contiguous. */
#define PATTERN_PERIOD 64u
#define PATTERN_CHUNK  (64u << 10)
static char pattern[PATTERN_CHUNK + PATTERN_PERIOD];

/* filled before main(), so threads never race to initialise it */
__attribute__((constructor)) static void pattern_init(void)
{
	for (size_t i = 0; i < sizeof(pattern); i++)
		pattern[i] = (char)('0' + i % PATTERN_PERIOD);
}

const char *proto_stream_chunk(uint64_t off, size_t *len)
{
	if (*len > PATTERN_CHUNK)
		*len = PATTERN_CHUNK;
	return pattern + off % PATTERN_PERIOD;
}
