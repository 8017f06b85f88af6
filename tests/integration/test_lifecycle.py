# SPDX-License-Identifier: MIT
"""The traced process's life, and conctrace's exit status (issue 17 item 2,
issue 19 rows 2, 3, 6, 7, 8, 11, 12; the attach header of issue 17).

  * nothing of a launched tree survives conctrace: the command runs in a
    process group of its own, stopping signals the group, and what ignores
    the signal for the grace period is killed with the group (a wrapper
    that ignores SIGINT, and a shell whose jobs ignore SIGINT and SIGTERM);
  * the exit status is what --help says: 0 for a run that ended as asked
    (-d over, Ctrl-C), 137 when the tree had to be killed, 3 when --load
    failed, 1 for a pid that is not there or is a kernel thread;
  * -p: several pids, the command line in the header, how an attached
    process died, a warning for one that holds no socket;
  * the threads at peak are the kernel's, io_uring's workers included.
"""

import json
import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest

from conftest import ROOT, binary
from test_conctrace import CONCTRACE, needs_root, run_loadgen, start_server, wait_line


def processes_with(word):
    """Pids whose command line holds word (a unique marker of the test)."""
    found = []
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            cmd = Path(f"/proc/{p}/cmdline").read_bytes()
            state = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if word.encode() in cmd and state != "Z":
            found.append(int(p))
    return found


def run_ct(args, timeout=60):
    return subprocess.run([str(CONCTRACE), *args], capture_output=True, text=True,
                          timeout=timeout)


def traced(args, ready, while_tracing=None, sig=signal.SIGINT):
    """Run conctrace until the line `ready`, call while_tracing(), send sig
    (None: let it end by itself); returns (exit status, stdout, stderr)."""
    ct = subprocess.Popen([str(CONCTRACE), *args], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE)
    try:
        wait_line(ct.stderr, ready)
        if while_tracing:
            while_tracing()
        if sig:
            ct.send_signal(sig)
        out, err = ct.communicate(timeout=30)
    finally:
        if ct.poll() is None:
            ct.kill()
            ct.wait()
    return ct.returncode, out, err


# ---- nothing of the tree survives -----------------------------------------------------

def test_a_wrapper_that_ignores_sigint_leaves_nothing_behind(tmp_path):
    """/usr/bin/time ignores SIGINT while it waits: Ctrl-C reaches the server
    through the group, the server exits 0, time reports and exits 0."""
    needs_root()
    sock = tmp_path / "wrapped.sock"
    rc, out, err = traced(["--", "/usr/bin/time", str(binary("epoll_echo")), "-u", str(sock)],
                          rb"listening on unix", lambda: processes_with(str(sock)))
    assert rc == 0, err
    assert processes_with(str(sock)) == [], "a process of the traced tree survived"


def test_a_tree_that_ignores_every_stop_signal_is_killed_as_a_group(tmp_path):
    """A shell ignoring SIGINT and SIGTERM, with a background job and a
    foreground one that inherit that: after the grace period the group is
    killed, nothing is left, and conctrace exits 137 saying so."""
    needs_root()
    mark = f"1{os.getpid() % 100000:05d}"        # a sleep length no one else uses
    script = f'trap "" INT TERM; sleep {mark} & sleep {mark}; wait'

    def jobs_started():
        deadline = time.monotonic() + 10
        while len(processes_with(f"sleep\0{mark}")) < 2:
            assert time.monotonic() < deadline, "the shell's jobs did not start"
            time.sleep(0.05)

    rc, out, err = traced(["--", "sh", "-c", script], rb"tracing pid", jobs_started)
    assert rc == 137, err
    assert b"ignored SIGINT for 3.0 s: killing them" in err
    assert b"killed by SIGKILL after ignoring SIGINT" in out
    assert processes_with(f"sleep\0{mark}") == [], "a process of the traced tree survived"
    assert processes_with(script) == []


def test_help_says_what_each_exit_status_means():
    out = run_ct(["--help"]).stdout
    for line in ("Exit status:", "  0      the run ended as asked", "  137    CMD",
                 "  3      --load failed", "  127    CMD not found", "process group"):
        assert line in out, line


# ---- exit status --------------------------------------------------------------------

def test_a_timed_run_that_ends_as_asked_exits_0():
    needs_root()
    r = run_ct(["-d", "1", "--", "sleep", "3"])
    assert r.returncode == 0, r.stderr
    assert "killed by SIGTERM" in r.stdout


@pytest.mark.parametrize("load", ["-c abc", "-c 2 -n 2 --mix bogus",
                                  "-c 3 -n 2 --mix wait --wait-ms 2000 --timeout 0.2"])
def test_a_load_that_failed_exits_3_and_says_so(load):
    needs_root()
    r = run_ct([f"--load={load}", "--", str(binary("epoll_echo")), "-p", "0"])
    assert r.returncode == 3, r.stderr
    assert "LOAD FAILED: loadgen exited" in r.stdout, r.stdout


