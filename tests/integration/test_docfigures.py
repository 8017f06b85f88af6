# SPDX-License-Identifier: MIT
"""README.md and docs/*.md against a fresh run of their figures.

Every measured figure of the documents sits between generated markers
(`<!-- fig:NAME -->VALUE<!-- /fig -->`, or a begin/end block) and is
written by scripts/docfigures.py (`sudo make docs-figures`). Here the
same short runs are made again (slab sizes from the kernel, the four
servers holding idle connections, then under --cgroup, threaded_echo
attached to connections it already holds, README's example: about 30 s),
and the
documents fail when:

  * a figure differs from the fresh run by more than the noise its
    document states next to it (`noise.KEY`); a kernel size, or a figure
    rendered from docs/compare.json, by anything at all (a hand edit);
  * a marker holds no value, or names a figure no run gives;
  * one name shows two values in two places (one figure per quantity);
  * a document shows a figure without stating its noise.

The long benches (`make bench-helpers`, `bench-overhead`, `bench-scale`,
`bench-exporter`, `bench-churn`, `bench-retention`, `bench-servers`: a quiet machine,
seconds to minutes) are not rerun: their blocks carry the `Run:` line the
bench writes (command, date, commit, machine, kernel), and the cheap tests at
the end check that line, the table under it and every quote of it in
prose, reading files only (no root, no BPF).

The checker itself is checked on the same fresh figures: a slab size
edited by one byte, a per-connection figure moved beyond its noise, an
emptied marker and a missing noise statement must each fail.
"""

import re

import pytest

from conftest import ROOT, report_figure, script_module
from test_conctrace import needs_root

docfigures = script_module(ROOT / "scripts" / "docfigures.py")


@pytest.fixture(scope="module")
def fresh():
    """The figures of one fresh run of every short measurement."""
    needs_root()
    m = docfigures.measure()
    for s, r in m["idle"].items():
        report_figure(f"{s}: kernel {r['kernel']:.0f} B/conn (slab truth {r['truth']:.0f}), "
                      f"user {r['user']:.0f} B/conn (RSS growth {r['rss_growth']:.0f})")
    report_figure("slab sizes: " + ", ".join(f"{k} {v}" for k, v in m["kernel"].items()))
    return docfigures.figures(m, docfigures.load_compare())


def texts():
    return {f: f.read_text() for f in docfigures.doc_files()}


def test_documents_agree_with_a_fresh_run(fresh):
    problems = docfigures.check_docs(fresh)
    assert not problems, "documents off a fresh run (`sudo make docs-figures` rewrites " \
        "them):\n" + "\n".join(problems)
    found = {n for t in texts().values() for n, _, _ in docfigures.markers(t)}
    # what the documents must keep generated: the kernel's sizes, the idle
    # table, README's example, the compare tables
    for name in ("slab.task_struct", "slab.TCP", "thread.kernel_stack",
                 "idle.threaded_echo.kernel", "idle.epoll_echo.user", "example.report",
                 "attach.threaded_echo.kernel", "attach.threaded_echo.truth",
                 "cgroup.threaded_echo.line", "cgroup.coro_echo.explained",
                 "compare.idle.table", "compare.busy.table", "compare.summary"):
        assert name in found, f"no document shows fig:{name} any more"


def problems_after(fresh, fig, value, t=None):
    """The checker's complaints about fig once its markers (in t, by
    default the documents) are set to value by hand: every copy, so that
    none left at the documents' value speaks for the edit (on a machine
    whose sizes differ, theirs would be beyond any noise)."""
    t = t or texts()
    for f in t:
        t[f] = re.sub(rf"<!-- fig:{re.escape(fig)} -->.*?<!-- /fig -->",
                      lambda _: f"<!-- fig:{fig} -->{value}<!-- /fig -->", t[f], flags=re.S)
    return [p for p in docfigures.check_docs(fresh, t) if f"fig:{fig}" in p]


