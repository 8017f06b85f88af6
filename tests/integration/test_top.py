# SPDX-License-Identifier: MIT
"""conctrace --top: the live view, driven in a real terminal by tmux.

A tmux server of our own (its own socket) runs conctrace --top over
epoll_echo while loadgen holds connections that each made a known number of
requests. The screen is read with capture-pane: the header, rates, one row
per open connection with the bytes loadgen sent, the order changed by keys,
and q stops the run and leaves the report on the normal screen. Without a
terminal, --top prints plain periodic lines.
"""

import os
import re
import shutil
import subprocess
import time

import pytest

from conftest import ROOT, binary

CONCTRACE = ROOT / "conctrace"
LOADGEN = ROOT / "servers" / "loadgen"
CONNS, REQUESTS, PING_BYTES = 30, 3, 5
ROWS, COLS = 40, 110
ROW_RE = re.compile(r"^  (\d+)\s+127\.0\.0\.1:\d+\s+(\S+)\s+(\d+)\s+(\d+)\s+(\S+)\s+(\S+)\s+(\S+)\s*$")


def needs_root():
    if os.geteuid() != 0:
        pytest.fail("conctrace tests load BPF programs: run as root (sudo make test)",
                    pytrace=False)


class Tmux:
    def __init__(self, tmp):
        if not shutil.which("tmux"):
            pytest.fail("tmux is not installed: run `make deps`", pytrace=False)
        self.sock = f"conctrace-test-{os.getpid()}"
        self.tmp = tmp

    def run(self, *args):
        return subprocess.run(["tmux", "-L", self.sock, *args], capture_output=True,
                              text=True, timeout=10)

    def start(self, command):
        r = self.run("-f", "/dev/null", "new-session", "-d", "-x", str(COLS), "-y", str(ROWS),
                     command)
        assert r.returncode == 0, r.stderr

    def screen(self):
        lines = self.run("capture-pane", "-p").stdout.splitlines()
        while lines and not lines[-1].strip():
            lines.pop()
        return lines

    def wait_screen(self, pred, what, timeout=15):
        deadline = time.monotonic() + timeout
        while True:
            lines = self.screen()
            if pred(lines):
                return lines
            assert time.monotonic() < deadline, f"never saw {what}; screen:\n" + "\n".join(lines)
            time.sleep(0.2)

    def keys(self, *keys):
        assert self.run("send-keys", *keys).returncode == 0

    def kill(self):
        self.run("kill-server")


UNITS = {"ns": 1, "us": 1e3, "ms": 1e6, "s": 1e9,
         "B": 1, "KiB": 1024, "MiB": 1024 ** 2, "GiB": 1024 ** 3}


def from_units(text):
    """A figure as format.c prints it ("12.3us", "3.7KiB") back to a number."""
    m = re.fullmatch(r"([\d.]+)([a-zA-Z]+)", text)
    assert m and m.group(2) in UNITS, f"not a figure: {text!r}"
    return float(m.group(1)) * UNITS[m.group(2)]


from_ns = from_bytes = from_units


def rows(lines):
    return [m for m in (ROW_RE.match(l) for l in lines) if m]


def listen_port(path, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists():
            m = re.search(r"listening on tcp [^ ]+:(\d+)", path.read_text())
            if m:
                return int(m.group(1))
        time.sleep(0.05)
    raise AssertionError("the server never listened: " + path.read_text())


def test_top_in_a_terminal(tmp_path):
    needs_root()
    err, rc = tmp_path / "stderr", tmp_path / "rc"
    tmux = Tmux(tmp_path)
    holder = None
    try:
        tmux.start(f"{CONCTRACE} --top=0.5 -d 60 -- {binary('epoll_echo')} -p 0 2>{err}; "
                   f"echo $? >{rc}; sleep 60")
        port = listen_port(err)
        holder = subprocess.Popen([str(LOADGEN), "-p", str(port), "-c", str(CONNS),
                                   "-n", str(REQUESTS), "--hold", "60", "-q"],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        lines = tmux.wait_screen(
            lambda l: any(f"connections: {CONNS} open, {CONNS} total" in x for x in l)
            and len(rows(l)) == CONNS and all(r.group(6) == "15B" for r in rows(l)),
            f"{CONNS} connections with {REQUESTS * PING_BYTES} bytes each")
        # the whole screen, nothing scrolled off
        assert lines[0].startswith("conctrace ") and "order: kernel memory" in lines[0]
        assert re.match(r"per second:\s+syscalls \S+\s+switches \S+\s+cpu [\d.]+%", lines[2])
        assert lines[4] == "lost events: 0"
        assert "keys: k kernel memory" in lines[-1]
        assert len(lines) <= ROWS
        ids = {r.group(1) for r in rows(lines)}
        assert len(ids) == CONNS

        # every order key, ending where it began (k): each orders the rows
        for key, title, col, value in (("x", "context switches", 3, int),
                                       ("s", "syscalls", 4, int),
                                       ("c", "cpu time", 5, from_ns),
                                       ("k", "kernel memory", 2, from_bytes)):
            tmux.keys(key)
            lines = tmux.wait_screen(lambda l: f"order: {title}" in l[0]
                                     and len(rows(l)) == CONNS, f"order by {title}")
            values = [value(r.group(col)) for r in rows(lines)]
            assert values == sorted(values, reverse=True), f"{title} not in order: {values}"

        tmux.keys("q")
        lines = tmux.wait_screen(lambda l: rc.exists() and rc.read_text().strip() != "",
                                 "conctrace to stop on q", timeout=20)
        assert rc.read_text().strip() == "0"      # epoll_echo exits 0 on SIGTERM
        # back on the normal screen: the report, not the view
        text = "\n".join(tmux.screen())
        assert f"connections: {CONNS} total" in text
        assert "keys: k kernel memory" not in text
    finally:
        tmux.kill()
        if holder:
            holder.kill()
            holder.wait()


def test_top_without_a_terminal_prints_lines():
    needs_root()
    r = subprocess.run([str(CONCTRACE), "--top=0.3", "--load=-c 20 -d 2 -r 50 -q", "--",
                        str(binary("epoll_echo")), "-p", "0"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    lines = [l for l in r.stdout.splitlines() if l.startswith("[")]
    assert len(lines) >= 4, r.stdout
    assert "\x1b" not in r.stdout
    for line in lines:
        assert re.match(r"^\[\s*[\d.]+s\] open \d+ total \d+ \| syscalls \S+/s \| "
                        r"switches \S+/s \| cpu [\d.]+% \| rx \S+/s tx \S+/s \| "
                        r"rss \S+ \| conns' kernel memory \S+ \| lost 0$", line), line
    assert any(" open 20 total 20 " in l for l in lines)
