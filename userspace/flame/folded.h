/* SPDX-License-Identifier: MIT */
/*
 * Brendan Gregg's folded stack format ("root;child;leaf value" per line), the
 * input of flamegraph.pl, speedscope and Pyroscope. Stacks are summed in a
 * hash table and sorted only when written.
 */
#ifndef CONCTRACE_FOLDED_H
#define CONCTRACE_FOLDED_H

#include <stddef.h>
#include <stdio.h>

struct folded;					/* stack string -> summed value */

struct folded *folded_new(void);
void folded_free(struct folded *f);

/* frames[0] is the root (outermost). Frame names are escaped: ';' -> ':',
 * newlines and other control characters -> '?', each byte of invalid
 * UTF-8 -> '?', and a frame that is empty
 * (or NULL) becomes "[unknown]"; a stack of no frames is the single frame
 * "[unknown]", so no value is ever dropped. Spaces are kept (flamegraph.pl
 * splits on the LAST space). Equal stacks are summed, saturating at
 * ULLONG_MAX. Returns 0 or -ENOMEM. */
int folded_add(struct folded *f, const char *const *frames, size_t n,
	       unsigned long long value);

/* "frame;frame;frame value\n" per stack, in sorted order (see folded_walk).
 * Returns 0, -ENOMEM, or -EIO if out reports an error. */
int folded_write(const struct folded *f, FILE *out);

size_t folded_count(const struct folded *f);		/* distinct stacks */
unsigned long long folded_total(const struct folded *f); /* saturating sum */

typedef void (*folded_fn)(void *ctx, const char *stack, unsigned long long value);

/* Calls fn for every stack in sorted order: frame by frame, each frame
 * bytewise, a stack before its own extensions. Plain strcmp would put
 * "a b;x" between "a" and "a;y" (' ' < ';'); here it is "a" < "a;y" <
 * "a b;x", so the stacks that share a prefix of frames are contiguous and a
 * flame graph can be built in one pass. Returns 0 or
 * -ENOMEM (the sort needs an index of folded_count() pointers), having then
 * called fn for nothing. */
int folded_walk(const struct folded *f, folded_fn fn, void *ctx);

/* folded_walk without the error: visits nothing when out of memory. */
void folded_for_each(const struct folded *f, folded_fn fn, void *ctx);

/* Compares two folded stack strings in the order of folded_walk. */
int folded_stack_cmp(const char *a, const char *b);

/* Writes the escaped form of one frame name into buf (truncating to len - 1
 * bytes, at a character's end) and returns buf; the rules of folded_add. */
char *folded_escape_frame(const char *frame, char *buf, size_t len);

#endif /* CONCTRACE_FOLDED_H */