def on_this_build(fresh):
    """The documents as if written on this kernel build (their own may be
    another: test_kernel_sizes_are_this_builds)."""
    here = fresh["host.kernel"].value
    return {f: re.sub(r"(<!-- fig:host\.kernel -->).*?(<!-- /fig -->)",
                      lambda m: m.group(1) + here + m.group(2), text)
            for f, text in texts().items()}


def test_kernel_sizes_are_this_builds(fresh):
    """The kernel's sizes are exact on the build the documents name. On
    another build (CI's machine may run one) they cannot be checked, and
    the test says so as a skip, naming both builds and what differs."""
    doc, here, diffs = docfigures.build_differences(fresh)
    if doc != here:
        pytest.skip(f"the documents' kernel sizes were read on {doc}, this is {here} "
                    f"({len(diffs)} differ{': ' + '; '.join(diffs) if diffs else ''}): "
                    "`sudo make docs-figures` on this build rewrites them")
    assert not diffs, diffs


def test_a_slab_size_edited_by_hand_fails(fresh):
    size = int(fresh["slab.TCP"].value.replace(",", ""))
    assert problems_after(fresh, "slab.TCP", f"{size + 1:,}", on_this_build(fresh))


def test_another_builds_sizes_are_not_checked_as_this_ones(fresh):
    """Sizes under another build's name are that build's: a different
    task_struct is no error of the documents, and the skip above reports it.
    So are the figures made of them (a thread-per-connection server's idle
    connection holds a task_struct)."""
    size = int(fresh["slab.TCP"].value.replace(",", ""))
    t = {f: text.replace(f"<!-- fig:host.kernel -->{docfigures.documented_build()}",
                         "<!-- fig:host.kernel -->x86_64, 0.0.0-another-build")
         for f, text in texts().items()}
    assert not problems_after(fresh, "slab.TCP", f"{size + 1:,}", t)
    assert f"slab.TCP: {size + 1:,}, here {size:,}" in docfigures.build_differences(fresh, {
        f: re.sub(r"<!-- fig:slab\.TCP -->.*?<!-- /fig -->",
                  f"<!-- fig:slab.TCP -->{size + 1:,}<!-- /fig -->", text)
        for f, text in t.items()})[2]
    kernel = float(fresh["idle.threaded_echo.kernel"].value.replace(",", "").split()[0])
    assert not problems_after(fresh, "idle.threaded_echo.kernel", f"{kernel * 1.05:,.0f} B",
                              dict(t))


def test_a_figure_beyond_its_noise_fails_and_within_it_passes(fresh):
    kernel = float(fresh["idle.threaded_echo.kernel"].value.replace(",", "").split()[0])
    rel = docfigures.NOISE["idle_bytes"][0]
    # (a figure of the kernel's sizes: checked where the documents name this build)
    t = on_this_build(fresh)
    assert problems_after(fresh, "idle.threaded_echo.kernel", f"{kernel * (1 + 3 * rel):,.0f} B",
                          dict(t))
    assert not problems_after(fresh, "idle.threaded_echo.kernel",
                              f"{kernel * (1 + rel / 2):,.0f} B", dict(t))


def test_an_empty_marker_fails(fresh):
    assert any("no value" in p for p in problems_after(fresh, "idle.epoll_echo.user", ""))


def test_one_name_with_two_values_fails(fresh):
    """The same quantity in two documents is one figure: values that drift
    apart (one document rewritten, the other not) fail even within noise."""
    t = texts()
    f = ROOT / "docs" / "accuracy.md"
    value = next(v for n, v, _ in docfigures.markers(t[f]) if n == "idle.coro_echo.kernel")
    bumped = f"{int(value.replace(',', '').split()[0]) + 1:,} B"
    t[f] = t[f].replace(f"<!-- fig:idle.coro_echo.kernel -->{value}",
                        f"<!-- fig:idle.coro_echo.kernel -->{bumped}", 1)
    assert any("one figure, two values" in p for p in docfigures.check_docs(fresh, t))


def test_a_figure_without_its_noise_stated_fails(fresh):
    t = on_this_build(fresh)
    f = ROOT / "docs" / "memory.md"
    t[f] = t[f].replace("<!-- fig:noise.idle_share -->", "<!-- gone -->")
    assert any("does not state its noise" in p for p in docfigures.check_docs(fresh, t))


