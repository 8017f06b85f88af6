# SPDX-License-Identifier: MIT
"""What the benchmarks share: their one-line exits, waiting for a line a
process prints, a process's CPU as the scheduler counts it, and the BPF
programs a process holds."""

import json
import os
import re
import shlex
import subprocess
import sys
import time
from collections import namedtuple
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
    die(f"no line matching {getattr(pattern, 'pattern', pattern)!r}")


def add_write_options(ap, where, saved=True):
    """A bench that writes its figures into the documents: --write (into
    `where`), --shared, and with `saved` --from FILE (see write_saved)."""
    ap.add_argument("--write", action="store_true",
                    help=f"write the tables into {where} and their quotes")
    ap.add_argument("--shared", action="store_true",
                    help="write even if others' tracing programs were seen during the runs")
    if saved:
        ap.add_argument("--from", dest="saved", metavar="FILE",
                        help=f"run nothing: write {where} from a saved output of this bench")


def write_saved(opts, write_doc):
    """--from FILE: write_doc(the saved output, --shared), running nothing;
    False if --from was not given."""
    if not opts.saved:
        return False
    try:
        text = Path(opts.saved).read_text()
    except OSError as e:
        die(f"--from: {e.strerror}: {opts.saved}")
    write_doc(text, opts.shared)
    return True


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
#
#   KEY, MORE KEY: what the table below is      (a caption: blocks of several tables)
#
#   | a | markdown | table |
#   <!-- fig:NAME end -->
#
# and the one line above the tables says which command, commit, machine
# and kernel made them. A block of one table may leave it uncaptioned;
# in a block of several, the text line before each table is its caption,
# and what precedes its first colon (parentheses left out, each
# comma-separated part a name) is its key. Other text lines are the
# bench's words, not figures. A figure of a table quoted in prose is an
# inline marker NAME[.KEY].ROW (its first number column) or
# NAME[.KEY].ROW.COLUMN (any, COLUMN its header's slug), written by the
# same bench from the same block: tests/integration/test_docfigures.py
# checks, without running anything, that each block has that line and
# well-formed tables, and that every quote is the block's value.
#
# A quote is the cell's number at the precision the quote shows (at most
# the cell's own): `12 ns` and `11.6 ns` both quote a cell of 11.6; a
# column whose header starts with a unit (UNITS: `ns per run`) carries it.

PROVENANCE_RE = re.compile(
    r"^Run: `(?P<command>[^`]+)` \(`(?P<ran>[^`]+)`\), (?P<date>\d{4}-\d{2}-\d{2}), "
    r"commit (?P<commit>[0-9a-f]{7,40}(?:-dirty)?|unknown), (?P<machine>[^;]+); "
    r"other BPF tracing programs: (?P<others>\d+)\.$")
ROW_RE = re.compile(r"^\|(.*)\|$")
NUMBER_RE = re.compile(r"^(?P<sign>[+\-\u2212]?)(?P<int>\d{1,3}(?:,\d{3})+|\d+)(?:\.(?P<dec>\d+))?"
                       r"(?P<rest>.*)$", re.S)
UNITS = ("ns", "µs", "ms", "ms/s", "B", "KiB", "MiB")


class Figure(namedtuple("Figure", "value decimals signed unit")):
    """A number cell of a block: its value, decimals, whether it was
    printed with a sign (a difference), and its column's unit ('' none)."""
    __slots__ = ()

    def text(self, decimals=None):
        """The figure as a quote shows it, at decimals (default: the cell's)."""
        d = self.decimals if decimals is None else decimals
        s = f"{abs(self.value):,.{d}f}"
        if float(s.replace(",", "")) == 0:
            sign = "+" if self.signed else ""
        else:
            sign = "-" if self.value < 0 else "+" if self.signed else ""
        return sign + s + (f" {self.unit}" if self.unit else "")

    def quote_problem(self, quote):
        """Why quote is not this figure (None: it is)."""
        m = NUMBER_RE.match(quote.strip())
        if not m:
            return f"{quote!r} is not a number"
        d = len(m.group("dec") or "")
        if d > self.decimals:
            return f"{quote!r} shows more decimals than its block's {self.text()!r}"
        want = self.text(d)
        return None if quote == want else f"{quote!r}, its block says {want!r}"

    def quote(self, old):
        """The quote to write where old stood: old's precision kept (a
        sentence says `12 ns`), the cell's where old shows none or more."""
        m = NUMBER_RE.match(old.strip())
        d = len(m.group("dec") or "") if m else self.decimals
        return self.text(min(d, self.decimals))


def cell_figure(cell, header):
    m = NUMBER_RE.match(cell)
    if not m or m.group("rest"):
        return None
    value = float(m.group("int").replace(",", "") + "." + (m.group("dec") or "0"))
    if m.group("sign") in ("-", "\u2212"):
        value = -value
    first = header.split()[0] if header.split() else ""
    return Figure(value, len(m.group("dec") or ""), bool(m.group("sign")),
                  first if first in UNITS else "")


