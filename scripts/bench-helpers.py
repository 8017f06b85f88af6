#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""What each operation of conctrace's hot programs costs: bench/helper_cost, pinned to CPU 0.

helper_cost times getppid() without a hook, with an empty sys_enter
program, and with a program that repeats one operation (a clock read, a
map lookup, ...) HC_REPEAT times; it prints a markdown table, asserting
nothing (benchmarks print). This runs it --runs times (3: about 90 s),
prints each run's output and each figure's median; with --write it also writes the table into docs/overhead.md's
`fig:bench.helpers` block, under a line naming the command, commit,
machine and kernel, and every quote of it (`fig:bench.helpers.ROW`) in
README.md and docs/: a figure typed by hand there is a figure nobody
reran.

Other processes' tracing programs on sys_enter put every getppid() on the
syscall slow path, the bare one too, and its differences then mean
nothing (a run of 2026-12-04 came out negative): the count of them is
in the written line, and --write refuses a run they were present for
unless --shared; so does a run with a negative figure inside the program
(CPU 0 was busy).

Usage (root): sudo make bench-helpers [BENCH_ARGS="--write [--shared]"]
Exit status: 0 measured (and written), 1 the bench failed or other
tracing programs were loaded (with --write, without --shared), 2 bad usage.
"""

import argparse
import os
import re
import statistics
import subprocess
import time
from pathlib import Path

from benchlib import add_write_options, die, other_tracers, provenance, write_block

ROOT = Path(__file__).resolve().parents[1]
HELPER_COST = ROOT / "build" / "bench" / "helper_cost"
DOC = ROOT / "docs" / "overhead.md"
NAME = "bench.helpers"
# helper_cost's own program (bench/helper_cost.bpf.c), loaded and freed
# once per row: not another process's
OWN = ("timed", "timed_sk", "uprobe_hit")
BARE_RE = re.compile(r"^getppid\(\) without a hook: ([\d.]+) ns$", re.M)


def rows_of(out):
    """helper_cost's output as [(label, [cells])], the bare getppid() first."""
    bare = BARE_RE.search(out)
    rows = [ln for ln in out.splitlines() if ln.startswith("| ") and not ln.startswith("| operation")]
    if not bare or not rows:
        die("helper_cost printed no table (see its output above)")
    parsed = [("`getppid()` without a hook", [bare.group(1), ""])]
    for r in rows:
        label, *cells = [c.strip() for c in r.strip("|").split("|")]
        parsed.append((re.sub(r"^(bpf_\w+)", r"`\1`", label), cells))
    return parsed


def median_table(outs):
    """The runs' rows, each cell the median of its runs' values: on a host
    whose runs differ by a factor of two from one to the next (a build
    with pti=on), one run's figures say little."""
    runs = [rows_of(o) for o in outs]
    if any([lb for lb, _ in r] != [lb for lb, _ in runs[0]] for r in runs):
        die("helper_cost's runs printed different rows")
    lines = ["| operation | ns | ns inside the program |", "| --- | --- | --- |"]
    for i, (label, cells) in enumerate(runs[0]):
        med = [f"{statistics.median(float(r[i][1][c]) for r in runs) + 0.0:.1f}" if cell else ""
               for c, cell in enumerate(cells)]
        lines.append(f"| {label} | " + " | ".join(med) + " |")
    return "\n".join(lines) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_write_options(ap, "docs/overhead.md", saved=False)
    ap.add_argument("-n", type=int, default=1000000, help="getppid() calls per round")
    ap.add_argument("--runs", type=int, default=3, help="runs of helper_cost, medians taken")
    opts = ap.parse_args()
    if opts.runs < 1:
        ap.error("--runs: at least 1")
    if os.geteuid() != 0:
        die("loads BPF programs: run as root (sudo make bench-helpers)")
    if not HELPER_COST.exists():
        die(f"no {HELPER_COST.relative_to(ROOT)}: run make bench-helpers")
    ran = ["taskset", "-c", "0", str(HELPER_COST.relative_to(ROOT)), "-n", str(opts.n)]
    # others' programs looked for all through the run, not at its ends:
    # tests come and go within its 20 s
    seen, outs = {}, []
    for run in range(opts.runs):
        proc = subprocess.Popen(ran, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)
        while proc.poll() is None:
            seen.update({i: n for i, n in other_tracers().items() if n not in OWN})
            time.sleep(0.5)
        stdout, stderr = proc.communicate()
        print(f"run {run + 1} of {opts.runs}:\n{stdout}", end="")
        if proc.returncode != 0:
            die(f"helper_cost exited {proc.returncode}: {stderr.strip()}")
        outs.append(stdout)
    medians = median_table(outs)
    others = len(seen)
    print(f"\nmedians of {opts.runs} runs:\n{medians}")
    print(f"other BPF tracing programs loaded during the runs: {others}"
          + (f" ({', '.join(sorted(set(seen.values())))})" if seen else ""))
    if not opts.write:
        return 0
    if others and not opts.shared:
        die(f"{others} other tracing programs were loaded: the figures are not written "
            "(--shared writes them anyway, the count in the document)")
    # an operation cannot cost less than nothing: a negative loop timed
    # inside the program, or hook, is the noise of other work on CPU 0
    # (tracers or not), and so is every other figure of that run. The
    # getppid()-timed column of the cheapest operations (a nanosecond,
    # ten times) lies within getppid()'s own jitter and may come out
    # below zero on a quiet machine: the documents quote the other column
    rows = [[c.strip() for c in ln.strip("|").split("|")] for ln in medians.splitlines()[2:]]
    negative = [r[0] for r in rows
                if r[2].startswith("-") or (r[0].startswith("hook") and r[1].startswith("-"))]
    if negative and not opts.shared:
        die(f"{', '.join(negative)} came out negative: the machine was busy, nothing written "
            "(rerun on a quiet one)")
    command = "sudo make bench-helpers BENCH_ARGS=--write" + (" --shared" if opts.shared else "")
    block = (provenance(command, " ".join(ran), others)
             + f"\n\nEach figure is the median of {opts.runs} runs of that command. The ns column "
             "is getppid()'s time with the operation, less without, over ten: the cheapest "
             "lie within getppid()'s jitter, and may come out below zero.\n\n" + medians)
    figs = write_block(DOC, NAME, block)
    print(f"wrote {DOC.relative_to(ROOT)}'s {NAME} block and its quotes ({len(figs)} figures)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
