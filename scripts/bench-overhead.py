#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""What tracing costs: epoll_echo's and redis-server's PING throughput with and without conctrace.

Each server runs pinned to CPU 0 and its client to CPU 1, closed loop,
saturating the server: epoll_echo under servers/loadgen, redis-server
(Debian's) under redis-benchmark PING (the RESP form, -t ping_mbulk).
Untraced and traced runs alternate (A B C ... A B C ...) in one
invocation, so machine noise hits every arm alike; the figures are ratios
of medians. Each round also runs the server untraced at its other end: a
round whose two untraced runs are not both within ROUND_STEADY of the
fastest of any round ran while the host was slow, and is run again
(--redo times at most; the output says how many). Beside throughput,
the server's CPU per request (its threads' schedstat run time over the
requests answered): steadier on a shared host, and the server's own cost
alone.

The floor: build/bench/hook_floor attaches programs that only compare the
caller's tgid with the server's and return, on the tracepoints conctrace
attaches (with --no-syscalls, those of its light mode; with --entry-only,
full mode's without sys_exit: what a syscall mode that counts at entry and
times nothing would start from). That is what the hooks cost by
themselves; conctrace over its floor is what its own work costs.

Then, per server, one run each of conctrace, conctrace --no-syscalls and
the floor with kernel.bpf_stats_enabled=1: each program's runs and
run_time_ns, per request. (Stats cost two clock reads per program run, so
the throughput rounds run without them.)

Other processes' tracing programs (another tracer, a test run) slow every
arm, the untraced one too: each run waits a little for them to be gone
(--quiet-wait) and is run again if some came during it; the rounds they
still touched are counted in the output.