def machine():
    """The machine a run was made on, in scripts/compare's words (MemTotal
    in whole GiB, rounded down): one machine, one name in the documents.
    (compare is installed alone, without this module: hence a copy.)"""
    u = os.uname()
    with open("/proc/meminfo") as f:
        mem = int(f.readline().split()[1]) // 1024 // 1024
    return f"{u.machine}, {os.cpu_count()} CPUs, {mem} GiB, Linux {u.release}"


def commit():
    """The commit whose code made the run, -dirty when code differs from it.
    The documents are left out: a --write run edits them, and so does the
    prose around its blocks, neither of which changes what was measured."""
    root = Path(__file__).resolve().parents[1]
    head = subprocess.run(["git", "-C", str(root), "rev-parse", "--short=7", "HEAD"],
                          capture_output=True, text=True)
    if head.returncode != 0 or not head.stdout.strip():
        return "unknown"
    changed = subprocess.run(["git", "-C", str(root), "status", "--porcelain",
                              "--untracked-files=no", "--", ".", ":(exclude)docs/*.md",
                              ":(exclude)README.md"], capture_output=True, text=True)
    return head.stdout.strip() + ("-dirty" if changed.returncode or changed.stdout.strip() else "")


def other_tracers(own=()):
    """How many BPF programs of the kinds that run on every task's syscalls
    or switches other processes hold ({id: name}): each slows what a bench
    times."""
    kinds = ("tracepoint", "raw_tracepoint", "tracing", "kprobe", "perf_event")
    return {i: p.get("name", "?") for i, p in all_progs().items()
            if p.get("type") in kinds and i not in own}


class OthersSeen:
    """Others' tracing programs seen through a run, looked for at times the
    bench chooses (look: the run's own processes' pids). A program the run's
    own processes ever held is not another's, even listed before they held
    it or after they exited (its release is deferred: the previous server's
    conctrace's programs are still listed as the next one starts): program
    ids are not reused."""

    def __init__(self):
        self.seen, self.own = {}, set()

    def look(self, pids):
        self.seen.update(other_tracers())
        for pid in pids:
            try:
                self.own |= own_prog_ids(pid)
            except OSError:
                pass        # gone meanwhile

    def others(self):
        """{id: name} of the others' programs seen."""
        return {i: n for i, n in self.seen.items() if i not in self.own}


def provenance(command, ran, others):
    return (f"Run: `{command}` (`{ran}`), {time.strftime('%Y-%m-%d')}, commit {commit()}, "
            f"{machine()}; other BPF tracing programs: {others}.")


def slug(text):
    """A table label as a figure name's part: `bpf_ktime_get_ns`,
    `hash_map_lookup` (what a parenthesis adds is left out)."""
    return re.sub(r"[^a-z0-9]+", "_", text.split("(")[0].strip("` ").lower()).strip("_")


def caption_key(caption):
    """A table's caption as the names it adds: `epoll_echo, hook floor
    (full mode's hooks, empty): ...` is epoll_echo.hook_floor."""
    head = re.sub(r"\([^)]*\)", "", caption.split(":")[0])
    return ".".join(slug(p) for p in head.split(","))


def parse_block(value):
    """A recorded block's provenance (a dict) and tables ([(key or None,
    [header, rows...])], cells stripped), or raise ValueError saying what
    is wrong."""
    lines = value.strip().splitlines()
    m = PROVENANCE_RE.match(lines[0]) if lines else None
    if not m:
        raise ValueError("its first line is not the bench's `Run: ...` line "
                         "(rerun the bench with --write)")
    # a table ends at a line not a row (markdown's), its caption is the
    # last text line before it
    tables, caption, rows = [], None, None
    for ln in lines[1:]:
        r = ROW_RE.match(ln.strip())
        if r:
            if rows is None:
                rows = []
                tables.append((caption, rows))
                caption = None
            rows.append([c.strip() for c in r.group(1).split("|")])
            continue
        rows = None
        if ln.strip():
            caption = ln.strip()
    if not tables:
        raise ValueError("no well-formed table under its `Run:` line")
    out, keys = [], set()
    for caption, table in tables:
        if len(table) < 3 or not set(table[1][0]) <= set("-: ") \
                or any(len(r) != len(table[0]) for r in table):
            raise ValueError(f"no well-formed table under {caption or 'its `Run:` line'!r}")
        key = caption_key(caption) if caption and len(tables) > 1 else None
        if len(tables) > 1 and (not key or key in keys):
            raise ValueError(f"a table whose caption names no key or another's: {caption!r}")
        keys.add(key)
        out.append((key, [table[0]] + table[2:]))
    return m.groupdict(), out


