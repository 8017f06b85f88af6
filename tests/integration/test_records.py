# SPDX-License-Identifier: MIT
"""One record per connection, and connections that are connections.

Internal pairs: Python asyncio's self-pipe and nginx's master/worker
channels are socketpairs, not connections; connections.total must be the
server's own accepted count (asyncio_echo's, nginx's stub_status), exactly,
launched or attached.

The close race: build/tests/close_race has every one of its threads touch a
connection (so each holds it as its current one), closes it from one, then
moves them all on at the same instant; conctrace finalizes a closed
connection's record when a thread moves on from it. Before the record's
final claim was atomic, two threads both sent it (236 duplicates in 500
connections here); and each thread's byte must be in it, though the
others move on after the record is final (their charges come after it). Tolerances: connections, syscalls and context switches
exact (counted, not sampled); CPU as test_conctrace's sum to the process
(0.1% + 1 us: the clock splits the kernel's total).
"""
import collections
import json
import re
import signal
import socket
import subprocess
import time

import pytest

from conftest import ROOT, SERVERS, binary, report_figure
from test_conctrace import CONCTRACE, cpu_parts, needs_root, no_conn, wait_line
from test_real_servers import (AB_CONCURRENCY, AB_REQUESTS, NGINX_CONF, free_port, http_get,
                               installed, wait_listening)

CLOSE_RACE = ROOT / "build" / "tests" / "close_race"
RACE_CONNS, RACE_WORKERS = 300, 3


def close_race_tool():
    if not CLOSE_RACE.is_file():
        pytest.fail(f"{CLOSE_RACE} is not built: run `make check-integration` or "
                    f"`make {CLOSE_RACE.relative_to(ROOT)}`", pytrace=False)
    return CLOSE_RACE