Figures are printed, never asserted (see DEVELOPERS.md: benchmarks print).
The tables and the line naming the run (command, commit, machine, kernel,
the count of others' tracing programs seen at the runs' starts and ends)
are printed as docs/overhead.md's two blocks, `fig:bench.overhead.rounds`
(throughput and server CPU, per server, and the arms against each other)
and `fig:bench.overhead.bpf_stats` (each program's cost); --write writes
them there, and every quote of them in README.md and docs/ (see
scripts/benchlib.py), refusing a run others' tracing programs touched
unless --shared, and one the host slowed (an arm's median round below
STEADY of its best) unless --noisy. --from FILE writes them from a saved
output instead, running nothing.

Usage (root): sudo make bench-overhead [BENCH_ARGS="--write [--flame] ..."]
Exit status: 0 measured (and written), 1 a run failed, or --write refused
(others' tracing programs seen, the host slowed the rounds, or the
documents quote what the run did not measure), 2 bad usage.
Targets (issue 18): full mode within 150 ns of its floor, light mode within
60 ns (server CPU per request); on redis, full mode >= 0.98 x its floor and
light mode >= 0.97 x untraced.
"""

import argparse
import atexit
import json
import os
import re
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchlib import (PROVENANCE_RE, add_write_options, all_progs, cpu_ns, die, own_prog_ids,
                      provenance, wait_for, write_blocks, write_saved)

ROOT = Path(__file__).resolve().parents[1]
SERVER = ROOT / "servers" / "epoll_echo"
LOADGEN = ROOT / "servers" / "loadgen"
CONCTRACE = ROOT / "conctrace"
HOOK_FLOOR = ROOT / "build" / "bench" / "hook_floor"
LISTEN_RE = re.compile(rb"listening on tcp [^ ]+:(\d+) \(pid (\d+)\)")
STATS = "/proc/sys/kernel/bpf_stats_enabled"
DOC = ROOT / "docs" / "overhead.md"
# docs/overhead.md's blocks, each printed after a line naming it
BLOCKS = ("bench.overhead.rounds", "bench.overhead.bpf_stats")
SECTION_RE = re.compile(r"^\[(bench\.overhead\.\w+)\]$")
# program types a tracer of syscalls, the scheduler or sockets would load
TRACING_TYPES = {"tracing", "raw_tracepoint", "tracepoint", "kprobe", "perf_event"}

UNTRACED = "untraced"
FLOOR = "hook floor (full mode's hooks, empty)"
FLOOR_ENTRY = "hook floor, sys_enter only (entry-only)"
FLOOR_LIGHT = "hook floor --no-syscalls"
FULL = "conctrace"
LIGHT = "conctrace --no-syscalls"
# the server untraced again, at the round's other end from UNTRACED: the
# host's speed at both ends of the round, not an arm of the tables
CONTROL = "untraced, at the round's other end"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def foreign_tracing(progs, own):
    """{id: name} of the tracing programs loaded by others: they slow every arm."""
    return {i: p.get("name", "?") for i, p in progs.items()
            if i not in own and p.get("type") in TRACING_TYPES}


class EpollEcho:
    name = "epoll_echo"

    def __init__(self, opts):
        self.args = ["-c", str(opts.conns), "-d", str(opts.seconds)]
        self.desc = (f"epoll_echo: loadgen {opts.conns} connections, PING closed loop "
                     f"for {opts.seconds:g} s")

    def start(self, wrap):
        proc = subprocess.Popen([*wrap, "taskset", "-c", "0", str(SERVER), "-p", "0"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        m = wait_for(proc.stderr, LISTEN_RE)
        return proc, int(m.group(1)), int(m.group(2))

    def load(self, port):
        """(requests/s, requests answered)"""
        out = subprocess.run(["taskset", "-c", "1", str(LOADGEN), "-p", str(port), "-q",
                              "--json", *self.args], capture_output=True, timeout=300)
        if out.returncode != 0:
            die(f"loadgen failed: {out.stderr.decode()}")
        res = json.loads(out.stdout)
        return res["requests_per_s"], res["requests"]["ok"]


class Redis:
    """Debian's redis-server 7 (an ae.c event loop, background threads),
    as test_real_servers.py starts it: loopback, no persistence."""
    name = "redis"

    def __init__(self, opts):
        self.server = shutil.which("redis-server", path="/usr/sbin:/usr/bin:/usr/local/bin")
        self.bench = shutil.which("redis-benchmark", path="/usr/sbin:/usr/bin:/usr/local/bin")
        if not self.server or not self.bench:
            die("redis-server or redis-benchmark missing: sudo scripts/install-deps.sh "
                "(or --servers epoll_echo)")
        self.requests, self.conns = opts.redis_requests, opts.conns
        self.dir = tempfile.mkdtemp(prefix="bench-overhead-redis-")
        atexit.register(shutil.rmtree, self.dir, True)
        version = subprocess.run([self.server, "--version"], capture_output=True, text=True)
        m = re.search(r"v=(\S+)", version.stdout)
        self.desc = (f"redis: redis-server {m.group(1) if m else '(version unknown)'}, "
                     f"redis-benchmark -t ping_mbulk -c {opts.conns} -n {opts.redis_requests:,}")

    def start(self, wrap):
        port = free_port()
        log = open(Path(self.dir) / "stderr", "w+b")
        proc = subprocess.Popen([*wrap, "taskset", "-c", "0", self.server, "--port", str(port),
                                 "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                                 "--dir", self.dir], stdout=subprocess.DEVNULL, stderr=log)
        deadline = time.monotonic() + 15
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
                    s.sendall(b"INFO server\r\n")
                    reply = b""
                    while not re.search(rb"process_id:(\d+)\r\n", reply):
                        chunk = s.recv(65536)
                        if not chunk:
                            break
                        reply += chunk
                m = re.search(rb"process_id:(\d+)\r\n", reply)
                if m:
                    return proc, port, int(m.group(1))
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                log.seek(0)
                stop(proc)
                die(f"redis-server did not answer: {log.read().decode(errors='replace')}")
            time.sleep(0.05)

    def load(self, port):
        out = subprocess.run(["taskset", "-c", "1", self.bench, "-h", "127.0.0.1", "-p", str(port),
                              "-c", str(self.conns), "-n", str(self.requests), "-t", "ping_mbulk",
                              "--csv"], capture_output=True, text=True, timeout=300)
        m = re.search(r'^"PING_MBULK","([0-9.]+)"', out.stdout, re.M)
        if out.returncode != 0 or not m:
            die(f"redis-benchmark failed: {out.stdout} {out.stderr}")
        return float(m.group(1)), self.requests


def start_floor(floor_args, pid):
    """hook_floor on the server, once its programs are attached."""
    proc = subprocess.Popen([str(HOOK_FLOOR), *floor_args, "-p", str(pid)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    said = []
    for line in proc.stderr:
        if b"hook_floor: attached" in line:
            return proc
        said.append(line.decode(errors="replace").strip())
    proc.wait()
    die(f"hook_floor failed: {' '.join(said)}")


def stop(proc):
    if proc is not None and proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def run(server, traced, floor):
    """One run. traced: conctrace's options (None: untraced); floor:
    hook_floor's options, on an untraced server. Returns (requests/s, server
    CPU ns per request, {program: (runs, ns)} of its own programs, others'
    tracing programs seen)."""
    binary = CONCTRACE
    if isinstance(traced, tuple):	# (another build's conctrace, its options)
        binary, traced = traced
    wrap = [str(binary), *traced, "--"] if traced is not None else []
    proc, port, pid = server.start(wrap)
    hooks = None
    try:
        if floor is not None:
            hooks = start_floor(floor, pid)
        tracer = proc if traced is not None else hooks
        own = own_prog_ids(tracer.pid) if tracer is not None else set()
        before = all_progs()
        cpu_before = cpu_ns(pid)
        rps, requests = server.load(port)
        server_ns = (cpu_ns(pid) - cpu_before) / max(requests, 1)
        after = all_progs()
    finally:
        stop(hooks)
        stop(proc)
    per_prog = {}
    for i in own:
        a, b = after.get(i, {}), before.get(i, {})
        if a:
            per_prog[a.get("name", str(i))] = (a.get("run_cnt", 0) - b.get("run_cnt", 0),
                                               a.get("run_time_ns", 0) - b.get("run_time_ns", 0),
                                               requests)
    return rps, server_ns, per_prog, foreign_tracing(before, own) | foreign_tracing(after, own)


def quiet_run(server, traced, floor, wait_s):
    """run(), on a machine where no one else's tracing programs are loaded:
    wait up to wait_s for them to go, and run once more if some came during
    a run that began quiet. On a shared host where other tracers stay, the
    run is kept and said to be touched: waiting longer would not help."""
    deadline = time.monotonic() + wait_s
    while (busy := foreign_tracing(all_progs(), set())) and time.monotonic() < deadline:
        time.sleep(0.5)
    res = run(server, traced, floor)
    if res[3] and not busy:
        res = run(server, traced, floor)
    return res


# A round whose slower untraced run (one at each end) is below this of the
# fastest untraced run of any round was slowed by the host while it ran:
# this host's speed swings by half for a minute or more at a time, under
# whole rounds or their ends (history: 2026-12-07, three --flame runs
# refused by STEADY, each for one to three arms slowed so). Tighter than
# STEADY, which the medians of the kept rounds must still meet.
ROUND_STEADY = 0.90


def slowed_rounds(brackets):
    """The rounds the host slowed, slowest first: brackets holds each
    round's two untraced throughputs (its first and last run)."""
    if not brackets:
        return []
    best = max(max(b) for b in brackets)
    slow = sorted((min(b) / best, i) for i, b in enumerate(brackets)
                  if min(b) < ROUND_STEADY * best)
    return [i for _, i in slow]


