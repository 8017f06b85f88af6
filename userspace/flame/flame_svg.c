// SPDX-License-Identifier: MIT
/* An interactive flame graph as one SVG file (see flame_svg.h). */
#include "flame/flame_svg.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "flame/folded.h"
#include "report/format.h"

#define XPAD		10	/* px left and right of the frames */
#define FRAME_H		16	/* px per level */
#define HEADER_H	56	/* title, subtitle, controls */
#define FOOTER_H	30	/* the detail line */
#define FONT_SIZE	12
#define CHAR_W		(FONT_SIZE * 0.59)	/* DejaVu/Verdana average, as flamegraph.pl */

/* ---- layout ---------------------------------------------------------------- */

struct node {
	size_t name;			/* offset in the arena */
	size_t name_len;
	unsigned depth;
	size_t last_child;		/* index, 0 = none (0 is the root) */
	unsigned long long start, value;
};

struct builder {
	struct node *nodes;
	size_t n, cap;
	char *arena;
	size_t arena_len, arena_cap;
	size_t *path;			/* node index per depth, of the last stack */
	size_t path_len, path_cap;
	int err;
};

static int arena_add(struct builder *b, const char *s, size_t len, size_t *off)
{
	if (b->arena_len + len + 1 > b->arena_cap) {
		size_t cap = b->arena_cap ? b->arena_cap : 65536;
		char *a;

		while (cap < b->arena_len + len + 1)
			cap *= 2;
		a = realloc(b->arena, cap);
		if (!a)
			return -ENOMEM;
		b->arena = a;
		b->arena_cap = cap;
	}
	memcpy(b->arena + b->arena_len, s, len);
	b->arena[b->arena_len + len] = '\0';
	*off = b->arena_len;
	b->arena_len += len + 1;
	return 0;
}

/* A new child of path[depth - 1], placed after its last sibling: the stacks
 * come in frame-wise order (folded_walk), so that sibling is complete. */
static int add_node(struct builder *b, unsigned depth, const char *name, size_t len)
{
	struct node *nd, *parent;
	size_t idx;

	if (b->n == b->cap) {
		size_t cap = b->cap ? b->cap * 2 : 1024;
		struct node *nodes = realloc(b->nodes, cap * sizeof(*nodes));

		if (!nodes)
			return -ENOMEM;
		b->nodes = nodes;
		b->cap = cap;
	}
	if (depth >= b->path_cap) {
		size_t cap = b->path_cap ? b->path_cap * 2 : 64;
		size_t *path = realloc(b->path, cap * sizeof(*path));

		if (!path)
			return -ENOMEM;
		b->path = path;
		b->path_cap = cap;
	}
	idx = b->n;
	nd = &b->nodes[idx];
	memset(nd, 0, sizeof(*nd));
	if (arena_add(b, name, len, &nd->name))
		return -ENOMEM;
	nd->name_len = len;
	nd->depth = depth;
	if (depth) {
		parent = &b->nodes[b->path[depth - 1]];
		if (parent->last_child) {
			const struct node *sib = &b->nodes[parent->last_child];

			nd->start = sib->start + sib->value;
		} else {
			nd->start = parent->start;
		}
		parent->last_child = idx;
	}
	b->n++;
	b->path[depth] = idx;
	b->path_len = depth + 1;
	return 0;
}

static void add_stack(void *ctx, const char *stack, unsigned long long value)
{
	struct builder *b = ctx;
	const char *p = stack;
	unsigned depth = 1;
	bool same = true;		/* still on the previous stack's path */

	if (b->err)
		return;
	for (;;) {
		size_t len = strcspn(p, ";");

		if (same && depth < b->path_len) {
			const struct node *nd = &b->nodes[b->path[depth]];

			same = nd->name_len == len && !memcmp(b->arena + nd->name, p, len);
		} else {
			same = false;
		}
		if (!same && (b->err = add_node(b, depth, p, len)))
			return;
		depth++;
		if (!p[len])
			break;
		p += len + 1;
	}
	b->path_len = depth;
	for (unsigned d = 0; d < depth; d++) {
		struct node *nd = &b->nodes[b->path[d]];

		/* saturating, like folded_total */
		nd->value = nd->value > ~0ULL - value ? ~0ULL : nd->value + value;
	}
}

