/* SPDX-License-Identifier: MIT */
/*
 * --top: a live view of the run, like top(1). On a terminal, a screen
 * redrawn every period (plain ANSI, the alternate screen, keys to change
 * the order, q to stop and report); otherwise one line per period, so a
 * pipe or a log gets plain text.
 *
 * Layer: live/ may include model/ host/ tracer/ report/ (and common/,
 * conctrace.h): --top and --prometheus read a run while it goes on, from
 * one snapshot of the run (snapshot.h), and print with
 * report/'s formats.
 */
#ifndef CONCTRACE_LIVE_VIEW_H
#define CONCTRACE_LIVE_VIEW_H

#include <stdbool.h>
#include <stdio.h>
#include <sys/types.h>
#include <termios.h>
#include <linux/types.h>

#include "live/snapshot.h"
#include "model/aggregate.h"
#include "model/memory.h"
#include "tracer/tracer.h"

#define LIVE_VIEW_MAX_ROWS 50

enum view_order { VO_KERNEL_BYTES, VO_SWITCHES, VO_SYSCALLS, VO_CPU };

struct live_view {
	bool on, tty, raw;
	FILE *out;
	struct run_source src;
	double period, next;
	enum view_order order;
	struct termios saved;		/* the terminal as we found it */
	struct live_snapshot last;	/* the previous tick, for rates */
	struct conn_view top[LIVE_VIEW_MAX_ROWS];
	struct syscall_total by_nr[SYSCALL_MAX];
};

/* Start the view on out (a terminal gets the full screen and keys). */
void live_view_start(struct live_view *v, FILE *out, double period_s,
		     const struct run_source *src);
/* Draw when due and read keys; true when the user asked to stop (q). */
bool live_view_poll(struct live_view *v, double now_s);
/* Give the terminal back as it was: before the report is printed. */
void live_view_stop(struct live_view *v);

#endif /* CONCTRACE_LIVE_VIEW_H */