def in_turn(arms, i):
    """Round i's order of the arms: as listed, then backwards, and so on,
    so that a host whose speed drifts within a round favours no arm (one
    build against itself, in one order every round, came out lower in 6
    of 7 pairs, -97 ns per request; alternated, in 3 of 8, +82: that much
    is the A/B's own noise on that host, 2026-12-06)."""
    return arms if i % 2 == 0 else arms[::-1]


def rounds_text(server, arms, rps, cost, touched, rounds, redone, slowed):
    """The server's rounds as docs/overhead.md shows them: each arm's
    throughput and server CPU per request; then the arms against each
    other (X over Y: X's median throughput over Y's, and X's server CPU
    per request minus Y's). redone: how many times a round the host slowed
    was run again; slowed: how many rounds it still had slowed when --redo
    ran out."""
    med = {n: statistics.median(v) for n, v in rps.items()}
    best = {n: max(v) for n, v in rps.items()}
    cmed = {n: statistics.median(v) for n, v in cost.items()}
    again = (f" (rounds run again {redone} times: the host slowed them, by the untraced runs "
             f"at their two ends, below {ROUND_STEADY} of the fastest"
             + (f"; {slowed} still slowed when --redo ran out" if slowed else "") + ")"
             if redone or slowed else "")
    out = [f"{server.desc}; server on CPU 0, client on CPU 1, {rounds} interleaved rounds"
           f"{again}", "",
           "| run | median req/s | min | max | kept, medians | kept, best rounds "
           "| server CPU ns/req | added ns/req |",
           "|---|---|---|---|---|---|---|---|"]
    for name, _, _ in arms:
        v = rps[name]
        out.append(f"| {name} | {med[name]:,.0f} | {min(v):,.0f} | {max(v):,.0f} "
                   f"| {med[name] / med[UNTRACED]:.3f} | {best[name] / best[UNTRACED]:.3f} "
                   f"| {cmed[name]:,.0f} | {cmed[name] - cmed[UNTRACED]:+,.0f} |")
    out.append("")
    if touched:
        names = sorted(set().union(*(t.values() for t in touched.values())))
        out.append(f"Rounds with others' tracing programs loaded during a run: "
                   f"{len(touched)} of {rounds} ({', '.join(names)[:200]}).")
    else:
        out.append("No other tracing program was loaded at any run's start or end.")
    pairs = [(f"{FULL} over its floor", FULL, FLOOR),
             (f"{LIGHT} over its floor", LIGHT, FLOOR_LIGHT),
             (f"{LIGHT} over untraced", LIGHT, UNTRACED),
             # the syscall tracepoints' own floor, and what leaving
             # sys_exit off would save
             ("hook floor over hook floor --no-syscalls (sys_enter + sys_exit, empty)",
              FLOOR, FLOOR_LIGHT),
             ("entry-only floor over hook floor --no-syscalls (sys_enter alone, empty)",
              FLOOR_ENTRY, FLOOR_LIGHT),
             ("entry-only floor over hook floor (what entry-only saves)", FLOOR_ENTRY, FLOOR)]
    pairs += [(f"{n} over {n[:-4]}", n, n[:-4]) for n in rps if n.endswith(" [B]")]
    out += ["", f"{server.name}, arms against each other: X over Y is X's median throughput "
            "over Y's (best rounds: their best), and X's server CPU per request minus Y's", "",
            "| X over Y | kept, medians | kept, best rounds | server CPU ns/req |",
            "|---|---|---|---|"]
    for label, x, y in pairs:
        out.append(f"| {label} | {med[x] / med[y]:.3f} | {best[x] / best[y]:.3f} "
                   f"| {cmed[x] - cmed[y]:+,.0f} |")
    for name in rps:
        if name.endswith(" [B]"):
            a = name[:-4]
            out += ["", f"{name} against {a}, server CPU ns/req per round: "
                    f"{', '.join(f'{b - x:+,.0f}' for x, b in zip(cost[a], cost[name]))}."]
    return "\n".join(out) + "\n"


