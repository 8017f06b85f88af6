# SPDX-License-Identifier: MIT
"""Fixtures for the integration tests: run a reference server, talk to it.

Each test gets a fresh server process (started in a few milliseconds), so a
server that crashes or wedges in one test cannot hide behind another. The
binaries are never built here: `make all` (or `make check-integration`) first.

A missing server binary is a FAILURE, never a silent skip, because CI must
test every server. While servers are still being written, run locally with
CONCTRACE_ALLOW_MISSING=1 to skip the missing ones (listed loudly at the end).
"""

import os
import re
import selectors
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SERVERS = ["threaded_echo", "epoll_echo", "coro_echo", "uring_echo"]
TRANSPORTS = ["tcp", "unix"]
ALLOW_MISSING = os.environ.get("CONCTRACE_ALLOW_MISSING") == "1"

READY_TIMEOUT = 5.0     # the "listening" line must appear within this
STOP_TIMEOUT = 5.0      # exit after SIGTERM within this
IO_TIMEOUT = 5.0        # default bound on any single read in a test

LISTEN_RE = re.compile(
    r"^(?P<name>\S+): listening on (?P<kind>tcp|unix) (?P<addr>.+) \(pid (?P<pid>\d+)\)$")

_missing = set()        # binaries skipped under CONCTRACE_ALLOW_MISSING=1


def binary(name):
    """Path of servers/NAME; fails (or skips, if allowed) when it is not built."""
    path = ROOT / "servers" / name
    if path.is_file() and os.access(path, os.X_OK):
        return path
    if ALLOW_MISSING:
        _missing.add(name)
        pytest.skip(f"MISSING BINARY servers/{name} (skipped: CONCTRACE_ALLOW_MISSING=1)")
    pytest.fail(f"servers/{name} is not built: run `make all` first "
                f"(set CONCTRACE_ALLOW_MISSING=1 to skip missing servers locally)",
                pytrace=False)


def script_module(path):
    """A script of scripts/ as a module, nothing run (with or without .py).
    Its folder goes on the import path: scripts import their siblings
    (benchlib, svgchart)."""
    import importlib.machinery
    import importlib.util
    if str(path.parent) not in sys.path:
        sys.path.insert(0, str(path.parent))
    loader = importlib.machinery.SourceFileLoader(path.stem.replace("-", "_"), str(path))
    module = importlib.util.module_from_spec(importlib.util.spec_from_loader(loader.name, loader))
    loader.exec_module(module)
    return module


# Figures a test measures beside what it asserts (a ground truth's external
# activity, failed-call counts, rss_inexact): the README promises they are
# visible, and `pytest -q` hides a test's prints, so they are collected here
# and printed in the terminal summary, which CI's log always shows.
_figures = []


def report_figure(text):
    """Show TEXT, under the running test's name, in the run's summary."""
    test = os.environ.get("PYTEST_CURRENT_TEST", "?").rsplit(" ", 1)[0]
    _figures.append((test.split("/")[-1], text))


def pytest_terminal_summary(terminalreporter):
    if _figures:
        terminalreporter.write_sep("=", "figures (measured, not only asserted)")
        for test, text in _figures:
            for i, line in enumerate(str(text).splitlines()):
                terminalreporter.write_line(f"{test}: {line}" if i == 0 else f"    {line}")
    if _missing:
        terminalreporter.write_sep(
            "!", "NOT TESTED (binary missing): " + ", ".join(sorted(_missing)), red=True)


# ---- what the suite runs -----------------------------------------------------

def pytest_configure(config):
    """A suite started in the background by a script (`cmd &` with no job
    control) inherits SIGINT ignored, and so would every program it runs:
    a SIGINT sent to conctrace before its handlers are set would then be
    lost, not fatal, and it would trace on. The tests expect what a
    terminal gives, the default; a handler here is reset to it at exec."""
    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


