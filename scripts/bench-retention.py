#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Memory kept after a spike: what each reference server holds once idle again.

The Kestrel memory-pool lesson: memory taken at peak load and never given
back. Each server runs under conctrace with --interval; loadgen opens a
spike of connections that echo large messages, closes them, and the server
then sits idle. conctrace's timeline gives RSS and the connections' kernel
memory at the peak and at the end. Figures are printed, never asserted
(benchmarks print): a markdown table, as docs/accuracy.md's block
`fig:bench.retention` under a line naming the run (command, commit,
machine, kernel, the count of others' tracing programs seen around each
spike). --write writes it there, and every quote of it in README.md and
docs/ (scripts/benchlib.py), refusing a run others' tracing programs
touched unless --shared; --from FILE writes a saved output's, running
nothing.

Usage (root): sudo make bench-retention [BENCH_ARGS="[--conns N] [--write [--shared]]"]
Exit status: 0 measured (and written), 1 a run failed or --write refused, 2 bad usage.
"""

import argparse
import json
import os
import re
import signal
import subprocess
import tempfile
import time
from functools import partial
from pathlib import Path

from benchlib import (OthersSeen, add_write_options, die, print_run, wait_for, write_printed,
                      write_saved)

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "accuracy.md"
BLOCK = "bench.retention"
SERVERS = ["threaded_echo", "epoll_echo", "coro_echo", "uring_echo"]
LISTEN_RE = re.compile(rb"listening on tcp [^ ]+:(\d+) \(pid (\d+)\)")


def kib(n):
    return f"{n / 1024:,.0f}"


def run(server, conns, size, idle_s, out, others):
    """One server's spike: its RSS once it listens, and conctrace's report;
    others (an OthersSeen) looks for others' tracing programs around the spike."""
    ct = subprocess.Popen([str(ROOT / "conctrace"), "-i", "0.1", "--json", str(out), "--",
                           str(ROOT / "servers" / server), "-p", "0"],
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        m = wait_for(ct.stderr, LISTEN_RE)
        port, pid = int(m.group(1)), int(m.group(2))
        others.look([ct.pid])
        status = Path(f"/proc/{pid}/status").read_text()
        before = int(re.search(r"VmRSS:\s+(\d+) kB", status).group(1)) * 1024
        # the spike: every connection echoes large lines, several in flight
        subprocess.run([str(ROOT / "servers" / "loadgen"), "-p", str(port), "-c", str(conns),
                        "-n", "100", "-P", "4", "--mix", "echo", "--echo-size", str(size),
                        "-q"], check=True, stdout=subprocess.DEVNULL, timeout=300)
        time.sleep(idle_s)   # idle again: what is still held now was kept
        others.look([ct.pid])
    finally:
        ct.send_signal(signal.SIGINT)
        ct.communicate(timeout=60)
    return before, json.loads(out.read_text())


def block_text(opts, rows):
    """The runs as docs/accuracy.md's block shows them: units in the
    headers, so that each cell is a figure prose may quote."""
    out = [f"Each server under conctrace -i 0.1: {opts.conns:,} connections echoing 100 lines "
           f"of {opts.size:,} B (4 in flight), then {opts.idle:g} s idle. RSS is the target's "
           "VmRSS (before: once it listens; then sampled every 0.1 s); kernel memory is what "
           "its open connections hold (objects and buffers); kept = after - before.", "",
           "| server | KiB RSS before | KiB RSS peak | KiB RSS after | KiB kept "
           "| B kept per connection served | KiB conns' kernel memory peak "
           "| KiB conns' kernel memory after |",
           "|---|---|---|---|---|---|---|---|"]
    for server, before, p in rows:
        kept = p["rss_end_bytes"] - before
        out.append(f"| {server} | {kib(before)} | {kib(p['rss_peak_bytes'])} "
                   f"| {kib(p['rss_end_bytes'])} | {kib(kept)} | {kept / opts.conns:,.0f} "
                   f"| {kib(p['kernel_bytes_peak'])} | {kib(p['kernel_bytes_end'])} |")
    return "\n".join(out) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--conns", type=int, default=2000)
    ap.add_argument("--size", type=int, default=4000, help="echo line length (max 4096)")
    ap.add_argument("--idle", type=float, default=2.0, help="seconds idle after the spike")
    add_write_options(ap, "docs/accuracy.md's block")
    opts = ap.parse_args()
    if write_saved(opts, partial(write_printed, DOC, BLOCK)):
        return 0
    if os.geteuid() != 0:
        die("needs root to load BPF (try sudo)")
    rows, seen = [], OthersSeen()
    with tempfile.TemporaryDirectory() as tmp:
        for server in SERVERS:
            before, rep = run(server, opts.conns, opts.size, opts.idle,
                              Path(tmp) / f"{server}.json", seen)
            rows.append((server, before, rep["process"]))
            print(f"{server}: done", flush=True)
    others = seen.others()
    print_run(DOC, BLOCK, block_text(opts, rows), others, opts)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
