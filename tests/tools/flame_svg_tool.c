// SPDX-License-Identifier: MIT
/*
 * flame_svg_tool: a folded file in, an SVG flame graph out, through the same
 * folded.c and flame_svg.c as conctrace. For tests/integration/test_flame_svg.py,
 * not installed.
 *
 *   flame_svg_tool IN.folded OUT.svg [--unit bytes|ns|count]
 *                  [--palette hot|mem|io|blue] [--title T] [--subtitle S] [--width PX]
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "flame/flame_svg.h"
#include "flame/folded.h"

#define MAX_FRAMES 1024

static void usage(FILE *out)
{
	fprintf(out, "usage: flame_svg_tool IN.folded OUT.svg [--unit bytes|ns|count]\n"
		"       [--palette hot|mem|io|blue] [--title T] [--subtitle S] [--width PX]\n");
}

static int pick(const char *what, const char *arg, const char *const *names, int n)
{
	for (int i = 0; i < n; i++)
		if (!strcmp(arg, names[i]))
			return i;
	fprintf(stderr, "flame_svg_tool: unknown %s '%s'\n", what, arg);
	exit(2);
}

/* "a;b;c 123": the value after the LAST space, as flamegraph.pl reads it */
static int read_folded(FILE *in, struct folded *f, const char *path)
{
	const char *frames[MAX_FRAMES];
	char *line = NULL, *sp, *end;
	size_t cap = 0, n;
	unsigned long long value;
	long lineno = 0;
	ssize_t len;
	int err = 0;

	while (!err && (len = getline(&line, &cap, in)) > 0) {
		lineno++;
		if (line[len - 1] == '\n')
			line[--len] = '\0';
		if (!len)
			continue;
		sp = strrchr(line, ' ');
		errno = 0;
		value = sp && sp[1] >= '0' && sp[1] <= '9' ? strtoull(sp + 1, &end, 10) : 0;
		if (!sp || sp == line || sp[1] < '0' || sp[1] > '9' || *end || errno) {
			fprintf(stderr, "flame_svg_tool: %s:%ld: not \"frame;frame value\"\n",
				path, lineno);
			err = -EINVAL;
			break;
		}
		*sp = '\0';
		n = 0;
		for (char *p = line, *semi;; p = semi + 1) {
			if (n == MAX_FRAMES) {
				fprintf(stderr, "flame_svg_tool: %s:%ld: more than %d frames\n",
					path, lineno, MAX_FRAMES);
				err = -EINVAL;
				break;
			}
			frames[n++] = p;
			semi = strchr(p, ';');
			if (!semi)
				break;
			*semi = '\0';
		}
		if (!err)
			err = folded_add(f, frames, n, value);
	}
	free(line);
	return err;
}

int main(int argc, char **argv)
{
	static const char *const units[] = { "bytes", "ns", "count" };
	static const char *const palettes[] = { "hot", "mem", "io", "blue" };
	struct flame_opts o = { .unit = FLAME_COUNT, .palette = FLAME_HOT };
	const char *in_path = NULL, *out_path = NULL;
	struct folded *f;
	FILE *in, *out;
	int err;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			usage(stdout);
			return 0;
		}
		if (a[0] == '-' && a[1] == '-' && i + 1 >= argc) {
			fprintf(stderr, "flame_svg_tool: %s needs a value\n", a);
			return 2;
		}
		if (!strcmp(a, "--unit"))
			o.unit = (enum flame_unit)pick("unit", argv[++i], units, 3);
		else if (!strcmp(a, "--palette"))
			o.palette = (enum flame_palette)pick("palette", argv[++i], palettes, 4);
		else if (!strcmp(a, "--title"))
			o.title = argv[++i];
		else if (!strcmp(a, "--subtitle"))
			o.subtitle = argv[++i];
		else if (!strcmp(a, "--width"))
			o.width = atoi(argv[++i]);
		else if (!in_path)
			in_path = a;
		else if (!out_path)
			out_path = a;
		else {
			usage(stderr);
			return 2;
		}
	}
	if (!out_path) {
		usage(stderr);
		return 2;
	}
	in = fopen(in_path, "r");
	if (!in) {
		fprintf(stderr, "flame_svg_tool: %s: %s\n", in_path, strerror(errno));
		return 1;
	}
	f = folded_new();
	err = f ? read_folded(in, f, in_path) : -ENOMEM;
	fclose(in);
	if (err) {
		folded_free(f);
		return 1;
	}
	out = fopen(out_path, "w");
	if (!out) {
		fprintf(stderr, "flame_svg_tool: %s: %s\n", out_path, strerror(errno));
		folded_free(f);
		return 1;
	}
	err = flame_svg_write(out, f, &o);
	if (fclose(out) && !err)
		err = -EIO;
	folded_free(f);
	if (err) {
		fprintf(stderr, "flame_svg_tool: %s: %s\n", out_path, strerror(-err));
		return 1;
	}
	return 0;
}