def fdinfo_ids(fields, pids=None):
    """{field: ids} of the BPF objects processes hold through an fd: each
    fdinfo field named (prog_id, map_id, link_id; a link's fdinfo shows
    its program's prog_id too) of every fd of pids (default: every
    process). Debian's bpftool cannot list holders."""
    ids = {f: set() for f in fields}
    for pid in pids or [p for p in os.listdir("/proc") if p.isdigit()]:
        try:
            fds = os.listdir(f"/proc/{pid}/fdinfo")
        except OSError:
            continue
        for fd in fds:
            try:
                text = Path(f"/proc/{pid}/fdinfo/{fd}").read_text()
            except OSError:
                continue
            for f in fields:
                ids[f].update(int(m) for m in re.findall(rf"^{f}:\s+(\d+)", text, re.M))
    return ids


def _proc_stat(pid):
    """(comm, state, ppid) of a process, from /proc/PID/stat; None if gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    state, ppid = stat[stat.rindex(")") + 2:].split()[:2]
    return stat[stat.index("(") + 1:stat.rindex(")")], state, int(ppid)


def _children():
    """This pytest's child pids: each thread's children file (a scan of
    /proc costs 2.7 ms, twice a test), or that scan where the kernel
    lacks the file (CONFIG_PROC_CHILDREN)."""
    try:
        return {int(pid) for t in os.listdir("/proc/self/task")
                for pid in Path(f"/proc/self/task/{t}/children").read_text().split()}
    except FileNotFoundError:
        me = os.getpid()
        return {int(p) for p in filter(str.isdigit, os.listdir("/proc"))
                if (_proc_stat(p) or ("", "", 0))[2] == me}


def _tracers_running():
    """Pids of this pytest's children that are a conctrace still running."""
    found = set()
    for pid in _children():
        stat = _proc_stat(pid)
        if stat and stat[0] == "conctrace" and stat[1] != "Z":
            found.add(pid)
    return found


@pytest.fixture(autouse=True)
def no_tracer_left_running():
    """A test that failed while conctrace ran (a timeout, a lost signal)
    must not leave it tracing: six left so made getppid() 3.9 us instead of
    1.1 for every later test. What this test started and left running is
    stopped (SIGTERM, then SIGKILL), and the test errors, naming it."""
    before = _tracers_running()
    yield
    left = _tracers_running() - before
    for pid in left:
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 10
    while _tracers_running() & left and time.monotonic() < deadline:
        time.sleep(0.05)
    for pid in _tracers_running() & left:
        os.kill(pid, signal.SIGKILL)
    assert not left, f"conctrace left running by the test: pids {sorted(left)} (stopped now)"


# ---- a client connection ------------------------------------------------------

