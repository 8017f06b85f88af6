#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""conctrace at scale: its own CPU per event, lost events and map memory, with thousands of connections open and churned.

Idle: conctrace traces epoll_echo (CPU 0) while loadgen holds idle
connections open (one PING each, so light mode sees them too), in steps up
to --idle (19,000 by default: this machine's per-process fd limit is
20,000). At each step, a PING load of --seconds (50 more connections,
loadgen on CPU 1) measures, with kernel.bpf_stats_enabled=1:

  * the hooks' events (runs of conctrace's tracepoint programs, every
    task's syscalls included, since a syscall tracepoint fires for all)
    and their BPF time per event;
  * the iterators' runs (iter/tcp walks every TCP socket on the machine at
    each memory sample) and conctrace's own process CPU (its loop, the
    samples, the iterators it runs), per second and per event;
  * the server's CPU per request;
  * conctrace's map memory as the kernel counts it (the memlock of the
    maps its fds hold), against the connections open.

Churn: --churn connections (200,000 by default) through epoll_echo, in
batches of 10,000 (one PING each, then closed): per batch, the same CPU
figures, map memory after the batch, and at the end the lost events and
the connections counted against those made.

Events are runs of conctrace's hooks, every task's syscalls included:
other work on the machine adds cheap events (rejected at the first test)
and lowers the ns per event; own CPU per request or per connection counts
them as a cost of the server's work instead.

Figures are printed, never asserted (benchmarks print). The tables, with
what they imply at a million open connections (least squares over the
full-mode steps), are printed as docs/scale.md's block `fig:bench.scale`
under a line naming the run (command, commit, machine, kernel, the count
of others' tracing programs seen around each step and batch); --write
writes it there, and every quote of it in README.md and docs/ (see
scripts/benchlib.py), refusing a run others' tracing programs touched
unless --shared. --from FILE writes a saved output's instead, running
nothing.

Usage (root): sudo make bench-scale [BENCH_ARGS="--write [--shared] ..."]
Exit status: 0 measured (and written), 1 a run failed, or --write refused
(others' tracing programs seen, or the documents quote what the run did
not give), 2 bad usage.
"""

import argparse
import json
import math
import os
import re
import signal
import statistics
import subprocess
import tempfile
import time
from functools import partial
from pathlib import Path

from benchlib import (add_write_options, all_progs, cpu_ns, die, fdinfo, other_tracers,
                      own_prog_ids, print_run, wait_for, write_printed, write_saved)

ROOT = Path(__file__).resolve().parents[1]
SERVER = ROOT / "servers" / "epoll_echo"
LOADGEN = ROOT / "servers" / "loadgen"
CONCTRACE = ROOT / "conctrace"
LISTEN_RE = re.compile(rb"listening on tcp [^ ]+:(\d+) \(pid (\d+)\)")
STATS = "/proc/sys/kernel/bpf_stats_enabled"
ITERATORS = ("snapshot_", "sweep_", "held_")	# iter/ programs: run in conctrace's own reads
DOC = ROOT / "docs" / "scale.md"
BLOCK = "bench.scale"
MILLION = 1_000_000


def loop_constant(name):
    """A constant of conctrace's loop, from its source (the projection uses
    SAMPLE_COST_RATIO: a memory sample's interval is that many times its
    CPU, at least SAMPLE_MIN_S, so samples take 1/RATIO of a CPU at any
    scale, and come more than a second apart once one costs 1/RATIO s)."""
    src = (ROOT / "userspace" / "main" / "conctrace.c").read_text()
    m = re.search(rf"^#define {name}\s+([\d.]+)", src, re.M)
    if not m:
        die(f"userspace/main/conctrace.c defines no {name}")
    return float(m.group(1))


def own_progs(pid):
    """{prog id: name} of the programs conctrace holds."""
    ids = own_prog_ids(pid)
    return {i: p.get("name", "?") for i, p in all_progs().items() if i in ids}


def prog_counters(pid, ids):
    """{name: (run_cnt, run_time_ns)} from conctrace's own prog fds."""
    out = {}
    for t in fdinfo(pid):
        m = re.search(r"^prog_id:\s+(\d+)", t, re.M)
        cnt = re.search(r"^run_cnt:\s+(\d+)", t, re.M)	# a link's fd names its prog too
        if m and cnt and int(m.group(1)) in ids:
            ns = int(re.search(r"^run_time_ns:\s+(\d+)", t, re.M).group(1))
            out[ids[int(m.group(1))]] = (int(cnt.group(1)), ns)
    return out


