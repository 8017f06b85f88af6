# SPDX-License-Identifier: MIT
"""The claims index (docs/claims.md) against the docs and the tests.

Plain Python: reads files, needs no root and runs no server. Fails when:

  * a claim the index quotes is in none of README.md and docs/*.md;
  * the test it names is gone, or the assertion it quotes is not in an
    `assert` statement of that function (deleting the assertion fails
    here);
  * a constant the tolerance column quotes (`NAME = value`) is not in the
    test's file;
  * a number in an accuracy section (ACCURACY_SECTIONS, found by heading
    in whichever file holds it) lies in no quoted claim.

Claims are found by their text, not by file or line: sections move
between README.md and docs/ without touching the index.
"""

import ast
import re

from conftest import ROOT

INDEX = ROOT / "docs" / "claims.md"
# the sections whose every number must be a quoted claim (heading prefixes)
ACCURACY_SECTIONS = (
    "Checked against the kernel's own accounting",
    "Accuracy against slab growth",
    "Closure against the target's memory cgroup",
    "Memory per connection (user side)",
    "On servers it did not ship with",
)
NUMBER_RE = re.compile(r"(?<![\w.])\d+(?:[.,]\d+)*")


def normalize(text):
    return re.sub(r"\s+", " ", text).strip()


def doc_files():
    """README.md and docs/*.md, but the index itself."""
    return [ROOT / "README.md"] + sorted(f for f in (ROOT / "docs").glob("*.md") if f != INDEX)


def without_fences(text):
    """The text with fenced code blocks blanked (lengths kept), and each
    generated figure (scripts/docfigures.py's markers) as `{fig:NAME}`: its
    value is a run's, checked by test_docfigures.py against a fresh one, so
    a claim quotes the figure's name, not the value of the day."""
    text = re.sub(r"<!-- fig:([\w.\-]+) begin -->.*?<!-- fig:\1 end -->", r"{fig:\1}",
                  text, flags=re.S)
    text = re.sub(r"<!-- fig:([\w.\-]+) -->.*?<!-- /fig -->", r"{fig:\1}", text, flags=re.S)
    return re.sub(r"^```.*?^```", lambda m: re.sub(r"[^\n]", " ", m.group(0)),
                  text, flags=re.S | re.M)


def cells(row):
    """A table row's cells; `\\|` inside a cell is a literal bar."""
    parts = re.split(r"(?<!\\)\|", row.strip().strip("|"))
    return [p.strip().replace("\\|", "|") for p in parts]


def between(text, mark):
    i, j = text.find(mark), text.rfind(mark)
    return text[i + 1:j] if 0 <= i < j else None


def read_index():
    """[(claim, test, assertion, constants)] from the index's tables."""
    entries = []
    for line in INDEX.read_text().splitlines():
        if not line.startswith('| "'):
            continue
        c = cells(line)
        assert len(c) == 4, f"claims.md: not 4 cells: {line}"
        claim = between(c[0], '"')
        assert claim, f"claims.md: no quoted claim: {line}"
        test = between(c[1], "`") if c[1] != "none" else None
        assertion = between(c[2], "`") if c[2] else None
        assert (test is None) == (assertion is None), f"claims.md: test without assertion: {line}"
        constants = [x for x in re.findall(r"`([^`]+)`", c[3]) if re.match(r"^\w[\w, ]* = ", x)]
        entries.append((claim, test, assertion, constants))
    assert entries, "claims.md has no entries"
    return entries


def docs_text():
    return {f: normalize(without_fences(f.read_text())) for f in doc_files()}


def function_node(tree, name):
    """A module-level function, or Class.method."""
    scope = tree.body
    for part in name.split("."):
        node = next((n for n in scope if isinstance(n, (ast.FunctionDef, ast.ClassDef))
                     and n.name == part), None)
        if node is None:
            return None
        scope = node.body
    return node


def test_every_claim_is_in_the_docs():
    texts = docs_text()
    missing = [claim for claim, *_ in read_index()
               if not any(normalize(claim) in t for t in texts.values())]
    assert not missing, "claims.md quotes text no longer in README.md or docs/*.md:\n" + \
        "\n".join(missing)


def test_every_named_assertion_is_in_its_test():
    bad = []
    for claim, test, assertion, constants in read_index():
        if test is None:
            continue
        path, _, name = test.partition("::")
        source = (ROOT / path).read_text() if (ROOT / path).exists() else None
        if source is None:
            bad.append(f"{test}: no such file")
            continue
        node = function_node(ast.parse(source), name)
        if node is None:
            bad.append(f"{test}: no such function")
            continue
        asserts = [normalize(ast.get_source_segment(source, n).replace("\\\n", " "))
                   for n in ast.walk(node) if isinstance(n, ast.Assert)]
        if not any(normalize(assertion) in a for a in asserts):
            bad.append(f"{test}: no assert with `{assertion}` (claim: {claim[:60]})")
        flat = normalize(source)
        bad += [f"{path}: no `{c}` (claim: {claim[:60]})"
                for c in constants if normalize(c) not in flat]
    assert not bad, "claims.md names assertions the tests do not make:\n" + "\n".join(bad)


def sections(text, title):
    """The bodies of the sections whose heading starts with title."""
    out = []
    lines = text.splitlines()
    for i, line in enumerate(lines):
        m = re.match(r"^(#+) (.*)", line)
        if m and m.group(2).startswith(title):
            level, body = len(m.group(1)), []
            for nxt in lines[i + 1:]:
                h = re.match(r"^(#+) ", nxt)
                if h and len(h.group(1)) <= level:
                    break
                body.append(nxt)
            out.append("\n".join(body))
    return out


def test_every_number_of_the_accuracy_sections_is_a_claim():
    claims = [normalize(c) for c, *_ in read_index()]
    uncovered, found = [], set()
    for f in doc_files():
        text = without_fences(f.read_text())
        for title in ACCURACY_SECTIONS:
            for body in sections(text, title):
                found.add(title)
                flat = normalize(body)
                covered = [False] * len(flat)
                for c in claims:
                    for m in re.finditer(re.escape(c), flat):
                        covered[m.start():m.end()] = [True] * (m.end() - m.start())
                for m in NUMBER_RE.finditer(flat):
                    if not covered[m.start()]:
                        uncovered.append(f"{f.name} / {title}: {m.group(0)} in "
                                         f"...{flat[max(0, m.start() - 50):m.end() + 30]}...")
    assert found == set(ACCURACY_SECTIONS), \
        f"sections no longer found: {set(ACCURACY_SECTIONS) - found}"
    assert not uncovered, "numbers in accuracy sections with no entry in docs/claims.md:\n" + \
        "\n".join(uncovered)
