# SPDX-License-Identifier: MIT
"""scripts/compare at small N (issue 6): one run, every model, both scenarios.

The run is real: each server under conctrace, driven by loadgen over
loopback, at 1 and SMALL_N connections, idle and busy. What must hold:

  * every model yields a row at every N and scenario, and the figures are
    positive (user memory may be 0: epoll_echo's idle connection owns no
    user memory; that is the point of the model);
  * total = user + kernel, and the kernel figure holds at least the
    connection's objects (the buffers are what it holds beyond them);
  * what each model is made of shows in the breakdown: a thread only for
    threaded_echo, an epoll item for the epoll loops, io_uring requests
    only for uring_echo;
  * busy, one connection sending a PING every 10 ms: every request finds
    the server asleep, so it costs every model at least one voluntary
    switch (>= 0.9 per request allows for nothing but rounding);
  * busy at SMALL_N: threaded_echo switches at least as often per request
    as epoll_echo, whose loop serves every ready connection per wake-up;
  * a connection count above RLIMIT_NOFILE gives a limit row, not a crash;
  * a row whose server lost a request (once in CI, never here since) is
    run once more and the loss reported, with where compare saw it wait:
    a second loss fails;
  * the table has a line per row and the SVG chart is well-formed.
"""

import json
import os
import resource
import socket
import subprocess
import sys
import time
import xml.etree.ElementTree as ET

from conftest import ROOT, report_figure, script_module
from test_conctrace import needs_root

COMPARE = ROOT / "scripts" / "compare"
MODELS = ["threaded", "epoll", "coro", "uring"]
SMALL_N = 200
REQUESTS = 20           # busy: PINGs per connection, at 100/s: 0.2 s of load
BUFFERS = ("rx_queue", "tx_queue", "forward_alloc")     # the breakdown's, scripts/compare
PAGE_SIZE = resource.getpagesize()


def test_compare_small_n(tmp_path):
    needs_root()
    too_many = resource.getrlimit(resource.RLIMIT_NOFILE)[1] + 1
    out_json, out_svg = tmp_path / "compare.json", tmp_path / "compare.svg"
    run = subprocess.run([sys.executable, str(COMPARE), "--conns", f"1,{SMALL_N},{too_many}",
                          "--requests", str(REQUESTS), "--json", str(out_json),
                          "--svg", str(out_svg)],
                         capture_output=True, text=True, timeout=240)
    print(run.stdout)
    assert run.returncode == 0, run.stderr[-3000:]
    doc = json.loads(out_json.read_text())
    rows = {(r["model"], r["scenario"], r["conns"]): r for r in doc["rows"]}
    assert len(rows) == len(doc["rows"]) == len(MODELS) * 2 * 3
    rerun_a_lost_request(rows, tmp_path)

    for scenario in ("idle", "busy"):
        for model in MODELS:
            limit = rows[(model, scenario, too_many)]
            assert limit["status"] == "limit" and "RLIMIT_NOFILE" in limit["reason"], limit
            for n in (1, SMALL_N):
                r = rows[(model, scenario, n)]
                where = f"{model} {scenario} N={n}"
                assert r["status"] == "ok", (where, r)
                assert r["requests"] == n * (1 if scenario == "idle" else REQUESTS), where
                assert r["user_bytes_per_conn"] >= 0, where
                for key in ("kernel_bytes_per_conn", "total_bytes_per_conn",
                            "ctx_switches_per_request", "syscalls_per_request",
                            "cpu_us_per_request", "latency_p99_us", "requests_per_s"):
                    assert r[key] > 0, (where, key, r[key])
                assert r["kernel_objects_per_conn"] > 0, where
                bd = r["kernel_breakdown"]
                # two figures from two sources: the breakdown (each closed
                # connection's final record, each object at its peak) and
                # the kernel figure (idle: the live walk over the open
                # connections while all were held). Held, a varying object
                # may be below its peak
                varying = sum(bd.get(c, 0) for c in ("epoll", "io_uring", "page_tables", "vmas"))
                assert r["kernel_bytes_per_conn"] >= r["kernel_objects_per_conn"] - varying - 1, \
                    (where, r)
                if scenario == "idle":
                    # an idle connection queues nothing, but TCP gives its
                    # forward allocation back in whole pages (sk_mem_reclaim):
                    # a socket may keep up to a page less a byte reserved
                    # after its PING and reply are gone (coro_echo at N=200:
                    # 2,028 B a connection, in 2 of 12 runs on
                    # 2026-12-05; 0 in the others). Beyond the objects: only
                    # buffers its records saw, and less than that page
                    excess = r["kernel_bytes_per_conn"] - r["kernel_objects_per_conn"]
                    assert excess <= sum(bd.get(c, 0) for c in BUFFERS) + 1, (where, r)
                    assert excess < PAGE_SIZE, (where, r)
                assert bd["sock"] > 0 and bd["file"] > 0, (where, bd)
                assert (bd["thread"] > 0) == (model == "threaded"), (where, bd)
                assert (bd["epoll"] > 0) == (model in ("epoll", "coro")), (where, bd)
                assert (bd["io_uring"] > 0) == (model == "uring"), (where, bd)
            assert rows[(model, "busy", 1)]["ctx_switches_voluntary_per_request"] >= 0.9, \
                rows[(model, "busy", 1)]

    threaded = rows[("threaded", "busy", SMALL_N)]["ctx_switches_per_request"]
    epoll = rows[("epoll", "busy", SMALL_N)]["ctx_switches_per_request"]
    print(f"busy, N={SMALL_N}: ctx switches/request threaded {threaded:.2f}, epoll {epoll:.2f}")
    assert threaded >= epoll, (threaded, epoll)

    table = [line.split()[:3] for line in run.stdout.splitlines()]
    for key in rows:
        assert [key[0], str(key[2]), key[1]] in table, key

    svg = ET.parse(out_svg).getroot()
    assert svg.tag == "{http://www.w3.org/2000/svg}svg"
    texts = " ".join(t.text or "" for t in svg.iter("{http://www.w3.org/2000/svg}text"))
    for model in MODELS:
        assert model in texts
    assert "Context switches per request" in texts and "KiB" in texts


