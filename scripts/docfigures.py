#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The measured figures of README.md and docs/*.md, written from runs.

Every figure the documents show that comes from a measurement on this
machine sits between generated markers, and this script writes it from a
run's JSON (or, for a kernel size, from the kernel), never by hand:

  <!-- fig:NAME -->VALUE<!-- /fig -->            one figure, inline
  <!-- fig:NAME begin --> ... <!-- fig:NAME end -->   a block (the example report)

A NAME used in several places (and documents) is one figure: the same
value everywhere. The runs (scripts/docfigures_runs.py), all short (about
40 s together):

  kernel   slab slot sizes (/sys/kernel/slab/NAME/slab_size), read each run
  idle     each bundled server over TCP, conctrace attached once it
           listens, IDLE_CONNS connections from loadgen (one PING each, then
           held): RSS growth (smaps_rollup), conctrace's user and kernel
           bytes per connection and its categories, the slab truth
           (tests/integration/slabtruth.py) for the same held state
  attach   threaded_echo holding test_attach.py's connections before
           conctrace attaches (-p): held kernel bytes per connection, and
           the slab truth
  cgroup   each bundled server under --cgroup holding test_memory.py's
           idle connections (its cgroup test's run): the share of the
           cgroup's kernel charge conctrace attributes, its cgroup line
  example  README's example: `conctrace --load='-c 1000 -n 10' --
           ./servers/threaded_echo -p 0`, its text report
  compare  not rerun here (about 100 s at 10,000 connections): the tables
           of docs/results.md and docs/usage.md are rendered from
           docs/compare.json, which `--compare` (or `make compare`-like
           `scripts/compare ... --json docs/compare.json`) rewrites

The long benches (RECORDED: minutes, or a quiet machine) write their own
blocks (`<!-- fig:bench.NAME begin -->`, see scripts/benchlib.py) under a
line naming the command, commit, machine and kernel; this script leaves
them as they are, and the check holds them to that form and their quotes
in prose to the block's values, without running them.

Each figure has a noise (NOISE below): how far two runs of it were seen to
differ, stated in the documents next to it (a `noise.KEY` figure), and what
tests/integration/test_docfigures.py allows between the documents and a
fresh run. Kernel sizes and figures rendered from compare.json are exact.

Usage (root: BPF):  sudo make docs-figures   (scripts/docfigures.py [--compare])
                    scripts/docfigures.py --check   (compare, write nothing)
Exit status: 0 written (or --check: documents agree), 1 a run failed or
--check found a difference, 2 bad usage.
"""

import argparse
import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
import benchlib  # noqa: E402  (the long benches' recorded blocks)
# the runs (docfigures_runs.py), and what the figures say of them
from docfigures_runs import (ATTACH_CONNS, COMPARE_JSON, IDLE_CONNS, RunError,  # noqa: E402
                             measure, measure_compare)
from docfigures_runs import SERVERS  # noqa: E402,F401  (the tests' list of servers)

MODEL = {"threaded_echo": "threaded", "epoll_echo": "epoll", "coro_echo": "coro",
         "uring_echo": "uring"}
OBJECTS = ("sock", "inode", "file", "dentry", "lsm", "epoll", "thread", "io_uring",
           "page_tables", "vmas")
# the blocks the long benches write, and the command each block's `Run:`
# line must name (the bench that wrote it)
# block: the command that writes it (one run of bench-overhead writes both
# of its blocks, under one `Run:` line)
RECORDED = {"bench.helpers": "make bench-helpers",
            "bench.overhead.rounds": "make bench-overhead",
            "bench.overhead.bpf_stats": "make bench-overhead",
            "bench.scale": "make bench-scale",
            "bench.profile": "make bench-profile",
            "bench.exporter": "make bench-exporter",
            "bench.churn": "make bench-churn",
            "bench.retention": "make bench-retention",
            "bench.servers": "make bench-servers"}

# Noise per kind of figure: (relative, absolute in the figure's unit,
# factor, what the documents say). Measured: ten runs of `make
# docs-figures` here (see the commit that set them). A figure passes when
# |doc - fresh| <= max(rel * fresh, abs), or for a factor, when each is
# within that factor of the other.
NOISE = {
    "exact": (0, 0, None, "exact (rendered from a stored run, or set by the run's options)"),
    # a kernel build's own sizes: exact, on the build the documents name
    # (host.kernel); another build's are not this one's to check
    "build": (0, 0, None, "exact on the kernel build the documents name"),
    # the kinds below are sums of the kernel's object sizes too (a
    # thread-per-connection server's idle connection holds a task_struct):
    # checked on the build the documents name, like "build"
    "idle_bytes": (0.01, 16, None, "1% or 16 B"),
    "rss": (0.10, 0, None, "10%"),
    "closure": (0.15, 0, None, "15% (the caches' growth over the whole run: "
                "other processes' objects count too)"),
    "idle_truth": (0.05, 0, None, "5% (other processes allocate from the same caches: "
                   "a run they disturbed is repeated)"),
    "idle_share": (0, 1, None, "1 point"),
    "cgroup": (0.02, 0, None, "2%"),
    # the cgroup's line also reads socket buffers charged: a gauge of the
    # moment, 0 to 44 KiB of 3,000 idle connections' (a handshake's or a
    # close's skbs in flight), whose 2% would be bytes
    "cgroup_line": (0.02, {"bytes": 64 << 10}, None, "2%, or 64 KiB of bytes"),
    "example": (0.10, 0, 3.0, "10% for counts and bytes, a factor of 3 for times"),
    # the maps' peak follows the connections and threads live when sampled
    "maps_peak": (0.20, 0, None, "20% (3.0 to 3.4 MiB over four runs: it follows the "
                  "connections and threads live when it is sampled)"),
}
# figures made of the kernel's object sizes (see "build" above): on
# another kernel build they are that build's to state, not errors of the
# documents, and build_differences names those that differ
OF_THE_BUILD = ("build", "idle_bytes", "idle_truth", "idle_share", "cgroup", "cgroup_line",
                "closure")


# ---- the figures, from the runs ---------------------------------------------------------

class Fig:
    """A figure's text as the documents show it, and its noise (a NOISE key)."""

    def __init__(self, value, noise, block=False):
        self.value, self.noise, self.block = value, noise, block


def fmt_b(x):
    return f"{round(x):,} B"


def fmt_n(x):
    return f"{round(x):,}"


def idle_figures(idle, kernel):
    figs = {"idle.conns": Fig(fmt_n(IDLE_CONNS), "exact")}
    for s, r in idle.items():
        # one connection's record in the connection map: a struct's size,
        # the same in every run and server (the hash element around it is
        # test_memory.py's)
        figs["tracer.conn_record"] = Fig(fmt_b(r["record"]), "exact")
        figs["tracer.conn_elem"] = Fig(fmt_b(r["elem"]), "exact")
        figs["tracer.thread_state"] = Fig(fmt_b(r["thread_state"]), "exact")
        b = r["breakdown"]
        objects = sum(b[c] for c in OBJECTS)
        figs.update({
            f"idle.{s}.kernel_total": Fig(f"{r['kernel'] * IDLE_CONNS / 2**20:.1f} MiB",
                                          "idle_bytes"),
            f"idle.{s}.rss": Fig(f"{r['rss_held'] / 1024:,.0f} KiB", "rss"),
            f"idle.{s}.rss_growth": Fig(fmt_b(r["rss_growth"]), "idle_bytes"),
            f"idle.{s}.user": Fig(fmt_b(r["user"]), "idle_bytes"),
            f"idle.{s}.kernel": Fig(fmt_b(r["kernel"]), "idle_bytes"),
            f"idle.{s}.truth": Fig(fmt_b(r["truth"]), "idle_truth"),
            f"idle.{s}.objects": Fig(fmt_b(objects), "idle_bytes"),
            # what a comparison by RSS sees of the whole: user / (kernel + user)
            f"idle.{s}.rss_share": Fig(f"{100 * r['user'] / (r['user'] + r['kernel']):.0f}%",
                                       "idle_share"),
        })
        for c in OBJECTS:
            if b[c] >= 0.5:
                figs[f"idle.{s}.{c}"] = Fig(fmt_n(b[c]), "idle_bytes")
        if s == "coro_echo":    # the stack mappings attach does not find yet
            figs[f"idle.{s}.stack_maps"] = Fig(fmt_b(b["vmas"] + b["page_tables"]), "idle_bytes")
        if s == "threaded_echo":
            # a thread is its task_struct, its pid and its kernel stack
            # (stack_vm_area's size): the stack is what is left of the thread
            kstack = b["thread"] - kernel["task_struct"] - kernel["pid"]
            figs["thread.kernel_stack"] = Fig(fmt_n(kstack), "idle_bytes")
            figs["thread.vmas"] = Fig(f"{b['vmas'] / kernel['vm_area_struct']:.0f}", "idle_bytes")
        if s == "threaded_echo" and r["closure_line"]:
            tcp = r["closure"]["caches"]["TCP"]
            figs[f"idle.{s}.closure"] = Fig(
                "```\n" + "\n".join(textwrap.wrap(r["closure_line"], 84)) + "\n```\n",
                "closure", block=True)
            figs[f"idle.{s}.tcp_growth"] = Fig(fmt_n(tcp["growth_objects"]), "closure")
            figs[f"idle.{s}.tcp_attributed"] = Fig(fmt_n(tcp["attributed_objects"]), "closure")
        if r["verdict"] and s == "epoll_echo":
            # the report's own rounding (0.1 KiB): a report line's noise
            figs[f"idle.{s}.verdict"] = Fig("`" + r["verdict"][3:] + "`", "example")
    return figs


def build_id():
    """The running kernel's GNU build ID (the ELF note the kernel exports in
    /sys/kernel/notes), its first 8 hex digits; "" where it is unreadable."""
    try:
        notes = Path("/sys/kernel/notes").read_bytes()
    except OSError:
        return ""
    off = 0
    while off + 12 <= len(notes):
        namesz, descsz, ntype = (int.from_bytes(notes[off + 4 * i:off + 4 * i + 4], "little")
                                 for i in range(3))
        name_at = off + 12
        desc_at = name_at + (namesz + 3) // 4 * 4
        if ntype == 3 and notes[name_at:name_at + namesz].rstrip(b"\0") == b"GNU":
            return notes[desc_at:desc_at + descsz].hex()[:8]    # NT_GNU_BUILD_ID
        off = desc_at + (descsz + 3) // 4 * 4
    return ""


FPU_RE = re.compile(rb"x86/fpu: Enabled xstate features \S+, context size is (\d+) bytes")


def fpu_state():
    """The register state the kernel keeps for each task (x86: the XSAVE
    context its boot log states), in bytes; None where the log no longer
    holds the line. task_struct's slab object holds it, so the CPU sets
    task_struct's size as much as the build does: one build (32a7f3ba)
    read 4,288 B on one machine and 5,824 on another, whose context is
    2,432 B with AVX-512's 1,600."""
    try:
        fd = os.open("/dev/kmsg", os.O_RDONLY | os.O_NONBLOCK)
    except OSError:
        return None
    try:
        while True:
            try:
                record = os.read(fd, 8192)
            except BlockingIOError:
                return None         # the whole log read
            except BrokenPipeError:
                continue            # records overwritten while read: go on
            m = FPU_RE.search(record)
            if m:
                return int(m[1])
    finally:
        os.close(fd)


def this_build():
    """The running kernel as the documents name the build their sizes are
    from: machine, full release, build ID and the per-task register state
    (fpu_state). Slab sizes differ between builds of one version
    (task_struct 5,888 B on one 6.18.44 build, 5,824 on the next), and
    with the CPU on one build."""
    u = os.uname()
    said = [f"build {bid}" for bid in [build_id()] if bid]
    said += [f"FPU state {n:,} B" for n in [fpu_state()] if n]
    return f"{u.machine}, {u.release}" + (f" ({', '.join(said)})" if said else "")


def kernel_figures(kernel):
    figs = {f"slab.{c}": Fig(fmt_n(v), "build") for c, v in kernel.items()}
    figs["host.kernel"] = Fig(this_build(), "build")
    # what the first fault of a new anonymous mapping allocates besides
    # its pages (the part of a cgroup's charge conctrace does not attribute)
    figs["slab.anon_vma_pair"] = Fig(fmt_n(kernel.get("anon_vma", 0)
                                           + kernel.get("anon_vma_chain", 0)), "build")
    figs["slab.lsm"] = Fig(fmt_n(kernel.get("lsm_inode_cache", 0)
                                 + kernel.get("lsm_file_cache", 0)), "build")
    return figs


def example_line(report, start):
    return next((ln.strip() for ln in report.splitlines() if ln.strip().startswith(start)), "")


def first_items(line, n):
    """A report line cut after its first n comma-separated items."""
    return ", ".join(line.split(", ")[:n]) + ", …"


def example_figures(report):
    """README's example report (top connections cut to one), and the lines
    of it docs/report.md quotes."""
    lines = report.rstrip("\n").splitlines()
    out = list(lines)
    top = next((i for i, ln in enumerate(lines) if ln.startswith("top ")), None)
    if top is not None:
        # the column heads and the costliest connection; the rest are alike
        end = next((i for i in range(top + 1, len(lines)) if not lines[i].startswith("  ")),
                   len(lines))
        if end > top + 3:
            out = lines[:top + 3] + ["  ..."] + lines[end:]
    header = re.sub(r"^conctrace: .* \(pid \d+\):", "conctrace: CMD (pid N):", lines[0])
    quote = {
        "header": header,
        "connections": example_line(report, "connections:"),
        "syscalls": first_items(example_line(report, "syscalls/conn:"), 2),
        "kernel": first_items(example_line(report, "kernel memory/conn:"), 2),
        "verdict": example_line(report, "=>"),
        "tracer": example_line(report, "conctrace itself:").split(",")[0] + " …",
    }
    figs = {"example.report": Fig("```\n" + "\n".join(out) + "\n```\n", "example", block=True)}
    figs.update({f"example.{k}": Fig(f"**`{v}`**", "maps_peak" if k == "tracer" else "example")
                 for k, v in quote.items()})
    return figs


def noise_figures():
    return {f"noise.{k}": Fig(v[3], "exact") for k, v in NOISE.items()}


def figures(m, compare=None):
    """name -> Fig, for every figure the runs m (and compare.json) give."""
    figs = noise_figures()
    if "kernel" in m:
        figs.update(kernel_figures(m["kernel"]))
    if "idle" in m:
        figs.update(idle_figures(m["idle"], m["kernel"]))
    if "cgroup" in m:
        for name, r in m["cgroup"].items():
            figs[f"cgroup.{name}.explained"] = Fig(f"{100 * r['explained']:.0f}%", "cgroup")
            figs[f"cgroup.{name}.line"] = Fig(
                "```\n" + "\n".join(textwrap.wrap(r["line"], 84)) + "\n```\n", "cgroup_line",
                block=True)
    if "attach" in m:
        figs["attach.conns"] = Fig(fmt_n(ATTACH_CONNS), "exact")
        for name, r in m["attach"].items():
            figs[f"attach.{name}.kernel"] = Fig(fmt_b(r["kernel"]), "idle_bytes")
            figs[f"attach.{name}.truth"] = Fig(fmt_b(r["truth"]), "idle_truth")
    if "example" in m:
        figs.update(example_figures(m["example"]))
    if compare is not None:
        figs.update(compare_figures(compare))
    return figs


# ---- docs/compare.json: rendered, not rerun ---------------------------------------------

def fmt_size(b):
    """scripts/compare's byte format: KiB from 10 KiB on."""
    return f"{b / 1024:,.1f} KiB" if b >= 10 * 1024 else f"{b:,.0f} B"


def fmt_latency(us):
    return f"{us / 1000:,.0f} ms" if us >= 10000 else f"{us:,.0f} µs"


COMPARE_FIELDS = {
    "user": lambda r: fmt_size(r["user_bytes_per_conn"]),
    "kernel": lambda r: fmt_size(r["kernel_bytes_per_conn"]),
    "total": lambda r: fmt_size(r["total_bytes_per_conn"]),
    "share": lambda r: f"{100 * r['kernel_bytes_per_conn'] / r['total_bytes_per_conn']:.0f}%",
    "ctxsw": lambda r: f"{r['ctx_switches_per_request']:.2f}",
    "syscalls": lambda r: f"{r['syscalls_per_request']:.1f}",
    "cpu": lambda r: f"{r['cpu_us_per_request']:,.0f}",
    "p99": lambda r: fmt_latency(r["latency_p99_us"]),
    "rps": lambda r: f"{r['requests_per_s']:,.0f}",
    "buffers": lambda r: fmt_size(r["kernel_buffers_per_conn"]),
}
RAW = {"user": "user_bytes_per_conn", "kernel": "kernel_bytes_per_conn",
       "total": "total_bytes_per_conn", "ctxsw": "ctx_switches_per_request",
       "syscalls": "syscalls_per_request", "cpu": "cpu_us_per_request",
       "p99": "latency_p99_us", "rps": "requests_per_s", "buffers": "kernel_buffers_per_conn",
       "share": None}
EVENT_MODELS = ("epoll", "coro", "uring")


def span(rows, field):
    """min–max of a field over rows, each end in the field's format."""
    key = (lambda r: r["kernel_bytes_per_conn"] / r["total_bytes_per_conn"]) \
        if RAW[field] is None else (lambda r: r[RAW[field]])
    lo, hi = min(rows, key=key), max(rows, key=key)
    a, b = COMPARE_FIELDS[field](lo), COMPARE_FIELDS[field](hi)
    return a if a == b else f"{a}–{b}"


def compare_ranges(rows):
    """Ranges the prose quotes: over the models at one N
    (compare.SC.all.N.FIELD.range), over N for one model
    (compare.SC.MODEL.all.FIELD.range), over the event-driven models from
    N = 1000 on (compare.SC.events.big.FIELD.range)."""
    ok = [r for r in rows if r["status"] == "ok"]
    groups = {}
    for r in ok:
        sc = r["scenario"]
        groups.setdefault(f"compare.{sc}.all.{r['conns']}", []).append(r)
        groups.setdefault(f"compare.{sc}.{r['model']}.all", []).append(r)
        if r["model"] in EVENT_MODELS and r["conns"] >= 1000:
            groups.setdefault(f"compare.{sc}.events.big", []).append(r)
    return {f"{g}.{f}.range": Fig(span(rs, f), "exact") for g, rs in groups.items() for f in RAW}


TABLE_FIELDS = ("user", "kernel", "total", "share", "ctxsw", "syscalls", "cpu", "p99", "rps")


def compare_figures(doc):
    """Every cell of compare.json's rows as compare.SCENARIO.MODEL.N.FIELD,
    the tables docs/results.md and docs/usage.md show, the run's machine and date."""
    figs = {"compare.machine": Fig(doc["machine"], "exact"),
            "compare.date": Fig(doc.get("date", "before 2026-12"), "exact"),
            # the run's own command line, as scripts/compare stored it
            "compare.command": Fig(f"`{doc['command']}`" if doc.get("command") else "not stored",
                                   "exact")}
    tables = {}
    for r in doc["rows"]:
        key = f"compare.{r['scenario']}.{r['model']}.{r['conns']}"
        if r["status"] != "ok":
            cells = [f"{r['status']}: {r['reason']}"] + [""] * (len(TABLE_FIELDS) - 1)
        else:
            cells = [COMPARE_FIELDS[f](r) for f in TABLE_FIELDS]
            for f, fmt in COMPARE_FIELDS.items():
                figs[f"{key}.{f}"] = Fig(fmt(r), "exact")
        tables.setdefault(r["scenario"], []).append(
            f"| {r['model']} | {r['conns']:,} | " + " | ".join(cells) + " |")
    head = ("| model | N | user/conn | kernel/conn | total/conn | kernel share | ctx sw/req "
            "| syscalls/req | CPU µs/req | p99 | req/s |\n|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n")
    for scenario, rows in tables.items():
        figs[f"compare.{scenario}.table"] = Fig(head + "\n".join(rows) + "\n", "exact", block=True)
    figs.update(compare_ranges(doc["rows"]))
    top = max(r["conns"] for r in doc["rows"])
    summary = ["| model | user/conn | kernel/conn | kernel share | busy: ctx switches/request |",
               "| --- | --- | --- | --- | --- |"]
    for model in MODEL.values():
        idle = figs.get(f"compare.idle.{model}.{top}.user")
        if idle is None:
            continue
        k = f"compare.idle.{model}.{top}"
        busy = figs.get(f"compare.busy.{model}.{top}.ctxsw")
        summary.append(f"| {model}_echo | {figs[k + '.user'].value} | {figs[k + '.kernel'].value} "
                       f"| {figs[k + '.share'].value} | {busy.value if busy else '-'} |")
    figs["compare.summary"] = Fig("\n".join(summary) + "\n", "exact", block=True)
    return figs


# ---- the documents ----------------------------------------------------------------------

INLINE_RE = re.compile(r"<!-- fig:([\w.\-]+) -->(.*?)<!-- /fig -->", re.S)
BLOCK_RE = re.compile(r"<!-- fig:([\w.\-]+) begin -->\n(.*?)<!-- fig:\1 end -->", re.S)


def doc_files():
    return [ROOT / "README.md"] + sorted((ROOT / "docs").glob("*.md"))


def check_recorded(texts=None):
    """Problems of the long benches' blocks and their quotes, from the
    documents alone (nothing is run): a block without its bench's `Run:`
    line (command, date, commit, machine) or tables, a block that names
    another command, blocks of one command from two runs, a quote the block
    does not give or gives otherwise."""
    problems = []
    texts = texts or {f: f.read_text() for f in doc_files()}
    blocks, quotes, seen, runs = {}, [], set(), {}
    for f, text in texts.items():
        for fig, value, block in markers(text):
            name = recorded(fig)
            if name is None:
                continue
            where = f"{f.relative_to(ROOT)}: fig:{fig}"
            if not block:
                quotes.append((where, fig, value, name))
                continue
            if fig in seen:
                problems.append(f"{where}: a second block (one figure per quantity: link to it)")
                continue
            seen.add(fig)
            if not value.strip():
                problems.append(f"{where}: no value (run `sudo {RECORDED[fig]} "
                                f"BENCH_ARGS=--write`)")
                continue
            try:
                prov, _ = benchlib.parse_block(value)
                blocks[fig] = benchlib.block_figures(fig, value)
            except ValueError as e:
                problems.append(f"{where}: {e}")
                continue
            if RECORDED[fig] not in prov["command"]:
                problems.append(f"{where}: its `Run:` line names `{prov['command']}`, "
                                f"not {RECORDED[fig]}: written by hand or by another bench")
                continue
            runs.setdefault(RECORDED[fig], {})[fig] = value.strip().splitlines()[0]
    for name in RECORDED:
        if name not in seen:
            problems.append(f"no document holds the fig:{name} block")
    for command, lines in runs.items():
        # one bench writes all its blocks at once: blocks of two runs mean
        # one was pasted from elsewhere, or another bench wrote half
        if len(set(lines.values())) > 1:
            problems.append(f"the blocks of {command} ({', '.join(sorted(lines))}) come from "
                            "different runs (their `Run:` lines differ)")
    for where, fig, value, name in quotes:
        if name not in blocks:
            continue
        if fig not in blocks[name]:
            problems.append(f"{where}: the {name} block gives no such figure")
        elif (why := blocks[name][fig].quote_problem(value)):
            problems.append(f"{where} is {why}")
    return problems


def recorded(name):
    """The long bench block name belongs to (its block or a quote of it), or
    None; the longest such block (bench.overhead.rounds, not a shorter name
    it extends)."""
    return max((r for r in RECORDED if name == r or name.startswith(r + ".")),
               key=len, default=None)


def markers(text):
    """[(name, value, block)] of a document's generated figures."""
    return ([(m.group(1), m.group(2), False) for m in INLINE_RE.finditer(text)]
            + [(m.group(1), m.group(2), True) for m in BLOCK_RE.finditer(text)])


def rewrite(text, figs):
    """text with every marker's value written from figs; names figs lacks
    are left as they are (and returned)."""
    unknown = []

    def inline(m):
        if recorded(m.group(1)):
            return m.group(0)       # the bench's, not this script's
        if m.group(1) not in figs or figs[m.group(1)].block:
            unknown.append(m.group(1))
            return m.group(0)
        return f"<!-- fig:{m.group(1)} -->{figs[m.group(1)].value}<!-- /fig -->"

    def block(m):
        if recorded(m.group(1)):
            return m.group(0)
        if m.group(1) not in figs or not figs[m.group(1)].block:
            unknown.append(m.group(1))
            return m.group(0)
        return f"<!-- fig:{m.group(1)} begin -->\n{figs[m.group(1)].value}<!-- fig:{m.group(1)} end -->"

    return BLOCK_RE.sub(block, INLINE_RE.sub(inline, text)), unknown


def write_docs(figs):
    """Write every document's figures; the names no run gave."""
    unknown = []
    for f in doc_files():
        text = f.read_text()
        new, missing = rewrite(text, figs)
        unknown += [f"{f.relative_to(ROOT)}: {n}" for n in missing]
        if new != text:
            f.write_text(new)
    return unknown


# ---- checking the documents against fresh figures ---------------------------------------

TOKEN_RE = re.compile(r"(?<![\w.])(\d[\d,]*(?:\.\d+)?)\s?(KiB|MiB|GiB|B|ns|us|µs|ms|s|%|k)?(?!\w)")
UNITS = {"B": ("bytes", 1), "KiB": ("bytes", 1024), "MiB": ("bytes", 1 << 20),
         "GiB": ("bytes", 1 << 30), "ns": ("time", 1e-9), "us": ("time", 1e-6),
         "µs": ("time", 1e-6), "ms": ("time", 1e-3), "s": ("time", 1), "%": ("points", 1),
         "k": ("count", 1000), None: ("count", 1)}
# the lines of the example report the check compares, and how many of
# their columns (None: the whole line); the rest are times or ids
EXAMPLE_CHECKED = {"connections:": None, "bytes rx": None, "bytes tx": None, "=>": None,
                   "kernel memory ": 2, "user memory ": 2}


def tokens(text):
    """text's skeleton (each number replaced by its kind) and its numbers in
    base units: 16.3KiB and 16,691 B compare as bytes."""
    values = []

    def repl(m):
        kind, scale = UNITS[m.group(2)]
        values.append((kind, float(m.group(1).replace(",", "")) * scale))
        return f"<{kind}>"

    return TOKEN_RE.sub(repl, text), values


def within(doc, fresh, noise):
    """Whether a document's value is a fresh run's within noise; else why not."""
    rel, abs_, factor, _ = NOISE[noise]
    floor = abs_ if isinstance(abs_, dict) else {}     # by kind, or one for all
    if doc == fresh:
        return None
    if noise == "exact":
        return f"is {doc!r}, the generator writes {fresh!r}"
    (sk1, v1), (sk2, v2) = tokens(doc), tokens(fresh)
    if sk1.split() != sk2.split():      # a block may wrap elsewhere
        return f"is {doc!r}, a fresh run reads {fresh!r} (not the same text around the numbers)"
    for (kind, a), (_, b) in zip(v1, v2):
        if factor and kind == "time":
            ok = a <= b * factor and b <= a * factor
        else:
            ok = abs(a - b) <= max(rel * abs(b), floor.get(kind, 0) if floor else abs_)
        if not ok:
            return f"is {doc!r}, a fresh run reads {fresh!r}: beyond {NOISE[noise][3]}"
    return None


def example_within(doc, fresh):
    """The example report: the lines EXAMPLE_CHECKED names, within its noise."""
    def pick(text, start, cols):
        line = next((ln.strip() for ln in text.splitlines() if ln.strip().startswith(start)), None)
        return line if line is None or cols is None else "  ".join(re.split(r"\s{2,}", line)[:cols])

    for start, cols in EXAMPLE_CHECKED.items():
        d, f = pick(doc, start, cols), pick(fresh, start, cols)
        if d is None:
            return f"has no line {start!r}"
        why = within(d, f or "", "example")
        if why:
            return why
    return None


def documented_build(texts=None):
    """The kernel build the documents' sizes were read on (fig:host.kernel)."""
    texts = texts or {f: f.read_text() for f in doc_files()}
    return next((v for t in texts.values() for n, v, _ in markers(t) if n == "host.kernel"), None)


def build_differences(figs, texts=None):
    """Where the documents' kernel sizes differ from this build's: their
    build, this one, and 'fig: documented, here' for each size that
    differs (none when the builds are one)."""
    texts = texts or {f: f.read_text() for f in doc_files()}
    doc, here = documented_build(texts), figs["host.kernel"].value
    diffs = sorted({f"{n}: {v}, here {figs[n].value}" for t in texts.values()
                    for n, v, b in markers(t)
                    if n in figs and figs[n].noise in OF_THE_BUILD and n != "host.kernel"
                    and not recorded(n) and figs[n].block == b
                    and (v != figs[n].value if figs[n].noise == "build"
                         else within(v, figs[n].value, figs[n].noise))})
    return doc, here, diffs


def check_docs(figs, texts=None):
    """Problems of README.md and docs/*.md (or texts: {path: text}) against
    figs: a marker no run gives, a marker without a value, a value beyond
    its noise (or, for an exact figure, any difference), a document that
    does not state the noise of a figure it shows. The kernel's sizes are
    compared only where the documents name this kernel build
    (build_differences says what differs on another)."""
    problems = []
    texts = texts or {f: f.read_text() for f in doc_files()}
    same_build = "host.kernel" not in figs or documented_build(texts) == figs["host.kernel"].value
    # one figure per quantity: a name shows one value in every document
    seen = {}
    for f, text in texts.items():
        for fig, value, _ in markers(text):
            first = seen.setdefault(fig, (f.relative_to(ROOT), value))
            if first[1] != value:
                problems.append(f"{f.relative_to(ROOT)}: fig:{fig} is {value!r}, "
                                f"{first[0]} shows {first[1]!r}: one figure, two values")
    problems += check_recorded(texts)
    for f, text in texts.items():
        name = f.relative_to(ROOT)
        found = markers(text)
        stated = {n for n, _, _ in found if n.startswith("noise.")}
        for fig, value, block in found:
            where = f"{name}: fig:{fig}"
            if recorded(fig):
                continue            # check_recorded's
            if not value.strip() or value.strip() == "```\n```":
                problems.append(f"{where}: no value (run `sudo make docs-figures`)")
                continue
            if fig not in figs:
                problems.append(f"{where}: no run gives this figure")
                continue
            want = figs[fig]
            if want.noise in OF_THE_BUILD and not same_build:
                continue            # another build's sizes: build_differences'
            if want.block != block:
                problems.append(f"{where}: a {'block' if want.block else 'inline'} figure")
                continue
            if f"noise.{want.noise}" not in stated and want.noise not in ("exact", "build"):
                problems.append(f"{where}: {name} does not state its noise "
                                f"(<!-- fig:noise.{want.noise} -->)")
            why = (example_within(value, want.value) if fig == "example.report"
                   else within(value, want.value, want.noise))
            if why:
                problems.append(f"{where} {why}")
    return problems


def load_compare(path=COMPARE_JSON):
    return json.loads(path.read_text()) if path.exists() else None


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--check", action="store_true",
                    help="measure and compare with the documents; write nothing")
    ap.add_argument("--compare", action="store_true",
                    help="rerun scripts/compare into docs/compare.json first (about 100 s)")
    opts = ap.parse_args(argv)
    if os.geteuid() != 0:
        print("docfigures: the runs load BPF programs: run as root (sudo make docs-figures)",
              file=sys.stderr)
        return 1
    try:
        if opts.compare and not opts.check:
            measure_compare()
        m = measure()
    except (RunError, AssertionError, subprocess.SubprocessError, OSError) as e:
        print(f"docfigures: {e}", file=sys.stderr)
        return 1
    figs = figures(m, load_compare())
    if opts.check:
        problems = check_docs(figs)
        for p in problems:
            print(f"docfigures: {p}", file=sys.stderr)
        return 1 if problems else 0
    unknown = write_docs(figs)
    for u in unknown:
        print(f"docfigures: {u}: no run gives this figure", file=sys.stderr)
    print(f"docfigures: wrote {len(figs)} figures into README.md and docs/")
    return 1 if unknown else 0


if __name__ == "__main__":
    sys.exit(main())