void flame_layout_free(struct flame_layout *l)
{
	free(l->frames);
	free(l->names);
	memset(l, 0, sizeof(*l));
}

int flame_layout_build(const struct folded *f, double min_share, struct flame_layout *l)
{
	struct builder b = { 0 };
	unsigned long long min_value;
	int err;

	memset(l, 0, sizeof(*l));
	err = add_node(&b, 0, "all", 3);
	if (!err)
		err = folded_walk(f, add_stack, &b);
	if (!err)
		err = b.err;
	if (!err && !(l->frames = malloc(b.n * sizeof(*l->frames))))
		err = -ENOMEM;
	if (err) {
		free(b.nodes);
		free(b.arena);
		free(b.path);
		return err;
	}
	l->total = b.nodes[0].value;
	min_value = (unsigned long long)((double)l->total * min_share);
	for (size_t i = 0; i < b.n; i++) {
		const struct node *nd = &b.nodes[i];

		/* a child is never wider than its parent: an omitted frame takes
		 * its whole subtree with it, and pre-order filtering suffices */
		if (i && (nd->value < min_value || !nd->value))
			continue;
		l->frames[l->n++] = (struct flame_frame){
			.name = b.arena + nd->name,	/* final: the walk is over */
			.depth = nd->depth,
			.start = nd->start,
			.value = nd->value,
		};
		if (nd->depth > l->max_depth)
			l->max_depth = nd->depth;
	}
	l->names = b.arena;
	free(b.nodes);
	free(b.path);
	return 0;
}

/* ---- text ------------------------------------------------------------------- */

/* Escapes at most max_chars characters of s (all if max_chars is 0). */
static void escape_n(FILE *out, const char *s, size_t max_chars)
{
	const unsigned char *p = (const unsigned char *)s;

	for (size_t chars = 0; *p && (!max_chars || chars < max_chars); chars++) {
		size_t n = fmt_utf8_len((const char *)p);

		switch (n ? *p : 0) {
		case '&': fputs("&amp;", out); break;
		case '<': fputs("&lt;", out); break;
		case '>': fputs("&gt;", out); break;
		case '"': fputs("&quot;", out); break;
		case '\'': fputs("&apos;", out); break;
		case 0: fputc('?', out); n = 1; break;
		default: fwrite(p, 1, n, out);
		}
		p += n;
	}
}

void flame_xml_escape(FILE *out, const char *s)
{
	escape_n(out, s ? s : "", 0);
}

static size_t utf8_chars(const char *s)
{
	size_t chars = 0;

	for (const unsigned char *p = (const unsigned char *)s; *p; chars++) {
		size_t n = fmt_utf8_len((const char *)p);

		p += n ? n : 1;
	}
	return chars;
}

/* The label that fits in w px, as the page's script computes it: the whole
 * name, or its start and "..", or nothing under 3 characters. */
static void write_label(FILE *out, const char *name, double w)
{
	size_t fit = (size_t)(w / CHAR_W), len;

	if (fit < 3)
		return;
	len = utf8_chars(name);
	if (len <= fit) {
		escape_n(out, name, 0);
	} else {
		escape_n(out, name, fit - 2);
		fputs("..", out);
	}
}

char *flame_format_value(unsigned long long v, enum flame_unit unit, char *buf, size_t len)
{
	switch (unit) {
	case FLAME_BYTES:
		return fmt_bytes((double)v, buf, len);
	case FLAME_NS:
		return fmt_ns((double)v, buf, len);
	case FLAME_COUNT:
		break;
	}
	return fmt_count((double)v, buf, len);
}

/* ---- colours ---------------------------------------------------------------- */

