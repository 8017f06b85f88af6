// SPDX-License-Identifier: MIT
/* Folded stacks: a hash table of escaped stack strings, sorted at write
 * (see folded.h). */
#include "flame/folded.h"

#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "report/format.h"

#define UNKNOWN_FRAME "[unknown]"

struct folded_entry {
	char *stack;
	size_t len;
	uint64_t hash;
	unsigned long long value;
};

struct folded {
	struct folded_entry *slots;	/* open addressing, linear probing */
	size_t cap;			/* power of two */
	size_t count;
	unsigned long long total;
	char *scratch;			/* the stack being added, escaped */
	size_t scratch_cap;
};

static uint64_t hash_bytes(const char *s, size_t len)
{
	uint64_t h = 0xcbf29ce484222325ULL;	/* FNV-1a */

	for (size_t i = 0; i < len; i++) {
		h ^= (unsigned char)s[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

static unsigned long long sat_add(unsigned long long a, unsigned long long b)
{
	return a > ULLONG_MAX - b ? ULLONG_MAX : a + b;
}

struct folded *folded_new(void)
{
	struct folded *f = calloc(1, sizeof(*f));

	if (!f)
		return NULL;
	f->cap = 1024;
	f->slots = calloc(f->cap, sizeof(*f->slots));
	if (!f->slots) {
		free(f);
		return NULL;
	}
	return f;
}

void folded_free(struct folded *f)
{
	if (!f)
		return;
	for (size_t i = 0; i < f->cap; i++)
		free(f->slots[i].stack);
	free(f->slots);
	free(f->scratch);
	free(f);
}

size_t folded_count(const struct folded *f)
{
	return f->count;
}

unsigned long long folded_total(const struct folded *f)
{
	return f->total;
}

/* The escape rules, one byte at a time: shared by folded_add and
 * folded_escape_frame so both produce the same names. */
static char escape_byte(unsigned char c)
{
	if (c == ';')
		return ':';
	if (c < 0x20 || c == 0x7f)
		return '?';
	return (char)c;
}

/* Escapes the character at s into out, byte for byte: a character is
 * copied whole, a byte that starts none (invalid UTF-8, a name cut in the
 * middle of a character) becomes '?', so every file stays UTF-8. Returns
 * the bytes taken (and written). */
static size_t escape_char(const char *s, char *out)
{
	size_t n = fmt_utf8_len(s);

	if (n > 1) {
		memcpy(out, s, n);
		return n;
	}
	*out = n ? escape_byte((unsigned char)*s) : '?';
	return 1;
}

char *folded_escape_frame(const char *frame, char *buf, size_t len)
{
	size_t i = 0, n;

	if (!len)
		return buf;
	if (!frame || !*frame)
		frame = UNKNOWN_FRAME;
	/* whole characters only: a cut one would be escaped next time */
	for (; frame[i]; i += n) {
		n = fmt_utf8_len(frame + i);
		if (i + (n ? n : 1) + 1 > len)
			break;
		n = escape_char(frame + i, buf + i);
	}
	buf[i] = '\0';
	return buf;
}

static int scratch_reserve(struct folded *f, size_t need)
{
	char *p;
	size_t cap = f->scratch_cap ? f->scratch_cap : 256;

	if (need <= f->scratch_cap)
		return 0;
	while (cap < need)
		cap *= 2;
	p = realloc(f->scratch, cap);
	if (!p)
		return -ENOMEM;
	f->scratch = p;
	f->scratch_cap = cap;
	return 0;
}

/* Builds the escaped stack string in f->scratch; returns its length, or
 * -ENOMEM. */
static long build_stack(struct folded *f, const char *const *frames, size_t n)
{
	size_t len = 0, need = 0;

	if (n == 0) {
		static const char *const unknown[] = { UNKNOWN_FRAME };

		return build_stack(f, unknown, 1);
	}
	for (size_t i = 0; i < n; i++) {
		const char *fr = frames[i] && *frames[i] ? frames[i] : UNKNOWN_FRAME;

		need += strlen(fr) + 1;		/* ';' or the final '\0' */
	}
	if (scratch_reserve(f, need))
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		const char *fr = frames[i] && *frames[i] ? frames[i] : UNKNOWN_FRAME;

		if (i)
			f->scratch[len++] = ';';
		while (*fr) {
			size_t k = escape_char(fr, f->scratch + len);

			fr += k;
			len += k;
		}
	}
	f->scratch[len] = '\0';
	return (long)len;
}

static struct folded_entry *find_slot(struct folded_entry *slots, size_t cap,
				      const char *s, size_t len, uint64_t h)
{
	size_t i = (size_t)h & (cap - 1);

	for (;; i = (i + 1) & (cap - 1)) {
		struct folded_entry *e = &slots[i];

		if (!e->stack)
			return e;
		if (e->hash == h && e->len == len && !memcmp(e->stack, s, len))
			return e;
	}
}

static int grow(struct folded *f)
{
	size_t cap = f->cap * 2;
	struct folded_entry *slots = calloc(cap, sizeof(*slots));

	if (!slots)
		return -ENOMEM;
	for (size_t i = 0; i < f->cap; i++) {
		struct folded_entry *e = &f->slots[i];

		if (e->stack)
			*find_slot(slots, cap, e->stack, e->len, e->hash) = *e;
	}
	free(f->slots);
	f->slots = slots;
	f->cap = cap;
	return 0;
}

int folded_add(struct folded *f, const char *const *frames, size_t n,
	       unsigned long long value)
{
	struct folded_entry *e;
	long len = build_stack(f, frames, n);
	uint64_t h;

	if (len < 0)
		return (int)len;
	h = hash_bytes(f->scratch, (size_t)len);
	e = find_slot(f->slots, f->cap, f->scratch, (size_t)len, h);
	if (!e->stack) {
		/* keep the load under 1/2: probes stay short at 100k stacks */
		if ((f->count + 1) * 2 > f->cap) {
			if (grow(f))
				return -ENOMEM;
			e = find_slot(f->slots, f->cap, f->scratch, (size_t)len, h);
		}
		e->stack = malloc((size_t)len + 1);
		if (!e->stack)
			return -ENOMEM;
		memcpy(e->stack, f->scratch, (size_t)len + 1);
		e->len = (size_t)len;
		e->hash = h;
		e->value = 0;
		f->count++;
	}
	e->value = sat_add(e->value, value);
	f->total = sat_add(f->total, value);
	return 0;
}

/* ';' ranks below every byte a frame can hold (escaping leaves no control
 * characters), '\0' below ';': frame-wise order with one byte compare. */
static unsigned rank(unsigned char c)
{
	return c == ';' ? 1 : c;
}

int folded_stack_cmp(const char *a, const char *b)
{
	const unsigned char *x = (const unsigned char *)a;
	const unsigned char *y = (const unsigned char *)b;

	while (*x && *x == *y) {
		x++;
		y++;
	}
	return (int)rank(*x) - (int)rank(*y);
}

static int entry_cmp(const void *a, const void *b)
{
	const struct folded_entry *x = *(const struct folded_entry *const *)a;
	const struct folded_entry *y = *(const struct folded_entry *const *)b;

	return folded_stack_cmp(x->stack, y->stack);
}

int folded_walk(const struct folded *f, folded_fn fn, void *ctx)
{
	const struct folded_entry **idx;
	size_t n = 0;

	if (!f->count)
		return 0;
	idx = malloc(f->count * sizeof(*idx));
	if (!idx)
		return -ENOMEM;
	for (size_t i = 0; i < f->cap; i++)
		if (f->slots[i].stack)
			idx[n++] = &f->slots[i];
	qsort(idx, n, sizeof(*idx), entry_cmp);
	for (size_t i = 0; i < n; i++)
		fn(ctx, idx[i]->stack, idx[i]->value);
	free(idx);
	return 0;
}

void folded_for_each(const struct folded *f, folded_fn fn, void *ctx)
{
	(void)folded_walk(f, fn, ctx);
}

static void write_line(void *ctx, const char *stack, unsigned long long value)
{
	fprintf(ctx, "%s %llu\n", stack, value);
}

int folded_write(const struct folded *f, FILE *out)
{
	int err = folded_walk(f, write_line, out);

	if (err)
		return err;
	return ferror(out) ? -EIO : 0;
}
