# SPDX-License-Identifier: MIT
"""What the benchmarks share: their one-line exits, waiting for a line a
process prints, a process's CPU as the scheduler counts it, and the BPF
programs a process holds."""

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

NAME = Path(sys.argv[0]).stem     # bench-overhead, bench-scale, ...


def die(msg):
    sys.exit(f"{NAME}: {msg}")


def wait_for(stream, pattern, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = stream.readline()
        if not line:
            break
        m = re.search(pattern, line)
        if m:
            return m
    die(f"no line matching {pattern!r}")


def cpu_ns(pid):
    """The process's CPU time so far, as the scheduler accounts it (ns;
    steal excluded): the sum of its threads' schedstat run times."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            total += int((task / "schedstat").read_text().split()[0])
        except (FileNotFoundError, ProcessLookupError):
            pass
    return total


def fdinfo(pid):
    """The text of each of process pid's /proc fdinfo files."""
    for f in Path(f"/proc/{pid}/fdinfo").iterdir():
        try:
            yield f.read_text()
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue


def own_prog_ids(pid):
    """The BPF programs process pid holds (its fds' prog_id): conctrace's or
    hook_floor's own, whatever else runs on the machine."""
    return {int(m.group(1)) for t in fdinfo(pid)
            if (m := re.search(r"^prog_id:\s+(\d+)", t, re.M))}


def all_progs():
    """{prog id: bpftool's record} of every BPF program loaded."""
    out = subprocess.run(["bpftool", "-j", "prog", "show"], capture_output=True, text=True)
    return {p["id"]: p for p in json.loads(out.stdout or "[]")}


# ---- a long bench's figures in the documents ----------------------------------------
#
# A bench that runs for minutes cannot be rerun by the documents' test, so
# its figures are not checked against a fresh run: the bench itself writes
# them (--write), as a block between docfigures.py's markers
#
#   <!-- fig:NAME begin -->
#   Run: `COMMAND` (`WHAT IT RAN`), DATE, commit HASH, MACHINE; other BPF tracing programs: N.
#   | a | markdown | table |
#   <!-- fig:NAME end -->
#
# and the one line above the table says which command, commit, machine and
# kernel made them. A figure of the table quoted in prose is an inline
# marker NAME.ROW (its first number column) or NAME.ROW.COLUMN (a later one,
# COLUMN its header's slug), written by the same bench from the same block:
# tests/integration/test_docfigures.py checks, without running anything,
# that each block has that line and a well-formed table, and that every
# quote is the block's value.

PROVENANCE_RE = re.compile(
    r"^Run: `(?P<command>[^`]+)` \(`(?P<ran>[^`]+)`\), (?P<date>\d{4}-\d{2}-\d{2}), "
    r"commit (?P<commit>[0-9a-f]{7,40}(?:-dirty)?|unknown), (?P<machine>[^;]+); "
    r"other BPF tracing programs: (?P<others>\d+)\.$")
ROW_RE = re.compile(r"^\|(.*)\|$")


def machine():
    """The machine a run was made on, in scripts/compare's words (MemTotal
    in whole GiB, rounded down): one machine, one name in the documents.
    (compare is installed alone, without this module: hence a copy.)"""
    u = os.uname()
    with open("/proc/meminfo") as f:
        mem = int(f.readline().split()[1]) // 1024 // 1024
    return f"{u.machine}, {os.cpu_count()} CPUs, {mem} GiB, Linux {u.release}"


def commit():
    root = Path(__file__).resolve().parents[1]
    out = subprocess.run(["git", "-C", str(root), "describe", "--always", "--dirty",
                          "--abbrev=7", "--exclude=*"], capture_output=True, text=True)
    return out.stdout.strip() if out.returncode == 0 and out.stdout.strip() else "unknown"


def other_tracers(own=()):
    """How many BPF programs of the kinds that run on every task's syscalls
    or switches other processes hold ({id: name}): each slows what a bench
    times."""
    kinds = ("tracepoint", "raw_tracepoint", "tracing", "kprobe", "perf_event")
    return {i: p.get("name", "?") for i, p in all_progs().items()
            if p.get("type") in kinds and i not in own}


def provenance(command, ran, others):
    return (f"Run: `{command}` (`{ran}`), {time.strftime('%Y-%m-%d')}, commit {commit()}, "
            f"{machine()}; other BPF tracing programs: {others}.")


def slug(text):
    """A table label as a figure name's part: `bpf_ktime_get_ns`,
    `hash_map_lookup` (what a parenthesis adds is left out)."""
    return re.sub(r"[^a-z0-9]+", "_", text.split("(")[0].strip("` ").lower()).strip("_")


def parse_block(value):
    """A recorded block's provenance (a dict) and table ([header, rows...],
    cells stripped), or raise ValueError saying what is wrong."""
    lines = [ln for ln in value.strip().splitlines() if ln.strip()]
    m = PROVENANCE_RE.match(lines[0]) if lines else None
    if not m:
        raise ValueError("its first line is not the bench's `Run: ...` line "
                         "(rerun the bench with --write)")
    table = [[c.strip() for c in r.group(1).split("|")] for ln in lines[1:]
             if (r := ROW_RE.match(ln.strip()))]
    if len(table) < 3 or not set(table[1][0]) <= set("-: ") \
            or any(len(r) != len(table[0]) for r in table):
        raise ValueError("no well-formed table under its `Run:` line")
    return m.groupdict(), [table[0]] + table[2:]


def block_figures(name, value):
    """{NAME.ROW[.COLUMN]: 'X ns'-like text} of a recorded block: what prose
    may quote of it. A number column's header starts with its unit (`ns`,
    `ns inside the program`): the unit follows the number, the rest names
    the column."""
    _, table = parse_block(value)
    head, figs = table[0], {}
    for row in table[1:]:
        for i, cell in enumerate(row[1:], 1):
            try:
                x = float(cell.replace(",", ""))
            except ValueError:
                continue
            unit, *what = head[i].split()
            col = "" if i == 1 else "." + slug(" ".join(what))
            figs[f"{name}.{slug(row[0])}{col}"] = f"{x:,.0f} {unit}"
    return figs


def write_block(doc, name, value):
    """Write a recorded block into doc, between its markers, and every
    quote of it in README.md and docs/*.md."""
    root = Path(__file__).resolve().parents[1]
    text = doc.read_text()
    begin, end = f"<!-- fig:{name} begin -->\n", f"<!-- fig:{name} end -->"
    if begin not in text or end not in text:
        die(f"{doc}: no {begin.strip()} ... {end} block to write")
    head, rest = text.split(begin, 1)
    doc.write_text(head + begin + value + rest[rest.index(end):])
    figs = block_figures(name, value)
    quote = re.compile(rf"<!-- fig:({re.escape(name)}\.[\w.\-]+) -->(.*?)<!-- /fig -->", re.S)
    for f in [root / "README.md"] + sorted((root / "docs").glob("*.md")):
        t = f.read_text()
        new = quote.sub(lambda m: f"<!-- fig:{m.group(1)} -->{figs[m.group(1)]}<!-- /fig -->"
                        if m.group(1) in figs else m.group(0), t)
        if new != t:
            f.write_text(new)
    return figs