char *flame_color(enum flame_palette p, const char *name, char *buf, size_t len)
{
	uint64_t h = 0xcbf29ce484222325ULL;	/* FNV-1a */
	double v1, v2, v3;
	int r, g, b;

	for (const unsigned char *s = (const unsigned char *)name; *s; s++) {
		h ^= *s;
		h *= 0x100000001b3ULL;
	}
	/* FNV's low bits barely differ between short names: mix (murmur3) */
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ULL;
	h ^= h >> 33;
	v1 = (double)(h & 0xffff) / 65536;
	v2 = (double)(h >> 16 & 0xffff) / 65536;
	v3 = (double)(h >> 32 & 0xffff) / 65536;
	/* the ranges of flamegraph.pl --colors=hot|mem|io, and a blue one */
	switch (p) {
	case FLAME_MEM:
		r = 0, g = 190 + (int)(50 * v2), b = (int)(210 * v1);
		break;
	case FLAME_IO:
		r = 80 + (int)(60 * v1), g = r, b = 190 + (int)(55 * v2);
		break;
	case FLAME_BLUE:
		r = 80 + (int)(60 * v1), g = 130 + (int)(60 * v1), b = 205 + (int)(50 * v2);
		break;
	case FLAME_HOT:
	default:
		r = 205 + (int)(50 * v3), g = (int)(230 * v1), b = (int)(55 * v2);
		break;
	}
	snprintf(buf, len, "rgb(%d,%d,%d)", r, g, b);
	return buf;
}

/* ---- the document --------------------------------------------------------- */

static const char css[] =
	"text { font-family: 'DejaVu Sans', Verdana, sans-serif; fill: #000; }\n"
	"#frames text { font-size: 12px; pointer-events: none; }\n"
	"#frames g { cursor: pointer; }\n"
	"#frames g:hover rect { stroke: #000; stroke-width: 0.5; }\n"
	"#frames g.anc rect { opacity: 0.6; }\n"
	"#frames g.hide { display: none; }\n"
	"#title { font-size: 17px; text-anchor: middle; }\n"
	"#subtitle { font-size: 12px; text-anchor: middle; fill: #555; }\n"
	".ctl { font-size: 12px; cursor: pointer; fill: #225; }\n"
	".ctl:hover { text-decoration: underline; }\n"
	"#unzoom.off, #matched.off { display: none; }\n"
	"#details, #matched { font-size: 12px; }\n";

/* Data attributes hold values, not pixels: zoom recomputes every box from
 * them exactly. The script only reads the document, so the same file works
 * opened directly or inside an <object>. */
