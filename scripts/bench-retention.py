#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Memory kept after a spike: what each reference server holds once idle again.

The Kestrel memory-pool lesson: memory taken at peak load and never given
back. Each server runs under conctrace with --interval; loadgen opens a
spike of connections that echo large messages, closes them, and the server
then sits idle. conctrace's timeline gives RSS and the connections' kernel
memory at the peak and at the end. Figures are printed, never asserted.
"""

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SERVERS = ["threaded_echo", "epoll_echo", "coro_echo", "uring_echo"]
LISTEN_RE = re.compile(rb"listening on tcp [^ ]+:(\d+) \(pid (\d+)\)")


def kib(n):
    return f"{n / 1024:,.0f} KiB"


def run(server, conns, size, idle_s, out):
    ct = subprocess.Popen([str(ROOT / "conctrace"), "-i", "0.1", "--json", str(out), "--",
                           str(ROOT / "servers" / server), "-p", "0"],
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        m = None
        deadline = time.monotonic() + 10
        while m is None and time.monotonic() < deadline:
            m = LISTEN_RE.search(ct.stderr.readline())
        if m is None:
            sys.exit(f"bench-retention: {server} did not listen")
        port, pid = int(m.group(1)), int(m.group(2))
        status = Path(f"/proc/{pid}/status").read_text()
        before = int(re.search(r"VmRSS:\s+(\d+) kB", status).group(1)) * 1024
        # the spike: every connection echoes large lines, several in flight
        subprocess.run([str(ROOT / "servers" / "loadgen"), "-p", str(port), "-c", str(conns),
                        "-n", "100", "-P", "4", "--mix", "echo", "--echo-size", str(size),
                        "-q"], check=True, stdout=subprocess.DEVNULL, timeout=300)
        time.sleep(idle_s)   # idle again: what is still held now was kept
    finally:
        ct.send_signal(signal.SIGINT)
        ct.communicate(timeout=60)
    return before, json.loads(out.read_text())


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--conns", type=int, default=2000)
    ap.add_argument("--size", type=int, default=4000, help="echo line length (max 4096)")
    ap.add_argument("--idle", type=float, default=2.0, help="seconds idle after the spike")
    opts = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("bench-retention: needs root to load BPF (try sudo)")
    print(f"spike: {opts.conns} connections x 100 echoes of {opts.size} B, 4 in flight; "
          f"then {opts.idle:g} s idle\n")
    print("| server | RSS before | RSS peak | RSS after | kept | conns' kernel memory peak | after |")
    print("|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for server in SERVERS:
            before, rep = run(server, opts.conns, opts.size, opts.idle,
                              Path(tmp) / f"{server}.json")
            p = rep["process"]
            print(f"| {server} | {kib(before)} | {kib(p['rss_peak_bytes'])} "
                  f"| {kib(p['rss_end_bytes'])} | {kib(p['rss_end_bytes'] - before)} "
                  f"| {kib(p['kernel_bytes_peak'])} | {kib(p['kernel_bytes_end'])} |",
                  flush=True)
    print("\nRSS is the target's VmRSS (before: once it listens; then sampled every 0.1 s);"
          " kernel memory is what its open connections hold (objects and buffers)."
          " kept = after - before.")


if __name__ == "__main__":
    main()
