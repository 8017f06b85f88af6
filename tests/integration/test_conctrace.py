# SPDX-License-Identifier: MIT
"""conctrace against the kernel's own accounting.

Each test runs a real reference server, real BPF programs and the real load
generator over loopback, then compares what conctrace attributed with what
the kernel (wait4 rusage, strace) or the client (bytes sent) says.

Tolerances, and why:
  * connections, bytes: exact. Both are counted, not sampled.
  * context switches: 2 (the switch that may fall between the base read and
    the attach, and the last one, racing the reaping). Ground truth is
    wait4()'s rusage of the server, which sums every thread the process
    ever had, including threaded_echo's exited ones.
    Launched, against what wait4() gave conctrace itself: exact, or 1.
  * syscalls: against strace, in test_syscalls.py.
"""

import json
import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest

from conftest import ROOT, SERVERS, binary, fdinfo_ids, report_figure

CONCTRACE = ROOT / "conctrace"
LOADGEN = ROOT / "servers" / "loadgen"
CONNS, REQUESTS = 500, 20
ATTACH_SWITCH_SLACK = 2             # switches at the attach and at the reaping
PING_BYTES = 5                      # "PING\n" and "PONG\n"

LISTEN_RE = re.compile(rb"listening on tcp [^ ]+:(\d+) \(pid (\d+)\)")


def needs_root():
    if os.geteuid() != 0:
        pytest.fail("conctrace tests load BPF programs: run as root (sudo make test)",
                    pytrace=False)


def wait_line(stream, pattern, timeout=10.0):
    """Read lines from a pipe until one matches; return the match."""
    deadline = time.monotonic() + timeout
    seen = []
    while time.monotonic() < deadline:
        line = stream.readline()
        if not line:
            break
        seen.append(line)
        m = re.search(pattern, line)
        if m:
            return m
    raise AssertionError(f"no line matching {pattern!r} within {timeout}s; got {seen!r}")


def start_server(name, *wrapper):
    proc = subprocess.Popen([*wrapper, str(binary(name)), "-p", "0"],
                            stderr=subprocess.PIPE, stdout=subprocess.DEVNULL)
    m = wait_line(proc.stderr, LISTEN_RE)
    return proc, int(m.group(1)), int(m.group(2))


def run_loadgen(port, conns=CONNS, requests=REQUESTS, extra=()):
    out = subprocess.run([str(LOADGEN), "-H", "127.0.0.1", "-p", str(port),
                          "-c", str(conns), "-n", str(requests), "-q", "--json", *extra],
                         capture_output=True, timeout=120)
    assert out.returncode == 0, out.stderr.decode()
    rep = json.loads(out.stdout)
    assert rep["connections"]["established"] == conns
    return rep


def open_sockets(pid):
    n = 0
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            if os.readlink(f"/proc/{pid}/fd/{fd}").startswith("socket:"):
                n += 1
        except OSError:
            pass
    return n


def wait_sockets(pid, count, timeout=5.0):
    """Wait until the server has closed its side of the client connections."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and open_sockets(pid) > count:
        time.sleep(0.02)


def task_switches(pid):
    vol = invol = 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            text = Path(f"/proc/{pid}/task/{tid}/status").read_text()
        except OSError:
            continue
        vol += int(re.search(r"voluntary_ctxt_switches:\s+(\d+)", text).group(1))
        invol += int(re.search(r"nonvoluntary_ctxt_switches:\s+(\d+)", text).group(1))
    return vol, invol


def task_cpu_ns(pid):
    """The kernel's CPU time of every thread (sum_exec_runtime, the first
    field of schedstat): what getrusage() sums, in ns."""
    ns = 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            ns += int(Path(f"/proc/{pid}/task/{tid}/schedstat").read_text().split()[0])
        except OSError:
            continue
    return ns


def no_conn(rep, key):
    """What no single connection holds: the event loop's and the worker
    pool's buckets together."""
    return rep["event_loop"][key] + rep["pool"][key]


def cpu_parts(rep):
    """The process's CPU as its parts hold it: every connection's, the
    internal pairs', the loop's and the pool's, with what is not yet split,
    less what exited threads left overcharged. Launched, with every thread
    gone, it is the process's cpu_ns exactly."""
    proc = rep["process"]
    return sum(c["cpu_ns"] for c in rep["conns"]) + rep["internal_pairs"]["cpu_ns"] + \
        no_conn(rep, "cpu_ns") + proc["cpu_unsplit_ns"] - proc["cpu_overcharged_ns"]


def close_enough(measured, truth, rel=0.02, slack=2):
    return abs(measured - truth) <= max(rel * truth, slack)


