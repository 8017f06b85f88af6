# SPDX-License-Identifier: MIT
"""Idle connections on runtimes conctrace never saw hold what the slab
caches say (issue 16): Go's net and net/http, Node's http and Python's
asyncio streams, each holding IDLE_CONNS connections that never sent a
byte, as test_memory.py holds the bundled servers'. Their kernel objects
are the bundled epoll server's kind (a socket, its inode, file, dentry and
LSM blobs, an epoll item: each runtime's poller registers every connection)
but made by a runtime's own code: conctrace's held figure per connection
(the report's `kernel memory`) against the caches' growth
(tests/integration/slabtruth.py, the client's share taken out), within
TOLERANCE, in each of two identical runs, and the two runs within
TOLERANCE of each other, beyond what the caches' own figures differ by
(Node's page tables for the same 900 connections grew 219 B a connection
more in one CI run than in the other, and conctrace's figure with them,
each run within 0.5% of its own). Node's figure holds its heap's page tables too,
grown by its collector while the connections came (charged where the
collection began; one V8 runs as a task of its own, to the connection the
loop served last: before, to the loop, 4,090 to 4,130 B against a truth of
4,330 B in 4 of about 140 runs here and one CI run) and while they closed
(teardown: no connection's). A failure names the page tables the loop and
pool took. A Go server's threads are its runtime's (made for whichever
goroutine is runnable, not one per connection): no connection may hold
one, its truth leaves them out, and they must be a handful.
"""

import json
import os
import signal
import subprocess

import pytest

import slabtruth
from conftest import report_figure
from test_conctrace import CONCTRACE, needs_root, wait_line
from test_go import go_servers  # noqa: F401  (the fixture: both Go servers built)
from test_memory import held_truth
from test_runtimes import NODE, PYTHON, RUNTIMES

# Python keeps the soft fd limit it is given (1024 here; Go and Node raise
# theirs to the hard one): room for these, its listener and its loop's fds
IDLE_CONNS = 900
INTERVAL = 0.3
TOLERANCE = 0.02
# the objects every connection has (socket, inode, file, dentry, LSM blobs,
# epoll item): within TOLERANCE everywhere
OBJECTS = ("sock", "inode", "file", "dentry", "lsm", "epoll")
# Go's runtime starts a thread (an M) for whichever goroutine is runnable,
# never one per connection: its threads' objects are no connection's
# (bpf/progs/sched.bpf.h, on_process_fork), so the truth for a Go server
# leaves the threads it grew out, and they must be the runtime's, far
# fewer than one per connection: at most one for every 8 (+1 to +5 while
# 900 connections came, here; +19 once in a CI run, and +81 once in a CI
# clone run on a host where epoll_echo took 1.5x its quiet CPU per
# request (2026-12-07): likely Go's sysmon handing a P on from a thread
# whose syscall outlasted its tick, which a slow host makes more of), not
# a connection's.
# Charged to the connection their creator served, some were and some not
# (its thread named none), the held figure came out 2.0% to 2.9% under
# the truth in 4 of 10 runs (TOLERANCE: 2%).
RUNTIME_THREADS = ("go_echo", "go_pool_http")
RUNTIME_THREADS_MAX = IDLE_CONNS // 8
RUNTIMES_CMD = {
    # each takes its books' path last, and writes them on SIGTERM
    "go_echo": lambda go: [str(go["go_echo"]), "1000"],
    "go_pool_http": lambda go: [str(go["go_pool_http"]), "1000", "4"],
    "node_http": lambda go: [NODE, str(RUNTIMES / "node_pool.js"), "1000"],
    "asyncio_streams": lambda go: [PYTHON, str(RUNTIMES / "asyncio_streams.py"), "1000"],
}


def idle_run(cmd, tmp_path, run):
    """cmd under conctrace, IDLE_CONNS idle connections held from loadgen:
    conctrace's held kernel bytes per connection and the slab truth."""
    report, books, ready = (tmp_path / f"r{run}.json", tmp_path / f"books{run}.json",
                            tmp_path / f"ready{run}")
    ct = subprocess.Popen([str(CONCTRACE), "-i", str(INTERVAL), "--json", str(report),
                           "--json-conns", "0", "--", *cmd, str(books)],
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        m = wait_line(ct.stderr, rb"listening on port (\d+) \(pid (\d+)\)", timeout=30)
        port, pid = m.group(1).decode(), int(m.group(2))
        # conctrace's live lines go to the same pipe: keep it drained
        drain = subprocess.Popen(["cat"], stdin=ct.stderr, stdout=subprocess.DEVNULL)
        parts = held_truth(["-H", "127.0.0.1", "-p", port, "--sources", "4"], IDLE_CONNS,
                           ready, pid, INTERVAL)
        os.kill(pid, signal.SIGTERM)
        ct.wait(timeout=30)
        drain.wait(timeout=5)
    finally:
        if ct.poll() is None:
            ct.kill()
            ct.wait()
    assert ct.returncode == 0, ct.returncode
    truth = slabtruth.Truth(IDLE_CONNS, "tcp", *parts)
    rep = json.loads(report.read_text())
    assert rep["connections"]["total"] == IDLE_CONNS, rep["connections"]
    assert truth.server_sockets == IDLE_CONNS, truth.server_sockets
    return rep["per_connection"]["kernel_bytes_held"]["mean"], truth, rep["kernel_breakdown"], \
        {b: rep[b]["page_table_bytes"] / IDLE_CONNS for b in ("event_loop", "pool")}


@pytest.mark.parametrize("name", RUNTIMES_CMD)
def test_runtime_idle_connections_hold_what_the_caches_grew(name, go_servers, tmp_path):  # noqa: F811
    needs_root()
    if name == "node_http" and not os.path.exists(NODE):
        pytest.fail("node is not installed: scripts/install-deps.sh", pytrace=False)
    held, truths, lines = [], [], []
    for run in (1, 2):
        mean, truth, km, buckets_pt = idle_run(RUNTIMES_CMD[name](go_servers), tmp_path, run)
        want = truth.categories()
        total = truth.total()
        if name in RUNTIME_THREADS:
            assert truth.threads <= RUNTIME_THREADS_MAX, (run, truth.report())
            assert km["thread"] == 0, (run, km, "a connection holds the runtime's threads")
            total -= want["thread"]
        held.append(mean)
        truths.append(total)
        objects, objects_truth = (sum(km[k] for k in OBJECTS), sum(want[k] for k in OBJECTS))
        lines.append(f"run {run}: held {mean:.0f} B, slab truth {total:.0f} B, "
                     f"objects {objects:.0f} B against {objects_truth:.0f} "
                     f"(epoll items {truth.epoll_items}, external {truth.external}; "
                     f"threads +{truth.threads}: {want['thread']:.0f} B a connection, "
                     f"conctrace's {km['thread']:.0f} B)")
        assert abs(objects - objects_truth) <= TOLERANCE * objects_truth, \
            (run, km, truth.report())
        # the whole held figure: objects and the address space grown
        # while each connection was current (Node: 270-300 B of page
        # tables; before collections were charged where they began and
        # teardown apart, 400-490 B, up to 8% over)
        assert abs(mean - total) <= TOLERANCE * total, \
            (run, mean, f"page tables {km['page_tables']:.0f} B against "
             f"{want['page_tables']:.0f}, the buckets' (a connection's share) {buckets_pt}",
             truth.report())
    report_figure(f"{name}: " + "; ".join(lines))
    assert abs(held[0] - held[1]) <= TOLERANCE * max(held) + abs(truths[0] - truths[1]), \
        (held, truths)
