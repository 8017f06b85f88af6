#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""bench-profile: what each nanosecond of conctrace's own BPF time pays for.

bench-overhead says how much conctrace's programs cost per request (the
kernel's bpf_stats, program by program); this says on what, inside them.
epoll_echo runs pinned to CPU 0 under conctrace, loadgen drives it from
CPU 1 (50 connections, PING, closed loop), and `perf record -g` samples
CPU 0 meanwhile. A sample whose call chain passes through a BPF program
is conctrace's work: its leaf says the kind (the program's own code, a
clock read, the thread's storage, a map's code, ...), and the program's
frame, through the kernel's line table of the JIT-compiled code
(bench/prog_lines), the source line and function that did it, whether the
time was spent there or in a helper that line called. A sample in the
tracepoint's dispatch with no program under it is what empty programs pay
too (bench-overhead's hook floor), shown apart.

Per request: samples' CPU time over the requests loadgen answered during
the sampling window (its rate times the window). cpu-clock sampling in a
VM lands a little after the instruction it interrupts, so a few ns move
between neighbouring lines; the kinds and functions are steadier. (Not
bpf_stats' figure: that one counts every CPU's runs, the client's
rejected events too, and adds its own two clock reads per run.)

Needs perf (`apt-get install linux-perf`). Figures are printed, never
asserted; --write writes the block `fig:bench.profile` into
docs/overhead.md (scripts/benchlib.py), refusing a run others' tracing
programs touched unless --shared.

Usage (root): sudo make bench-profile [BENCH_ARGS="--write ..."]
Exit status: 0 measured (and written), 1 a run failed or --write refused,
2 bad usage.
"""

import argparse
import bisect
import collections
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

from benchlib import (OthersSeen, add_write_options, die, own_prog_ids, print_run, wait_for,
                      write_printed, write_saved)

ROOT = Path(__file__).resolve().parents[1]
CONCTRACE = ROOT / "conctrace"
SERVER = ROOT / "servers" / "epoll_echo"
LOADGEN = ROOT / "servers" / "loadgen"
PROG_LINES = ROOT / "build" / "bench" / "prog_lines"
DOC = ROOT / "docs" / "overhead.md"
BLOCK = "bench.profile"
LISTEN_RE = re.compile(rb"listening on tcp [^ ]+:(\d+) \(pid (\d+)\)")
MODES = {"full": [], "light": ["--no-syscalls"]}

# A sample's leaf, when a BPF program called it: what kind of work it is.
# Checked in order, by prefix; a program's own code is a bpf_prog_ symbol.
KINDS = [
    # a guest's clock source may be the hypervisor's (kvm-clock) rather than the TSC
    ("clock reads (bpf_ktime_get_ns)", ("read_tsc", "ktime_get_mono_fast_ns", "bpf_ktime_get",
                                        "kvm_clock_", "pvclock_")),
    ("thread storage (bpf_task_storage_get)", ("bpf_task_storage", "bpf_local_storage",
                                               "task_storage", "__bpf_task_storage")),
    ("current task (bpf_get_current_task_btf)", ("bpf_get_current_task",)),
    ("hash map code (lookups the JIT does not inline, updates, deletes)",
     ("htab_", "__htab_", "lookup_nulls", "alloc_htab", "free_htab", "pcpu_freelist",
      "bpf_lru", "__bpf_lru", "bpf_map_")),
    ("ring buffer (bpf_ringbuf_*)", ("bpf_ringbuf", "__bpf_ringbuf")),
    ("probe reads (bpf_probe_read_kernel*)", ("bpf_probe_read", "copy_from_kernel_nofault")),
]
OWN_CODE = "programs' own code"
# the tracepoint's way into the programs: an empty program pays it too
DISPATCH = ("bpf_trace_run", "__bpf_trace_", "__traceiter_", "bpf_prog_run")

# What each function of the programs pays for: the figure it is there for.
# A function serves one (its lines' time is that figure's), but for the
# programs' own bodies, which name what they then do. Functions named
# nowhere here are shown by name.
FIGURES = [
    ("whose event it is (every event of every task: its task, process and socket)",
     {"target_current", "tgid_is_target", "task_is_target", "target_thread",
      "socket_file_ino", "sock_ino", "classify", "proc_counters"}),
    ("the thread's state (its pending charges and current connection)", {"thread_state"}),
    ("the connection's record (found in the connection map, held while charged)",
     {"conn_lookup", "conn_gen", "conn_hold", "conn_put", "conn_get", "conn_create",
      "conn_insert", "socket_conn", "current_conn", "socket_record", "conn_closing",
      "conn_finalize", "conn_delete", "conn_mark_closed", "conn_close", "conn_send"}),
    ("a change of connection (the old one's charges flushed into its record)",
     {"flush", "to_bucket", "send_late", "move_on", "set_current", "set_current_at",
      "set_current_record", "take_deferred", "idle_bucket", "sleep_pending", "await_next",
      "read_after_wait", "loop_pass_ends", "done_with", "take_job", "current_in_teardown",
      "take_handoff", "handoff_ends"}),
    ("CPU per connection (each run split by the clock where the connection changes)",
     {"split_run", "stolen_ns", "clock_since_mark", "run_seen", "begin_run", "charge_cpu",
      "place_cpu", "at_scale", "give_out_credit", "share_of", "settle_own_run",
      "settle_shared_run", "settle_run", "connection_cpu", "note_owner", "run_key", "cpu_conn"}),
    ("syscalls (each counted by name and connection, what it names)",
     {"on_sys_enter", "on_sys_exit", "sys_enter", "sys_exit", "on_sys_call", "on_sys_return",
      "charge_syscall", "uncharge_syscall", "recount_syscall", "sys_entry_at",
      "conn_add_syscalls", "conn_take_syscall", "slot_holds", "in_call", "fd_to_socket",
      "epoll_links",
      "report_listen"}),
    ("socket I/O (the connection a read or write names, its bytes)",
     {"on_sock_recv_length", "on_sock_send_length", "sock_io", "charge_bytes"}),
    ("buffers (a connection's socket memory, sampled at its I/O)",
     {"sample_pending", "read_buffers", "conn_set_buffers", "conn_buffers_seen", "buffers_sum"}),
    ("switches and wakeups (counted per connection, the run settled at a switch)",
     {"on_sched_switch", "on_sched_switch_stateless", "on_sched_wakeup", "on_sched_waking",
      "on_sched_wakeup_new", "switch_in", "switch_out", "switched", "switch_voluntary",
      "count_switch", "mark_runnable"}),
    ("user memory (each RSS change)",
     {"on_rss_stat", "on_rss_stat_count", "rss_changed", "rss_changed_elsewhere",
      "rss_state_update", "rss_state_of", "rss_seen_at_switch", "first_sight", "rss_pages",
      "counter_sum", "note_rss_peak", "raise_peak", "page_table_bytes", "mm_id",
      "learn_cpu_offset", "rss_sums_exact"}),
]
NO_FUNCTION = "lines of no function (the compiler's: spills, the program's frame)"
UNNAMED = "functions no figure names"


def figure_of(func):
    """What func's time pays for (FIGURES), NO_FUNCTION for the compiler's
    own lines, or None: a function the table does not name."""
    if func == "?":
        return NO_FUNCTION
    return next((name for name, funcs in FIGURES if func in funcs), None)


# a function's first line in the BPF sources: `static __always_inline T
# name(`, `VERIFIED_ONCE int name(`, `int BPF_PROG(name,`
FUNC_RE = re.compile(r"^(?:static\b|VERIFIED_ONCE\b|int\b|bool\b|__u\d+\b|void\b)[^;=]*?"
                     r"(?:BPF_PROG\((\w+)|(\w+)\()")


def kind_of(leaf):
    if leaf.startswith("bpf_prog_"):
        return OWN_CODE
    for name, prefixes in KINDS:
        if leaf.startswith(prefixes):
            return name
    return f"other kernel code ({leaf})"


def source_name(path):
    """A BPF source's path as the compiler was given it, from bpf/ on:
    lib/sockets.bpf.h and progs/sockets.bpf.h are two files."""
    path = os.path.normpath(path)
    return path.split("bpf/", 1)[1] if "bpf/" in path else path


def source_functions():
    """{(source_name, line): the function that line is in}, from bpf/."""
    where = {}
    for path in sorted((ROOT / "bpf").rglob("*.bpf.[ch]")):
        name = source_name(str(path))
        current = None
        for n, text in enumerate(path.read_text().splitlines(), 1):
            m = FUNC_RE.match(text)
            if m:
                current = m.group(1) or m.group(2)
            elif text.startswith("}"):
                where[(name, n)] = current
                current = None
                continue
            where[(name, n)] = current
    return where


def read_lines(ids):
    """The JIT line table of programs ids: sorted [(address, "file:line",
    source)]."""
    out = subprocess.run([str(PROG_LINES), *map(str, sorted(ids))], capture_output=True,
                         text=True)
    if out.returncode:
        die(f"prog_lines: {out.stderr.strip() or out.returncode}")
    table = []
    for ln in out.stdout.splitlines():
        addr, _prog, loc, *src = ln.split(" ", 3)
        file, _, line = loc.rpartition(":")
        table.append((int(addr, 16), f"{source_name(file)}:{line}", src[0] if src else ""))
    if not table:
        die("the programs have no line table (no BTF line info, or the JIT is off)")
    table.sort()
    return table


def samples(data):
    """perf.data's samples: (period ns, [symbols, leaf first])."""
    out = subprocess.run(["perf", "script", "-i", str(data), "-F", "period,ip,sym"],
                         capture_output=True, text=True)
    if out.returncode:
        die(f"perf script: {out.stderr.strip()[:300]}")
    period, chain = None, []
    for ln in out.stdout.splitlines() + [""]:
        f = ln.split()
        if not f:
            if period is not None:
                yield period, chain
            period, chain = None, []
        elif period is None:
            period = int(f[0])
        else:
            chain.append((int(f[0], 16), f[1] if len(f) > 1 else "?"))


def classify(data, table, funcs):
    """Sampled ns, summed: by kind, by (kind, function), by line; and the
    dispatch's and everything's."""
    addrs = [a for a, _, _ in table]
    by_kind, by_func, by_line = (collections.Counter() for _ in range(3))
    sources, dispatch, total = {}, 0, 0
    for period, chain in samples(data):
        total += period
        frame = next((i for i, (_, s) in enumerate(chain)
                      if s.startswith("bpf_prog_") or s.startswith(DISPATCH)), None)
        if frame is None:
            continue
        ip, sym = chain[frame]
        if not sym.startswith("bpf_prog_"):
            dispatch += period
            continue
        # the program's frame: the sampled instruction (a leaf) or the
        # return address of the call a helper was sampled in (one byte
        # back: inside the call instruction, on the calling line)
        i = bisect.bisect_right(addrs, ip - (1 if frame else 0)) - 1
        if i < 0:
            continue
        _, loc, src = table[i]
        file, _, line = loc.rpartition(":")
        func = funcs.get((file, int(line))) or "?"
        kind = kind_of(chain[0][1])
        by_kind[kind] += period
        by_func[(func, kind)] += period
        by_line[loc] += period
        sources[loc] = (func, src)
    return by_kind, by_func, by_line, sources, dispatch, total


def profile(mode, secs, warm, tmp, seen):
    """One run: conctrace in mode on epoll_echo under load, CPU 0 sampled
    for secs. Returns (requests/s, classify(...))."""
    ct = subprocess.Popen([str(CONCTRACE), *MODES[mode], "--", "taskset", "-c", "0",
                           str(SERVER), "-p", "0"],
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                          start_new_session=True)
    try:
        port = int(wait_for(ct.stderr, LISTEN_RE, timeout=30).group(1))
        lg = subprocess.Popen(["taskset", "-c", "1", str(LOADGEN), "-p", str(port), "-q",
                               "-c", "50", "-d", f"{warm + secs + 2:g}", "--json"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        time.sleep(warm)
        seen.look([ct.pid])
        ids = own_prog_ids(ct.pid)
        if not ids:
            die("conctrace holds no BPF program")
        table = read_lines(ids)
        data = Path(tmp) / f"{mode}.data"
        rec = subprocess.run(["perf", "record", "-q", "-g", "-C", "0", "-o", str(data),
                              "--", "sleep", f"{secs:g}"], capture_output=True, text=True)
        seen.look([ct.pid])
        out, err = lg.communicate(timeout=warm + secs + 60)
        if rec.returncode:
            die(f"perf record: {rec.stderr.strip()[:300]}")
        if lg.returncode:
            die(f"loadgen failed: {err.decode().strip()[:300]}")
    finally:
        os.killpg(ct.pid, signal.SIGINT)
        try:
            ct.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(ct.pid, signal.SIGKILL)
            ct.wait()
    return json.loads(out)["requests_per_s"], classify(data, table, source_functions())


def bpf_stats():
    """kernel.bpf_stats_enabled: 1 adds two clock reads to every program
    run, which the dispatch row then holds."""
    return Path("/proc/sys/kernel/bpf_stats_enabled").read_text().strip()


def cell(text):
    """Source text as a table cell: the documents' tables split on |."""
    return text.replace("|", "¦").replace("`", "'")[:90]


def block_text(runs, secs, top):
    out = []
    for mode, (rps, (by_kind, by_func, by_line, sources, dispatch, total)) in runs.items():
        req = rps * secs
        ns = lambda v: v / req  # noqa: E731  (sampled ns -> ns per request)
        bpf = sum(by_kind.values()) or 1
        label = "conctrace" + (" --no-syscalls" if MODES[mode] else "")
        kinds = collections.Counter()
        others = collections.Counter()
        for kind, v in by_kind.items():
            if kind.startswith("other kernel code ("):
                others[kind[len("other kernel code ("):-1]] += v
                kind = "other kernel code"
            kinds[kind] += v
        out += [f"epoll_echo, {label}: loadgen 50 connections, PING closed loop, "
                f"{rps:,.0f} requests/s; CPU 0 (the server's) sampled for {secs:g} s; "
                f"kernel.bpf_stats_enabled={bpf_stats()}", "",
                "| where | ns per request | share of the programs' |", "|---|---|---|"]
        # every kind, in one order, none left out: the documents quote them
        for kind in [OWN_CODE] + [k for k, _ in KINDS] + ["other kernel code"]:
            out.append(f"| {kind} | {ns(kinds[kind]):.1f} | {kinds[kind] / bpf:.0%} |")
        out += [f"| the programs, sampled | {ns(bpf):.1f} | 100% |",
                f"| tracepoint dispatch (empty programs pay it too) | {ns(dispatch):.1f} | |",
                f"| the server's CPU | {ns(total):,.0f} | |", ""]
        if others:
            out += ["Other kernel code the programs called: " + ", ".join(
                f"{n} {ns(v):.1f} ns" for n, v in others.most_common(6)) + ".", ""]
        funcs = collections.Counter()
        split = collections.defaultdict(collections.Counter)
        for (func, kind), v in by_func.items():
            funcs[func] += v
            split[func][kind] += v
        out += [f"epoll_echo, {label}, by function: the {top} costliest, inlined ones apart, "
                "with what their lines called", "",
                "| function | ns per request | own code | clock reads | thread storage "
                "| other calls |", "|---|---|---|---|---|---|"]
        clock, storage = KINDS[0][0], KINDS[1][0]
        for func, v in funcs.most_common(top):
            s = split[func]
            other = v - s[OWN_CODE] - s[clock] - s[storage]
            out.append(f"| {func} | {ns(v):.1f} | {ns(s[OWN_CODE]):.1f} | {ns(s[clock]):.1f} "
                       f"| {ns(s[storage]):.1f} | {ns(other):.1f} |")
        out += ["", f"epoll_echo, {label}, by what it pays for: every function's time under "
                "the figure it serves", "",
                "| what it pays for | ns per request | share of the programs' | its costliest "
                "functions (ns per request) |", "|---|---|---|---|"]
        paid, members = collections.Counter(), collections.defaultdict(list)
        for func, v in funcs.most_common():
            figure = figure_of(func) or UNNAMED
            paid[figure] += v
            members[figure].append(f"{func} {ns(v):.1f}")
        # every figure, costliest first, none left out: the documents
        # quote them; the compiler's lines and unnamed functions if any
        rows = sorted((name for name, _ in FIGURES), key=lambda f: -paid[f])
        for figure in rows + [f for f in (NO_FUNCTION, UNNAMED) if paid[f]]:
            v = paid[figure]
            out.append(f"| {figure} | {ns(v):.1f} | {v / bpf:.0%} | "
                       f"{', '.join(members[figure][:4]) or '-'} |")
        out += ["", f"epoll_echo, {label}, by line: the {top} costliest, with what they "
                "called (| in the source shown as ¦)", "",
                "| line | function | ns per request | source |", "|---|---|---|---|"]
        for loc, v in by_line.most_common(top):
            func, src = sources[loc]
            out.append(f"| {loc} | {func} | {ns(v):.1f} | `{cell(src)}` |")
        out.append("")
    return "\n".join(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=6, help="CPU 0 sampled for (default 6)")
    ap.add_argument("--warm", type=float, default=2, help="load before sampling (default 2)")
    ap.add_argument("--modes", default="full,light", help="full, light (default both)")
    ap.add_argument("--top", type=int, default=12, help="functions and lines shown (default 12)")
    add_write_options(ap, "docs/overhead.md's block")
    opts = ap.parse_args()
    if write_saved(opts, lambda text, shared: write_printed(DOC, BLOCK, text, shared)):
        return 0
    modes = opts.modes.split(",")
    if any(m not in MODES for m in modes) or opts.seconds <= 0 or opts.top <= 0:
        ap.error("--modes takes full and light; --seconds and --top are positive")
    if os.geteuid() != 0:
        die("needs root to load BPF and sample the kernel (try sudo)")
    if not shutil.which("perf"):
        die("needs perf: apt-get install linux-perf")
    for f in (CONCTRACE, SERVER, LOADGEN, PROG_LINES):
        if not f.exists():
            die(f"{f.relative_to(ROOT)} is missing: make all {PROG_LINES.relative_to(ROOT)}")
    # bpf_stats stay as they are (off unless someone turned them on): they
    # add two clock reads to every program run
    seen, runs = OthersSeen(), {}
    with tempfile.TemporaryDirectory(prefix="bench-profile-") as tmp:
        for mode in modes:
            runs[mode] = profile(mode, opts.seconds, opts.warm, tmp, seen)
    print_run(DOC, BLOCK, block_text(runs, opts.seconds, opts.top), seen.others(), opts)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