def map_bytes(pid):
    """conctrace's BPF maps' memory, as the kernel counts it (memlock)."""
    total, seen = 0, set()
    for t in fdinfo(pid):
        m = re.search(r"^map_id:\s+(\d+)", t, re.M)
        if m and m.group(1) not in seen:
            seen.add(m.group(1))
            total += int(re.search(r"^memlock:\s+(\d+)", t, re.M).group(1))
    return total


def sockets(pid):
    n = 0
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            n += os.readlink(fd).startswith("socket:")
        except OSError:
            pass
    return n


def wait_sockets(pid, want, timeout=60, at_least=True):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        n = sockets(pid)
        if (n >= want) if at_least else (n <= want):
            return n
        time.sleep(0.05)
    die(f"the server holds {sockets(pid)} sockets, waited for {want}")


class Traced:
    def __init__(self, light, report):
        self.report = report
        self.proc = subprocess.Popen([str(CONCTRACE), *(["--no-syscalls"] if light else []),
                                      "--json", str(report), "--json-conns", "0", "--",
                                      "taskset", "-c", "0", str(SERVER), "-p", "0"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        wait_for(self.proc.stderr, rb"conctrace: tracing pid")
        self.t0 = time.monotonic()	# its run's start, whence its samples' t_s
        m = wait_for(self.proc.stderr, LISTEN_RE)
        self.port, self.pid = int(m.group(1)), int(m.group(2))
        self.progs = own_progs(self.proc.pid)
        self.others = {}	# others' tracing programs seen around the windows
        self.base_sockets = sockets(self.pid)

    def look(self):
        """Note others' tracing programs: they slow every hook event and
        the server (outside a window: bpftool's syscalls are events too)."""
        self.others.update(other_tracers(self.progs))

    def counters(self):
        return (prog_counters(self.proc.pid, self.progs), cpu_ns(self.proc.pid), cpu_ns(self.pid),
                map_bytes(self.proc.pid), time.monotonic())

    def stop(self):
        self.proc.send_signal(signal.SIGINT)
        _, err = self.proc.communicate(timeout=120)
        if self.proc.returncode != 0:
            die(f"conctrace exited {self.proc.returncode}: {err.decode(errors='replace')[-2000:]}")
        return json.loads(Path(self.report).read_text())


def window(before, after, requests):
    """The CPU figures between two counters() readings."""
    (p0, ct0, sv0, _, t0), (p1, ct1, sv1, mb, t1) = before, after
    hooks = iters = hook_ns = iter_ns = 0
    for name, (cnt, ns) in p1.items():
        c0, n0 = p0.get(name, (0, 0))
        if name.startswith(ITERATORS):
            iters += cnt - c0
            iter_ns += ns - n0
        else:
            hooks += cnt - c0
            hook_ns += ns - n0
    secs = t1 - t0
    own = hook_ns + (ct1 - ct0)	# the iterators run inside conctrace's CPU
    return {"secs": secs, "events": hooks, "events_s": hooks / secs,
            "bpf_ns_event": hook_ns / max(hooks, 1), "iter_runs_s": iters / secs,
            "iter_ns_run": iter_ns / max(iters, 1), "ct_ms_s": (ct1 - ct0) / 1e6 / secs,
            "own_ns_event": own / max(hooks, 1), "own_ns_req": own / max(requests, 1),
            "server_ns_req": (sv1 - sv0) / max(requests, 1),
            "map_bytes": mb}


def ping_load(port, seconds):
    out = subprocess.run(["taskset", "-c", "1", str(LOADGEN), "-p", str(port), "-q", "--json",
                          "-c", "50", "-d", str(seconds)], capture_output=True, timeout=300)
    if out.returncode != 0:
        die(f"loadgen failed: {out.stderr.decode()}")
    res = json.loads(out.stdout)
    return res["requests"]["ok"], res["requests_per_s"]


def idle(light, levels, seconds, tmp):
    mode = "--no-syscalls" if light else "full mode"
    ct = Traced(light, Path(tmp) / f"idle-{int(light)}.json")
    holders, open_now, rows = [], 0, []
    try:
        for level in levels:
            if level > open_now:
                ready = Path(tmp) / f"ready-{level}"
                holders.append(subprocess.Popen(
                    ["taskset", "-c", "1", str(LOADGEN), "-p", str(ct.port), "-q",
                     "-c", str(level - open_now), "-n", "1", "--hold", "3600",
                     "--ready-file", str(ready)],
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
                wait_sockets(ct.pid, ct.base_sockets + level, timeout=120)
                open_now = level
            time.sleep(1.5)	# memory samples see them
            ct.look()
            before = ct.counters()
            requests, rps = ping_load(ct.port, seconds)
            after = ct.counters()
            ct.look()
            w = window(before, after, requests)
            w.update(open=level, rps=rps, span=(before[4] - ct.t0, after[4] - ct.t0))
            rows.append(w)
            print(f"idle ({mode}): {level:,} open, {w['map_bytes'] / 2**20:.2f} MiB of maps, "
                  f"{w['bpf_ns_event']:.0f} ns per event", flush=True)
    except BaseException:
        # a failed step (or Ctrl-C) must not leave conctrace tracing: it
        # would go on slowing every syscall on the machine
        for h in holders:
            h.kill()
        ct.proc.send_signal(signal.SIGINT)	# stops its server too
        try:
            ct.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            ct.proc.kill()
            ct.proc.wait()
        raise
    finally:
        for h in holders:
            h.send_signal(signal.SIGINT)
        for h in holders:
            h.wait(timeout=60)
    rep = ct.stop()
    rep["others"] = ct.others
    # the memory samples taken in each window (their interval adapts to
    # their cost: 20 times it, from 0.1 s to 1 s): conctrace's CPU per sample
    times = [t["t_s"] for t in rep.get("timeline", [])]
    for w in rows:
        n = sum(w["span"][0] <= t <= w["span"][1] for t in times)
        w["samples_s"] = n / w["secs"]
        w["ms_sample"] = w["ct_ms_s"] / w["samples_s"] if n else float("nan")
    return rows, rep


def churn(total, batch, tmp):
    ct = Traced(False, Path(tmp) / "churn.json")
    rows, done, t_start = [], 0, time.monotonic()
    try:
        while done < total:
            n = min(batch, total - done)
            ct.look()
            before = ct.counters()
            out = subprocess.run(["taskset", "-c", "1", str(LOADGEN), "-p", str(ct.port), "-q",
                                  "--json", "-c", str(n), "-n", "1"], capture_output=True,
                                 timeout=600)
            if out.returncode != 0:
                die(f"loadgen failed: {out.stderr.decode()[-2000:]}")
            wait_sockets(ct.pid, ct.base_sockets, at_least=False)
            w = window(before, ct.counters(), n)
            ct.look()
            done += n
            w.update(done=done, conns_s=n / w["secs"])
            rows.append(w)
            print(f"churn: {done:,} connections, {w['bpf_ns_event']:.0f} ns per event, "
                  f"{w['map_bytes'] / 2**20:.2f} MiB of maps", flush=True)
    finally:
        rep = ct.stop()
        rep["others"] = ct.others
    return rows, rep, time.monotonic() - t_start


def fit(points):
    """Least-squares (intercept, slope) of (x, y) points, NaN points left out."""
    points = [(x, y) for x, y in points if not math.isnan(y)]
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    if len(set(xs)) < 2:
        return float("nan"), float("nan")
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    b = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sum((x - mx) ** 2 for x in xs)
    return my - b * mx, b


def slope(points):
    """Least-squares bytes per connection of (open, bytes) points."""
    return fit(points)[1]


def block_text(opts, tcp_sockets, idle_runs, churned):
    """The run as docs/scale.md's block shows it: each table under its
    caption, whose head (before the colon) names its figures (benchlib);
    units in the headers, so that each cell is a figure prose may quote."""
    out = ["epoll_echo on CPU 0 under conctrace, kernel.bpf_stats_enabled=1, loadgen on CPU 1.",
           "", "before: the machine, before the run", "",
           "| before the run | count |", "|---|---|",
           f"| TCP sockets on the machine (the machine's walk visits them all: every 10th memory sample) "
           f"| {tcp_sockets:,} |"]
    ends = []
    for mode, rows, rep in idle_runs:
        base = rows[0]["map_bytes"]
        out += ["", f"idle, {mode}: connections held open in steps, a {opts.seconds:g} s PING load "
                "of 50 more at each step", "",
                "| open | MiB maps | B maps added per open connection | hook events/s "
                "| ns BPF per event | iterator runs/s | ns per iterator run "
                "| ms/s conctrace process CPU | ns own CPU per event | ns own CPU per request "
                "| ns server CPU per request | memory samples/s | ms conctrace CPU per sample |",
                "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
        for r in rows:
            per = f"{(r['map_bytes'] - base) / r['open']:,.0f}" if r["open"] else ""
            out.append(f"| {r['open']:,} | {r['map_bytes'] / 2**20:.2f} | {per} "
                       f"| {r['events_s']:,.0f} | {r['bpf_ns_event']:.0f} | {r['iter_runs_s']:,.0f} "
                       f"| {r['iter_ns_run']:.0f} | {r['ct_ms_s']:.1f} | {r['own_ns_event']:.0f} "
                       f"| {r['own_ns_req']:,.0f} | {r['server_ns_req']:,.0f} "
                       f"| {r['samples_s']:.1f} | {r['ms_sample']:.1f} |")
        tl = [(s["open_conns"], s["tracer_bytes"]) for s in rep.get("timeline", [])]
        per_sample = fit([(r["open"], r["ms_sample"]) for r in rows])[1] * 1000
        c, bpf = rep["connections"], [r["bpf_ns_event"] for r in rows]
        ends.append(f"| {mode} | {rep['lost_events']} | {c['total']:,} | {c['peak_open']:,} "
                    f"| {c.get('not_tracked', 0)} | {len(tl)} | {slope(tl):,.0f} "
                    f"| {min(b for _, b in tl) / 2**20:.2f} | {max(b for _, b in tl) / 2**20:.2f} "
                    f"| {min(bpf):.0f} | {max(bpf):.0f} | {per_sample:.2f} |")
    if ends:
        out += ["", "idle, ends: each run's lost events and connections, conctrace's own timeline "
                "over the run, and its steps' range", "",
                "| run | lost events | connections | peak open | untracked | timeline samples "
                "| B maps per open connection (least squares over the timeline) "
                "| MiB maps, lowest sample | MiB maps, highest sample "
                "| ns BPF per event, lowest step | ns BPF per event, highest step "
                "| µs conctrace CPU per sample per open connection (least squares over the steps) |",
                "|---|---|---|---|---|---|---|---|---|---|---|---|", *ends]
    full = next((rows for mode, rows, _ in idle_runs if mode == "full"), None)
    if full:
        # what the full-mode steps imply further out: maps and a memory
        # sample's cost are linear in open connections (a lookup is not);
        # samples take 1/RATIO of a CPU whatever they cost: the interval
        # grows with the cost instead
        ratio, floor = loop_constant("SAMPLE_COST_RATIO"), loop_constant("SAMPLE_MIN_S")
        m0, mb = fit([(r["open"], r["map_bytes"]) for r in full])
        s0, sb = fit([(r["open"], r["ms_sample"]) for r in full])
        # to the hundred: an extrapolation, not a count; a sample that did
        # not grow with the connections has no threshold
        at = (lambda ms: f"{round((ms - s0) / sb, -2):,.0f}") if sb > 0 else (lambda ms: "none")
        sample_s = (s0 + sb * MILLION) / 1000
        out += ["", f"projection: the full-mode steps' least squares taken further; a memory "
                f"sample as often as every {floor:g} s, its interval {ratio:g} times its CPU "
                "(userspace/main/conctrace.c)", "",
                "| projected | value |", "|---|---|",
                f"| GiB maps at {MILLION:,} open | {(m0 + mb * MILLION) / 2**30:.2f} |",
                f"| s conctrace CPU per memory sample at {MILLION:,} open "
                f"| {sample_s:.1f} |",
                f"| open connections from which samples come more than 1 s apart "
                f"| {at(1000 / ratio)} |",
                f"| s between memory samples at {MILLION:,} open "
                f"| {max(floor, sample_s * ratio):.0f} |"]
    if churned:
        rows, rep, secs = churned
        out += ["", f"churn: {opts.churn:,} connections in batches of {opts.batch:,}, one PING "
                "each, then closed, full mode", "",
                "| connections so far | connections/s | hook events per connection "
                "| ns BPF per event | ms/s conctrace process CPU | ns own CPU per event "
                "| µs own CPU per connection | MiB maps after |",
                "|---|---|---|---|---|---|---|---|"]
        own = []
        for r in rows:
            n = opts.batch if r["done"] % opts.batch == 0 else r["done"] % opts.batch
            own.append(r["own_ns_event"] * r["events"] / n / 1000)
            out.append(f"| {r['done']:,} | {r['conns_s']:,.0f} | {r['events'] / n:.1f} "
                       f"| {r['bpf_ns_event']:.0f} | {r['ct_ms_s']:.1f} | {r['own_ns_event']:.0f} "
                       f"| {own[-1]:.1f} | {r['map_bytes'] / 2**20:.2f} |")
        c, maps = rep["connections"], [r["map_bytes"] / 2**20 for r in rows]
        bpf = [r["bpf_ns_event"] for r in rows]
        out += ["", "churn, end: the run's lost events and connections, and its batches' range", "",
                "| run | seconds | lost events | connections counted | connections made "
                "| untracked | open at end | MiB maps after a batch, lowest "
                "| MiB maps after a batch, highest | µs own CPU per connection, lowest batch "
                "| µs own CPU per connection, highest batch | ns BPF per event, lowest batch "
                "| ns BPF per event, highest batch |",
                "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
                f"| full | {secs:.0f} | {rep['lost_events']} | {c['total']:,} | {opts.churn:,} "
                f"| {c.get('not_tracked', 0)} | {c['open_at_end']} | {min(maps):.2f} "
                f"| {max(maps):.2f} | {min(own):.1f} | {max(own):.1f} | {min(bpf):.0f} "
                f"| {max(bpf):.0f} |"]
    return "\n".join(out) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--idle", type=int, default=19000, help="idle connections at the last step")
    ap.add_argument("--steps", type=int, default=5, help="steps from 0 to --idle (default 5)")
    ap.add_argument("--churn", type=int, default=200000, help="connections churned (default 200,000)")
    ap.add_argument("--batch", type=int, default=10000, help="churned per batch (default 10,000)")
    ap.add_argument("--seconds", type=float, default=3, help="each PING load (default 3)")
    ap.add_argument("--modes", default="full,light", help="idle runs: full, light (default both)")
    ap.add_argument("--quick", action="store_true", help="5,000 idle, 40,000 churned, 2 s loads")
    add_write_options(ap, "docs/scale.md's block")
    opts = ap.parse_args()
    if write_saved(opts, partial(write_printed, DOC, BLOCK)):
        return 0
    if opts.quick:
        opts.idle, opts.churn, opts.seconds = 5000, 40000, 2
    if os.geteuid() != 0:
        die("needs root to load BPF (try sudo)")
    levels = sorted({round(opts.idle * i / (opts.steps - 1)) for i in range(opts.steps)})
    t0 = time.monotonic()
    tcp_sockets = len(Path("/proc/net/tcp").read_text().splitlines()) - 1 + \
        len(Path("/proc/net/tcp6").read_text().splitlines()) - 1
    stats_was = Path(STATS).read_text().strip()
    Path(STATS).write_text("1")
    idle_runs, churned = [], None
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as tmp:
        try:
            for mode in opts.modes.split(","):
                idle_runs.append((mode, *idle(mode == "light", levels, opts.seconds, tmp)))
            if opts.churn:
                churned = churn(opts.churn, opts.batch, tmp)
        finally:
            Path(STATS).write_text(stats_was)

    report = block_text(opts, tcp_sockets, idle_runs, churned)
    others = {i: n for _, _, rep in idle_runs for i, n in rep["others"].items()}
    if churned:
        others.update(churned[1]["others"])
    print(f"\nbench-scale: {time.monotonic() - t0:.0f} s", flush=True)
    print_run(DOC, BLOCK, report, others, opts)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