# ---- the long benches' blocks: checked from the documents alone ------------------------

def test_long_bench_blocks_are_the_benches_own():
    """Plain Python, nothing run: each long bench's block carries the `Run:`
    line its bench writes (command, date, commit, machine, kernel) over a
    well-formed table, and every quote of it in prose is its value."""
    problems = docfigures.check_recorded(texts())
    assert not problems, "\n".join(problems)


def recorded_after(doc, old, new):
    t = texts()
    f = ROOT / "docs" / doc
    assert old in t[f], f"{doc} no longer holds {old!r}"
    t[f] = t[f].replace(old, new, 1)
    return docfigures.check_recorded(t)


def helpers_block():
    return next(v for n, v, b in docfigures.markers((ROOT / "docs" / "overhead.md").read_text())
                if n == "bench.helpers" and b)


def test_a_long_bench_block_typed_by_hand_fails():
    block = helpers_block()
    run_line = block.strip().splitlines()[0]
    # no `Run:` line: typed, or pasted from a run nobody can name
    assert any("`Run: ...` line" in p for p in recorded_after("overhead.md", run_line + "\n", ""))
    # a `Run:` line of another command
    assert any("not make bench-helpers" in p for p in recorded_after(
        "overhead.md", run_line, run_line.replace("make bench-helpers", "make bench-hand")))
    # a cell edited into a table that no longer parses
    rows = [ln for ln in block.splitlines() if ln.startswith("| ")]
    assert any("well-formed table" in p for p in recorded_after(
        "overhead.md", rows[-1], rows[-1] + " 12 |"))


def test_a_quote_off_its_block_fails():
    """memory.md quotes the connection map's lookups from overhead.md's
    block: a quote edited by hand, or one the block lacks, fails."""
    t = (ROOT / "docs" / "memory.md").read_text()
    fig, value, _ = next(m for m in docfigures.markers(t) if m[0].startswith("bench.helpers."))
    n = int(value.split()[0].replace(",", ""))
    marker = f"<!-- fig:{fig} -->{value}<!-- /fig -->"
    assert any("its block says" in p for p in recorded_after(
        "memory.md", marker, f"<!-- fig:{fig} -->{n + 1} ns<!-- /fig -->"))
    assert any("gives no such figure" in p for p in recorded_after(
        "memory.md", marker, f"<!-- fig:bench.helpers.no_such_row -->{value}<!-- /fig -->"))


# ---- bench-overhead's two blocks: one run, its tables, its quotes -----------------------

OVERHEAD_BLOCKS = ("bench.overhead.rounds", "bench.overhead.bpf_stats")


def overhead_block(name):
    return next(v for n, v, b in docfigures.markers((ROOT / "docs" / "overhead.md").read_text())
                if n == name and b)


def test_overhead_blocks_are_one_run_of_make_bench_overhead():
    """Both blocks sit under the `Run:` line `make bench-overhead --write`
    printed, the same line (one run wrote them), over the tables the
    documents read: each server's rounds and its arms against each other,
    and each program's cost in full mode, light mode and the floor."""
    lines = set()
    for name in OVERHEAD_BLOCKS:
        prov, tables = docfigures.benchlib.parse_block(overhead_block(name))
        assert "make bench-overhead" in prov["command"], prov["command"]
        lines.add(overhead_block(name).strip().splitlines()[0])
        keys = {k for k, _ in tables}
        for server in ("epoll_echo", "redis"):
            want = ({server, f"{server}.arms_against_each_other"} if name.endswith("rounds")
                    else {f"{server}.conctrace", f"{server}.conctrace_no_syscalls",
                          f"{server}.hook_floor"})
            assert want <= keys, f"{name} lacks {sorted(want - keys)}"
    assert len(lines) == 1, "the two blocks come from two runs"
    # and a change to either is seen: another command, another run
    run_line = next(iter(lines))
    assert any("not make bench-overhead" in p for p in recorded_after(
        "overhead.md", run_line, run_line.replace("make bench-overhead", "make bench-hand")))
    other_day = re.sub(r"\d{4}-\d{2}-\d{2}", "1999-01-01", run_line)
    assert any("different runs" in p for p in recorded_after("overhead.md", run_line, other_day))


