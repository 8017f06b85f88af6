#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Benchmark the reference servers: user memory per idle connection, PING rate.

For each server in servers/:

  * user RSS per idle connection: start the server (-p 0), then from a
    separate client process open 1, then 1000, then 10000 connections; each
    connection does one PING round-trip (so the server has accepted it and
    touched its state) and then stays idle. After each step, read VmRSS from
    /proc/PID/status. Per connection: (RSS_N - RSS_1) / (N - 1).
  * PING requests/s on one core: a fresh server pinned to CPU 0, the load
    generator (servers/loadgen) pinned to CPU 1, 50 connections closed-loop
    for 5 seconds.

Prints a markdown table and the targets (epoll_echo <= 64 B, uring_echo <=
256 B, coro_echo <= 5 KiB per idle connection; threaded_echo reported).
Figures are printed, never asserted: exits 0 unless a server fails to run.

The idle client is this same script run with --idle-client: a plain blocking
Python client is enough to hold connections, and it lets one server process
be measured at every step (loadgen runs one workload per invocation).

The figures are also printed as docs/usage.md's block `fig:bench.servers`
under a line naming the run (command, commit, machine, kernel, the count of
others' tracing programs seen around each server's runs: they slow every
syscall); --write writes it there, and every quote of it in README.md and
docs/ (scripts/benchlib.py), refusing a run others' tracing programs
touched unless --shared; --from FILE writes a saved output's, running
nothing. --write needs the default servers and counts (the documents quote
them all).

Usage: scripts/bench-servers.py [--servers epoll_echo,...] [--counts 1,1000,10000]
                                [--duration 5] [--conns 50] [--json FILE]
                                [--write [--shared] | --from FILE]
       sudo make bench-servers [BENCH_ARGS="--write [--shared]"]   (root: to see others'
                                                                      tracing programs)