static const char script[] =
	"'use strict';\n"
	"(function () {\n"
	"const svg = document.documentElement;\n"
	"const W = +svg.getAttribute('width'), PAD = XPAD_, CW = CHARW_;\n"
	"const FULL = W - 2 * PAD;\n"
	"const frames = [];\n"
	"let total = 0, searchRe = null;\n"
	"const $ = (id) => document.getElementById(id);\n"
	"function label(f, w) {\n"
	"  const fit = Math.floor(w / CW);\n"
	"  if (fit < 3) return '';\n"
	"  const chars = Array.from(f.name);\n"
	"  return chars.length <= fit ? f.name : chars.slice(0, fit - 2).join('') + '..';\n"
	"}\n"
	"function place(f, x, w) {\n"
	"  f.rect.setAttribute('x', x.toFixed(2));\n"
	"  f.rect.setAttribute('width', w.toFixed(2));\n"
	"  f.text.setAttribute('x', (x + 3).toFixed(2));\n"
	"  f.text.textContent = label(f, w);\n"
	"}\n"
	"function zoom(z) {\n"
	"  for (const f of frames) {\n"
	"    f.g.classList.remove('hide', 'anc');\n"
	"    if (f.d < z.d && f.s <= z.s && f.s + f.v >= z.s + z.v) {\n"
	"      f.g.classList.add('anc');\n"
	"      place(f, PAD, FULL);\n"
	"    } else if (f.d >= z.d && f.s >= z.s && f.s + f.v <= z.s + z.v) {\n"
	"      place(f, PAD + (f.s - z.s) / z.v * FULL, f.v / z.v * FULL);\n"
	"    } else {\n"
	"      f.g.classList.add('hide');\n"
	"    }\n"
	"  }\n"
	"  svg.setAttribute('data-zoom', z.d ? z.name : '');\n"
	"  $('unzoom').classList.toggle('off', !z.d);\n"
	"}\n"
	"function search(term) {\n"
	"  searchRe = null;\n"
	"  if (term) {\n"
	"    try { searchRe = new RegExp(term); }\n"
	"    catch (e) { searchRe = new RegExp(term.replace(/[.*+?^${}()|[\\]\\\\]/g, '\\\\$&')); }\n"
	"  }\n"
	"  const hits = [];\n"
	"  for (const f of frames) {\n"
	"    const hit = searchRe !== null && searchRe.test(f.name);\n"
	"    f.rect.setAttribute('fill', hit ? 'rgb(230,0,230)' : f.fill);\n"
	"    if (hit) hits.push(f);\n"
	"  }\n"
	"  /* frames nest or are disjoint: count each outermost match once */\n"
	"  hits.sort((a, b) => a.s - b.s || a.d - b.d);\n"
	"  let sum = 0, end = -1;\n"
	"  for (const f of hits) if (f.s >= end) { sum += f.v; end = f.s + f.v; }\n"
	"  const share = total ? 100 * sum / total : 0;\n"
	"  $('matched').textContent = 'Matched: ' + share.toFixed(2) + '%';\n"
	"  $('matched').classList.toggle('off', !searchRe);\n"
	"  $('search').textContent = searchRe ? 'Reset search' : 'Search';\n"
	"  svg.setAttribute('data-matched', searchRe ? share.toFixed(2) : '');\n"
	"}\n"
	"function ask() {\n"
	"  if (searchRe) { search(null); return; }\n"
	"  const term = window.prompt('Search frames (regular expression):', '');\n"
	"  if (term) search(term);\n"
	"}\n"
	"for (const g of document.querySelectorAll('#frames g')) {\n"
	"  const title = g.querySelector('title').textContent;\n"
	"  const f = { g: g, rect: g.querySelector('rect'), text: g.querySelector('text'),\n"
	"              d: +g.dataset.d, s: +g.dataset.s, v: +g.dataset.v, title: title,\n"
	"              name: title.slice(0, title.lastIndexOf(' \\u2014 ')) };\n"
	"  f.fill = f.rect.getAttribute('fill');\n"
	"  if (!f.d) total = f.v;\n"
	"  frames.push(f);\n"
	"  g.addEventListener('click', () => zoom(f));\n"
	"  g.addEventListener('mouseover', () => { $('details').textContent = f.title; });\n"
	"  g.addEventListener('mouseout', () => { $('details').textContent = ' '; });\n"
	"}\n"
	"$('unzoom').addEventListener('click', () => { if (frames.length) zoom(frames[0]); });\n"
	"$('search').addEventListener('click', ask);\n"
	"window.addEventListener('keydown', (e) => {\n"
	"  if ((e.ctrlKey || e.metaKey) && e.key === 'f' || e.key === 'F3') {\n"
	"    e.preventDefault();\n"
	"    ask();\n"
	"  } else if (e.key === 'Escape') {\n"
	"    search(null);\n"
	"    if (frames.length) zoom(frames[0]);\n"
	"  }\n"
	"});\n"
	"window.flame = { zoom: zoom, search: search, frames: frames };\n"
	"svg.setAttribute('data-ready', '1');\n"
	"})();\n";

static void write_script(FILE *out)
{
	/* the two layout constants the script shares with this file */
	const char *p = script;
	const char *xp = strstr(p, "XPAD_"), *cw = strstr(p, "CHARW_");

	fwrite(p, 1, (size_t)(xp - p), out);
	fprintf(out, "%d", XPAD);
	p = xp + strlen("XPAD_");
	fwrite(p, 1, (size_t)(cw - p), out);
	fprintf(out, "%.4f", CHAR_W);
	p = cw + strlen("CHARW_");
	fputs(p, out);
}

