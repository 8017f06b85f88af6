// SPDX-License-Identifier: MIT
/*
 * What each request is and what its reply must be. A connection's mix is
 * a function of the seed, its id and the request number, so the reply
 * can be checked against the request it answers without keeping either:
 * the matchers compare the bytes as they arrive.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "loadgen.h"
#include "protocol.h"

#define ECHO_TAG_LEN		8	/* hex request number that opens an echo line */

static enum kind kind_of(const struct conn *c, uint32_t seq)
{
	uint64_t r;
	unsigned k;

	if (plan.single_kind >= 0)
		return (enum kind)plan.single_kind;
	r = mix64(env.seed ^ mix64(((uint64_t)c->id << 32) | seq)) % plan.weight_total;
	for (k = 0; r >= env.weights[k]; k++)
		r -= env.weights[k];
	return (enum kind)k;
}

/*
 * An echo line opens with the request's number in hex, so a server that
 * answers with another request's line is caught; lowercase hex can never
 * spell a command. The rest is fixed filler.
 */
static size_t echo_fill(uint32_t seq, char *out)
{
	static const char hex[] = "0123456789abcdef";
	char tag[ECHO_TAG_LEN];
	unsigned i, n = env.echo_size;

	for (i = 0; i < ECHO_TAG_LEN; i++)
		tag[i] = hex[(seq >> (28 - 4 * i)) & 0xf];
	memcpy(out, tag, n < ECHO_TAG_LEN ? n : ECHO_TAG_LEN);
	if (n > ECHO_TAG_LEN)
		memcpy(out + ECHO_TAG_LEN, plan.echo_body + ECHO_TAG_LEN, n - ECHO_TAG_LEN);
	out[n] = '\n';
	return n + 1;
}

size_t request_fill(const struct conn *c, uint32_t seq, char *out)
{
	switch (kind_of(c, seq)) {
	case K_PING:
		memcpy(out, "PING\n", 5);
		return 5;
	case K_ECHO:
		return echo_fill(seq, out);
	case K_WAIT:
		memcpy(out, plan.wait_req, plan.wait_req_len);
		return plan.wait_req_len;
	case K_STREAM:
		memcpy(out, plan.stream_req, plan.stream_req_len);
		return plan.stream_req_len;
	case K_BURN:
		memcpy(out, plan.burn_req, plan.burn_req_len);
		return plan.burn_req_len;
	case NR_KINDS:
		break;
	}
	return 0;
}

/*
 * The matchers take up to n bytes of the oldest reply, compare them with
 * what it must be and advance c->rpos. They return the bytes used, or -1
 * on a mismatch; *complete says the reply has been seen whole.
 */
static long match_fixed(uint32_t *pos, const char *want, size_t len,
			const char *p, size_t n, bool *complete)
{
	size_t take = len - *pos;

	if (take > n)
		take = n;
	if (memcmp(p, want + *pos, take) != 0)
		return -1;
	*pos += (uint32_t)take;
	*complete = *pos == len;
	return (long)take;
}

/* STREAM: exactly stream_bytes of payload (never a newline), then DONE */
static long match_stream(struct conn *c, const char *p, size_t n, bool *complete)
{
	uint64_t payload = env.stream_bytes;
	uint32_t tail;
	size_t take;
	long used;

	if (c->rpos < payload) {
		take = payload - c->rpos;
		if (take > n)
			take = n;
		if (memchr(p, '\n', take))
			return -1;
		c->rpos += (uint32_t)take;
		*complete = false;
		return (long)take;
	}
	tail = c->rpos - (uint32_t)payload;
	used = match_fixed(&tail, PROTO_DONE, PROTO_DONE_LEN, p, n, complete);
	if (used > 0)
		c->rpos += (uint32_t)used;
	return used;
}

long match_reply(struct worker *w, struct conn *c, const char *p, size_t n,
			bool *complete)
{
	size_t len;

	switch (kind_of(c, c->acked)) {
	case K_PING:
		return match_fixed(&c->rpos, "PONG\n", 5, p, n, complete);
	case K_ECHO:
		len = echo_fill(c->acked, w->ebuf);
		return match_fixed(&c->rpos, w->ebuf, len, p, n, complete);
	case K_WAIT:
		return match_fixed(&c->rpos, PROTO_DONE, PROTO_DONE_LEN, p, n, complete);
	case K_STREAM:
		return match_stream(c, p, n, complete);
	case K_BURN:
		return match_fixed(&c->rpos, plan.burn_reply, plan.burn_reply_len, p, n, complete);
	case NR_KINDS:
		break;
	}
	return -1;
}