# iter/ programs run inside conctrace's own reads (its memory samples), not
# in the server's or anyone's syscalls
ITERATORS = ("snapshot_", "sweep_", "held_")


def bpf_ns_per_request(progs):
    """The hooks' time per request (the iterators' is conctrace's own)."""
    return sum(ns / req for n, (_, ns, req) in progs.items() if not n.startswith(ITERATORS))


def floor_name(prog):
    """hook_floor's empty program on the tracepoint conctrace's prog uses."""
    name = prog[3:] if prog.startswith("on_") else prog
    return "hook_" + ("sched_" + name if name.startswith("process_") else name)


def prog_medians(rounds):
    """{program: (runs per request, ns per run, ns per request)}, medians."""
    out = {}
    for n in sorted({n for progs in rounds for n in progs}):
        got = [p[n] for p in rounds if n in p and p[n][0]]
        if got:
            out[n] = (statistics.median(c / r for c, _, r in got),
                      statistics.median(ns / c for c, ns, _ in got),
                      statistics.median(ns / r for _, ns, r in got))
    return out


def prog_stats_text(server, arm, rounds, floor):
    """Each program's runs and time per request, from the kernel's bpf_stats:
    medians over the rounds (a program's time is its own CPU, which a busy
    host disturbs far less than throughput). Beside it, its time above the
    floor's empty program on the same tracepoint, run for run: what its
    work costs, the stats' own clock reads and the rejection of other tasks
    taken out."""
    rows = prog_medians(rounds)
    out = [f"{server.name}, {arm}: kernel.bpf_stats_enabled=1, medians of {len(rounds)} "
           f"run{'s' if len(rounds) > 1 else ''}", "",
           "| BPF program | runs per request | ns per run | ns per request "
           "| ns above the empty program (per request) |", "|---|---|---|---|---|"]
    above_all = 0.0
    for n, (runs, per_run, per_req) in sorted(rows.items(), key=lambda r: -r[1][2]):
        above = ""
        if n in floor or floor_name(n) in floor:
            f = floor.get(n) or floor[floor_name(n)]
            above_all += (per_run - f[1]) * runs
            above = f"{(per_run - f[1]) * runs:+,.1f}"
        out.append(f"| {n} | {runs:.2f} | {per_run:,.0f} | {per_req:,.1f} | {above} |")
    out.append(f"| all hooks (iterators apart: they run in conctrace's own reads) | | | "
               f"{statistics.median(bpf_ns_per_request(p) for p in rounds):,.1f} | "
               f"{f'{above_all:+,.1f}' if floor else ''} |")
    return "\n".join(out) + "\n"


