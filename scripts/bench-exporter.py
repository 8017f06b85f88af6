#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Benchmark conctrace --prometheus: what a page costs the tracing loop.

For each count N: conctrace --prometheus traces epoll_echo while loadgen
holds N idle connections (one PING each). Then, several times:

  * gather: conctrace_exporter_gather_seconds, the time the loop spent
    reading the page's figures (counters, syscall totals, the walk over the
    N open connections), as conctrace measured it;
  * fresh scrape: wall time of a GET once the last page is older than the
    refresh period (so the page is rebuilt); includes waiting for the loop's
    next turn (it polls the ring buffer for up to 100 ms);
  * cached scrape: wall time of a GET right after one (the page is reused).

Figures are printed, never asserted (benchmarks print): a markdown table,
each time the median of --rounds and its lowest-highest, as docs/outputs.md's
block `fig:bench.exporter` under a line naming the run (command, commit,
machine, kernel, the count of others' tracing programs seen between the
rounds). --write writes it there, and every quote of it in README.md and
docs/ (scripts/benchlib.py), refusing a run others' tracing programs
touched unless --shared; --from FILE writes a saved output's, running
nothing.

Usage (root): sudo make bench-exporter [BENCH_ARGS="[--counts 1000,10000] [--rounds 5]
              [--write [--shared]]"]
Exit status: 0 measured (and written), 1 a run failed or --write refused, 2 bad usage.
"""

import argparse
import os
import re
import signal
import statistics
import subprocess
import tempfile
import time
import urllib.request
from functools import partial
from pathlib import Path

from benchlib import (OthersSeen, add_write_options, die, print_run, wait_for, write_printed,
                      write_saved)

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "outputs.md"
BLOCK = "bench.exporter"
METRICS_RE = re.compile(rb"serving metrics on http://127\.0\.0\.1:(\d+)/metrics")
LISTEN_RE = re.compile(rb"listening on tcp [^ ]+:(\d+) \(pid (\d+)\)")


def scrape(port):
    t0 = time.monotonic()
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=30) as r:
        body = r.read().decode()
    return time.monotonic() - t0, body


def value(body, name):
    m = re.search(rf"^{name} (\S+)$", body, re.M)
    return float(m.group(1)) if m else None


def bench(count, rounds, others):
    """One count's rounds: each one's times, and the page's size; others
    (an OthersSeen) looks for others' tracing programs between them."""
    ct = subprocess.Popen([str(ROOT / "conctrace"), "--prometheus", "127.0.0.1:0", "--",
                           str(ROOT / "servers" / "epoll_echo"), "-p", "0"],
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    lg = None
    try:
        port = int(wait_for(ct.stderr, METRICS_RE, timeout=15).group(1))
        server_port = int(wait_for(ct.stderr, LISTEN_RE, timeout=15).group(1))
        with tempfile.TemporaryDirectory() as tmp:
            ready = Path(tmp) / "ready"
            lg = subprocess.Popen([str(ROOT / "servers" / "loadgen"), "-p", str(server_port),
                                   "-c", str(count), "-n", "1", "--hold", "600", "-q",
                                   "--ready-file", str(ready)],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            deadline = time.monotonic() + 60
            while not ready.exists():
                if time.monotonic() > deadline or lg.poll() is not None:
                    die(f"loadgen could not open {count} connections")
                time.sleep(0.1)
        while True:
            time.sleep(1.1)
            _, body = scrape(port)
            if value(body, "conctrace_connections_open") == count:
                break
            if time.monotonic() > deadline:
                die("conctrace never saw every connection open")
        gather, fresh, cached = [], [], []
        for _ in range(rounds):
            # between the rounds, not within one: bpftool's own syscalls
            # are events conctrace's hooks see
            others.look([ct.pid])
            # a page is reused at least 1 s, and ten times what it took
            time.sleep(max(1.0, 10 * (value(body, "conctrace_exporter_gather_seconds") or 0))
                       + 0.1)
            t, body = scrape(port)
            fresh.append(t)
            gather.append(value(body, "conctrace_exporter_gather_seconds"))
            t, _ = scrape(port)
            cached.append(t)
        others.look([ct.pid])
        return {"count": count, "gather": gather, "fresh": fresh, "cached": cached,
                "bytes": len(body)}
    finally:
        if lg:
            lg.kill()
            lg.wait()
        ct.send_signal(signal.SIGINT)
        ct.communicate(timeout=60)


def block_text(rounds, rows):
    """The runs as docs/outputs.md's block shows them: units in the headers
    (each median cell a figure prose may quote), each median's range beside it."""
    def ms(xs):
        return f"{statistics.median(xs) * 1e3:.1f}"

    def span(xs):
        return f"{min(xs) * 1e3:.1f}–{max(xs) * 1e3:.1f}"

    out = [f"epoll_echo under conctrace --prometheus, idle connections held by loadgen; "
           f"each time the median of {rounds} rounds, and their lowest and highest.", "",
           "| open connections | ms gather (loop time) | gather, lowest–highest "
           "| ms fresh scrape | fresh, lowest–highest | ms cached scrape "
           "| cached, lowest–highest | B page |",
           "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        out.append(f"| {r['count']:,} | {ms(r['gather'])} | {span(r['gather'])} "
                   f"| {ms(r['fresh'])} | {span(r['fresh'])} | {ms(r['cached'])} "
                   f"| {span(r['cached'])} | {r['bytes']:,} |")
    return "\n".join(out) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--counts", default="1000,10000")
    ap.add_argument("--rounds", type=int, default=5)
    add_write_options(ap, "docs/outputs.md's block")
    opts = ap.parse_args()
    if write_saved(opts, partial(write_printed, DOC, BLOCK)):
        return 0
    if os.geteuid() != 0:
        die("needs root (BPF): sudo make bench-exporter")
    seen = OthersSeen()
    rows = [bench(int(c), opts.rounds, seen) for c in opts.counts.split(",")]
    others = seen.others()
    print_run(DOC, BLOCK, block_text(opts.rounds, rows), others, opts)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
