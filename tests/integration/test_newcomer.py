# SPDX-License-Identifier: MIT
"""Every command line the README and docs/ show, run as a newcomer would
(issue 19): each `sudo ./conctrace ...` line of a fenced block in README.md
and docs/*.md (--help's examples among them, in docs/usage.md), with what a test must change (ports 0 or free ones, a pid
of a server this test starts, files in a temporary directory, -d 10
shortened to -d 1) and nothing else, must exit 0, the status that says the
run ended as asked. `make demo`'s script runs too. A new command line in
the docs that this test does not know how to run fails it, so the docs
cannot drift from the tool.
"""

import re
import shlex
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

from conftest import ROOT, binary
from test_conctrace import CONCTRACE, needs_root, start_server, wait_line

DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
# a comment after '#', or (in --help's examples) after two spaces
LINE_RE = re.compile(r"^sudo (\./conctrace .*?)\s*(?:#.*|\s{2,}(?!-)\S.*)?$")


def documented_lines():
    """(file, line) for each conctrace command line in a fenced block."""
    found = []
    for doc in DOCS:
        fenced = False
        for line in doc.read_text().splitlines():
            if line.startswith("```"):
                fenced = not fenced
            elif fenced and (m := LINE_RE.match(line.strip())):
                found.append((doc.relative_to(ROOT).as_posix(), m.group(1)))
    return found


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def adjust(line, tmp_path, pid):
    """The line as this test can run it: argv, and a file for stdout or None."""
    out = None
    if " > " in line:
        line, out = line.split(" > ")
        out = tmp_path / Path(out.strip()).name
    line = re.sub(r"\$\(pidof [^)]*\)", str(pid), line)
    argv = shlex.split(line)
    argv[0] = str(CONCTRACE)
    i = 0
    while i < len(argv):
        a = argv[i]
        if a == "-p" and i + 1 < len(argv) and argv[i + 1] == "1234":
            argv[i + 1] = str(pid)
        elif a == "-d" and argv[i + 1] == "10":
            argv[i + 1] = "1"
        elif a in ("--json", "--svg", "--folded") and argv[i + 1] != "-":
            argv[i + 1] = str(tmp_path / Path(argv[i + 1]).name)
        elif a == "--prometheus":
            argv[i + 1] = re.sub(r"\d+$", str(free_port()), argv[i + 1])
        elif a == "--port":
            argv[i + 1] = str(free_port())
        elif a.startswith("./servers/"):
            argv[i] = str(binary(a[len("./servers/"):]))
            if "-p" not in argv[i + 1:] and "-u" not in argv[i + 1:]:
                argv[i + 1:i + 1] = ["-p", "0"]     # not the default 8090: it may be taken
        i += 1
    return argv, out


def runs_until_stopped(argv):
    """A run that ends only with Ctrl-C: no --load, no -d."""
    return not any(a.startswith("--load") for a in argv) and "-d" not in argv


def test_the_docs_show_command_lines():
    lines = documented_lines()
    assert any(f == "README.md" for f, _ in lines), lines
    assert len(lines) >= 8, lines


@pytest.mark.parametrize("where,line", documented_lines(),
                         ids=[f"{f}:{i}" for i, (f, _) in enumerate(documented_lines())])
def test_documented_command_line_exits_as_documented(where, line, tmp_path):
    needs_root()
    if "redis-server" in line and not any(
            (Path(d) / "redis-server").exists() for d in ("/usr/bin", "/usr/sbin")):
        pytest.fail("redis-server is not installed: scripts/install-deps.sh installs it")
    server, _, pid = start_server("epoll_echo")     # what -p attaches to
    try:
        argv, out = adjust(line, tmp_path, pid)
        stdout = open(out, "w") if out else subprocess.DEVNULL
        ct = subprocess.Popen(argv, stdout=stdout, stderr=subprocess.PIPE, cwd=tmp_path)
        try:
            wait_line(ct.stderr, rb"conctrace: tracing pid", timeout=30)
            if runs_until_stopped(argv):
                time.sleep(1)
                ct.send_signal(signal.SIGINT)
            _, err = ct.communicate(timeout=120)
        finally:
            if ct.poll() is None:
                ct.kill()
                ct.wait()
            if out:
                stdout.close()
        assert ct.returncode == 0, f"{where}: {line}\n-> {argv}\n{err.decode()}"
    finally:
        server.terminate()
        server.wait(timeout=10)
    if out:
        assert out.read_text().strip(), f"{where}: {line}: nothing written to {out.name}"
    for a, b in zip(argv, argv[1:]):
        if a in ("--json", "--svg"):
            # several flame views: one file per view, FILE's name with the view's
            written = [Path(b)] if Path(b).exists() else \
                sorted(Path(b).parent.glob(Path(b).stem + ".*" + Path(b).suffix))
            assert written and all(p.stat().st_size > 0 for p in written), \
                f"{where}: {line}: {b} (or one per view) not written"


def test_make_demo_script_prints_two_reports():
    """What `sudo make demo` runs once deps and the build are there."""
    needs_root()
    r = subprocess.run(["sh", "scripts/demo.sh"], cwd=ROOT, capture_output=True, text=True,
                       timeout=120, env={"LOAD": "-c 50 -n 2", "PATH": "/usr/bin:/bin"})
    assert r.returncode == 0, r.stderr
    assert r.stderr.count("connections: 50 total") == 2 or \
        r.stdout.count("connections: 50 total") == 2, r.stdout + r.stderr
