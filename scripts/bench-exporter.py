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

Prints a markdown table. Figures are printed, never asserted.

Usage: scripts/bench-exporter.py [--counts 1000,10000] [--rounds 5]
"""

import argparse
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from benchlib import wait_for

ROOT = Path(__file__).resolve().parents[1]
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


def bench(count, rounds):
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
                    sys.exit(f"bench-exporter: loadgen could not open {count} connections")
                time.sleep(0.1)
        while True:
            time.sleep(1.1)
            _, body = scrape(port)
            if value(body, "conctrace_connections_open") == count:
                break
            if time.monotonic() > deadline:
                sys.exit("bench-exporter: conctrace never saw every connection open")
        gather, fresh, cached = [], [], []
        for _ in range(rounds):
            # a page is reused at least 1 s, and ten times what it took
            time.sleep(max(1.0, 10 * (value(body, "conctrace_exporter_gather_seconds") or 0))
                       + 0.1)
            t, body = scrape(port)
            fresh.append(t)
            gather.append(value(body, "conctrace_exporter_gather_seconds"))
            t, _ = scrape(port)
            cached.append(t)
        return {"count": count, "gather": statistics.median(gather),
                "fresh": statistics.median(fresh), "cached": statistics.median(cached),
                "bytes": len(body)}
    finally:
        if lg:
            lg.kill()
            lg.wait()
        ct.send_signal(signal.SIGINT)
        ct.communicate(timeout=60)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--counts", default="1000,10000")
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("bench-exporter: needs root (BPF): sudo make bench-exporter")
    rows = [bench(int(c), args.rounds) for c in args.counts.split(",")]
    print("| open connections | gather (loop time) | fresh scrape | cached scrape | page |")
    print("|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['count']:,} | {r['gather'] * 1e3:.1f} ms | {r['fresh'] * 1e3:.1f} ms "
              f"| {r['cached'] * 1e3:.1f} ms | {r['bytes']:,} B |")


if __name__ == "__main__":
    main()