static void write_frame(FILE *out, const struct flame_frame *fr, const struct flame_layout *l,
			const struct flame_opts *o, int width, int height)
{
	double full = width - 2 * XPAD;
	double x = XPAD + (double)fr->start / (double)l->total * full;
	double w = (double)fr->value / (double)l->total * full;
	int y = height - FOOTER_H - (int)(fr->depth + 1) * FRAME_H;
	char value[32], color[32];

	fprintf(out, "<g data-d=\"%u\" data-s=\"%llu\" data-v=\"%llu\"><title>",
		fr->depth, fr->start, fr->value);
	flame_xml_escape(out, fr->name);
	fprintf(out, " \u2014 %s (%.2f%%)</title>",
		flame_format_value(fr->value, o->unit, value, sizeof(value)),
		100.0 * (double)fr->value / (double)l->total);
	fprintf(out, "<rect x=\"%.2f\" y=\"%d\" width=\"%.2f\" height=\"%d\" rx=\"2\" fill=\"%s\"/>",
		x, y, w, FRAME_H - 1,
		flame_color(o->palette, fr->name, color, sizeof(color)));
	fprintf(out, "<text x=\"%.2f\" y=\"%d\">", x + 3, y + FRAME_H - 5);
	write_label(out, fr->name, w);
	fputs("</text></g>\n", out);
}

int flame_svg_write(FILE *out, const struct folded *f, const struct flame_opts *o)
{
	struct flame_layout l;
	int width, height, err;

	if (!o || o->width < 0 || (o->width && o->width < 100) || o->width > 100000 ||
	    o->palette > FLAME_BLUE || o->unit > FLAME_COUNT)
		return -EINVAL;
	width = o->width ? o->width : 1200;
	err = flame_layout_build(f, FLAME_MIN_SHARE, &l);
	if (err)
		return err;
	height = HEADER_H + (int)(l.max_depth + 1) * FRAME_H + FOOTER_H;

	fputs("<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"no\"?>\n", out);
	fprintf(out, "<svg version=\"1.1\" xmlns=\"http://www.w3.org/2000/svg\" "
		"width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\">\n",
		width, height, width, height);
	fprintf(out, "<style>\n%s</style>\n", css);
	fputs("<defs><linearGradient id=\"bg\" x1=\"0\" y1=\"0\" x2=\"0\" y2=\"1\">"
	      "<stop stop-color=\"#eeeeee\" offset=\"5%\"/>"
	      "<stop stop-color=\"#eeeeb0\" offset=\"95%\"/></linearGradient></defs>\n", out);
	fprintf(out, "<rect x=\"0\" y=\"0\" width=\"%d\" height=\"%d\" fill=\"url(#bg)\"/>\n",
		width, height);
	fprintf(out, "<text id=\"title\" x=\"%d\" y=\"22\">", width / 2);
	flame_xml_escape(out, o->title ? o->title : "Flame Graph");
	fputs("</text>\n", out);
	fprintf(out, "<text id=\"subtitle\" x=\"%d\" y=\"40\">", width / 2);
	flame_xml_escape(out, o->subtitle ? o->subtitle : "");
	fputs("</text>\n", out);
	fprintf(out, "<text id=\"unzoom\" class=\"ctl off\" x=\"%d\" y=\"40\">Reset zoom</text>\n",
		XPAD);
	fprintf(out, "<text id=\"search\" class=\"ctl\" x=\"%d\" y=\"40\" "
		"text-anchor=\"end\">Search</text>\n", width - XPAD);
	fprintf(out, "<text id=\"details\" x=\"%d\" y=\"%d\"> </text>\n", XPAD, height - 10);
	fprintf(out, "<text id=\"matched\" class=\"off\" x=\"%d\" y=\"%d\" "
		"text-anchor=\"end\"> </text>\n", width - XPAD, height - 10);
	fputs("<g id=\"frames\">\n", out);
	if (l.total)
		for (size_t i = 0; i < l.n; i++)
			write_frame(out, &l.frames[i], &l, o, width, height);
	else
		fprintf(out, "<text x=\"%d\" y=\"%d\">No samples</text>\n",
			XPAD, height - FOOTER_H - 4);
	fputs("</g>\n<script><![CDATA[\n", out);
	write_script(out);
	fputs("]]></script>\n</svg>\n", out);
	flame_layout_free(&l);
	return ferror(out) ? -EIO : 0;
}
