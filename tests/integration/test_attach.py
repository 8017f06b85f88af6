# SPDX-License-Identifier: MIT
"""Attaching to a server that already holds connections (issue 17, item 1).

A user's first run is usually `conctrace -p PID` on a server that has been
up for a while. Each bundled server, started untraced, is made to hold
ATTACH_CONNS idle connections (loadgen, a separate process); conctrace then
attaches for a second. It must find every one of them (marked
`before_attach`) and the kernel memory each holds now, against the same
slab ground truth as test_memory.py (slabtruth.py): the same tolerances
per category, and the total within 2%, the figure a launched run of the
same held state gives.

A coroutine's stack (coro_echo: two VMAs and their share of the page
tables per connection) is tied to its connection by no kernel object but
the epoll item, whose user data points into it (held_stacks in
bpf/progs/held.bpf.h): that is checked here like every other category.
"""

import json
import os
import re
import subprocess
import time

import pytest

import slabtruth
from conftest import SERVERS, binary
from test_conctrace import CONCTRACE, needs_root, wait_line
from test_memory import category_check, hold_idle

ATTACH_CONNS = 2000
TOTAL_TOLERANCE = 0.02
LISTEN_RE = re.compile(rb"listening on (?:tcp [^ ]+:(\d+)|unix [^ ]+) \(pid (\d+)\)")


def stop(client, server):
    if client:
        client.kill()
        client.wait()
    server.terminate()
    server.wait(timeout=10)


def attach_to_held(name, family, tmp_path):
    """Hold ATTACH_CONNS connections on an untraced server, attach: the
    report and the slab truth."""
    report, ready, sock = tmp_path / "attach.json", tmp_path / "ready", tmp_path / "s.sock"
    where = ["-u", str(sock)] if family == "unix" else ["-b", "127.0.0.1", "-p", "0"]
    server = subprocess.Popen([str(binary(name)), *where], stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE)
    client = None
    try:
        m = wait_line(server.stderr, LISTEN_RE)
        pid = int(m.group(2))
        target = ["-u", str(sock)] if family == "unix" else \
                 ["-H", "127.0.0.1", "-p", m.group(1).decode(), "--sources", "4"]
        server0 = slabtruth.ProcCounts(pid)
        before = slabtruth.Snapshot()
        client = hold_idle(target, ATTACH_CONNS, ready, pid, server0.sockets)
        time.sleep(0.2)
        held = slabtruth.Snapshot()
        server1 = slabtruth.ProcCounts(pid)
        clientc = slabtruth.ProcCounts(client.pid)
        ct = subprocess.run([str(CONCTRACE), "-p", str(pid), "-d", "1", "--json", str(report),
                             "--json-conns", str(ATTACH_CONNS)],
                            capture_output=True, text=True, timeout=60)
    finally:
        stop(client, server)
    assert ct.returncode == 0, ct.stderr
    assert "warning" not in ct.stderr, ct.stderr
    truth = slabtruth.Truth(ATTACH_CONNS, family, before, held, server0, server1, clientc)
    print(truth.report())
    return json.loads(report.read_text()), truth


@pytest.mark.parametrize("family", ["tcp", "unix"])
@pytest.mark.parametrize("name", SERVERS)
def test_attach_finds_every_held_connection_and_its_memory(name, family, tmp_path):
    needs_root()
    rep, truth = attach_to_held(name, family, tmp_path)
    assert rep["connections"]["total"] == ATTACH_CONNS, rep["connections"]
    assert rep["connections"]["open_at_end"] == ATTACH_CONNS, rep["connections"]
    assert truth.server_sockets == ATTACH_CONNS
    conns = rep["conns"]
    assert len(conns) == ATTACH_CONNS
    assert {c["origin"] for c in conns} == {"before_attach"}, {c["origin"] for c in conns}
    # one thread each in the thread-per-connection server, none elsewhere
    assert sum(c["threads"] for c in conns) == truth.threads, truth.threads

    want, got = truth.categories(), rep["kernel_breakdown"]
    bad = []
    for cat in slabtruth.Truth.CATEGORIES:
        line, ok = category_check(cat, got[cat], want[cat], truth, 11)
        print(line)
        if not ok:
            bad.append(line)
    assert not bad, "held kernel memory per connection off the slab truth:\n" + "\n".join(bad)
    total = sum(got[c] for c in slabtruth.Truth.CATEGORIES)
    want_total = truth.total()
    print(f"  total       conctrace {total:9.1f}  truth {want_total:9.1f}")
    assert abs(total - want_total) <= TOTAL_TOLERANCE * want_total, (total, want_total)


@pytest.mark.parametrize("drop,figure,name", [
    ("held_sockets", "connections open before attaching (-p)", "threaded_echo"),
    ("held_threads", "threads serving connections open before attaching (-p)", "threaded_echo"),
    ("held_uring", "io_uring requests armed before attaching (-p)", "uring_echo"),
    ("held_stacks", "coroutine stacks of connections open before attaching (-p)", "coro_echo"),
])
def test_a_kernel_that_refuses_the_held_walk_says_what_is_lost(drop, figure, name, tmp_path):
    """Each walk is optional (bpf_task_pt_regs is 5.15's, bpf_find_vma
    5.17's): refused, the run goes on with one warning naming the figure."""
    needs_root()
    report, ready = tmp_path / "attach.json", tmp_path / "ready"
    server = subprocess.Popen([str(binary(name)), "-p", "0"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    client = None
    try:
        m = wait_line(server.stderr, LISTEN_RE)
        pid = int(m.group(2))
        client = hold_idle(["-H", "127.0.0.1", "-p", m.group(1).decode()], 20, ready, pid, 0)
        ct = subprocess.run([str(CONCTRACE), "-p", str(pid), "-d", "0.5", "--json", str(report)],
                            capture_output=True, text=True, timeout=60,
                            env=dict(os.environ, CONCTRACE_DROP_PROGS=drop))
    finally:
        stop(client, server)
    assert ct.returncode == 0, ct.stderr
    warned = [l for l in ct.stderr.splitlines() if l.startswith("conctrace: warning: ")]
    assert len(warned) == 1 and figure in warned[0], ct.stderr
    rep = json.loads(report.read_text())
    if drop == "held_sockets":
        assert rep["connections"]["total"] == 0, rep["connections"]
    elif drop == "held_uring":
        assert rep["connections"]["total"] == 20, rep["connections"]
        assert rep["kernel_breakdown"]["io_uring"] == 0, rep["kernel_breakdown"]
    elif drop == "held_stacks":
        assert rep["connections"]["total"] == 20, rep["connections"]
        assert rep["kernel_breakdown"]["vmas"] == 0, rep["kernel_breakdown"]
    else:
        assert rep["connections"]["total"] == 20, rep["connections"]
        assert sum(c["threads"] for c in rep["conns"]) == 0
