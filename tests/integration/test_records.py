# SPDX-License-Identifier: MIT
"""One record per connection, and connections that are connections.

The close race: build/tests/close_race has every one of its threads touch a
connection (so each holds it as its current one), closes it from one, then
moves them all on at the same instant; conctrace finalizes a closed
connection's record when a thread moves on from it. Before the record's
final claim was atomic, two threads both sent it (236 duplicates in 500
connections here). Tolerances: connections, syscalls and context switches
exact (counted, not sampled); CPU as test_conctrace's sum to the process
(0.1% + 1 us: the clock splits the kernel's total).
"""
import collections
import json
import re
import socket
import subprocess

import pytest

from conftest import ROOT
from test_conctrace import CONCTRACE, needs_root

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
    """Connections plus the event loop are the process, every record once."""
    conns, loop, proc = rep["conns"], rep["event_loop"], rep["process"]
    assert len(conns) == rep["connections"]["total"], "--json-conns must list them all"
    ids = collections.Counter(c["id"] for c in conns)
    twice = {i: n for i, n in ids.items() if n > 1}
    assert not twice, f"{len(twice)} connections with more than one record: {twice}"
    assert rep["connections"]["records_merged"] == 0, rep["connections"]
    assert sum(c["syscalls_total"] for c in conns) + loop["syscalls"] == proc["syscalls"]
    switches = sum(c["ctx_switches_voluntary"] + c["ctx_switches_involuntary"] for c in conns)
    assert switches + loop["ctx_switches"] == \
        proc["ctx_switches_voluntary"] + proc["ctx_switches_involuntary"]
    cpu = sum(c["cpu_ns"] for c in conns) + loop["cpu_ns"] + proc["cpu_unsplit_ns"]
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
