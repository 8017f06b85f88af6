# SPDX-License-Identifier: MIT
"""The man page, docs/conctrace.8 (issue 20): it says what --help says.

--help (userspace/main/cli.c) is the one source of the options and exit
statuses; the man page explains them at more length, so it is written by
hand, and these tests keep the two from drifting: every option heading of
the man page, as rendered, equals --help's line for that option, in the
same order, and so do the exit statuses. groff must find nothing to warn
about (-ww: every warning) and man(1) must render it.
"""

import os
import re
import shutil
import subprocess

import pytest

from conftest import ROOT

CONCTRACE = ROOT / "conctrace"
MANPAGE = ROOT / "docs" / "conctrace.8"

# --help: "  -p, --pid PID[,PID...] trace ..." or "      --json FILE        write ...":
# an argument is in capitals (or starts with "["), the description that
# follows starts in lower case (--prometheus's has a line of its own)
HELP_OPTION_RE = re.compile(r"^  (?:(-\w), |    )(--[a-z-]+(?:\[=[A-Z]+\]| [A-Z\[]\S*)?)(?: |$)")
HELP_STATUS_RE = re.compile(r"^  (\d+|N|128\+N)\s{2,}\S")


def tool(name):
    """A tool these tests need: `make deps` installs it, so missing is a failure."""
    path = shutil.which(name)
    if not path:
        pytest.fail(f"{name} is not installed: run `make deps` (scripts/install-deps.sh)",
                    pytrace=False)
    return path


def help_text():
    out = subprocess.run([str(CONCTRACE), "--help"], capture_output=True, text=True, timeout=10)
    assert out.returncode == 0, out.stderr
    return out.stdout


def help_options(text):
    """--help's options, each as "-p, --pid PID[,PID...]" or "--json FILE"."""
    opts = []
    for line in text.splitlines():
        m = HELP_OPTION_RE.match(line)
        if m:
            short, spec = m.groups()
            opts.append(f"{short}, {spec}" if short else spec)
    return opts


def help_statuses(text):
    section = text.split("\nExit status:\n", 1)[1].split("\n\n", 1)[0]
    return [m.group(1) for m in map(HELP_STATUS_RE.match, section.splitlines()) if m]


def roff_text(line):
    """A roff line as it prints: font changes dropped, \\- a hyphen."""
    line = re.sub(r"\\f[BIRP]", "", line)
    return line.replace("\\-", "-").replace("\\(em", "--").strip()


def man_sections(source):
    """{section name: its lines} of the roff source."""
    sections, name = {}, None
    for line in source.splitlines():
        if line.startswith(".SH "):
            name = line[4:].strip().strip('"')
            sections[name] = []
        elif name:
            sections[name].append(line)
    return sections


def man_tags(lines):
    """The tags of a section's .TP paragraphs (the line after each .TP)."""
    tags = []
    for prev, line in zip(lines, lines[1:]):
        if prev.strip() == ".TP":
            tags.append(roff_text(re.sub(r"^\.B\s+", "", line)))
    return tags


def test_manpage_options_are_helps():
    text = help_text()
    helped = help_options(text)
    assert len(helped) >= 20 and "--json FILE" in helped, helped
    documented = man_tags(man_sections(MANPAGE.read_text())["OPTIONS"])
    assert documented == helped, \
        ("docs/conctrace.8's OPTIONS differ from --help's: "
         f"only in --help: {[o for o in helped if o not in documented]}; "
         f"only in the man page: {[o for o in documented if o not in helped]}")


def test_manpage_exit_statuses_are_helps():
    helped = help_statuses(help_text())
    assert {"0", "1", "2", "3", "137"} <= set(helped), helped
    documented = man_tags(man_sections(MANPAGE.read_text())["EXIT STATUS"])
    assert documented == helped


def test_manpage_sections():
    """What the issue asks the page to hold, each in a section of its own."""
    sections = man_sections(MANPAGE.read_text())
    for name in ("NAME", "SYNOPSIS", "DESCRIPTION", "OPTIONS", "THE REPORT", "EXIT STATUS",
                 "FILES", "EXAMPLES", "KERNEL REQUIREMENTS", "SEE ALSO"):
        assert name in sections, name
    report = "\n".join(sections["THE REPORT"])
    for word in ("held", "peak", "event loop", "closure"):
        assert word in report, word


def test_manpage_renders_without_warnings():
    groff = tool("groff")
    out = subprocess.run([groff, "-man", "-ww", "-z", str(MANPAGE)],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0 and out.stderr == "", out.stderr
    man = tool("man")
    env = {**os.environ, "MANWIDTH": "80", "MAN_KEEP_STDERR": "1", "LC_ALL": "C.UTF-8"}
    out = subprocess.run([man, "--warnings=w", "-l", str(MANPAGE)], capture_output=True,
                         text=True, env=env, timeout=30)
    assert out.returncode == 0 and out.stderr == "", out.stderr
    assert re.search(r"^CONCTRACE\(8\)", out.stdout, re.M), out.stdout[:200]
    for heading in ("OPTIONS", "EXIT STATUS", "--no-syscalls", "--prometheus [ADDR:]PORT"):
        assert heading in out.stdout, heading


def test_usage_page_shows_help_verbatim():
    """docs/usage.md's Command line block is --help, byte for byte: a hand
    copy there had drifted (-p took one pid in it, several in the tool)."""
    page = (ROOT / "docs" / "usage.md").read_text()
    section = page[page.index("## Command line"):]
    start = section.index("```\n") + 4
    block = section[start:section.index("```\n", start)]
    assert block == help_text(), "docs/usage.md's Command line block is not `conctrace --help`"