def sections(text):
    """The blocks a printed run holds ({name: text}) and its `Run:` line:
    each block's text follows a line [NAME] and ends at the next one or at
    the `Run:` line."""
    blocks, name, run = {}, None, None
    for line in text.splitlines():
        m = SECTION_RE.match(line)
        if m:
            name = m.group(1)
            blocks[name] = []
        elif PROVENANCE_RE.match(line):
            run, name = line, None
        elif name:
            blocks[name].append(line)
    return {n: "\n".join(v).strip() + "\n" for n, v in blocks.items()}, run


# An arm whose median round is this far below its best was slowed by the
# host, not by what it runs: the quiet run in the documents (0da8a63) had
# every arm's median within 0.89 of its best (redis's entry-only floor the
# lowest), the runs on a noisy host since 0.52 to 0.56 (epoll_echo
# untraced, 2026-12-06 and -07), whose figures would have replaced its.
STEADY = 0.85
ROUND_ROW_RE = re.compile(r"^\| (?P<arm>[^|]+?) \| (?P<median>[\d,]+) \| [\d,]+ \| (?P<best>[\d,]+) \|")


def unsteady_arms(rounds_block):
    """The arms of a printed rounds block whose median round fell below
    STEADY of their best: [(server, arm, median / best)]."""
    found, server = [], None
    for line in rounds_block.splitlines():
        m = ROUND_ROW_RE.match(line)
        if m:
            ratio = int(m["median"].replace(",", "")) / int(m["best"].replace(",", ""))
            if ratio < STEADY:
                found.append((server, m["arm"], ratio))
        elif line and not line.startswith("|") and ": " in line:
            server = line.split(":")[0]
    return found


