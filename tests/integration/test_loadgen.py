# SPDX-License-Identifier: MIT
"""1000 concurrent connections through servers/loadgen against every server,
over TCP and Unix sockets, with zero errors; plus checks that loadgen's
"zero errors" means something (it does report refused connects and wrong
replies)."""

import json
import socket
import subprocess
import threading

import pytest

from conftest import ROOT, binary

PING_BYTES = 5          # "PING\n" one way, "PONG\n" the other


def run_loadgen(target_args, *args, timeout=90):
    """Run servers/loadgen with --json on stdout; returns (status, report, stderr)."""
    exe = binary("loadgen")
    cmd = [str(exe), *map(str, target_args), "--json", "--timeout", "20", *map(str, args)]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=ROOT)
    try:
        report = json.loads(out.stdout)
    except ValueError:
        pytest.fail(f"loadgen printed no JSON report (status {out.returncode}):\n"
                    f"stdout: {out.stdout[-1000:]!r}\nstderr: {out.stderr[-2000:]!r}")
    return out.returncode, report, out.stderr


def target(server):
    if server.transport == "unix":
        return ["-u", server.address]
    return ["-H", server.address[0], "-p", str(server.address[1])]


def assert_no_errors(status, report, stderr, conns):
    """The run opened every connection and lost no request."""
    assert report["connections"] == {"attempted": conns, "established": conns, "failed": 0}, \
        f"{report['connections']}; stderr: {stderr[-1000:]}"
    assert all(v == 0 for v in report["errors"].values()), \
        f"errors {report['errors']}; stderr: {stderr[-1000:]}"
    assert report["requests"]["errors"] == 0, report["requests"]
    assert status == 0, f"loadgen exited {status}; stderr: {stderr[-1000:]}"


def test_1000_connections_of_pings_have_zero_errors(server):
    conns, per_conn = 1000, 10
    status, report, stderr = run_loadgen(target(server), "-c", conns, "-n", per_conn)
    assert_no_errors(status, report, stderr, conns)
    total = conns * per_conn
    assert report["requests"]["ok"] == total
    assert report["bytes"] == {"sent": total * PING_BYTES, "received": total * PING_BYTES}
    assert report["requests_per_s"] > 0 and report["duration_s"] > 0
    lat = report["latency_us"]
    assert 0 <= lat["min"] <= lat["p50"] <= lat["p90"] <= lat["p99"] <= lat["p999"] <= lat["max"]
    server.assert_alive()


def test_1000_connections_of_mixed_requests_have_zero_errors(server):
    # every kind of request, two in flight per connection, all replies verified
    conns, per_conn = 1000, 6
    status, report, stderr = run_loadgen(
        target(server), "-c", conns, "-n", per_conn, "-P", 2,
        "--mix", "ping:3,echo:2,wait:1,stream:1,burn:1",
        "--echo-size", 300, "--wait-ms", 20, "--stream-bytes", 20000, "--burn", 2000)
    assert_no_errors(status, report, stderr, conns)
    assert report["requests"]["ok"] == conns * per_conn
    server.assert_alive()


# ---- loadgen's own error accounting -------------------------------------------------

def free_port():
    """A TCP port on 127.0.0.1 with nothing listening on it."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_loadgen_counts_refused_connections():
    status, report, _ = run_loadgen(["-H", "127.0.0.1", "-p", free_port()], "-c", 5, "-n", 1)
    assert report["connections"]["established"] == 0
    assert report["connections"]["failed"] == 5
    assert report["errors"]["connect"] == 5
    assert status == 1


def test_loadgen_reports_wrong_replies():
    """A server that answers every line with a wrong reply: bad_reply, exit 1."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    stop = threading.Event()

    def serve():
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                c, _ = listener.accept()
            except socket.timeout:
                continue
            with c:
                c.settimeout(5)
                try:
                    while c.recv(4096):
                        c.sendall(b"PONK\n")
                except OSError:
                    pass

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    try:
        status, report, _ = run_loadgen(["-H", "127.0.0.1", "-p", listener.getsockname()[1]],
                                        "-c", 1, "-n", 3)
    finally:
        stop.set()
        t.join()
        listener.close()
    assert report["errors"]["bad_reply"] >= 1
    assert report["requests"]["ok"] == 0
    assert status == 1