def test_an_overhead_quote_off_its_block_fails():
    """overhead.md's prose quotes its blocks: a quote moved by one in its
    last digit, or shown with more decimals than its cell, fails."""
    t = (ROOT / "docs" / "overhead.md").read_text()
    quotes = [m for m in docfigures.markers(t) if not m[2]
              and m[0].startswith(tuple(n + "." for n in OVERHEAD_BLOCKS))]
    assert len(quotes) >= 10, "overhead.md quotes its blocks' figures"
    fig, value, _ = quotes[0]
    marker = f"<!-- fig:{fig} -->{value}<!-- /fig -->"
    m = re.match(r"^([+\-]?)([\d,]+)(\.\d+)?(.*)$", value)
    last = m.group(3) or ""
    bumped = m.group(2)[:-1] + str((int(m.group(2)[-1]) + 1) % 10) if not last else m.group(2)
    if last:
        last = last[:-1] + str((int(last[-1]) + 1) % 10)
    assert any("its block says" in p for p in recorded_after(
        "overhead.md", marker, f"<!-- fig:{fig} -->{m.group(1)}{bumped}{last}{m.group(4)}"
        "<!-- /fig -->"))
    assert any("more decimals" in p for p in recorded_after(
        "overhead.md", marker, f"<!-- fig:{fig} -->{m.group(1)}{m.group(2)}{last}.12345"
        f"{m.group(4)}<!-- /fig -->"))


def test_a_round_the_host_slowed_is_run_again():
    """bench-overhead runs a round again when either of its untraced runs
    (one at each end) fell below ROUND_STEADY of the fastest. The first of
    each pair is epoll_echo's untraced round of a --flame run refused on
    2026-12-07, before the second run existed; the second is set as that
    run's other arms went: its second round slowed whole, its fifth from
    its second run on."""
    bench = load_bench("bench-overhead")
    brackets = [(122_956, 121_000), (81_944, 79_000), (126_251, 124_000),
                (124_914, 118_000), (126_164, 83_000)]
    assert bench.ROUND_STEADY == 0.90
    assert bench.slowed_rounds(brackets) == [1, 4]
    assert bench.slowed_rounds(brackets[2:4]) == []
    assert bench.slowed_rounds([]) == []		# --rounds 0: the bpf_stats runs alone


def test_a_run_the_host_slowed_is_not_written():
    """bench-overhead --write refuses rounds whose medians the host pulled
    below STEADY of their best (--noisy writes them): the documents' quiet
    run passes, and the same block with epoll_echo's untraced median at
    half its best (as a noisy host gave, 2026-12-07) is refused."""
    bench = load_bench("bench-overhead")
    block = overhead_block(OVERHEAD_BLOCKS[0])
    assert bench.unsteady_arms(block) == []
    row = re.search(r"^\| untraced \| ([\d,]+) \| [\d,]+ \| ([\d,]+) \|", block, re.M)
    half = f"{int(row[2].replace(',', '')) // 2:,}"
    slowed = block.replace(row[0], row[0].replace(f"| {row[1]} |", f"| {half} |", 1), 1)
    assert [(s, a) for s, a, r in bench.unsteady_arms(slowed)] == [("epoll_echo", "untraced")]
    # as the bench prints them: each block after its name, the Run: line last
    run, tables = {}, {}
    for n, b in ((n, slowed if n == OVERHEAD_BLOCKS[0] else overhead_block(n))
                 for n in OVERHEAD_BLOCKS):
        run, tables[n] = b.strip().split("\n", 1)
    text = "".join(f"[{n}]\n\n{t}\n" for n, t in tables.items()) + run + "\n"
    with pytest.raises(SystemExit, match=re.escape(
            "the host slowed the rounds: 1 arms' median below 0.85 of their best "
            "(epoll_echo untraced: 0.50): nothing written")):
        bench.write_doc(text, shared=False)


