# SPDX-License-Identifier: MIT
"""README.md and docs/*.md against a fresh run of their figures.

Every measured figure of the documents sits between generated markers
(`<!-- fig:NAME -->VALUE<!-- /fig -->`, or a begin/end block) and is
written by scripts/docfigures.py (`sudo make docs-figures`). Here the
same short runs are made again (slab sizes from the kernel, the four
servers holding idle connections, README's example: about 15 s), and the
documents fail when:

  * a figure differs from the fresh run by more than the noise its
    document states next to it (`noise.KEY`); a kernel size, or a figure
    rendered from docs/compare.json, by anything at all (a hand edit);
  * a marker holds no value, or names a figure no run gives;
  * one name shows two values in two places (one figure per quantity);
  * a document shows a figure without stating its noise.

The checker itself is checked on the same fresh figures: a slab size
edited by one byte, a per-connection figure moved beyond its noise, an
emptied marker and a missing noise statement must each fail.
"""

import importlib.util
import re

import pytest

from conftest import ROOT, report_figure
from test_conctrace import needs_root

_spec = importlib.util.spec_from_file_location("docfigures", ROOT / "scripts" / "docfigures.py")
docfigures = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(docfigures)


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
                 "compare.idle.table", "compare.busy.table", "compare.summary"):
        assert name in found, f"no document shows fig:{name} any more"


def problems_after(fresh, fig, value):
    """The checker's complaints about fig once its first marker is set to
    value by hand."""
    t = texts()
    f = next(f for f, text in t.items() if f"<!-- fig:{fig} -->" in text)
    t[f] = re.sub(rf"<!-- fig:{re.escape(fig)} -->.*?<!-- /fig -->",
                  lambda _: f"<!-- fig:{fig} -->{value}<!-- /fig -->", t[f], count=1, flags=re.S)
    # (the copies of fig elsewhere now differ: test_one_name_with_two_values_fails)
    return [p for p in docfigures.check_docs(fresh, t)
            if f"fig:{fig}" in p and "two values" not in p]


def test_a_slab_size_edited_by_hand_fails(fresh):
    size = int(fresh["slab.TCP"].value.replace(",", ""))
    assert problems_after(fresh, "slab.TCP", f"{size + 1:,}")


def test_a_figure_beyond_its_noise_fails_and_within_it_passes(fresh):
    kernel = float(fresh["idle.threaded_echo.kernel"].value.replace(",", "").split()[0])
    rel = docfigures.NOISE["idle_bytes"][0]
    assert problems_after(fresh, "idle.threaded_echo.kernel", f"{kernel * (1 + 3 * rel):,.0f} B")
    assert not problems_after(fresh, "idle.threaded_echo.kernel",
                              f"{kernel * (1 + rel / 2):,.0f} B")


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
    t = texts()
    f = ROOT / "docs" / "memory.md"
    t[f] = t[f].replace("<!-- fig:noise.idle_share -->", "<!-- gone -->")
    assert any("does not state its noise" in p for p in docfigures.check_docs(fresh, t))