def rerun_a_lost_request(rows, tmp_path):
    """One row whose server lost a request is run once more, and the loss
    reported with what compare saw of it. CI once had uring_echo idle at
    N=200 lose one PING (no reply in 30 s), which 862 runs here did not
    repeat (2026-12-07): a loss on the rerun, or in two rows, still fails.
    The figures are the rerun's."""
    lost = [k for k, r in rows.items()
            if r["status"] == "limit" and r.get("limit") == "request errors"]
    if len(lost) != 1:
        return
    (model, scenario, n), = lost
    out = tmp_path / "rerun.json"
    run = subprocess.run([sys.executable, str(COMPARE), "--models", model, "--scenarios",
                          scenario, "--conns", str(n), "--requests", str(REQUESTS),
                          "--json", str(out)], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-3000:]
    again = json.loads(out.read_text())["rows"][0]
    report_figure(f"{model} {scenario} N={n}: a request lost ({rows[lost[0]]['reason']}); "
                  f"run again: {again['status']}")
    rows[lost[0]] = again


def test_a_held_up_request_says_where_it_waits():
    """A lost request's row says which side holds it: CI once had uring_echo
    idle at N=200 lose one PING (no reply in 30 s) and nothing else to go
    on. Here one connection waits in the accept queue, one was accepted and
    not read, one was answered and the client has not read the reply."""
    compare = script_module(COMPARE)
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        port = listener.getsockname()[1]
        fds0 = compare.fd_count(os.getpid())
        clients = [socket.create_connection(("127.0.0.1", port)) for _ in range(3)]
        time.sleep(0.05)
        answered, unread = listener.accept()[0], listener.accept()[0]
        for c in clients:
            c.send(b"PING\n")
        assert answered.recv(16) == b"PING\n"
        answered.send(b"+PONG\n")
        time.sleep(0.05)
        said = compare.stall_evidence(os.getpid(), str(port), fds0 + 3, 3)
        for s in clients + [answered, unread]:
            s.close()
    assert said == ("server holds 2 of 3 connections; accept queue 1; connections with "
                    "bytes the server has not read 2, it has sent unacknowledged 0, "
                    "the client has not read 1"), said


def test_a_row_that_lost_a_request_is_run_once_more(tmp_path):
    """The rerun path of test_compare_small_n, taken for real: a row marked
    as having lost a request is measured again and replaced; a second such
    row means more than a rare loss, and nothing is rerun."""
    needs_root()
    lost = {"status": "limit", "limit": "request errors", "reason": "1 requests lost"}
    rows = {("epoll", "idle", 1): dict(lost), ("coro", "idle", 1): {"status": "ok"}}
    rerun_a_lost_request(rows, tmp_path)
    again = rows[("epoll", "idle", 1)]
    assert again["status"] == "ok" and again["model"] == "epoll" and again["conns"] == 1, again
    two = {("epoll", "idle", 1): dict(lost), ("coro", "idle", 1): dict(lost)}
    rerun_a_lost_request(two, tmp_path)
    assert all(r["status"] == "limit" for r in two.values()), two
