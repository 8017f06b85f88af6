/* SPDX-License-Identifier: MIT */
/*
 * A self-contained interactive flame graph: one SVG file with its CSS and
 * JavaScript inside, readable in any browser with no network. Frames are
 * merged by prefix, the root ("all") at the bottom, children sorted
 * alphabetically like flamegraph.pl; hover shows "name — value (share)",
 * click zooms, Ctrl-F or the Search button highlights matching frames.
 */
#ifndef CONCTRACE_FLAME_SVG_H
#define CONCTRACE_FLAME_SVG_H

#include <stdio.h>

#include "flame/folded.h"

enum flame_palette { FLAME_HOT, FLAME_MEM, FLAME_IO, FLAME_BLUE };
enum flame_unit { FLAME_BYTES, FLAME_NS, FLAME_COUNT };

struct flame_opts {
	const char *title;		/* NULL: "Flame Graph" */
	const char *subtitle;		/* NULL: none */
	enum flame_palette palette;
	enum flame_unit unit;
	int width;			/* px, 0 = 1200 */
};

/* Frames narrower than this share of the total are not drawn (their value
 * stays in their parent's width): a browser slows down on 100k boxes that
 * no one can see. */
#define FLAME_MIN_SHARE 0.001

/* Writes the SVG. Returns 0, -ENOMEM, -EINVAL (bad opts), or -EIO if out
 * reports an error. An empty f gives a valid SVG that says so. */
int flame_svg_write(FILE *out, const struct folded *f, const struct flame_opts *o);

/* ---- the parts, for the tests ---- */

/* One box: the frame name at depth (0 is "all"), covering values
 * [start, start + value) of the total. */
struct flame_frame {
	const char *name;
	unsigned depth;
	unsigned long long start, value;
};

struct flame_layout {
	struct flame_frame *frames;	/* pre-order: a parent before its children */
	size_t n;
	unsigned max_depth;
	unsigned long long total;
	char *names;			/* storage of the names */
};

/* Merges the stacks of f into boxes, leaving out those whose value is below
 * min_share of the total (with their descendants). Returns 0 or -ENOMEM. */
int flame_layout_build(const struct folded *f, double min_share, struct flame_layout *l);
void flame_layout_free(struct flame_layout *l);

/* Writes s with &, <, >, " and ' as entities, control characters and
 * invalid UTF-8 as '?': the result is always well-formed XML text. */
void flame_xml_escape(FILE *out, const char *s);

/* "1.2MiB", "3.40ms", "12.3k" */
char *flame_format_value(unsigned long long v, enum flame_unit unit, char *buf, size_t len);

/* "rgb(r,g,b)" for name: the same name gets the same colour, in every graph */
char *flame_color(enum flame_palette p, const char *name, char *buf, size_t len);

#endif /* CONCTRACE_FLAME_SVG_H */