def write_doc(text, shared, noisy=False):
    """Write a printed run's blocks into docs/overhead.md, each under its
    `Run:` line; refuse a run others' tracing programs touched (unless
    shared) or whose rounds the host slowed (unless noisy)."""
    blocks, run = sections(text)
    if run is None or set(blocks) != set(BLOCKS):
        die(f"the output holds no `Run:` line or not the blocks {', '.join(BLOCKS)}: "
            "nothing written")
    others = int(PROVENANCE_RE.match(run).group("others"))
    if others and not shared:
        die(f"{others} other tracing programs were loaded during the runs: nothing written "
            "(--shared writes them anyway, the count in the document)")
    unsteady = unsteady_arms(blocks[BLOCKS[0]])
    if unsteady and not noisy:
        server, arm, ratio = min(unsteady, key=lambda u: u[2])
        die(f"the host slowed the rounds: {len(unsteady)} arms' median below {STEADY} of "
            f"their best ({server} {arm}: {ratio:.2f}): nothing written; rerun on a quiet "
            "machine (--noisy writes them anyway)")
    figs = write_blocks(DOC, {n: f"{run}\n\n{blocks[n]}" for n in BLOCKS})
    print(f"wrote {DOC.relative_to(ROOT)}'s blocks {', '.join(BLOCKS)} and their quotes "
          f"({len(figs)} figures)")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, help="interleaved rounds (default 5; --quick 3)")
    ap.add_argument("--seconds", type=float, help="each epoll_echo load run (default 3; --quick 1.5)")
    ap.add_argument("--redis-requests", type=int,
                    help="PINGs per redis run (default 240,000: 2-4 s here; --quick 100,000)")
    ap.add_argument("--conns", type=int, default=50, help="client connections (default 50)")
    ap.add_argument("--servers", default="epoll_echo,redis",
                    help="comma-separated: epoll_echo, redis (default both)")
    ap.add_argument("--flame", action="store_true",
                    help="also epoll_echo under --flame (three views) and --prometheus --bpf-stats")
    ap.add_argument("--quiet-wait", type=float, default=2,
                    help="before a run, wait up to this many seconds for others' tracing "
                    "programs to be gone; a run they touched after a quiet start is run "
                    "once more (default 2)")
    ap.add_argument("--redo", type=int,
                    help="runs again, per server, of rounds the host slowed (default: as "
                    f"many as --rounds): those whose untraced runs, one at each end, "
                    f"are not both within {ROUND_STEADY} of the fastest")
    ap.add_argument("--quick", action="store_true",
                    help="a short run: fewer, shorter rounds (noisier figures)")
    ap.add_argument("--stats-rounds", type=int, default=1,
                    help="interleaved runs of each arm with bpf_stats on (default 1)")
    ap.add_argument("--ab", metavar="CONCTRACE",
                    help="another build's conctrace binary: its full and light modes join "
                    "every round, and the bpf_stats runs (A/B of a change)")
    add_write_options(ap, "docs/overhead.md's blocks")
    ap.add_argument("--noisy", action="store_true",
                    help=f"write even if an arm's median round fell below {STEADY} of its "
                    "best (a host that slowed the rounds)")
    opts = ap.parse_args()
    if write_saved(opts, lambda text, shared: write_doc(text, shared, opts.noisy)):
        return 0
    if opts.rounds is None:
        opts.rounds = 3 if opts.quick else 5
    if opts.redo is None:
        opts.redo = opts.rounds
    opts.seconds = opts.seconds or (1.5 if opts.quick else 3)
    opts.redis_requests = opts.redis_requests or (100_000 if opts.quick else 240_000)
    if os.geteuid() != 0:
        die("needs root to load BPF (try sudo)")
    if (os.cpu_count() or 1) < 2:
        die("needs 2 CPUs (server and client on their own)")
    if not os.access(HOOK_FLOOR, os.X_OK):
        die(f"no {HOOK_FLOOR.relative_to(ROOT)} (make bench-overhead builds it)")
    kinds = {"epoll_echo": EpollEcho, "redis": Redis}
    names = [s for s in opts.servers.split(",") if s]
    if not names or any(s not in kinds for s in names):
        die(f"--servers: from {', '.join(kinds)}")
    servers = [kinds[s](opts) for s in names]

    # (name, conctrace's options, hook_floor's options)
    base = [(UNTRACED, None, None), (FLOOR, None, []), (FLOOR_ENTRY, None, ["--entry-only"]),
            (FLOOR_LIGHT, None, ["--no-syscalls"]), (FULL, [], None), (LIGHT, ["--no-syscalls"], None)]
    # the floor's programs show what bpf_stats itself adds to every run
    stats_arms = [base[4], base[5], base[1]]
    if opts.ab:
        other = str(Path(opts.ab).resolve())
        if not os.access(other, os.X_OK):
            die(f"--ab: {opts.ab} is not an executable")
        base += [(f"{FULL} [B]", (other, []), None),
                 (f"{LIGHT} [B]", (other, ["--no-syscalls"]), None)]
        stats_arms += base[-2:]
    arms = {s.name: list(base) for s in servers}
    if opts.flame and "epoll_echo" in arms:
        # --bpf-stats turns on the kernel's bpf_stats for the exporter's
        # figures of conctrace's own run time: two clock reads per run
        tmp = tempfile.mkdtemp(prefix="bench-overhead-")
        atexit.register(shutil.rmtree, tmp, True)
        folded = f"{tmp}/out.folded"
        arms["epoll_echo"] += [("conctrace --prometheus --bpf-stats",
                                ["--prometheus", "0", "--bpf-stats"], None)]
        # stack collection is opt-in: what each view adds, on top of full mode
        arms["epoll_echo"] += [(f"conctrace --flame {v}", ["--flame", v, "--folded", folded], None)
                               for v in ("offcpu,umem", "cpu", "syscalls,kmem")]

    t0 = time.monotonic()
    # per server and arm, each round's figure (a round run again replaces its own)
    rps = {s.name: {n: [None] * opts.rounds for n, _, _ in arms[s.name]} for s in servers}
    cost = {s.name: {n: [None] * opts.rounds for n, _, _ in arms[s.name]} for s in servers}
    brackets = {s.name: [None] * opts.rounds for s in servers}
    touched = {s.name: {} for s in servers}	# round: others' programs seen

    def one_round(s, i, again=""):
        """Round i of server s: every arm in turn, and the server untraced
        at the other end from the untraced arm (in_turn alternates both)."""
        touched[s.name].pop(i, None)
        control = None
        for name, ct_args, floor_args in in_turn(arms[s.name] + [(CONTROL, None, None)], i):
            r, ns, _, others = quiet_run(s, ct_args, floor_args, opts.quiet_wait)
            if name == CONTROL:
                control = r
            else:
                rps[s.name][name][i], cost[s.name][name][i] = r, ns
            if others:
                touched[s.name].setdefault(i, {}).update(others)
        brackets[s.name][i] = (rps[s.name][UNTRACED][i], control)
        print(f"round {i + 1}{again}, {s.name}: " +
              ", ".join(f"{n} {rps[s.name][n][i]:,.0f}/s {cost[s.name][n][i]:,.0f} ns"
                        for n, _, _ in arms[s.name]) + f"; {CONTROL} {control:,.0f}/s" +
              (" (others' tracing programs loaded)" if i in touched[s.name] else ""),
              flush=True)

    for i in range(opts.rounds):
        for s in servers:
            one_round(s, i)
    # rounds the host slowed, run again while the budget lasts
    redone = {s.name: 0 for s in servers}
    for s in servers:
        while (slow := slowed_rounds(brackets[s.name])) and redone[s.name] < opts.redo:
            redone[s.name] += 1
            one_round(s, slow[0], " again")

    # others' tracing programs at any kept run's start or end
    seen = {i: n for r in touched.values() for ids in r.values() for i, n in ids.items()}
    stats_was = Path(STATS).read_text().strip()
    Path(STATS).write_text("1")
    stats = {}
    try:
        for i in range(opts.stats_rounds):
            for s in servers:
                for name, ct_args, floor_args in in_turn(stats_arms, i):
                    res = quiet_run(s, ct_args, floor_args, opts.quiet_wait)
                    stats.setdefault((s.name, name), []).append(res[2])
                    seen.update(res[3])
    finally:
        Path(STATS).write_text(stats_was)

    print("\nOn a shared host, contention only ever takes throughput away: when rounds vary")
    print("widely, the best rounds' ratio is the one to read. Server CPU per request (its")
    print("threads' schedstat run time, which leaves out what the host steals) is steadier:")
    print("it is what tracing adds to the server's own work, whatever the client's speed;")
    print("the client shares the machine and its syscalls pay the hooks too. The hook floor")
    print("attaches programs that do nothing (compare the caller's tgid with the server's,")
    print("return) on the tracepoints conctrace uses: the least a tracer on them pays.")
    print("Syscall tracepoints put every task on the machine, the client included, on the")
    print("syscall slow path; --no-syscalls leaves them off. Memory tracking is on in every")
    print("traced run (it has no switch of its own).")
    if opts.flame:
        print("The --flame runs add stack collection to full mode, one set of views each;")
        print("--prometheus --bpf-stats adds the exporter and the kernel's bpf_stats (two")
        print("clock reads per program run), nobody scraping.")
    print("Each program's cost: runs per arm with kernel.bpf_stats_enabled=1 (which adds")
    print("a clock read to every run: the floor's empty programs show that share).")
    # what --write (or --from a saved copy of this output) puts in the
    # documents: each block after a line naming it, all under the Run: line
    out = []
    if opts.rounds:
        out.append(f"[{BLOCKS[0]}]\n\n" + "\n".join(
            rounds_text(s, arms[s.name], rps[s.name], cost[s.name], touched[s.name], opts.rounds,
                        redone[s.name], len(slowed_rounds(brackets[s.name])))
            for s in servers))
    out.append(f"[{BLOCKS[1]}]\n\n" + "\n".join(
        prog_stats_text(next(s for s in servers if s.name == sname), arm, rounds,
                        prog_medians(stats[(sname, FLOOR)]) if arm != FLOOR else {})
        for (sname, arm), rounds in stats.items()))
    argv = " ".join(shlex.quote(a) for a in sys.argv[1:])
    command = "sudo make bench-overhead" + (f" BENCH_ARGS={shlex.quote(argv)}" if argv else "")
    out.append(provenance(command, f"scripts/bench-overhead.py {argv}".strip(), len(seen)))
    report = "\n".join(out)
    print("\n" + report)
    if seen:
        print(f"others' tracing programs seen: {', '.join(sorted(set(seen.values())))[:300]}")
    for (sname, arm), rounds in stats.items():
        if arm.endswith(" [B]"):
            a = [bpf_ns_per_request(p) for p in stats[(sname, arm[:-4])]]
            b = [bpf_ns_per_request(p) for p in rounds]
            # the runs are interleaved, A's i-th beside B's: a host's
            # stall moves both of a pair more than it moves the medians
            diffs = [x - y for x, y in zip(a, b)]
            print(f"{sname}: BPF ns per request, {arm[:-4]} {statistics.median(a):,.0f}, "
                  f"[B] {statistics.median(b):,.0f} (per run: "
                  f"{', '.join(f'{x:,.0f}/{y:,.0f}' for x, y in zip(a, b))}); "
                  f"by pairs of runs: lower in {sum(d < 0 for d in diffs)} of {len(diffs)}, "
                  f"median difference {statistics.median(diffs):+,.0f}")
    print(f"\nbench-overhead: {time.monotonic() - t0:.0f} s", flush=True)
    if opts.write:
        write_doc(report, opts.shared, opts.noisy)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