"""

import argparse
import json
import os
import re
import resource
import signal
import socket
import subprocess
import sys
import tempfile
import time
from functools import partial
from pathlib import Path

from benchlib import OthersSeen, add_write_options, print_run, write_printed, write_saved

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "usage.md"
BLOCK = "bench.servers"
SERVERS = ["threaded_echo", "epoll_echo", "coro_echo", "uring_echo"]
TARGETS = {                     # bytes of user memory per idle connection
    "epoll_echo": 64,
    "uring_echo": 256,
    "coro_echo": 5 * 1024,
    "threaded_echo": None,      # reported, no target
}
LISTEN_RE = re.compile(r"listening on tcp (?P<host>\S+):(?P<port>\d+) \(pid (?P<pid>\d+)\)")
SERVER_CPU, CLIENT_CPU = 0, 1


class BenchError(Exception):
    """A server (or the client) failed to run: reported, and exit status 1."""


# ---- the idle client (a separate process) -----------------------------------------

def idle_client(host, port):
    """Hold idle connections. Commands on stdin, one per line:
    'open N' -> grow to N connections, each after one PING round-trip,
                then print 'ok N' (or 'error MESSAGE');
    'quit'   -> close everything and exit."""
    raise_nofile_limit()
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    conns = []
    for line in sys.stdin:
        words = line.split()
        if not words or words[0] == "quit":
            break
        if words[0] != "open":
            continue
        try:
            grow(conns, int(words[1]), family, (host, port))
            print("ok", len(conns), flush=True)
        except OSError as e:
            print("error", f"at {len(conns)} connections: {e}", flush=True)
    for s in conns:
        s.close()


def grow(conns, target, family, address, window=64):
    """Open connections up to `target`, `window` at a time: connect, send PING,
    then read every PONG. The window bounds what the server has in flight, so
    the figures are about idle connections, not about a burst of requests."""
    while len(conns) < target:
        batch = []
        for _ in range(min(window, target - len(conns))):
            s = socket.socket(family, socket.SOCK_STREAM)
            s.settimeout(10)
            s.connect(address)
            batch.append(s)
        for s in batch:
            s.sendall(b"PING\n")
        for s in batch:
            reply = b""
            while not reply.endswith(b"\n"):
                chunk = s.recv(16)
                if not chunk:
                    raise OSError("connection closed before PONG")
                reply += chunk
            if reply != b"PONG\n":
                raise OSError(f"unexpected reply {reply!r}")
        conns.extend(batch)


def raise_nofile_limit():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


# ---- driving a server --------------------------------------------------------------

class ServerRun:
    """A server started with -p 0, optionally pinned to one CPU."""

    def __init__(self, name, cpu=None):
        exe = ROOT / "servers" / name
        if not os.access(exe, os.X_OK):
            raise BenchError(f"servers/{name} is not built (run `make all`)")
        pin = (lambda: os.sched_setaffinity(0, {cpu})) if cpu is not None else None
        self.name = name
        # stderr goes to a file: read for the "listening" line, and a server
        # that keeps writing can never block on a full pipe
        self.stderr = tempfile.TemporaryFile()
        self.proc = subprocess.Popen([str(exe), "-b", "127.0.0.1", "-p", "0"],
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=self.stderr, preexec_fn=pin)
        line = self._ready_line(5.0)
        m = LISTEN_RE.search(line)
        if not m:
            self.stop()
            raise BenchError(f"{name}: unexpected first line {line!r}")
        self.host, self.port = m["host"], int(m["port"])

    def stderr_text(self):
        self.stderr.seek(0)
        return self.stderr.read().decode(errors="replace")

    def _ready_line(self, timeout):
        deadline = time.monotonic() + timeout
        while "\n" not in (text := self.stderr_text()):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise BenchError(f"{self.name} did not start: {text!r}")
            time.sleep(0.01)
        return text.split("\n", 1)[0]

    def status(self, field):
        """A field of /proc/PID/status, as an int (kB for Vm* fields)."""
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
        raise BenchError(f"{self.name}: no {field} in /proc/{self.proc.pid}/status")

    def cpu_seconds(self):
        """User + system CPU time of every thread of the server so far."""
        with open(f"/proc/{self.proc.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def assert_running(self):
        if self.proc.poll() is not None:
            raise BenchError(f"{self.name} exited with status {self.proc.returncode}")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


def measure_memory(name, counts):
    """{N: (VmRSS bytes, threads)} for each connection count, one server process."""
    server = ServerRun(name)
    client = subprocess.Popen([sys.executable, __file__, "--idle-client", server.host,
                               str(server.port)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True,
                              preexec_fn=lambda: os.sched_setaffinity(0, {CLIENT_CPU}))
    result = {}
    try:
        for n in counts:
            client.stdin.write(f"open {n}\n")
            client.stdin.flush()
            reply = client.stdout.readline().strip()
            if reply != f"ok {n}":
                server.assert_running()
                raise BenchError(f"{name}: idle client failed: {reply or 'no reply'}")
            time.sleep(0.5)             # let deferred frees and thread starts settle
            server.assert_running()
            result[n] = (server.status("VmRSS") * 1024, server.status("Threads"))
    finally:
        try:
            client.stdin.write("quit\n")
            client.stdin.close()
        except OSError:
            pass
        try:
            client.wait(30)
        except subprocess.TimeoutExpired:
            client.kill()
            client.wait()
        status = server.stop()
    if status != 0:
        raise BenchError(f"{name} exited with status {status} on SIGTERM")
    return result


def loadgen_help():
    exe = ROOT / "servers" / "loadgen"
    if not os.access(exe, os.X_OK):
        return None
    try:
        out = subprocess.run([str(exe), "--help"], capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout + out.stderr


def measure_rate(name, conns, duration):
    """(PING requests/s, server CPU use in %, note) with the server on CPU 0
    and loadgen on CPU 1; requests/s is None when loadgen is not available."""
    if loadgen_help() is None:
        return None, None, "servers/loadgen not built"
    server = ServerRun(name, cpu=SERVER_CPU)
    try:
        cmd = [str(ROOT / "servers" / "loadgen"), "-H", server.host, "-p", str(server.port),
               "-c", str(conns), "-d", str(duration), "--json"]
        cpu0 = server.cpu_seconds()
        try:
            out = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + 60,
                                 preexec_fn=lambda: os.sched_setaffinity(0, {CLIENT_CPU}))
        except subprocess.TimeoutExpired:
            raise BenchError(f"{name}: loadgen did not finish")
        server.assert_running()
        cpu = server.cpu_seconds() - cpu0
        try:
            report = json.loads(out.stdout)
        except ValueError:
            raise BenchError(f"{name}: loadgen printed no JSON (status {out.returncode}): "
                             f"{out.stderr.strip()[-300:]!r}")
        errors = report["requests"]["errors"] + report["connections"]["failed"]
        note = f"{errors} errors" if errors else ""
        busy = 100 * cpu / report["duration_s"] if report["duration_s"] > 0 else None
        return report["requests_per_s"], busy, note
    finally:
        status = server.stop()
        if status != 0:
            raise BenchError(f"{name} exited with status {status} on SIGTERM")


# ---- report ------------------------------------------------------------------------

def per_conn(mem, n, base):
    if n not in mem or base not in mem or n == base:
        return None
    return (mem[n][0] - mem[base][0]) / (n - base)


def fmt_bytes(b):
    if b is None:
        return "n/a"
    if abs(b) >= 1024:
        return f"{b / 1024:.1f} KiB"
    return f"{b:.0f} B"


def verdict(name, b):
    target = TARGETS.get(name)
    if target is None:
        return "reported", "-"
    if b is None:
        return fmt_bytes(target), "n/a"
    return f"<= {fmt_bytes(target)}", "yes" if b <= target else "NO"


def block_text(args, base, big, figures):
    """The runs as docs/usage.md's block shows them: units in the headers,
    so that each cell is a figure prose may quote."""
    def n(x):
        return f"{x:,}"

    out = [f"Each server alone (no conctrace): VmRSS at {n(base)} and at "
           + ", ".join(n(b) for b in big) + " idle connections held by a separate client "
           f"process (one PING each); PING/s with the server on CPU {SERVER_CPU} and loadgen "
           f"({args.conns} connections, {args.duration} s) on CPU {CLIENT_CPU}.", "",
           "| server | KiB VmRSS at " + n(base) + " | "
           + " | ".join(f"B VmRSS growth per idle connection at {n(b)}" for b in big)
           + " | PING/s (one core) | % server CPU during the PING load "
           "| B target per idle connection | met |",
           "|" + "---|" * (len(big) + 6)]
    for name, f in figures.items():
        pcs = [f["bytes_per_conn"][str(b)] for b in big]
        rate, busy, target = f["ping_requests_per_s"], f["server_cpu_percent"], \
            f["target_bytes_per_conn"]
        met = "-" if target is None or pcs[-1] is None else "yes" if pcs[-1] <= target else "NO"
        out.append(f"| {name} | {f['rss_bytes'][str(base)] / 1024:,.0f} | "
                   + " | ".join("n/a" if p is None else f"{p:,.0f}" for p in pcs)
                   + f" | {'n/a' if rate is None else f'{rate:,.0f}'} "
                   f"| {'n/a' if busy is None else f'{busy:.0f}'} "
                   f"| {'-' if target is None else f'{target:,}'} | {met} |")
    return "\n".join(out) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--servers", default=",".join(SERVERS))
    ap.add_argument("--counts", default="1,1000,10000",
                    help="connection counts; the first is the base")
    ap.add_argument("--duration", type=int, default=5, help="seconds of PING load")
    ap.add_argument("--conns", type=int, default=50, help="connections for the PING load")
    ap.add_argument("--json", metavar="FILE", help="also write the figures as JSON")
    ap.add_argument("--idle-client", nargs=2, metavar=("HOST", "PORT"), help=argparse.SUPPRESS)
    add_write_options(ap, "docs/usage.md's block")
    args = ap.parse_args()

    if args.idle_client:
        idle_client(args.idle_client[0], int(args.idle_client[1]))
        return 0
    if write_saved(args, partial(write_printed, DOC, BLOCK)):
        return 0

    counts = [int(c) for c in args.counts.split(",")]
    hard = raise_nofile_limit()
    if max(counts) + 100 > hard:
        print(f"bench-servers: RLIMIT_NOFILE is {hard}; {max(counts)} connections need more",
              file=sys.stderr)
        return 1
    if (os.cpu_count() or 1) < 2:
        global CLIENT_CPU
        CLIENT_CPU = SERVER_CPU
        print("bench-servers: one CPU only: server and client share it", file=sys.stderr)

    base, big = counts[0], counts[1:]
    rows, failed, figures = [], [], {}
    # others' tracing programs (they slow every syscall the servers make)
    # need root to list: without it, nothing is written
    seen = OthersSeen() if os.geteuid() == 0 else None
    for name in args.servers.split(","):
        print(f"bench-servers: {name} ...", file=sys.stderr, flush=True)
        try:
            if seen:
                seen.look([])
            mem = measure_memory(name, counts)
            rate, busy, note = measure_rate(name, args.conns, args.duration)
            if seen:
                seen.look([])
        except BenchError as e:
            print(f"bench-servers: {e}", file=sys.stderr)
            failed.append(name)
            rows.append([name] + ["FAILED"] * (len(big) + 5))
            continue
        pcs = [per_conn(mem, n, base) for n in big]
        target, met = verdict(name, pcs[-1] if pcs else None)
        rate_s = f"{rate:,.0f}" if rate is not None else f"n/a ({note})"
        if rate is not None and note:
            rate_s += f" ({note})"
        busy_s = f"{busy:.0f}%" if busy is not None else "n/a"
        rows.append([name, f"{mem[base][0] / 1024:,.0f} KiB"] + [fmt_bytes(p) for p in pcs]
                    + [rate_s, busy_s, target, met])
        figures[name] = {
            "rss_bytes": {str(n): mem[n][0] for n in counts},
            "threads": {str(n): mem[n][1] for n in counts},
            "bytes_per_conn": {str(n): p for n, p in zip(big, pcs)},
            "ping_requests_per_s": rate,
            "server_cpu_percent": busy,
            "target_bytes_per_conn": TARGETS.get(name),
        }

    head = (["server", f"RSS @{base}"] + [f"B/conn @{n // 1000}k" if n >= 1000 and n % 1000 == 0
                                          else f"B/conn @{n}" for n in big]
            + [f"PING req/s (1 core, {args.conns} conns)", "server CPU", "target", "met"])
    print()
    print("| " + " | ".join(head) + " |")
    print("|" + "|".join(" --- " for _ in head) + "|")
    for r in rows:
        print("| " + " | ".join(r) + " |")
    print()
    print(f"User memory per idle connection = (VmRSS_N - VmRSS_{base}) / (N - {base}), one "
          "server process, each connection idle after one PING; the target is checked at "
          f"{big[-1] if big else base} connections. Kernel memory is not included: that is "
          "what conctrace measures. Server CPU is its CPU time over the PING run's duration: "
          "well under 100% means the load generator, not the server, was the limit.")
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2) + "\n")
    if failed:
        print(f"bench-servers: failed to run: {', '.join(failed)}", file=sys.stderr)
        return 1
    if seen is None:
        if args.write:
            print("bench-servers: --write needs root (to see others' tracing programs): "
                  "nothing written", file=sys.stderr)
            return 1
        return 0
    print_run(DOC, BLOCK, block_text(args, base, big, figures), seen.others(), args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