def test_a_block_of_several_tables_needs_their_captions():
    """A table's figures are named by its caption: two tables without one,
    or with the same key, or two rows one name, make a block that fails."""
    run = helpers_block().strip().splitlines()[0]
    table = "| run | ns |\n|---|---|\n| a | 1.0 |\n"
    parse = docfigures.benchlib.parse_block
    assert parse(f"{run}\n\nx: one\n\n{table}\ny: two\n\n{table}")[1][1][0] == "y"
    for bad in (f"{run}\n\n{table}\n{table}", f"{run}\n\nx: one\n\n{table}\nx: two\n\n{table}"):
        with pytest.raises(ValueError, match="caption"):
            parse(bad)
    with pytest.raises(ValueError, match="two rows named a"):
        docfigures.benchlib.block_figures("n", f"{run}\n\n{table}| a (again) | 2.0 |\n")


def test_quotes_keep_their_precision_and_sign():
    """What the writer puts in a quote, and what the check accepts: the
    cell at the quote's precision, its sign when the cell has one."""
    fig = docfigures.benchlib.cell_figure("+1,171.4", "ns above the empty program")
    assert fig.quote("+0 ns") == "+1,171 ns" and fig.quote("") == "+1,171.4 ns"
    assert fig.quote_problem("+1,171 ns") is None and fig.quote_problem("1,171 ns")
    assert fig.quote_problem("+1,170 ns") and fig.quote_problem("+1,171.40 ns")
    ratio = docfigures.benchlib.cell_figure("0.903", "kept, medians")
    assert ratio.quote("0.0") == "0.9" and ratio.quote_problem("0.90") is None
    assert ratio.quote_problem("0.91")


# ---- bench-scale's block: its tables, its quotes, the names its printer gives -----------

SCALE_KEYS = {"before", "idle.full", "idle.light", "idle.ends", "projection", "churn",
              "churn.end"}


def scale_block():
    return next(v for n, v, b in docfigures.markers((ROOT / "docs" / "scale.md").read_text())
                if n == "bench.scale" and b)


def test_scale_block_is_a_run_of_make_bench_scale():
    """The block sits under the `Run:` line `make bench-scale --write`
    printed, over the tables the prose reads: the machine before the run,
    each idle run's steps and ends, the projection, the churn's batches and
    end. Another command's line fails."""
    block = scale_block()
    prov, tables = docfigures.benchlib.parse_block(block)
    assert "make bench-scale" in prov["command"], prov["command"]
    keys = {k for k, _ in tables}
    assert SCALE_KEYS <= keys, f"bench.scale lacks {sorted(SCALE_KEYS - keys)}"
    run_line = block.strip().splitlines()[0]
    assert any("not make bench-scale" in p for p in recorded_after(
        "scale.md", run_line, run_line.replace("make bench-scale", "make bench-hand")))


def bumped(value):
    """value with its last digit moved by one: a quote typed over."""
    last = [i for i, c in enumerate(value) if c.isdigit()][-1]
    return value[:last] + str((int(value[last]) + 1) % 10) + value[last + 1:]


def test_a_scale_quote_off_its_block_fails():
    """scale.md quotes the block: a quote moved by one
    in its last digit fails, and so does one naming a step the run lacks."""
    t = (ROOT / "docs" / "scale.md").read_text()
    quotes = [m for m in docfigures.markers(t) if not m[2] and m[0].startswith("bench.scale.")]
    assert len(quotes) >= 20, "scale.md quotes bench-scale's figures"
    fig, value, _ = next(q for q in quotes if re.search(r"[1-9]", q[1]))
    marker = f"<!-- fig:{fig} -->{value}<!-- /fig -->"
    assert any("its block says" in p for p in recorded_after(
        "scale.md", marker, f"<!-- fig:{fig} -->{bumped(value)}<!-- /fig -->"))
    assert any("gives no such figure" in p for p in recorded_after(
        "scale.md", marker, f"<!-- fig:bench.scale.idle.full.12_345.maps -->{value}<!-- /fig -->"))


def load_bench(script):
    """A bench script as a module (nothing run)."""
    return script_module(ROOT / "scripts" / f"{script}.py")


