#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""What each operation of conctrace's hot programs costs: bench/helper_cost, pinned to CPU 0.

helper_cost times getppid() without a hook, with an empty sys_enter
program, and with a program that repeats one operation (a clock read, a
map lookup, ...) HC_REPEAT times; it prints a markdown table, asserting
nothing (benchmarks print). This runs it (about 20 s) and prints its
output; with --write it also writes the table into docs/overhead.md's
`fig:bench.helpers` block, under a line naming the command, commit,
machine and kernel, and every quote of it (`fig:bench.helpers.ROW`) in
README.md and docs/: a figure typed by hand there is a figure nobody
reran.

Other processes' tracing programs on sys_enter put every getppid() on the
syscall slow path, the bare one too, and its differences then mean
nothing (a run of 2026-12-04 came out negative): the count of them is
in the written line, and --write refuses a run they were present for
unless --shared; so does a run with a negative difference (CPU 0 was busy).

Usage (root): sudo make bench-helpers [BENCH_ARGS="--write [--shared]"]
Exit status: 0 measured (and written), 1 the bench failed or other
tracing programs were loaded (with --write, without --shared), 2 bad usage.
"""

import argparse
import os
import re
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


def table(out):
    """helper_cost's output as the document's table: its rows, the bare
    getppid() first, each operation's label in code where it is a helper."""
    bare = BARE_RE.search(out)
    rows = [ln for ln in out.splitlines() if ln.startswith("| ") and not ln.startswith("| operation")]
    if not bare or not rows:
        die("helper_cost printed no table (see its output above)")
    lines = ["| operation | ns | ns inside the program |", "| --- | --- | --- |",
             f"| `getppid()` without a hook | {float(bare.group(1)):.1f} | |"]
    for r in rows:
        label, *cells = [c.strip() for c in r.strip("|").split("|")]
        label = re.sub(r"^(bpf_\w+)", r"`\1`", label)
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_write_options(ap, "docs/overhead.md", saved=False)
    ap.add_argument("-n", type=int, default=1000000, help="getppid() calls per round")
    opts = ap.parse_args()
    if os.geteuid() != 0:
        die("loads BPF programs: run as root (sudo make bench-helpers)")
    if not HELPER_COST.exists():
        die(f"no {HELPER_COST.relative_to(ROOT)}: run make bench-helpers")
    ran = ["taskset", "-c", "0", str(HELPER_COST.relative_to(ROOT)), "-n", str(opts.n)]
    # others' programs looked for all through the run, not at its ends:
    # tests come and go within its 20 s
    seen = {}
    proc = subprocess.Popen(ran, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    while proc.poll() is None:
        seen.update({i: n for i, n in other_tracers().items() if n not in OWN})
        time.sleep(0.5)
    stdout, stderr = proc.communicate()
    out = subprocess.CompletedProcess(ran, proc.returncode, stdout, stderr)
    others = len(seen)
    print(out.stdout, end="")
    if out.returncode != 0:
        die(f"helper_cost exited {out.returncode}: {out.stderr.strip()}")
    print(f"\nother BPF tracing programs loaded during the run: {others}"
          + (f" ({', '.join(sorted(set(seen.values())))})" if seen else ""))
    if not opts.write:
        return 0
    if others and not opts.shared:
        die(f"{others} other tracing programs were loaded: the figures are not written "
            "(--shared writes them anyway, the count in the document)")
    # an operation cannot cost less than nothing: a negative difference is
    # the noise of other work on CPU 0 (tracers or not), and so is every
    # other figure of that run
    negative = [ln.split("|")[1].strip() for ln in out.stdout.splitlines()
                if re.match(r"^\|[^|]+\| -", ln)]
    if negative and not opts.shared:
        die(f"{', '.join(negative)} came out negative: the machine was busy, nothing written "
            "(rerun on a quiet one)")
    command = "sudo make bench-helpers BENCH_ARGS=--write" + (" --shared" if opts.shared else "")
    block = provenance(command, " ".join(ran), others) + "\n\n" + table(out.stdout)
    figs = write_block(DOC, NAME, block)
    print(f"wrote {DOC.relative_to(ROOT)}'s {NAME} block and its quotes ({len(figs)} figures)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
