#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""What tracing costs: epoll_echo's PING throughput with and without conctrace.

The server runs pinned to CPU 0, loadgen to CPU 1, closed loop, saturating
the server. Untraced and traced runs alternate (A B A B ...) in one
invocation, so machine noise hits both alike; the figure is the ratio of
medians. One more traced run with kernel.bpf_stats_enabled=1 gives each
program's run count and time: the cost per event. (Stats cost two clock
reads per program run, so the throughput rounds run without them.)

Figures are printed, never asserted (see DEVELOPERS.md: benchmarks print).
Target (issue 3): traced >= 0.95 x untraced.
"""

import argparse
import atexit
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SERVER = ROOT / "servers" / "epoll_echo"
LOADGEN = ROOT / "servers" / "loadgen"
CONCTRACE = ROOT / "conctrace"
LISTEN_RE = re.compile(rb"listening on tcp [^ ]+:(\d+) \(pid (\d+)\)")
STATS = "/proc/sys/kernel/bpf_stats_enabled"


def wait_for(stream, pattern, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = stream.readline()
        if not line:
            break
        m = re.search(pattern, line)
        if m:
            return m
    sys.exit(f"bench-overhead: no line matching {pattern!r}")


def loadgen(port, args):
    out = subprocess.run(["taskset", "-c", "1", str(LOADGEN), "-p", str(port), "-q",
                          "--json", *args], capture_output=True, timeout=300)
    if out.returncode != 0:
        sys.exit(f"bench-overhead: loadgen failed: {out.stderr.decode()}")
    return json.loads(out.stdout)["requests_per_s"]


def prog_stats():
    out = subprocess.run(["bpftool", "-j", "prog", "show"], capture_output=True, text=True)
    return {p["id"]: p for p in json.loads(out.stdout) if p.get("name", "").startswith("on_")}


def run(traced, args):
    cmd = ["taskset", "-c", "0", str(SERVER), "-p", "0"]
    if traced is not None:
        cmd = [str(CONCTRACE), *traced, "--", *cmd]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        port = int(wait_for(proc.stderr, LISTEN_RE).group(1))
        before = prog_stats() if traced is not None else {}
        rps = loadgen(port, args)
        after = prog_stats() if traced is not None else {}
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)
    per_prog = {}
    for pid, p in after.items():
        b = before.get(pid, {})
        cnt = p.get("run_cnt", 0) - b.get("run_cnt", 0)
        ns = p.get("run_time_ns", 0) - b.get("run_time_ns", 0)
        per_prog[p["name"]] = (cnt, ns)
    return rps, per_prog


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=7, help="interleaved rounds (default 7)")
    ap.add_argument("--seconds", type=float, default=3, help="each load run (default 3)")
    ap.add_argument("--conns", type=int, default=50, help="loadgen connections (default 50)")
    ap.add_argument("--no-flame", dest="flame", action="store_false",
                    help="skip the runs with stack collection (--flame)")
    opts = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("bench-overhead: needs root to load BPF (try sudo)")
    if (os.cpu_count() or 1) < 2:
        sys.exit("bench-overhead: needs 2 CPUs (server and client on their own)")

    args = ["-c", str(opts.conns), "-d", str(opts.seconds)]
    arms = [("untraced", None), ("conctrace", []),
            ("conctrace --no-syscalls", ["--no-syscalls"])]
    if opts.flame:
        # stack collection is opt-in: what each view adds, on top of full mode
        tmp = tempfile.mkdtemp(prefix="bench-overhead-")
        atexit.register(shutil.rmtree, tmp, True)
        folded = f"{tmp}/out.folded"
        arms += [(f"conctrace --flame {v}", ["--flame", v, "--folded", folded])
                 for v in ("offcpu,umem", "cpu", "syscalls,kmem")]
    rps = {name: [] for name, _ in arms}
    for i in range(opts.rounds):
        for name, ct_args in arms:
            rps[name].append(run(ct_args, args)[0])
        print(f"round {i + 1}: " + ", ".join(f"{n} {rps[n][-1]:,.0f}" for n, _ in arms),
              flush=True)
    stats_was = Path(STATS).read_text().strip()
    Path(STATS).write_text("1")
    try:
        _, progs = run([], args)
    finally:
        Path(STATS).write_text(stats_was)

    base = statistics.median(rps["untraced"])
    print(f"\nepoll_echo, {opts.conns} connections, PING closed loop, server on CPU 0, "
          f"loadgen on CPU 1, {opts.rounds} interleaved rounds of {opts.seconds:g} s")
    print("| run | median req/s | min | max | kept |\n|---|---|---|---|---|")
    for name, _ in arms:
        v = rps[name]
        print(f"| {name} | {statistics.median(v):,.0f} | {min(v):,.0f} | {max(v):,.0f} "
              f"| {statistics.median(v) / base:.3f} |")
    print("\ntarget: kept >= 0.95. Syscall tracepoints put every task on the machine,")
    print("loadgen included, on the syscall slow path; --no-syscalls leaves them off.")
    print("Memory tracking is on in both traced runs: it has no switch of its own (buffers")
    print("at every socket I/O, rss_stat with page tables and VMAs, memory samples at most every 0.1 s).")
    print("The --flame runs add stack collection to full mode, one set of views each.\n")
    print("| BPF program (full mode) | runs | ns per run | total ms |\n|---|---|---|---|")
    for name, (cnt, ns) in sorted(progs.items(), key=lambda kv: -kv[1][1]):
        per = ns / cnt if cnt else 0
        print(f"| {name} | {cnt:,} | {per:,.0f} | {ns / 1e6:,.1f} |")


if __name__ == "__main__":
    main()