def test_bench_scale_prints_every_figure_the_documents_quote():
    """What the bench prints, from made-up rows (nothing run): a block whose
    figures include every fig:bench.scale quote of the documents, so that
    --write can fill them; a quote of a figure the printer no longer gives
    would make --write refuse the run, minutes after it began."""
    bench = load_bench("bench-scale")
    opts = bench.argparse.Namespace(idle=19000, steps=5, churn=200000, batch=10000, seconds=3)
    levels = sorted({round(opts.idle * i / (opts.steps - 1)) for i in range(opts.steps)})

    def step(n, **more):
        return dict(secs=3.0, events=30000, events_s=10000.0, bpf_ns_event=130.0 + n / 1000,
                    iter_runs_s=100.0, iter_ns_run=70.0 + n / 40, ct_ms_s=20.0 + n / 400,
                    own_ns_event=400.0, own_ns_req=1000.0, server_ns_req=5000.0,
                    map_bytes=2.5 * 2**20 + 656 * n, samples_s=1.0, ms_sample=14 + n * 0.0028,
                    open=n, **more)

    def rep(total):
        return {"lost_events": 0, "others": {},
                "connections": {"total": total, "peak_open": total, "not_tracked": 0,
                                "open_at_end": 0},
                "timeline": [{"open_conns": n, "tracer_bytes": 2.5 * 2**20 + 700 * n}
                             for n in levels]}
    idle = [(m, [step(n) for n in levels], rep(opts.idle)) for m in ("full", "light")]
    batches = [step(0, done=d, conns_s=6000.0)
               for d in range(opts.batch, opts.churn + 1, opts.batch)]
    text = bench.block_text(opts, 1234, idle, (batches, rep(opts.churn), 30.0))
    run = docfigures.benchlib.provenance("sudo make bench-scale", "scripts/bench-scale.py", 0)
    figs = docfigures.benchlib.block_figures("bench.scale", f"{run}\n\n{text}")
    quoted = {n for t in texts().values() for n, _, b in docfigures.markers(t)
              if not b and n.startswith("bench.scale.")}
    assert quoted, "the documents quote bench-scale"
    assert not quoted - set(figs), f"the bench prints no {sorted(quoted - set(figs))}"


# ---- the smaller benches' blocks: one check for each ------------------------------------
#
# Each writes one block of one table with its bench's printer (block_text);
# here, from the documents alone: the block is its bench's run, a quote
# typed over or naming what the block lacks fails, and the printer, fed a
# made-up run, gives every figure the documents quote (else --write would
# refuse a real run at its end).

def exporter_run(bench):
    def row(n):
        return {"count": n, "gather": [0.005 + n / 4e5] * 5, "fresh": [0.04] * 5,
                "cached": [0.001] * 4 + [0.1], "bytes": 18700}
    return bench.block_text(5, [row(1000), row(10000)])


def churn_run(bench):
    return bench.block_text({"connections_made": 200000, "batch": 10000, "seconds": 24.4,
                             "occupancy": [0] * 20, "rss_start": 10 << 20,
                             "rss_end": 10 << 20, "lost_events": 0,
                             "connections": {"total": 200000, "not_tracked": 0,
                                             "open_at_end": 0},
                             "tracer": {"ring_overflow_records": 0}})


def retention_run(bench):
    opts = bench.argparse.Namespace(conns=2000, size=4000, idle=2.0)
    process = {"rss_peak_bytes": 50 << 20, "rss_end_bytes": 3 << 20,
               "kernel_bytes_peak": 70 << 20, "kernel_bytes_end": 0}
    return bench.block_text(opts, [(s, 2 << 20, process) for s in docfigures.SERVERS])


def servers_run(bench):
    args = bench.argparse.Namespace(conns=50, duration=5)
    figures = {s: {"rss_bytes": {"1": 2 << 20}, "bytes_per_conn": {"1000": 40.0, "10000": 40.0},
                   "ping_requests_per_s": 100000.0, "server_cpu_percent": 90.0,
                   "target_bytes_per_conn": bench.TARGETS.get(s)} for s in bench.SERVERS}
    return bench.block_text(args, 1, [1000, 10000], figures)


