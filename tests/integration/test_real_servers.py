# SPDX-License-Identifier: MIT
"""conctrace on servers it did not ship with, against their own books.

Debian's packages, started by the tests on loopback ports of their own.
nginx (a master and pre-forked workers): see its test. redis-server (an
ae.c event loop with background threads) counts what it serves in INFO
stats. Driven by redis-benchmark under conctrace, with strace attached to
the same run:

  * connections: conctrace's total equals total_connections_received,
    exactly, and none is open at the end;
  * bytes: conctrace's received bytes, summed over connections, equal
    total_net_input_bytes; sent bytes equal total_net_output_bytes plus
    the INFO reply this test reads (redis adds a reply's bytes once it is
    written, after INFO has read the counters). Exact: both are counted.
  * syscalls: per name, within 2% or START_UP_CALLS of strace -f -c -p,
    which attaches once redis listens and detaches before it shuts down;
    conctrace sees both (loading libraries, closing files), strace neither.
    Every name conctrace reports must be one strace saw, in that run or in
    a run of redis's start-up and shutdown alone (NO_RETURN aside: strace
    -c never counts a call that does not return).
"""

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import time

from conftest import ROOT, report_figure
from test_conctrace import CONCTRACE, close_enough, needs_root, wait_line
from test_syscalls import NO_RETURN, parse_strace_c
from test_tree_rss import proc_mem, within

BENCH_CONNS, BENCH_REQUESTS = 20, 4000
BENCH_TESTS = "ping_inline,ping_mbulk,set,get,incr,lpush,lpop"
START_UP_CALLS = 60     # seen: 44 more openat, 45 more close than strace
COMPARED_MIN = 100      # compare names strace saw at least this often


def installed(name):
    path = shutil.which(name, path="/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin")
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


def redis_args(server, port, tmp_path):
    return [server, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
            "--appendonly", "no", "--dir", str(tmp_path)]


def strace_start_up_and_shutdown(server, tmp_path):
    """The names of redis's calls from exec to listening, and from SHUTDOWN
    to its exit, as strace -f -c counts them."""
    port, out = free_port(), tmp_path / "redis-life.strace"
    st = subprocess.Popen(["strace", "-f", "-c", "-o", str(out),
                           *redis_args(server, port, tmp_path)],
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT)
    try:
        wait_listening(port)
        # stopped as the traced run stops it: SIGINT to redis itself
        with socket.create_connection(("127.0.0.1", port)) as s:
            s.sendall(b"INFO server\r\n")
            reply = b""
            while b"process_id:" not in reply or not reply.endswith(b"\r\n"):
                reply += s.recv(65536)
        os.kill(int(re.search(rb"process_id:(\d+)", reply).group(1)), signal.SIGINT)
        assert st.wait(timeout=30) == 0
    finally:
        if st.poll() is None:
            st.kill()
            st.wait()
    return set(parse_strace_c(out.read_text()))