class Conn:
    """A blocking client socket with a receive buffer and deadline-bound reads.

    Every read takes a timeout and raises AssertionError saying what it was
    waiting for and what arrived, so a wedged server fails a test quickly."""

    def __init__(self, sock, label):
        self.sock = sock
        self.label = label
        self.buf = bytearray()
        self.eof = False

    def send(self, data):
        self.sock.sendall(data)

    def _fill(self, deadline, what):
        """Receive more bytes into self.buf before the deadline."""
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise AssertionError(f"{self.label}: timed out waiting for {what}; "
                                 f"buffered {bytes(self.buf[:200])!r}")
        if self.eof:
            raise AssertionError(f"{self.label}: connection closed while waiting for "
                                 f"{what}; buffered {bytes(self.buf[:200])!r}")
        self.sock.settimeout(remaining)
        try:
            data = self.sock.recv(1 << 20)
        except socket.timeout:
            data = None
        except ConnectionResetError:
            data = b""
        if data is None:
            return
        if not data:
            self.eof = True
        self.buf += data

    def readline(self, timeout=IO_TIMEOUT):
        """One reply line, including its '\\n'."""
        deadline = time.monotonic() + timeout
        while True:
            i = self.buf.find(b"\n")
            if i >= 0:
                line = bytes(self.buf[:i + 1])
                del self.buf[:i + 1]
                return line
            self._fill(deadline, "a reply line")

    def read_exact(self, n, timeout=IO_TIMEOUT):
        deadline = time.monotonic() + timeout
        while len(self.buf) < n:
            self._fill(deadline, f"{n} bytes (have {len(self.buf)})")
        data = bytes(self.buf[:n])
        del self.buf[:n]
        return data

    def request(self, line, timeout=IO_TIMEOUT):
        """Send one request line (newline added) and return the reply line."""
        self.send(line + b"\n")
        return self.readline(timeout)

    def exchange(self, data, nbytes, timeout=IO_TIMEOUT):
        """Send `data` while receiving `nbytes` bytes, without deadlocking on
        full socket buffers when both directions carry a lot; returns them."""
        sock = self.sock
        got = bytearray(self.buf)
        self.buf.clear()
        view = memoryview(data)
        deadline = time.monotonic() + timeout
        sock.setblocking(False)
        sel = selectors.DefaultSelector()
        sel.register(sock, selectors.EVENT_READ | (selectors.EVENT_WRITE if view else 0))
        try:
            while len(got) < nbytes or view:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"{self.label}: exchange timed out: sent "
                                         f"{len(data) - len(view)}/{len(data)} bytes, "
                                         f"received {len(got)}/{nbytes}")
                for _, events in sel.select(remaining):
                    if events & selectors.EVENT_WRITE and view:
                        try:
                            view = view[sock.send(view[:1 << 16]):]
                        except BlockingIOError:
                            pass
                        if not view:
                            sel.modify(sock, selectors.EVENT_READ)
                    if events & selectors.EVENT_READ:
                        try:
                            chunk = sock.recv(1 << 20)
                        except BlockingIOError:
                            continue
                        if not chunk:
                            raise AssertionError(f"{self.label}: closed after {len(got)}/"
                                                 f"{nbytes} bytes of the exchange")
                        got += chunk
        finally:
            sel.close()
            sock.setblocking(True)
        self.buf += got[nbytes:]
        return bytes(got[:nbytes])

    def assert_closed(self, timeout=IO_TIMEOUT):
        """The server closes the connection (FIN or RST), with no bytes first."""
        deadline = time.monotonic() + timeout
        while not self.eof and not self.buf:
            self._fill(deadline, "the server to close the connection")
        assert not self.buf, (f"{self.label}: unexpected bytes instead of a close: "
                              f"{bytes(self.buf[:200])!r}")

    def assert_silent(self, wait):
        """Nothing arrives (and the connection stays open) for `wait` seconds."""
        self.sock.settimeout(wait)
        try:
            data = self.sock.recv(4096)
        except socket.timeout:
            return
        raise AssertionError(f"{self.label}: expected silence, got {data!r}")

    def reset(self):
        """Abortive close: SO_LINGER {on, 0} makes close() send an RST (TCP)."""
        if self.sock.family != socket.AF_UNIX:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.close()

    def close(self):
        if self.sock.fileno() >= 0:
            self.sock.close()


# ---- a server process ----------------------------------------------------------