def profile_run(bench):
    from collections import Counter
    own, clock = bench.OWN_CODE, bench.KINDS[0][0]
    loc = "progs/syscalls.bpf.h:50"
    run = (120000.0, (Counter({own: 4e8, clock: 2e8}),
                      Counter({("on_sys_enter", own): 4e8, ("on_sys_enter", clock): 2e8}),
                      Counter({loc: 6e8}), {loc: ("on_sys_enter", "ts->x = a | b;")},
                      8e8, 8e9))
    return bench.block_text({"full": run, "light": run}, 8, 12)


# block: (its document, its bench, a made-up run through the bench's printer)
SMALL_BENCHES = {
    "bench.exporter": ("outputs.md", "bench-exporter", exporter_run),
    "bench.churn": ("hardening.md", "bench-churn", churn_run),
    "bench.retention": ("accuracy.md", "bench-retention", retention_run),
    "bench.servers": ("usage.md", "bench-servers", servers_run),
    "bench.profile": ("overhead.md", "bench-profile", profile_run),
}


def small_block(name):
    doc = SMALL_BENCHES[name][0]
    return next(v for n, v, b in docfigures.markers((ROOT / "docs" / doc).read_text())
                if n == name and b)


@pytest.mark.parametrize("name", SMALL_BENCHES)
def test_small_bench_block_is_its_bench_run(name):
    doc = SMALL_BENCHES[name][0]
    block = small_block(name)
    prov, tables = docfigures.benchlib.parse_block(block)
    command = docfigures.RECORDED[name]
    assert command in prov["command"], prov["command"]
    run_line = block.strip().splitlines()[0]
    assert any(f"not {command}" in p for p in recorded_after(
        doc, run_line, run_line.replace(command, "make bench-hand")))
    assert any("`Run: ...` line" in p for p in recorded_after(doc, run_line + "\n", ""))


@pytest.mark.parametrize("name", SMALL_BENCHES)
def test_a_small_bench_quote_off_its_block_fails(name):
    doc = SMALL_BENCHES[name][0]
    quotes = [(n, v) for t in texts().values() for n, v, b in docfigures.markers(t)
              if not b and n.startswith(name + ".")]
    assert quotes, f"the documents quote no figure of {name}"
    fig, value = next((n, v) for n, v in quotes
                      if f"<!-- fig:{n} -->" in (ROOT / "docs" / doc).read_text())
    marker = f"<!-- fig:{fig} -->{value}<!-- /fig -->"
    assert any("its block says" in p for p in recorded_after(
        doc, marker, f"<!-- fig:{fig} -->{bumped(value)}<!-- /fig -->"))
    assert any("gives no such figure" in p for p in recorded_after(
        doc, marker, f"<!-- fig:{name}.no_such_row -->{value}<!-- /fig -->"))


@pytest.mark.parametrize("name", SMALL_BENCHES)
def test_small_bench_prints_every_figure_the_documents_quote(name):
    _, script, made_up = SMALL_BENCHES[name]
    text = made_up(load_bench(script))
    run = docfigures.benchlib.provenance(f"sudo make {script}", f"scripts/{script}.py", 0)
    figs = docfigures.benchlib.block_figures(name, f"{run}\n\n{text}")
    quoted = {n for t in texts().values() for n, _, b in docfigures.markers(t)
              if not b and n.startswith(name + ".")}
    assert quoted, f"the documents quote no figure of {name}"
    assert not quoted - set(figs), f"{script} prints no {sorted(quoted - set(figs))}"


def test_profile_figures_name_functions_the_programs_have():
    """bench-profile's table of what each function pays for names functions
    of bpf/: a renamed or removed one would leave its time under "functions
    no figure names" and the table's name for it stale."""
    bench = load_bench("bench-profile")
    have = set(bench.source_functions().values())
    named = [f for _, funcs in bench.FIGURES for f in funcs]
    assert not [f for f in named if f not in have]
    assert len(named) == len(set(named)), "a function under two figures"