def drain(port):
    """One client connection: read the server's bytes until it closes."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        while s.recv(4096):
            pass


def assert_adds_up(rep):
    """Connections plus the event loop and the pool are the process, every
    record once."""
    conns, proc = rep["conns"], rep["process"]
    loop = {k: no_conn(rep, k) for k in ("syscalls", "ctx_switches")}
    assert len(conns) == rep["connections"]["total"], "--json-conns must list them all"
    ids = collections.Counter(c["id"] for c in conns)
    twice = {i: n for i, n in ids.items() if n > 1}
    assert not twice, f"{len(twice)} connections with more than one record: {twice}"
    assert rep["connections"]["records_merged"] == 0, rep["connections"]
    assert sum(c["syscalls_total"] for c in conns) + loop["syscalls"] == proc["syscalls"]
    switches = sum(c["ctx_switches_voluntary"] + c["ctx_switches_involuntary"] for c in conns)
    assert switches + loop["ctx_switches"] == \
        proc["ctx_switches_voluntary"] + proc["ctx_switches_involuntary"]
    cpu = cpu_parts(rep)
    assert abs(cpu - proc["cpu_ns"]) <= 0.001 * proc["cpu_ns"] + 1000, (cpu, proc)


def test_a_connection_closed_under_many_threads_has_one_record(tmp_path):
    """RACE_CONNS rounds of the close race, each a connection: one record
    each, as many as the server accepted, and the sums are the process's."""
    needs_root()
    path = tmp_path / "race.json"
    ct = subprocess.Popen([str(CONCTRACE), "--json", str(path), "--json-conns", "100000", "--",
                           str(close_race_tool()), "-t", str(RACE_WORKERS),
                           "-n", str(RACE_CONNS)],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        m = re.search(rb":(\d+) \(pid", ct.stdout.readline())
        assert m, "close_race did not say where it listens"
        for _ in range(RACE_CONNS):
            drain(int(m.group(1)))
        out, err = ct.communicate(timeout=60)
    finally:
        ct.kill()
        ct.wait()
    assert ct.returncode == 0, err.decode()
    assert f"accepted {RACE_CONNS}".encode() in out, out
    rep = json.loads(path.read_text())
    assert rep["connections"]["total"] == RACE_CONNS, rep["connections"]
    assert_adds_up(rep)
    # every thread sent one byte on each: what a thread still owed the
    # connection when another made its record final comes after it, and is
    # added to it (before, 37 to 87 of 300 records were a byte short)
    c = rep["connections"]
    report_figure(f"close race: {c['late_charges']} threads' charges came after their "
                  f"record, {c['late_charges_unmatched']} found none")
    short = [(r["id"], r["bytes_tx"]) for r in rep["conns"] if r["bytes_tx"] != RACE_WORKERS + 1]
    assert not short, f"{len(short)} of {RACE_CONNS} records without every thread's byte: " \
        f"{short[:5]}; {c}"
    assert c["late_charges_unmatched"] == 0, c


# ---- connections are connections: a process's own socketpairs apart ----

ASYNCIO_CONNS = 500
ASYNCIO_ECHO = ROOT / "tests" / "tools" / "asyncio_echo.py"
PYTHON = "/usr/bin/python3"     # Debian's: stdlib only


def assert_pairs_add_up(rep):
    """conns[] (every connection), the internal pairs, the event loop and
    the pool are the process: pairs left out of the connections are not
    left out."""
    conns, pairs, proc = rep["conns"], rep["internal_pairs"], rep["process"]
    loop = {k: no_conn(rep, k) for k in ("syscalls", "ctx_switches")}
    assert len(conns) == rep["connections"]["total"], "--json-conns must list them all"
    assert sum(c["syscalls_total"] for c in conns) + pairs["syscalls"] + loop["syscalls"] == \
        proc["syscalls"]
    switches = sum(c["ctx_switches_voluntary"] + c["ctx_switches_involuntary"] for c in conns)
    assert switches + pairs["ctx_switches"] + loop["ctx_switches"] == \
        proc["ctx_switches_voluntary"] + proc["ctx_switches_involuntary"]


def connections_of(rep, accepted):
    """The headline's connections are the server's accepted ones, by family."""
    c = rep["connections"]
    assert c["total"] == accepted, c
    assert c["by_family"] == {"tcp4": accepted, "tcp6": 0, "unix": 0}, c
    assert {x["origin"] for x in rep["conns"]} <= {"accept", "before_attach"}, \
        {x["origin"] for x in rep["conns"]}


@pytest.mark.parametrize("mode", ["launch", "attach"])
def test_asyncio_self_pipe_is_no_connection(mode, tmp_path):
    """Python's event loop wakes itself through a socketpair made before it
    serves anyone: connections.total is the server's own accepted count
    (before: 502 for 500 at launch), and the pair's two sockets are listed
    as internal pairs, in both modes."""
    needs_root()
    path = tmp_path / "asyncio.json"
    server = [PYTHON, str(ASYNCIO_ECHO), str(ASYNCIO_CONNS)]
    report = ["--json", str(path), "--json-conns", "100000"]
    srv = None
    if mode == "launch":
        ct = subprocess.Popen([str(CONCTRACE), *report, "--", *server],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        out = ct.stdout
    else:
        srv = subprocess.Popen(server, stdout=subprocess.PIPE)
        out = srv.stdout
    try:
        m = re.search(rb":(\d+) \(pid (\d+)\)", out.readline())
        assert m, "asyncio_echo did not say where it listens"
        if srv:
            ct = subprocess.Popen([str(CONCTRACE), *report, "-p", m.group(2).decode()],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            wait_line(ct.stderr, rb"tracing pid")
        for i in range(ASYNCIO_CONNS):
            with socket.create_connection(("127.0.0.1", int(m.group(1))), timeout=10) as s:
                s.sendall(b"line %d\n" % i)
                s.shutdown(socket.SHUT_WR)
                while s.recv(4096):
                    pass
        books = out.read()      # the server's, once it is done
        if srv:
            srv.wait(timeout=30)    # reaped: conctrace sees its target gone
        ct.communicate(timeout=60)
    finally:
        for p in (srv, ct):
            if p:
                p.kill()
                p.wait()
    assert f"accepted {ASYNCIO_CONNS}".encode() in books, books
    assert ct.returncode == 0
    rep = json.loads(path.read_text())
    connections_of(rep, ASYNCIO_CONNS)
    assert rep["internal_pairs"]["sockets"] == 2, rep["internal_pairs"]
    report_figure(f"asyncio {mode}: connections {rep['connections']['total']} "
                  f"(accepted {ASYNCIO_CONNS}), internal pairs {rep['internal_pairs']}")
    assert_pairs_add_up(rep)


@pytest.mark.parametrize("mode", ["launch", "attach"])
def test_nginx_channels_are_no_connections(mode, tmp_path):
    """nginx's master and workers talk over socketpairs: connections.total
    is what stub_status says nginx accepted (before: 2,017 for 2,006), the
    channels are internal pairs. Attached, the accepted count is the
    difference of two stub_status reads, the second one's own included."""
    needs_root()
    nginx, ab = installed("nginx"), installed("ab")
    port, path = free_port(), tmp_path / "nginx.json"
    (tmp_path / "html").mkdir()
    (tmp_path / "html" / "index.html").write_text("hello from nginx\n")
    (tmp_path / "nginx.conf").write_text(NGINX_CONF.format(dir=tmp_path, port=port))
    server = [nginx, "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf")]
    report = ["--json", str(path), "--json-conns", "100000"]
    srv, before = None, 0
    if mode == "launch":
        ct = subprocess.Popen([str(CONCTRACE), *report, "--", *server],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=ROOT)
        wait_line(ct.stderr, rb"tracing pid")
    else:
        srv = subprocess.Popen(server, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_listening(port)
        if srv:
            before = accepts(http_get(port, "/status"))
            pids = workers_of(srv.pid)
            ct = subprocess.Popen([str(CONCTRACE), *report, "-p", " ".join(map(str, pids))],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=ROOT)
            wait_line(ct.stderr, rb"tracing pid")
        out = subprocess.run([ab, "-q", "-n", str(AB_REQUESTS), "-c", str(AB_CONCURRENCY),
                              f"http://127.0.0.1:{port}/"], capture_output=True, timeout=120)
        assert out.returncode == 0 and b"Failed requests:        0" in out.stdout, out.stdout
        after = accepts(http_get(port, "/status"))
    finally:
        ct.send_signal(signal.SIGINT)      # launched: nginx's fast shutdown; attached: detach
        ct.wait(timeout=30)
        if srv:
            srv.terminate()
            srv.wait(timeout=30)
    assert ct.returncode == 0
    rep = json.loads(path.read_text())
    report_figure(f"nginx {mode}: connections {rep['connections']['total']} "
                  f"(accepted {after - before}), internal pairs {rep['internal_pairs']['sockets']}")
    connections_of(rep, after - before)
    assert rep["internal_pairs"]["sockets"] >= 2, rep["internal_pairs"]


def accepts(status):
    # "Active connections: 1 \nserver accepts handled requests\n 2001 2001 2001 \n..."
    return int(status.splitlines()[2].split()[0])


def workers_of(master, timeout=10.0):
    """nginx's master and its workers, once both workers are up."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        kids = subprocess.run(["pgrep", "-P", str(master)], capture_output=True,
                              text=True).stdout.split()
        if len(kids) == 2:
            return [master, *map(int, kids)]
        time.sleep(0.05)
    raise AssertionError(f"nginx {master}: no two workers within {timeout}s")


# ---- memory held while open, apart from the peak and from teardown ----

IDLE_CONNS = 300
OBJECT_CATEGORIES = ("sock", "inode", "file", "dentry", "lsm", "epoll", "thread", "io_uring",
                     "page_tables", "vmas")
BUFFER_CATEGORIES = ("rx_queue", "tx_queue", "forward_alloc")
# io_uring requests an idle connection holds: uring_echo keeps one
# multishot receive armed per connection (servers/uring_echo.c); the
# breakdown's peak also counts a send that was in flight with it
IDLE_URING_REQUESTS = {"uring_echo": 1}


def idle_run(name, tmp_path, run):
    """IDLE_CONNS connections, one PING each, held idle, then closed by
    the client: the report's per-connection kernel figures."""
    path = tmp_path / f"{name}-{run}.json"
    ct = subprocess.Popen([str(CONCTRACE), "--json", str(path), "--",
                           str(binary(name)), "-p", "0"],
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        m = wait_line(ct.stderr, rb"listening on tcp [^ ]+:(\d+)")
        lg = subprocess.run([str(ROOT / "servers" / "loadgen"), "-p", m.group(1).decode(),
                             "-c", str(IDLE_CONNS), "-n", "1", "--hold", "1"],
                            capture_output=True, timeout=60)
        assert lg.returncode == 0, lg.stderr
        time.sleep(0.5)         # the server sees the FINs and closes its side
    finally:
        ct.send_signal(signal.SIGINT)
        ct.wait(timeout=30)
    rep = json.loads(path.read_text())
    assert rep["connections"]["total"] == IDLE_CONNS, rep["connections"]
    return rep


@pytest.mark.parametrize("name", SERVERS)
def test_idle_connections_hold_their_objects_in_every_run(name, tmp_path):
    """Two identical runs of idle connections: the held figure (the
    report's "kernel memory") is its objects, within 1%, and the same in
    both runs within 1%. Before, the one figure was the peak, which took in
    teardown in some connections and not others (coro_echo: 4,290 B then
    4,716 B per connection, 426 B of it buffers), and an io_uring
    connection's held requests were their peak (the PING's send in flight
    with the receive: 256 B over what it holds). The objects themselves
    are checked against the slab caches by test_memory.py."""
    needs_root()
    held, lines = [], []
    for run in (1, 2):
        rep = idle_run(name, tmp_path, run)
        km = rep["kernel_breakdown"]
        objects = sum(km[k] for k in OBJECT_CATEGORIES if k != "io_uring") + \
            IDLE_URING_REQUESTS.get(name, 0) * rep["slab_sizes"]["io_kiocb"]
        buffers = sum(km[k] for k in BUFFER_CATEGORIES)
        mean = rep["per_connection"]["kernel_bytes_held"]["mean"]
        held.append(mean)
        lines.append(f"run {run}: held {mean:.0f} B, objects {objects:.0f} B, "
                     f"peak buffers {buffers:.1f} B")
        # idle: what the buffers hold while open is next to nothing (the
        # peak may have caught the PINGs in flight: a sample, not teardown).
        # Below by a byte at most: an io_uring connection's receive is held
        # by time from its submission, a moment after the accept, in units
        # BPF truncates to 1.024 us, so a connection may come out a byte
        # under its objects (a CI run: one in 300, the mean 3,895.997 B
        # against 3,896 B)
        assert objects - 1 <= mean <= objects + 0.01 * objects, (run, mean, km)
    report_figure(f"{name}: " + "; ".join(lines))
    assert abs(held[0] - held[1]) <= 0.01 * max(held), held


# accepts N connections, then leaves the clients' FINs queued for 2 s
# (snapshots run every 0.1-1 s) before closing them
FIN_SERVER = """
import socket, sys, time
n = int(sys.argv[1])
ls = socket.create_server(("127.0.0.1", 0))
print(f"listening on tcp 127.0.0.1:{ls.getsockname()[1]}", flush=True)
held = [ls.accept()[0] for _ in range(n)]
time.sleep(2.0)
for s in held:
    s.close()
"""


def test_teardown_is_in_neither_peak_nor_held(tmp_path):
    """Connections that never carry a byte, closed by their clients, whose
    FIN the server leaves queued for snapshots to see: the FIN's skb and
    the reservation taken for it are teardown, not what the open connection
    cost, so its peak and held figures are its objects alone (before: the
    FIN's 832 B and a 3,264 B reservation in every connection's peak)."""
    needs_root()
    n, path = 50, tmp_path / "fin.json"
    ct = subprocess.Popen([str(CONCTRACE), "--json", str(path), "--json-conns", str(n), "--",
                           PYTHON, "-c", FIN_SERVER, str(n)],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        port = int(re.search(rb":(\d+)", ct.stdout.readline()).group(1))
        clients = [socket.create_connection(("127.0.0.1", port)) for _ in range(n)]
        for c in clients:
            c.close()
        ct.communicate(timeout=60)
    finally:
        ct.kill()
        ct.wait()
    assert ct.returncode == 0
    rep = json.loads(path.read_text())
    assert rep["connections"]["total"] == n, rep["connections"]
    km = rep["kernel_breakdown"]
    objects = sum(km[k] for k in OBJECT_CATEGORIES)
    peak = rep["per_connection"]["kernel_bytes"]["mean"]
    assert all(km[k] == 0 for k in BUFFER_CATEGORIES) and peak == objects, (peak, km)
    held = rep["per_connection"]["kernel_bytes_held"]["mean"]
    report_figure(f"FINs left queued: peak {peak:.0f} B, held {held:.0f} B, "
                  f"objects {objects:.0f} B")
    assert held == objects