# ---- one traced run per server, shared by the tests that read it ---------------

class AttachedRun:
    """Server started by the test, conctrace attached with -p, load, stop.

    The test is the server's parent, so wait4() hands it the kernel's rusage
    for the whole process: the ground truth for context switches and CPU."""

    def __init__(self, name, tmp):
        needs_root()
        self.name = name
        self.json_path = tmp / f"{name}.json"
        server, port, pid = start_server(name)
        listeners = open_sockets(pid)
        self.base_vol, self.base_invol = task_switches(pid)
        self.base_cpu_ns = task_cpu_ns(pid)
        ct = subprocess.Popen([str(CONCTRACE), "-p", str(pid), "--json", str(self.json_path),
                               "--json-conns", str(CONNS * 2)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            wait_line(ct.stderr, rb"conctrace: tracing pid")
            self.load = run_loadgen(port)
            wait_sockets(pid, listeners)
        finally:
            server.send_signal(signal.SIGTERM)
            _, status, self.rusage = os.wait4(server.pid, 0)
            server.returncode = os.waitstatus_to_exitcode(status)
            out, err = ct.communicate(timeout=30)
        self.ct_stdout, self.ct_stderr = out.decode(), err.decode()
        assert ct.returncode == 0, self.ct_stderr
        assert server.returncode == 0
        self.rep = json.loads(self.json_path.read_text())


_runs = {}


@pytest.fixture(params=SERVERS)
def attached(request, tmp_path_factory):
    name = request.param
    if name not in _runs:
        _runs[name] = AttachedRun(name, tmp_path_factory.mktemp("ct"))
    return _runs[name]


def test_connections_counted_exactly(attached):
    c = attached.rep["connections"]
    assert c["total"] == CONNS
    assert c["open_at_end"] == 0
    assert 1 <= c["peak_open"] <= CONNS
    assert attached.rep["lost_events"] == 0


def test_bytes_per_connection_equal_what_the_client_sent(attached):
    load = attached.load
    assert load["bytes"]["sent"] == CONNS * REQUESTS * PING_BYTES
    conns = attached.rep["conns"]
    assert len(conns) == CONNS
    for c in conns:
        assert c["bytes_rx"] == REQUESTS * PING_BYTES, c
        assert c["bytes_tx"] == REQUESTS * PING_BYTES, c
    assert sum(c["bytes_rx"] for c in conns) == load["bytes"]["sent"]
    assert sum(c["bytes_tx"] for c in conns) == load["bytes"]["received"]
    totals = attached.rep["connections"]
    assert (totals["bytes_rx"], totals["bytes_tx"]) == \
        (load["bytes"]["sent"], load["bytes"]["received"]), totals


def test_connections_have_distinct_ids_and_addresses(attached):
    conns = attached.rep["conns"]
    assert len({c["id"] for c in conns}) == len(conns)
    assert len({c["remote"] for c in conns}) == len(conns)
    # uring_echo accepts inside io_uring (multishot accept): no accept()
    # returns the fd, so its connections are first seen in use
    origin = "seen" if attached.name == "uring_echo" else "accept"
    for c in conns:
        assert c["family"] == "tcp4"
        assert c["local"].startswith("127.0.0.1:")
        assert 0 < c["open_ns"] < c["close_ns"]
        assert c["origin"] == origin, c


def test_a_client_s_connections_are_its_connects(tmp_path):
    """The target is the client: loadgen traced against an untraced server.
    Each connection it opened is one, with the bytes it sent, and says so."""
    needs_root()
    path = tmp_path / "client.json"
    server, port, _ = start_server("epoll_echo")
    try:
        r = subprocess.run([str(CONCTRACE), "--json", str(path), "--", str(LOADGEN),
                            "-H", "127.0.0.1", "-p", str(port), "-c", "5", "-n", "3", "-q"],
                           capture_output=True, text=True, timeout=60)
    finally:
        server.terminate()
        server.wait(timeout=10)
    assert r.returncode == 0, r.stderr
    rep = json.loads(path.read_text())
    assert rep["connections"]["total"] == 5, rep["connections"]
    assert [c["origin"] for c in rep["conns"]] == ["connect"] * 5, rep["conns"]
    assert all(c["bytes_tx"] == 3 * PING_BYTES for c in rep["conns"]), rep["conns"]


def test_context_switches_match_rusage(attached):
    """Exact but for the edges: a switch of the server's between the base
    read and the attach (it waits in accept or epoll_wait: one), and its
    last, racing its reaping (one). Measured: voluntary 0 or 1 short,
    involuntary exact (every server, in 2 CI runs and 5 by hand)."""
    p = attached.rep["process"]
    vol = attached.rusage.ru_nvcsw - attached.base_vol
    invol = attached.rusage.ru_nivcsw - attached.base_invol
    assert abs(p["ctx_switches_voluntary"] - vol) <= ATTACH_SWITCH_SLACK, (p, vol, invol)
    report_figure(f"{attached.name}: switches voluntary {p['ctx_switches_voluntary']} "
                  f"(rusage {vol}), involuntary {p['ctx_switches_involuntary']} (rusage {invol})")
    assert abs(p["ctx_switches_involuntary"] - invol) <= ATTACH_SWITCH_SLACK, (p, vol, invol)


def test_cpu_time_matches_rusage(attached):
    # rusage's utime + stime is the threads' sum_exec_runtime (the tick
    # only splits it between the two), less what they ran before conctrace
    # attached. conctrace reads the same figure at every context switch,
    # so the two agree to microseconds, but for one thing: the kernel adds
    # a dying thread's time to its process before the thread has finished
    # exiting, and conctrace counts the rest too (threaded_echo: 500 thread
    # exits, about 1.5% more).
    truth_ns = (attached.rusage.ru_utime + attached.rusage.ru_stime) * 1e9 \
        - attached.base_cpu_ns
    measured = attached.rep["process"]["cpu_ns"]
    assert abs(measured - truth_ns) <= 0.03 * truth_ns + 2e6, \
        (attached.name, measured, truth_ns, attached.rep["process"])


@pytest.mark.parametrize("name", SERVERS)
def test_a_launched_tree_matches_what_wait4_gave_conctrace(name, tmp_path):
    """conctrace reaps what it launched: wait4()'s books for the whole tree,
    less its fork's before tracing, against what it counted. Switches
    exact but for a dying process's last, racing its reaping; CPU as
    above (threads that exit). And the parts are the process exactly."""
    needs_root()
    path = tmp_path / "run.json"
    r = subprocess.run([str(CONCTRACE), "--load=-c 200 -n 20 -q", "--json", str(path),
                        "--json-conns", "1000", "--", str(binary(name)), "-p", "0"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    rep = json.loads(path.read_text())
    proc, reaped = rep["process"], rep["process"]["reaped"]
    assert reaped["processes"] == 1, reaped
    vol = reaped["ctx_switches_voluntary"] - proc["ctx_switches_voluntary_before_tracing"]
    invol = reaped["ctx_switches_involuntary"] - proc["ctx_switches_involuntary_before_tracing"]
    cpu = reaped["cpu_ns"] - proc["cpu_ns_before_tracing"]
    report_figure(f"{name}: switches {proc['ctx_switches_voluntary']}/{vol} voluntary, "
                  f"{proc['ctx_switches_involuntary']}/{invol} involuntary, CPU "
                  f"{proc['cpu_ns'] / 1e6:.2f}/{cpu / 1e6:.2f} ms (conctrace/wait4)")
    assert abs(proc["ctx_switches_voluntary"] - vol) <= 1, (proc, reaped)
    assert abs(proc["ctx_switches_involuntary"] - invol) <= 1, (proc, reaped)
    assert abs(proc["cpu_ns"] - cpu) <= 0.03 * cpu + 2e6, (proc, reaped)
    assert f"  wait4() since tracing began: {vol} voluntary + {invol} involuntary" in r.stdout
    # every thread has exited: what each left overcharged is counted, and
    # the parts are the process to the nanosecond
    assert cpu_parts(rep) == proc["cpu_ns"], (cpu_parts(rep), proc)


def test_per_connection_figures_add_up_to_the_process(attached):
    """Everything charged to connections plus the event loop and the pool is
    the process."""
    rep = attached.rep
    conns, proc = rep["conns"], rep["process"]
    switches = sum(c["ctx_switches_voluntary"] + c["ctx_switches_involuntary"] for c in conns)
    assert switches + no_conn(rep, "ctx_switches") == \
        proc["ctx_switches_voluntary"] + proc["ctx_switches_involuntary"]
    # the process's CPU is the kernel's; the clock splits it, and where
    # the kernel counted more for a run's earlier parts, the difference
    # waits, unsplit, to be given out: a little, never a share
    assert proc["cpu_unsplit_ns"] <= 0.01 * proc["cpu_ns"], proc
    cpu = cpu_parts(rep)
    assert abs(cpu - proc["cpu_ns"]) <= 0.001 * proc["cpu_ns"] + 1000


BURN_N, BURN_REQUESTS, BURN_CONNS = 1_000_000, 4, 10   # one BURN: about 4 ms here


@pytest.mark.parametrize("mode", ["full", "light"])
@pytest.mark.parametrize("name", SERVERS)
def test_cpu_goes_to_the_connection_that_spent_it(name, mode, tmp_path):
    """Ten connections PING, then ten ask for BURN (about 4 ms of CPU
    each time). The kernel's count of what the burning phase cost the
    server (its threads' schedstat, read while the connections are held
    open, so threaded_echo's threads are still there to be read) must
    be on the burning connections: together at least 90% of it, none
    below 75% of an equal share, and each pinging connection under 3% of
    the phase. A split by the clock that smeared one connection's CPU
    over the others of its loop, or over the wrong thread, fails either
    side.

    An io_uring loop reaps completions and queues its replies in memory:
    no kernel event says which connection its userspace work is for, so
    the burns must be the event loop's, and no connection charged them
    (before, the last connection whose completion the kernel posted took
    a whole batch's: 65 ms, the others 0.1)."""
    needs_root()
    path = tmp_path / "burn.json"
    light = ["--no-syscalls"] if mode == "light" else []
    ct = subprocess.Popen([str(CONCTRACE), *light, "--json", str(path), "--json-conns", "1000",
                           "--", str(binary(name)), "-p", "0"],
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        m = wait_line(ct.stderr, LISTEN_RE)
        port, pid = int(m.group(1)), int(m.group(2))
        listeners = open_sockets(pid)
        run_loadgen(port, conns=BURN_CONNS, requests=BURN_REQUESTS)
        wait_sockets(pid, listeners)
        before = task_cpu_ns(pid)
        lg = subprocess.Popen([str(LOADGEN), "-p", str(port), "-c", str(BURN_CONNS),
                               "-n", str(BURN_REQUESTS), "--mix", "burn", "--burn", str(BURN_N),
                               "--hold", "0.3"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        wait_line(lg.stderr, rb"loadgen: holding", timeout=30)
        spent = task_cpu_ns(pid) - before
        assert lg.wait(timeout=30) == 0
        wait_sockets(pid, listeners)
    finally:
        ct.send_signal(signal.SIGINT)
        ct.wait(timeout=30)
    rep = json.loads(path.read_text())
    burn_line = len(b"BURN %d\n" % BURN_N)
    burners = [c["cpu_ns"] for c in rep["conns"] if c["bytes_rx"] == BURN_REQUESTS * burn_line]
    pingers = [c["cpu_ns"] for c in rep["conns"] if c["bytes_rx"] == BURN_REQUESTS * PING_BYTES]
    share, loop = spent / BURN_CONNS, rep["event_loop"]["cpu_ns"]
    print(f"{name} ({mode}): the burning phase cost {spent / 1e6:.1f} ms by the kernel; conctrace "
          f"charged the burning connections {[round(ns / 1e6, 1) for ns in sorted(burners)]} "
          f"ms, the pinging ones at most {max(pingers, default=0) / 1e6:.2f} ms, the event "
          f"loop {loop / 1e6:.1f} ms")
    assert len(burners) == BURN_CONNS and len(pingers) == BURN_CONNS, rep["conns"][:2]
    assert all(ns <= 0.03 * spent for ns in pingers), (pingers, spent)
    if name == "uring_echo":
        assert all(ns <= 0.03 * spent for ns in burners), (burners, spent)
        assert loop >= 0.9 * spent, (loop, spent)
    else:
        # (above: what they cost after the phase, closing; a thread's exit)
        assert 0.9 * spent <= sum(burners) <= 1.05 * spent, (burners, spent)
        # misattribution takes from one connection what it gives another;
        # contention on a busy host only ever adds CPU time, to the requests
        # it hits (CI saw one connection's burns take 45% longer, all of it
        # in the kernel's figure): so no burner may fall short, and the
        # high side is loose
        assert all(0.75 * share <= ns <= 2 * share for ns in burners), (burners, share)


def test_threaded_blocks_per_request_event_loops_do_not():
    runs = {n: _runs[n] for n in ("threaded_echo", "epoll_echo") if n in _runs}
    if len(runs) < 2:
        pytest.skip("needs the threaded_echo and epoll_echo runs of this session")
    per_req = {n: r.rep["per_connection"]["ctx_switches"]["mean"] / REQUESTS
               for n, r in runs.items()}
    # a thread per connection sleeps in read() once per request
    assert per_req["threaded_echo"] >= 0.8, per_req
    # an event loop's connections almost never hold the thread when it sleeps
    assert per_req["epoll_echo"] <= 0.2 * per_req["threaded_echo"], per_req


# ---- errors and cleanup ------------------------------------------------------------

OUR_PROGS = re.compile(r"^on_(sys|sched|sock|io_uring|process)")


def conctrace_progs():
    """Ids of conctrace's programs loaded now."""
    out = subprocess.run(["bpftool", "-j", "prog", "show"], capture_output=True, text=True)
    return {p["id"] for p in json.loads(out.stdout) if OUR_PROGS.match(p.get("name", ""))}


def held_progs(pids=None):
    """Program ids that processes hold through an fd (a program or a link)."""
    return fdinfo_ids(["prog_id"], pids)["prog_id"]


def leaked_progs(settle=3.0):
    """conctrace programs no process holds. Other conctrace runs may be going
    on at the same time, so only orphans (pinned or leaked) count. The kernel
    frees a program after an RCU grace period, so wait a bounded time."""
    deadline = time.monotonic() + settle
    while True:
        orphans = conctrace_progs() - held_progs()
        if not orphans or time.monotonic() > deadline:
            return orphans
        time.sleep(0.05)


def gone(ids, settle=3.0):
    deadline = time.monotonic() + settle
    while ids & conctrace_progs() and time.monotonic() < deadline:
        time.sleep(0.05)
    return not ids & conctrace_progs()


@pytest.mark.parametrize("cmd", ["/nonexistent/cmd", "no-such-command-on-path"])
def test_command_not_found_exits_127(cmd):
    """Refused before anything is traced: no "tracing pid N" line for a
    command that never runs (issue 19, row 9)."""
    needs_root()
    r = subprocess.run([str(CONCTRACE), "--", cmd], capture_output=True,
                       text=True, timeout=30)
    assert r.returncode == 127
    assert r.stderr == f"conctrace: {cmd}: command not found\n", r.stderr
    assert not leaked_progs()


def test_command_that_is_not_executable_exits_126(tmp_path):
    needs_root()
    script = tmp_path / "server.sh"
    script.write_text("#!/bin/sh\nexit 0\n")
    script.chmod(0o644)
    r = subprocess.run([str(CONCTRACE), "--", str(script)], capture_output=True,
                       text=True, timeout=30)
    assert r.returncode == 126, r.stderr
    assert "tracing pid" not in r.stderr and "Permission denied" in r.stderr, r.stderr


def test_unprivileged_user_is_told_to_use_sudo():
    r = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                        "--inh-caps=-all", str(CONCTRACE), "--", "true"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 1
    assert "sudo" in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr


def test_crashing_target_still_reports_and_exit_status_reflects_signal():
    needs_root()
    r = subprocess.run([str(CONCTRACE), "--", "sh", "-c", "kill -SEGV $$"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 128 + signal.SIGSEGV
    assert "killed by SIGSEGV" in r.stdout
    assert "connections: 0 total" in r.stdout


def test_sigint_forwards_reports_and_leaves_no_bpf_objects(tmp_path):
    needs_root()
    ct = subprocess.Popen([str(CONCTRACE), "--json", str(tmp_path / "r.json"), "--",
                           str(binary("epoll_echo")), "-p", "0"],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        m = wait_line(ct.stderr, LISTEN_RE)
        ours = held_progs([ct.pid]) & conctrace_progs()
        assert len(ours) >= 8, "conctrace's programs should be loaded while it runs"
        run_loadgen(int(m.group(1)), conns=10, requests=2)
    finally:
        ct.send_signal(signal.SIGINT)
        out, _ = ct.communicate(timeout=30)
    assert ct.returncode == 0          # epoll_echo exits 0 on the forwarded SIGINT
    assert b"10 total" in out
    assert gone(ours), "programs survived conctrace"
    assert not leaked_progs()
    assert json.loads((tmp_path / "r.json").read_text())["connections"]["total"] == 10


def test_duration_stops_the_target():
    needs_root()
    t0 = time.monotonic()
    r = subprocess.run([str(CONCTRACE), "-d", "0.5", "--", "sleep", "30"],
                       capture_output=True, text=True, timeout=30)
    assert time.monotonic() - t0 < 10
    # a timed run that ends as asked is a success (issue 19: it exited 143)
    assert r.returncode == 0, r.stderr
    assert "killed by SIGTERM" in r.stdout


def test_load_option_runs_the_bundled_demo(tmp_path):
    needs_root()
    path = tmp_path / "demo.json"
    r = subprocess.run([str(CONCTRACE), "--load=-c 50 -n 4 -q", "--json", str(path), "--",
                        str(binary("coro_echo")), "-p", "0"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    rep = json.loads(path.read_text())
    assert rep["connections"]["total"] == 50
    assert rep["connections"]["open_at_end"] == 0
    assert rep["per_connection"]["bytes_rx"]["max"] == 4 * PING_BYTES


def test_unix_socket_connections_are_attributed(tmp_path):
    needs_root()
    sock = tmp_path / "s.sock"
    path = tmp_path / "unix.json"
    r = subprocess.run([str(CONCTRACE), "--load=-c 20 -n 3 -q", "--json", str(path), "--",
                        str(binary("epoll_echo")), "-u", str(sock)],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    rep = json.loads(path.read_text())
    assert rep["connections"]["total"] == 20
    for c in rep["conns"]:
        assert c["family"] == "unix"
        assert c["local"] == str(sock)
        assert c["remote"].startswith("socket:[")
        assert c["bytes_rx"] == 3 * PING_BYTES


def test_io_uring_requests_are_attributed(tmp_path):
    needs_root()
    path = tmp_path / "uring.json"
    r = subprocess.run([str(CONCTRACE), "--load=-c 20 -n 5 -q", "--json", str(path), "--",
                        str(binary("uring_echo")), "-p", "0"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    rep = json.loads(path.read_text())
    assert rep["connections"]["total"] == 20
    for c in rep["conns"]:
        assert c["uring_ops"] >= 2, c      # at least a recv and a send armed for it
        assert c["bytes_tx"] == 5 * PING_BYTES


def smaps_rss(pid):
    """Resident bytes from the page tables (smaps_rollup walks them): exact,
    unlike VmRSS, which reads per-CPU counters without their CPUs' share."""
    text = Path(f"/proc/{pid}/smaps_rollup").read_text()
    return int(re.search(r"^Rss:\s+(\d+) kB", text, re.M).group(1)) * 1024


USER_CONNS = 3000


# servers whose RSS growth is all the connections': a thread's stack, a
# coroutine's; epoll_echo's and uring_echo's few bytes a connection are the
# event loop's heap and file pages, charged to no connection
USER_PER_CONNECTION = {"threaded_echo", "coro_echo"}
USER_TOLERANCE = 0.02
USER_PAGES_SLACK = 1  # pages: exact in 16 runs of 16 (rss_seen_at_switch); 1: kdamond's reclaim


@pytest.mark.parametrize("name", SERVERS)
def test_user_memory_per_connection_matches_rss_growth(name, tmp_path):
    """RSS changes are charged to the connection the thread was serving.
    conctrace attaches to the listening server, USER_CONNS idle connections
    are held, and the server's RSS growth (smaps_rollup, which walks the
    page tables) must be exactly what conctrace charged to the connections
    (net, every one of them listed) plus the event loop, within
    USER_PAGES_SLACK pages; where the growth is the connections' own
    (USER_PER_CONNECTION), the mean per connection must be the growth /
    USER_CONNS within USER_TOLERANCE."""
    needs_root()
    path = tmp_path / "user.json"
    server, port, pid = start_server(name)
    client = ct = None
    try:
        # one connection first, untraced: the code a request runs is
        # faulted in before the baseline (attached, conctrace has missed
        # those first file-page faults: 64 KiB once on epoll_echo)
        listeners = open_sockets(pid)
        run_loadgen(port, conns=1, requests=1)
        wait_sockets(pid, listeners)
        before = smaps_rss(pid)
        ct = subprocess.Popen([str(CONCTRACE), "-p", str(pid), "--json", str(path),
                               "--json-conns", str(USER_CONNS)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        wait_line(ct.stderr, rb"conctrace: tracing pid")
        client = subprocess.Popen([str(LOADGEN), "-H", "127.0.0.1", "-p", str(port), "-c",
                                   str(USER_CONNS), "-n", "1", "--hold", "30", "--sources", "4"],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        wait_line(client.stderr, rb"loadgen: holding", timeout=60)
        time.sleep(0.2)
        after = smaps_rss(pid)
    finally:
        if ct:
            ct.send_signal(signal.SIGINT)       # detaches: the server keeps running
            ct.communicate(timeout=30)
        if client:
            client.kill()
            client.wait()
        server.terminate()
        server.wait(timeout=10)
    assert ct.returncode == 0
    rep = json.loads(path.read_text())
    assert rep["connections"]["total"] == USER_CONNS
    assert len(rep["conns"]) == USER_CONNS
    growth = after - before
    conns = sum(c["user_bytes_net"] for c in rep["conns"])
    loop = no_conn(rep, "user_bytes")
    truth = growth / USER_CONNS
    measured = rep["per_connection"]["user_bytes"]["mean"]
    report_figure(f"{name}: RSS growth {truth:.0f} B/conn, conctrace {measured:.0f} B/conn "
                  f"(connections {conns} B + event loop {loop} B = {conns + loop} B of "
                  f"{growth} B), rss_inexact {rep['rss_inexact']}")
    # the exact sum of every CPU's share is x86_64's (see the README); an
    # inexact read can be off by a counter batch, so it is checked first
    if os.uname().machine == "x86_64":
        assert rep["rss_inexact"] == 0, rep["rss_inexact"]
    assert abs(conns + loop - growth) <= USER_PAGES_SLACK * os.sysconf("SC_PAGE_SIZE"), \
        (conns, loop, growth)
    if name in USER_PER_CONNECTION:
        assert abs(measured - truth) <= USER_TOLERANCE * truth, (measured, truth)
    else:
        assert measured <= truth, (measured, truth)


@pytest.mark.parametrize("name", SERVERS)
def test_light_mode_with_load(name, tmp_path):
    """--no-syscalls --load: no listen() is traced, so the listener is read
    from /proc; connections and bytes are still exact. No close() is
    traced either: a TCP socket's release is seen instead, so every
    connection ends closed (open at end 0, a close time each)."""
    needs_root()
    path = tmp_path / "light.json"
    out = subprocess.run([str(CONCTRACE), "--no-syscalls", "--load=-c 100 -n 5",
                          "--json", str(path), "--json-conns", "1000", "--",
                          str(binary(name)), "-p", "0"], capture_output=True, timeout=120)
    assert out.returncode == 0, out.stderr.decode()
    rep = json.loads(path.read_text())
    assert rep["connections"]["total"] == 100
    assert rep["process"]["syscalls"] == 0
    assert all(c["bytes_rx"] == 5 * PING_BYTES and c["bytes_tx"] == 5 * PING_BYTES
               for c in rep["conns"]), rep["conns"][:3]
    assert rep["lost_events"] == 0
    assert rep["connections"]["open_at_end"] == 0, rep["connections"]
    assert all(0 < c["open_ns"] < c["close_ns"] for c in rep["conns"]), rep["conns"][:3]


HOLD_S = 1.0
ACCEPT_LAG_S = 0.05


@pytest.mark.parametrize("family", ["unix", "tcp"])
@pytest.mark.parametrize("name", SERVERS)
def test_light_mode_ends_connections_whose_socket_is_gone(name, family, tmp_path):
    """--no-syscalls: a Unix socket's release fires no tracepoint (nor does
    closing a TCP socket its peer reset), so each sample's socket snapshot
    ends the connections whose sockets it no longer finds. Held ones must
    stay open (every sample during the hold counts them all), released
    ones end, each with a close time after the hold and before the sample
    that found it gone. (TCP's ordinary close is seen at once: this checks
    that no held TCP connection is ended by the sweep.)"""
    check_light_mode_sweep(name, family, tmp_path, os.environ)


@pytest.mark.parametrize("family", ["unix", "tcp"])
def test_light_mode_sweep_from_userspace(family, tmp_path):
    """Where the kernel refuses the map iterator that sweeps in BPF (some
    6.18 builds do, with EPERM), userspace walks the connection map by the
    same rule: forced here, so the path is tested on every kernel."""
    check_light_mode_sweep("epoll_echo", family, tmp_path,
                           dict(os.environ, CONCTRACE_DROP_PROGS="sweep_ended"))


def check_light_mode_sweep(name, family, tmp_path, env):
    needs_root()
    path, sock = tmp_path / "light-gone.json", tmp_path / "s.sock"
    where = ["-u", str(sock)] if family == "unix" else ["-p", "0"]
    ct = subprocess.Popen([str(CONCTRACE), "--no-syscalls", "-i", "0.2", "--json", str(path),
                           "--json-conns", "1000", "--", str(binary(name)), *where],
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    try:
        m = wait_line(ct.stderr, rb"listening on (unix|tcp [^ ]+:(\d+))")
        target = ["-u", str(sock)] if family == "unix" else ["-p", m.group(2).decode()]
        out = subprocess.run([str(LOADGEN), *target, "-c", "100", "-n", "5",
                              "--hold", str(HOLD_S), "-q"], capture_output=True,
                             timeout=60)
        assert out.returncode == 0, out.stderr.decode()
        time.sleep(0.6)                 # a few samples after the client has gone
    finally:
        ct.send_signal(signal.SIGINT)
        ct.communicate(timeout=30)
    rep = json.loads(path.read_text())
    opened = [s["open_conns"] for s in rep["timeline"]]
    print(name, rep["connections"], opened)
    assert rep["connections"]["total"] == 100 and rep["lost_events"] == 0
    assert opened.count(100) >= 2, opened      # the hold spans several samples
    assert rep["connections"]["open_at_end"] == 0, rep["connections"]
    assert len(rep["conns"]) == 100
    for c in rep["conns"]:
        assert c["family"] == ("unix" if family == "unix" else "tcp4")
        held_ns = c["close_ns"] - c["open_ns"]
        # the server's record opens at accept(), which a loaded machine may
        # run a few ms after the client's connect() that started its hold
        assert (HOLD_S - ACCEPT_LAG_S) * 1e9 <= held_ns <= (HOLD_S + 1.5) * 1e9, c


def test_user_runs_the_command_as_that_user(tmp_path):
    """--user: the target runs unprivileged (its real and effective uid are
    nobody's, and it has nobody's groups) while conctrace, still root,
    traces it in full."""
    needs_root()
    path = tmp_path / "user.json"
    ct = subprocess.Popen([str(CONCTRACE), "--user", "nobody", "--json", str(path), "--",
                           str(binary("epoll_echo")), "-p", "0"],
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        m = wait_line(ct.stderr, LISTEN_RE)
        port, pid = int(m.group(1)), int(m.group(2))
        status = Path(f"/proc/{pid}/status").read_text()
        uids = re.search(r"^Uid:\s+(.*)$", status, re.M).group(1).split()
        gids = re.search(r"^Gid:\s+(.*)$", status, re.M).group(1).split()
        groups = re.search(r"^Groups:\s*(.*)$", status, re.M).group(1).split()
        assert uids == ["65534"] * 4, uids
        assert gids == ["65534"] * 4, gids
        assert "0" not in groups, groups
        run_loadgen(port, conns=20, requests=3)
    finally:
        ct.send_signal(signal.SIGINT)
        ct.communicate(timeout=30)
    rep = json.loads(path.read_text())
    assert rep["connections"]["total"] == 20
    assert all(c["bytes_rx"] == 3 * PING_BYTES for c in rep["conns"])


def test_user_unknown_is_a_clear_error():
    needs_root()
    out = subprocess.run([str(CONCTRACE), "--user", "no-such-user-here", "--",
                          str(binary("epoll_echo"))], capture_output=True, timeout=30)
    assert out.returncode == 1
    assert b"no such user 'no-such-user-here'" in out.stderr


def test_ring_buffer_overflow_goes_through_the_overflow_map(tmp_path):
    """A ring buffer too small for a burst of closing connections (one page:
    7 records): the records it cannot take wait in the overflow map, and
    none is lost; with the overflow map cut to 8 records too, records are
    lost, and each is counted, so the connections reported plus the
    records lost are exactly the connections made."""
    needs_root()
    page = str(os.sysconf("SC_PAGESIZE"))
    for overflow in (None, "8"):
        path = tmp_path / "rb.json"
        env = {**os.environ, "CONCTRACE_RINGBUF_BYTES": page}
        if overflow:
            env["CONCTRACE_RING_OVERFLOW"] = overflow
        out = subprocess.run([str(CONCTRACE), "--load=-c 2000 -n 1", "--json", str(path), "--",
                              str(binary("epoll_echo")), "-p", "0"],
                             capture_output=True, timeout=120, env=env)
        assert out.returncode == 0, out.stderr.decode()
        rep = json.loads(path.read_text())
        through = rep["tracer"]["ring_overflow_records"]
        print(f"overflow map of {overflow or 'default'} records: {through} went through it, "
              f"{rep['lost_events']} lost")
        assert through > 0, "the burst did not overflow one page"
        assert f"{through} records through the overflow map".encode() in out.stdout
        assert rep["connections"]["total"] + rep["lost_events"] == 2000
        assert f"lost events: {rep['lost_events']}".encode() in out.stdout
        if overflow:
            assert rep["lost_events"] > 0, "the burst did not overflow 8 records"
        else:
            assert rep["lost_events"] == 0


def test_output_files_are_private(tmp_path):
    """--json, --folded and --svg describe another program (its peers, its
    code paths): files conctrace creates are its owner's only (0600)."""
    needs_root()
    out = subprocess.run([str(CONCTRACE), "--load=-c 5 -n 1", "--json", str(tmp_path / "r.json"),
                          "--folded", str(tmp_path / "m.folded"), "--svg", str(tmp_path / "m.svg"),
                          "--", str(binary("epoll_echo")), "-p", "0"],
                         capture_output=True, timeout=60)
    assert out.returncode == 0, out.stderr.decode()
    for name in ("r.json", "m.folded", "m.svg"):
        assert (tmp_path / name).stat().st_mode & 0o777 == 0o600, name