class Server:
    """A running reference server: `address` is a (host, port) tuple or a Unix
    socket path, `proc` the subprocess.Popen."""

    def __init__(self, name, transport, workdir):
        self.name = name
        self.transport = transport
        self.workdir = Path(workdir)
        self.stderr_path = self.workdir / "stderr"
        self.conns = []
        self.proc = None
        self.address = None
        self.family = None
        self.ready_line = None
        self.stopped = False        # a test stopped it itself

    # -- lifecycle

    def start(self, extra_args=()):
        exe = binary(self.name)
        if self.transport == "unix":
            self.address = str(self.workdir / "sock")
            self.family = socket.AF_UNIX
            args = ["-u", self.address]
        elif self.transport == "tcp6":
            self.family = socket.AF_INET6
            args = ["-b", "::1", "-p", "0"]
        else:
            self.family = socket.AF_INET
            args = ["-b", "127.0.0.1", "-p", "0"]
        with open(self.stderr_path, "wb") as err:
            self.proc = subprocess.Popen([str(exe), *args, *extra_args], stdin=subprocess.DEVNULL,
                                         stdout=subprocess.DEVNULL, stderr=err, cwd=self.workdir)
        self._wait_ready()
        return self

    def _wait_ready(self):
        deadline = time.monotonic() + READY_TIMEOUT
        while True:
            text = self.stderr_path.read_bytes().decode(errors="replace")
            if "\n" in text:
                break
            if self.proc.poll() is not None:
                pytest.fail(f"{self.name} exited with status {self.proc.returncode} before "
                            f"listening; stderr: {text!r}", pytrace=False)
            if time.monotonic() > deadline:
                self.kill()
                pytest.fail(f"{self.name} printed no listening line within {READY_TIMEOUT}s; "
                            f"stderr: {text!r}", pytrace=False)
            time.sleep(0.005)
        line = text.split("\n", 1)[0]
        self.ready_line = line
        m = LISTEN_RE.match(line)
        if not m:
            self.kill()
            pytest.fail(f"{self.name}: unexpected first stderr line {line!r}", pytrace=False)
        assert m["name"] == self.name, line
        assert int(m["pid"]) == self.proc.pid, f"pid in {line!r} is not {self.proc.pid}"
        if self.transport == "unix":
            assert m["kind"] == "unix" and m["addr"] == self.address, line
        else:
            assert m["kind"] == "tcp", line
            host, _, port = m["addr"].rpartition(":")
            host = host.strip("[]")
            want = "::1" if self.transport == "tcp6" else "127.0.0.1"
            assert host == want, f"bound to {host}, asked for {want}: {line!r}"
            assert 0 < int(port) < 65536, line
            self.address = (host, int(port))

    def stop(self, sig=signal.SIGTERM):
        """Send `sig` (SIGTERM) and return the exit status, or None if the
        server had not exited STOP_TIMEOUT seconds later (it is then killed)."""
        self.stopped = True
        if self.proc.poll() is not None:
            return self.proc.returncode
        self.proc.send_signal(sig)
        try:
            return self.proc.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.kill()
            return None

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def stderr_text(self):
        try:
            return self.stderr_path.read_bytes().decode(errors="replace")
        except OSError:
            return ""

    # -- clients

    def connect(self, timeout=IO_TIMEOUT, nodelay=True):
        """A new client connection (closed automatically at the end of the test)."""
        sock = socket.socket(self.family, socket.SOCK_STREAM)
        sock.settimeout(timeout)
        sock.connect(self.address)
        if nodelay and self.family != socket.AF_UNIX:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        conn = Conn(sock, f"{self.name}/{self.transport} conn {len(self.conns)}")
        self.conns.append(conn)
        return conn

    def close_clients(self):
        for c in self.conns:
            c.close()

    # -- what the kernel says about the process

    def assert_alive(self):
        status = self.proc.poll()
        assert status is None, (f"{self.name} died with status {status}; "
                                f"stderr: {self.stderr_text()[-2000:]!r}")

    def rss_kb(self):
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        raise AssertionError("no VmRSS")

    def fd_count(self):
        return len(os.listdir(f"/proc/{self.proc.pid}/fd"))

    def wait_fd_count(self, want, timeout=3.0):
        """Wait until the server holds at most `want` fds (it closed what it should)."""
        deadline = time.monotonic() + timeout
        while (n := self.fd_count()) > want:
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.name} still holds {n} fds after {timeout}s, "
                                     f"expected at most {want} (leaked connection?)")
            time.sleep(0.02)


def _run_server(name, transport):
    workdir = tempfile.mkdtemp(prefix="conctrace-it-")    # short: sun_path is 108 bytes
    server = Server(name, transport, workdir)
    try:
        server.start()
        yield server
        server.close_clients()
        if not server.stopped:
            server.assert_alive()
        status = server.stop()
        assert status is not None, f"{name} did not exit within {STOP_TIMEOUT}s of SIGTERM"
        assert status == 0, (f"{name} exited with status {status} on SIGTERM; "
                             f"stderr: {server.stderr_text()[-2000:]!r}")
    finally:
        if server.proc is not None:
            server.kill()
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture(params=[(s, t) for s in SERVERS for t in TRANSPORTS],
                ids=lambda p: f"{p[0]}-{p[1]}")
def server(request):
    """Each server over TCP (127.0.0.1, free port) and over a Unix socket."""
    yield from _run_server(*request.param)


@pytest.fixture(params=SERVERS)
def server6(request):
    """Each server over TCP on ::1."""
    if not socket.has_ipv6 or not _ipv6_loopback():
        pytest.skip("no IPv6 loopback on this machine")
    yield from _run_server(request.param, "tcp6")


def _ipv6_loopback():
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False