def block_figures(name, value):
    """{NAME[.KEY].ROW[.COLUMN]: Figure} of a recorded block: what prose may
    quote of it. ROW alone is the row's first number column."""
    _, tables = parse_block(value)
    figs = {}
    for key, table in tables:
        head, prefix = table[0], name + (f".{key}" if key else "")
        cols = [slug(h) for h in head]
        rows = [slug(r[0]) for r in table[1:]]
        for what, names in (("column", cols), ("row", rows)):
            dup = {n for n in names if names.count(n) > 1}
            if dup:
                raise ValueError(f"{prefix}: two {what}s named {', '.join(sorted(dup))}")
        for row in table[1:]:
            first = True
            for i, cell in enumerate(row[1:], 1):
                fig = cell_figure(cell, head[i])
                if fig is None:
                    continue
                unit = fig.unit
                col = slug(head[i].split(None, 1)[1] if unit and len(head[i].split()) > 1
                           else head[i])
                if first:
                    figs[f"{prefix}.{slug(row[0])}"] = fig
                    first = False
                figs[f"{prefix}.{slug(row[0])}.{col}"] = fig
    return figs


QUOTE_RE = r"<!-- fig:((?:{names})\.[\w.\-]+) -->(.*?)<!-- /fig -->"


def write_blocks(doc, blocks):
    """Write recorded blocks ({name: value}) into doc, each between its
    markers, and every quote of them in README.md and docs/*.md; nothing
    is written when a quote names a figure the new blocks lack (the run
    left out what the documents show). Returns {figure: Figure}."""
    root = Path(__file__).resolve().parents[1]
    text = doc.read_text()
    figs = {}
    for name, value in blocks.items():
        begin, end = f"<!-- fig:{name} begin -->\n", f"<!-- fig:{name} end -->"
        if begin not in text or end not in text:
            die(f"{doc}: no {begin.strip()} ... {end} block to write")
        try:
            figs.update(block_figures(name, value))
        except ValueError as e:
            die(f"{name}: {e}")
        head, rest = text.split(begin, 1)
        text = head + begin + value + rest[rest.index(end):]
    quote = re.compile(QUOTE_RE.format(names="|".join(re.escape(n) for n in blocks)), re.S)
    files = {f: (text if f == doc else f.read_text())
             for f in [root / "README.md"] + sorted((root / "docs").glob("*.md"))}
    lacking = sorted({m.group(1) for t in files.values() for m in quote.finditer(t)} - set(figs))
    if lacking:
        die(f"the documents quote {', '.join(lacking)}, which this run does not give: "
            "nothing written")
    for f, t in files.items():
        new = quote.sub(lambda m: f"<!-- fig:{m.group(1)} -->{figs[m.group(1)].quote(m.group(2))}"
                        "<!-- /fig -->", t)
        if f == doc or new != f.read_text():
            f.write_text(new)
    return figs


def write_block(doc, name, value):
    return write_blocks(doc, {name: value})


def write_printed(doc, name, text, shared):
    """Write a bench's printed run into doc: the lines after `[name]`, up to
    its `Run:` line, become the block under that line (what --write and
    --from FILE both write). A run others' tracing programs touched is
    refused unless shared."""
    lines = text.splitlines()
    if f"[{name}]" not in lines:
        die(f"the output holds no [{name}] block: nothing written")
    body, run = [], None
    for ln in lines[lines.index(f"[{name}]") + 1:]:
        if PROVENANCE_RE.match(ln):
            run = ln
            break
        body.append(ln)
    if run is None:
        die("the output's block ends without its `Run:` line: nothing written")
    others = int(PROVENANCE_RE.match(run).group("others"))
    if others and not shared:
        die(f"{others} other tracing programs were loaded during the runs: nothing written "
            "(--shared writes them anyway, the count in the document)")
    figs = write_block(doc, name, f"{run}\n\n" + "\n".join(body).strip() + "\n")
    root = Path(__file__).resolve().parents[1]
    print(f"wrote {doc.relative_to(root)}'s {name} block and its quotes ({len(figs)} figures)")
    return figs


def print_run(doc, name, text, others, opts):
    """Print a bench's run as its block ([name], text, the `Run:` line naming
    the command as given and the others' tracing programs seen: {id: name})
    and, with --write, write it into doc (write_printed)."""
    argv = " ".join(shlex.quote(a) for a in sys.argv[1:])
    command = f"sudo make {NAME}" + (f" BENCH_ARGS={shlex.quote(argv)}" if argv else "")
    run = provenance(command, f"scripts/{NAME}.py {argv}".strip(), len(others))
    printed = f"[{name}]\n\n{text}\n{run}\n"
    print("\n" + printed, end="", flush=True)
    if others:
        print(f"others' tracing programs seen: {', '.join(sorted(set(others.values())))[:300]}")
    if opts.write:
        write_printed(doc, name, printed, opts.shared)