def test_redis_counts_what_conctrace_counts(tmp_path):
    needs_root()
    server, bench = installed("redis-server"), installed("redis-benchmark")
    life = strace_start_up_and_shutdown(server, tmp_path)
    port, report = free_port(), tmp_path / "redis.json"
    ct = subprocess.Popen([str(CONCTRACE), "--json", str(report), "--json-conns", "0", "--",
                           *redis_args(server, port, tmp_path)],
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=ROOT)
    st = None
    try:
        pid = int(wait_line(ct.stderr, rb"tracing pid (\d+)").group(1))
        wait_listening(port)
        st = subprocess.Popen(["strace", "-f", "-c", "-o", str(tmp_path / "redis.strace"),
                               "-p", str(pid)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        wait_line(st.stderr, rb"attached")
        threads = len(os.listdir(f"/proc/{pid}/task"))
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
    report_figure(f"redis syscalls, conctrace vs strace on the same run: {compared}")
    assert any(sc == "read" for sc, _, _ in compared), compared
    # strace's attach interrupts each thread's wait, which the kernel then
    # resumes through restart_syscall: strace's doing, at most one a thread
    assert measured.get("restart_syscall", 0) <= threads, (measured, threads)
    unseen = {sc: n for sc, n in measured.items() if sc not in truth and sc not in life
              and sc not in NO_RETURN and sc != "restart_syscall"}
    assert not unseen, f"names strace never saw: {unseen}; it saw {sorted(set(truth) | life)}"


NGINX_CONF = """\
worker_processes 2;
daemon off;
pid {dir}/nginx.pid;
error_log {dir}/error.log;
events {{ worker_connections 1024; }}
http {{
    log_format sizes '$request_length $bytes_sent';
    access_log {dir}/access.log sizes;
    client_body_temp_path {dir};
    proxy_temp_path {dir};
    fastcgi_temp_path {dir};
    uwsgi_temp_path {dir};
    scgi_temp_path {dir};
    server {{
        listen 127.0.0.1:{port};
        root {dir}/html;
        location = /status {{ stub_status; }}
    }}
}}
"""
AB_REQUESTS, AB_CONCURRENCY = 2000, 20


def http_get(port, path):
    with socket.create_connection(("127.0.0.1", port)) as s:
        s.sendall(f"GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n".encode())
        reply = b""
        while chunk := s.recv(65536):
            reply += chunk
    return reply.partition(b"\r\n\r\n")[2].decode()


def test_nginx_workers_count_what_conctrace_counts(tmp_path):
    """A master and two pre-forked workers (followed as they fork): the TCP
    connections are what stub_status says nginx accepted, and their bytes
    what its access log says each request took and sent, exactly. The
    master-worker channels are Unix socketpairs, internal pairs and no
    connections (test_records.py). The RSS at end is the three processes'
    VmRSS summed, read idle (test_tree_rss.py's tolerance)."""
    needs_root()
    nginx, ab = installed("nginx"), installed("ab")
    port, report = free_port(), tmp_path / "nginx.json"
    (tmp_path / "html").mkdir()
    (tmp_path / "html" / "index.html").write_text("hello from nginx\n")
    (tmp_path / "nginx.conf").write_text(NGINX_CONF.format(dir=tmp_path, port=port))
    ct = subprocess.Popen([str(CONCTRACE), "--json", str(report), "--json-conns", "100000",
                           "--", nginx, "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf")],
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=ROOT)
    try:
        master = int(wait_line(ct.stderr, rb"tracing pid (\d+)").group(1))
        wait_listening(port)
        out = subprocess.run([ab, "-q", "-n", str(AB_REQUESTS), "-c", str(AB_CONCURRENCY),
                              f"http://127.0.0.1:{port}/"], capture_output=True, timeout=120)
        assert out.returncode == 0 and b"Failed requests:        0" in out.stdout, out.stdout
        status = http_get(port, "/status")
        # the tree's memory, idle: the master's and its workers' VmRSS
        time.sleep(0.5)
        tree = [master] + [int(p) for t in os.listdir(f"/proc/{master}/task")
                           for p in open(f"/proc/{master}/task/{t}/children").read().split()]
        rss_sum = sum(proc_mem(p)[0] for p in tree)
    finally:
        ct.send_signal(signal.SIGINT)          # nginx: fast shutdown
        ct.wait(timeout=30)
    assert ct.returncode == 0
    rep = json.loads(report.read_text())
    # "Active connections: 1 \nserver accepts handled requests\n 2001 2001 2001 \n..."
    accepts = int(status.splitlines()[2].split()[0])
    logged = [tuple(map(int, line.split())) for line in
              (tmp_path / "access.log").read_text().splitlines()]
    tcp = [c for c in rep["conns"] if c["family"] == "tcp4"]

    print(f"nginx: tcp connections {len(tcp)} (accepted {accepts}), received "
          f"{sum(c['bytes_rx'] for c in tcp)} (logged {sum(r for r, _ in logged)}), sent "
          f"{sum(c['bytes_tx'] for c in tcp)} (logged {sum(s for _, s in logged)}), "
          f"unix {rep['connections']['total'] - len(tcp)}, processes' threads peak "
          f"{rep['process']['threads_peak']}")
    assert len(rep["conns"]) == rep["connections"]["total"]     # all listed
    # accepted: ab's, ours for /status, and the connects that waited for
    # nginx to listen (no request: nothing logged, nothing sent)
    assert len(tcp) == accepts and len(logged) == AB_REQUESTS + 1
    assert sum(c["bytes_rx"] for c in tcp) == sum(r for r, _ in logged)
    assert sum(c["bytes_tx"] for c in tcp) == sum(s for _, s in logged)
    assert rep["connections"]["open_at_end"] == 0 and rep["lost_events"] == 0
    # RSS is the tree's (issue 16): master and workers, summed
    proc = rep["process"]
    report_figure(f"nginx: RSS at end {proc['rss_end_bytes']} over "
                  f"{proc.get('rss_processes_end')} processes; their VmRSS summed {rss_sum} "
                  f"over {len(tree)}")
    assert within(proc["rss_end_bytes"], rss_sum, len(tree)), (proc["rss_end_bytes"], rss_sum)
    assert proc["rss_processes_end"] == len(tree) == 3, (proc["processes"], tree)
