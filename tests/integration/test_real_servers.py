# SPDX-License-Identifier: MIT
"""conctrace on a server it did not ship with, against that server's own books.

redis-server (Debian's package: an ae.c event loop with background threads)
counts what it serves in INFO stats. Driven by redis-benchmark over
loopback under conctrace, with strace attached to the same run:

  * connections: conctrace's total equals total_connections_received,
    exactly, and none is open at the end;
  * bytes: conctrace's received bytes, summed over connections, equal
    total_net_input_bytes; sent bytes equal total_net_output_bytes plus
    the INFO reply this test reads (redis adds a reply's bytes once it is
    written, after INFO has read the counters). Exact: both are counted.
  * syscalls: per name, within 2% or START_UP_CALLS of strace -f -c -p,
    which attaches once redis listens and detaches before it shuts down;
    conctrace sees both (loading libraries, closing files), strace neither.
"""

import json
import signal
import socket
import subprocess
import time

from conftest import ROOT
from test_conctrace import CONCTRACE, close_enough, needs_root, parse_strace_c, wait_line

BENCH_CONNS, BENCH_REQUESTS = 20, 4000
BENCH_TESTS = "ping_inline,ping_mbulk,set,get,incr,lpush,lpop"
START_UP_CALLS = 60     # seen: openat 44, close 45, mmap 90 (jemalloc arenas)
COMPARED_MIN = 100      # compare names strace saw at least this often


def redis_binary(name):
    path = subprocess.run(["sh", "-c", f"command -v {name}"], capture_output=True,
                          text=True).stdout.strip()
    assert path, f"{name} is not installed: run `sudo make deps` (scripts/install-deps.sh)"
    return path


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_listening(port, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise AssertionError(f"redis-server not listening on {port} within {timeout}s")


def redis_info_stats(port):
    """INFO stats over a connection of our own: (fields, bytes of the reply)."""
    with socket.create_connection(("127.0.0.1", port)) as s:
        s.sendall(b"INFO stats\r\n")
        reply = b""
        while b"\r\n" not in reply:
            reply += s.recv(65536)
        header, _, body = reply.partition(b"\r\n")
        assert header.startswith(b"$"), reply[:80]
        size = int(header[1:])
        while len(body) < size + 2:
            body += s.recv(65536)
    fields = {}
    for line in body[:size].decode().splitlines():
        key, sep, value = line.partition(":")
        if sep and value.isdigit():
            fields[key] = int(value)
    return fields, len(header) + 2 + size + 2


def test_redis_counts_what_conctrace_counts(tmp_path):
    needs_root()
    server, bench = redis_binary("redis-server"), redis_binary("redis-benchmark")
    port, report = free_port(), tmp_path / "redis.json"
    ct = subprocess.Popen([str(CONCTRACE), "--json", str(report), "--json-conns", "0", "--",
                           server, "--port", str(port), "--bind", "127.0.0.1",
                           "--save", "", "--appendonly", "no", "--dir", str(tmp_path)],
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=ROOT)
    st = None
    try:
        pid = int(wait_line(ct.stderr, rb"tracing pid (\d+)").group(1))
        wait_listening(port)
        st = subprocess.Popen(["strace", "-f", "-c", "-o", str(tmp_path / "redis.strace"),
                               "-p", str(pid)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        wait_line(st.stderr, rb"attached")
        out = subprocess.run([bench, "-h", "127.0.0.1", "-p", str(port),
                              "-c", str(BENCH_CONNS), "-n", str(BENCH_REQUESTS),
                              "-t", BENCH_TESTS, "-q"], capture_output=True, timeout=120)
        assert out.returncode == 0, out.stderr.decode()
        stats, info_reply = redis_info_stats(port)
    finally:
        if st is not None:
            st.send_signal(signal.SIGINT)      # detaches, writes its summary
            st.wait(timeout=30)
        ct.send_signal(signal.SIGINT)          # redis shuts down on SIGINT
        ct.wait(timeout=30)
    assert ct.returncode == 0
    rep = json.loads(report.read_text())
    conns = rep["connections"]

    print(f"redis: connections {conns['total']} (its count "
          f"{stats['total_connections_received']}), received {conns['bytes_rx']} "
          f"({stats['total_net_input_bytes']}), sent {conns['bytes_tx']} "
          f"({stats['total_net_output_bytes']} + INFO reply {info_reply})")
    assert conns["total"] == stats["total_connections_received"]
    assert conns["open_at_end"] == 0 and rep["lost_events"] == 0
    assert conns["bytes_rx"] == stats["total_net_input_bytes"]
    assert conns["bytes_tx"] == stats["total_net_output_bytes"] + info_reply

    truth = parse_strace_c((tmp_path / "redis.strace").read_text())
    measured = rep["process"]["syscalls_by_name"]
    compared = []
    for sc, (calls, _) in sorted(truth.items()):
        if calls < COMPARED_MIN:
            continue
        compared.append((sc, measured.get(sc, 0), calls))
        assert measured.get(sc, 0) >= calls, f"{sc}: conctrace {measured.get(sc, 0)}, strace {calls}"
        assert close_enough(measured.get(sc, 0), calls, slack=START_UP_CALLS), \
            f"{sc}: conctrace {measured.get(sc, 0)}, strace {calls}"
    print(f"redis syscalls, conctrace vs strace on the same run: {compared}")
    assert any(sc == "read" for sc, _, _ in compared), compared