# ---- -p -------------------------------------------------------------------------------

def test_a_pid_that_is_not_there_is_named():
    needs_root()
    r = run_ct(["-p", "3999999", "-d", "1"])
    assert r.returncode == 1
    assert r.stderr.strip() == "conctrace: no such process: pid 3999999", r.stderr


@pytest.mark.parametrize("pid", [2])
def test_a_kernel_thread_is_refused(pid):
    needs_root()
    r = run_ct(["-p", str(pid), "-d", "1"])
    assert r.returncode == 1
    assert f"pid {pid} is a kernel thread" in r.stderr, r.stderr
    assert "tracing pid" not in r.stderr


def test_a_process_without_sockets_gets_a_warning():
    needs_root()
    sleeper = subprocess.Popen(["sleep", "60"])
    try:
        r = run_ct(["-p", str(sleeper.pid), "-d", "0.5"])
    finally:
        sleeper.kill()
        sleeper.wait()
    assert r.returncode == 0, r.stderr
    assert f"warning: pid {sleeper.pid} (sleep 60) holds no sockets" in r.stderr, r.stderr


def test_attach_header_names_the_command_and_a_true_reason(tmp_path):
    needs_root()
    server, port, pid = start_server("epoll_echo")
    try:
        r = run_ct(["-p", str(pid), "-d", "1.5"])
    finally:
        server.kill()
        server.wait()
    assert r.returncode == 0, r.stderr
    assert f"conctrace: {binary('epoll_echo')} -p 0 (pid {pid}): traced" in r.stdout, r.stdout
    assert "shorter than the sampling period" not in r.stdout


def test_an_attached_process_killed_is_reported_killed():
    needs_root()
    server, port, pid = start_server("epoll_echo")

    def kill_it():
        server.kill()
        server.wait()

    rc, out, err = traced(["-p", str(pid)], rb"tracing pid", kill_it, sig=None)
    assert rc == 0, err
    assert b"target killed by SIGKILL" in out, out


@pytest.mark.parametrize("form", ["words", "comma", "quoted"])
def test_several_pids_are_traced_together(form, tmp_path):
    """-p $(pidof ...) unquoted (separate words, options after them still
    read), a comma list, or one quoted argument: connections to both
    servers are counted."""
    needs_root()
    path = tmp_path / "r.json"
    a, port_a, pid_a = start_server("epoll_echo")
    b, port_b, pid_b = start_server("threaded_echo")
    pids = {"words": [str(pid_a), str(pid_b)], "comma": [f"{pid_a},{pid_b}"],
            "quoted": [f"{pid_a} {pid_b}"]}[form]

    def load_both():
        run_loadgen(port_a, conns=7, requests=2)
        run_loadgen(port_b, conns=5, requests=2)
        time.sleep(0.3)

    try:
        rc, out, err = traced(["-p", *pids, "--json", str(path)], rb"tracing pid", load_both)
    finally:
        for s in (a, b):
            s.kill()
            s.wait()
    assert rc == 0, err
    rep = json.loads(path.read_text())
    assert rep["connections"]["total"] == 12, rep["connections"]
    assert b"and 1 more pid" in out


# ---- the headline ---------------------------------------------------------------------

def test_untracked_connections_are_on_the_headline(tmp_path):
    needs_root()
    r = run_ct(["--max-conns", "1", "--load=-c 5 -n 2 -q --hold 0.3", "--",
                str(binary("epoll_echo")), "-p", "0"])
    assert r.returncode == 0, r.stderr
    assert "connections: 5 (1 tracked, 4 not: --max-conns)" in r.stdout, r.stdout


# ---- threads --------------------------------------------------------------------------

IOWQ_WORKERS = ROOT / "build" / "tests" / "iowq_workers"


@pytest.mark.parametrize("mode", [[], ["--no-syscalls"]], ids=["full", "light"])
def test_threads_at_peak_count_io_urings_workers(tmp_path, mode):
    """io_uring's workers are threads of the ring's process that no clone()
    makes (create_io_thread): the threads at peak are what the kernel's
    /proc/PID/status said at its most. tests/tools/iowq_workers blocks 4
    workers, ends them, then 4 again: counting their ends and not their
    starts, or the other way round, is 4 off (before the fix: 1, not 5)."""
    needs_root()
    if not IOWQ_WORKERS.is_file():
        pytest.fail(f"{IOWQ_WORKERS} is not built: run `make check-integration` or "
                    f"`make {IOWQ_WORKERS.relative_to(ROOT)}`", pytrace=False)
    path = tmp_path / "r.json"
    r = run_ct([*mode, "--json", str(path), "--", str(IOWQ_WORKERS), "4"])
    assert r.returncode == 0, r.stderr
    kernel = int(re.search(r"^threads at peak (\d+)$", r.stdout, re.M).group(1))
    assert kernel >= 1 + 4, r.stdout    # io-wq may start one more for a while (6.1)
    assert json.loads(path.read_text())["process"]["threads_peak"] == kernel
