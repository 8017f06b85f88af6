# SPDX-License-Identifier: MIT
"""The Grafana dashboard (dashboards/conctrace.json), panel by panel.

Read from the JSON as Grafana would run it: every target's expression, with
$instance as "all" and $__rate_interval as RATE_INTERVAL. Checked

  * without a run: each metric named is one userspace/live/prom.c writes; no
    query picks a syscall by name (which call reads a request, read(),
    recvfrom() or none with io_uring, is the server's choice); and each axis
    has one unit: the targets drawn against one unit (the panel's, or a
    refId override's) have one dimension, and it is that unit's;
  * against a real Prometheus scraping a real conctrace --prometheus run, at
    three moments: connections held open and none closed yet, held ones
    plus some closed within the window, and all closed. Every result is
    finite and not negative; every panel shows something at each moment
    (a panel about closed connections only says so in its title); every
    query finds series when both kinds of connection exist. On epoll_echo
    (read/write) under loadgen, and on nginx (recvfrom, pre-forked workers)
    under held keep-alive clients and ab.
"""

import json
import math
import os
import re
import signal
import socket
import subprocess
import time

from conftest import ROOT
from test_conctrace import CONCTRACE, LOADGEN, PING_BYTES, needs_root, wait_line
from test_prometheus import (METRICS_RE, REFRESH_S, PrometheusServer, TracedRun, one,
                             prom_wait, run_loadgen, scrape, wait_quiescent)
from test_real_servers import NGINX_CONF, free_port, installed, wait_listening

DASHBOARD = ROOT / "dashboards" / "conctrace.json"
RATE_INTERVAL = "30s"   # what Grafana picks for 15 minutes at a 1 s scrape is less
HELD = 20


def panels():
    return json.loads(DASHBOARD.read_text())["panels"]


def expand(expr, rate_interval=RATE_INTERVAL):
    """Grafana's variables: every instance, and a concrete window."""
    return expr.replace("$instance", ".*").replace("$__rate_interval", rate_interval)


def targets():
    for p in panels():
        for t in p["targets"]:
            yield p, t


# ---- dimensions of PromQL expressions --------------------------------------------

# What one unit of each metric counts; histograms are handled by suffix.
METRIC_UNITS = [
    (r"_seconds(_total)?$", {"s": 1}),
    (r"_bytes(_total)?$", {"B": 1}),
    (r"^conctrace_info$", {}),
    (r"context_switches(_total)?$", {"switch": 1}),
    (r"^conctrace_connections_\w+$", {"conn": 1}),
    (r"syscalls_total$|syscall_errors_total$", {"syscall": 1}),
    (r"lost_events_total$|thread_state_unavailable_total$", {"event": 1}),
    (r"runs_total$", {"run": 1}),
    (r"scrapes_total$|http_refused_total$", {"request": 1}),
]
HISTOGRAMS = ("conctrace_connection_kernel_bytes", "conctrace_connection_user_bytes",
              "conctrace_connection_context_switches")
AGGREGATIONS = {"sum", "avg", "min", "max", "count", "topk", "bottomk", "quantile"}
TOKEN_RE = re.compile(r"\s*(\d+(?:\.\d+)?|[A-Za-z_:][A-Za-z0-9_:]*|\{[^}]*\}|\[[^\]]*\]"
                      r"|==|!=|>=|<=|[-+*/(),<>])")
BINARY = [{"or"}, {"and", "unless"}, {"==", "!=", ">", "<", ">=", "<="}, {"+", "-"}, {"*", "/"}]


def metric_unit(name):
    """(dimension, dimension of its `le` label or None)."""
    for h in HISTOGRAMS:
        if name == h + "_sum":
            return metric_unit(h)[0], None
        if name == h + "_count":
            return {"conn": 1}, None
        if name == h + "_bucket":
            return {"conn": 1}, metric_unit(h)[0]
    for pattern, dim in METRIC_UNITS:
        if re.search(pattern, name):
            return dict(dim), None
    raise AssertionError(f"{name}: unknown unit; add it to METRIC_UNITS")


def combine(a, b, sign):
    out = dict(a)
    for k, v in b.items():
        out[k] = out.get(k, 0) + sign * v
    return {k: v for k, v in out.items() if v}


class Dimension:
    """A small PromQL reader, enough for the dashboard: the dimension of an
    expression ({"B": 1, "conn": -1} is bytes per connection)."""

    def __init__(self, expr):
        self.toks = TOKEN_RE.findall(expr)
        assert "".join(self.toks) == re.sub(r"\s+", "", expr), f"cannot read: {expr}"
        self.i = 0

    def peek(self):
        return self.toks[self.i] if self.i < len(self.toks) else None

    def take(self, want=None):
        tok = self.peek()
        assert want is None or tok == want, f"expected {want!r}, got {tok!r}: {self.toks}"
        self.i += 1
        return tok

    def labels(self):
        self.take("(")
        while self.take() != ")":
            pass

    def parse(self):
        dim = self.binary(0)
        assert self.peek() is None, f"left over: {self.toks[self.i:]}"
        return dim[0]

    def binary(self, level):
        if level == len(BINARY):
            return self.primary()
        left = self.binary(level + 1)
        while self.peek() in BINARY[level]:
            op = self.take()
            if self.peek() == "bool":
                self.take()
            for modifier in ("on", "ignoring", "group_left", "group_right"):
                if self.peek() == modifier:
                    self.take()
                    if self.peek() == "(":
                        self.labels()
            right = self.binary(level + 1)
            if op in ("*", "/"):
                scalar = left[0] == "scalar" or right[0] == "scalar"
                dim = (left[0] if right[0] == "scalar" else right[0] if scalar
                       else combine(left[0], right[0], 1 if op == "*" else -1))
                left = (dim, None)
            elif op in ("+", "-", "or"):
                assert left[0] == right[0], f"{op} of {left[0]} and {right[0]}"
            # comparisons without bool, and, unless: the left side, filtered
        return left

    def args(self):
        self.take("(")
        out = [self.binary(0)]
        while self.peek() == ",":
            self.take()
            out.append(self.binary(0))
        self.take(")")
        return out

    def primary(self):
        tok = self.take()
        if tok == "(":
            inner = self.binary(0)
            self.take(")")
            return inner
        if re.fullmatch(r"\d+(\.\d+)?", tok):
            return ("scalar", None)
        if tok in AGGREGATIONS:
            if self.peek() in ("by", "without"):
                self.take()
                self.labels()
            args = self.args()
            if self.peek() in ("by", "without"):
                self.take()
                self.labels()
            return ({}, None) if tok == "count" else args[-1]
        if self.peek() == "(":
            args = self.args()
            if tok in ("rate", "irate"):
                return combine(args[0][0], {"s": 1}, -1), args[0][1]
            if tok == "histogram_quantile":
                assert args[1][1] is not None, "histogram_quantile of no _bucket"
                return args[1][1], None
            assert tok in ("increase", "delta", "clamp_min", "abs"), f"function {tok}: teach me"
            return args[0]
        if self.peek() and self.peek().startswith("{"):
            self.take()
        if self.peek() and self.peek().startswith("["):
            self.take()
        return metric_unit(tok)


def fits(unit, dim):
    """A Grafana unit shows this dimension. A mean per connection is drawn in
    the unit of what is averaged: counted things below the line drop out."""
    d = {k: v for k, v in dim.items() if v > 0 or k in ("s", "B")}
    counted = [k for k in d if k not in ("s", "B")]
    if unit == "bytes":
        return d == {"B": 1}
    if unit == "Bps":
        return d == {"B": 1, "s": -1}
    if unit == "percentunit":
        return d == {}                  # seconds per second: CPUs
    if unit in ("cps", "ops"):
        return d.get("s") == -1 and len(counted) == 1 and d[counted[0]] == 1 and "B" not in d
    if unit in ("short", "none"):
        return "s" not in d and "B" not in d and len(counted) <= 1
    return False


def unit_of(panel, ref):
    unit = panel["fieldConfig"]["defaults"]["unit"]
    for o in panel["fieldConfig"].get("overrides", []):
        if o["matcher"] == {"id": "byFrameRefID", "options": ref}:
            for prop in o["properties"]:
                if prop["id"] == "unit":
                    unit = prop["value"]
    return unit


# ---- checks without a run ----------------------------------------------------------

def test_dimension_reader_knows_a_mix():
    """The reader tells what the old dashboard drew on one axis apart."""
    pct = Dimension("sum by (instance) (rate(conctrace_bpf_run_seconds_total[1m]))").parse()
    lost = Dimension("increase(conctrace_lost_events_total[1m])").parse()
    assert pct == {} and lost == {"event": 1}
    per_conn = Dimension("(rate(conctrace_connection_kernel_bytes_sum[1m]) / "
                         "rate(conctrace_connection_kernel_bytes_count[1m])) * on(instance) "
                         "group_left(target) conctrace_info").parse()
    assert per_conn == {"B": 1, "conn": -1} and fits("bytes", per_conn)
    assert Dimension("histogram_quantile(0.5, sum by (instance, le) "
                     "(rate(conctrace_connection_kernel_bytes_bucket[1m])))").parse() == {"B": 1}
    assert not fits("short", Dimension("rate(conctrace_connections_total[1m])").parse())


def test_one_unit_per_axis():
    for p in panels():
        axes = {}
        for t in p["targets"]:
            unit, dim = unit_of(p, t["refId"]), Dimension(expand(t["expr"])).parse()
            assert fits(unit, dim), f"{p['title']!r} {t['refId']}: {dim} drawn as {unit}"
            axes.setdefault(unit, []).append((t["refId"], dim))
        for unit, dims in axes.items():
            assert len({json.dumps(d, sort_keys=True) for _, d in dims}) == 1, \
                f"{p['title']!r}: one {unit} axis for {dims}"


def test_no_query_depends_on_a_syscall_name():
    for p, t in targets():
        assert not re.search(r"\bname\s*=~?\s*\"", t["expr"]), \
            f"{p['title']!r} picks a syscall by name: {t['expr']}"


def test_every_metric_is_one_the_exporter_writes():
    src = (ROOT / "userspace" / "live" / "prom.c").read_text()
    written = set(re.findall(r'"(conctrace_[a-z_]+)"', src))
    written |= {h + sfx for h in HISTOGRAMS for sfx in ("_bucket", "_sum", "_count")}
    assert set(HISTOGRAMS) <= written
    for p, t in targets():
        for name in re.findall(r"\bconctrace_[a-z_]+", t["expr"]):
            assert name in written, f"{p['title']!r}: {name} is not in prom.c"


# ---- against a real Prometheus ------------------------------------------------------

def open_only(expr):
    """Series that exist only while a connection is open."""
    return "(conctrace_connections_open" in expr and "> 0)" in expr or \
        "conctrace_top_connection_" in expr


def closed_only(expr):
    """Series that exist only when a connection closed within the window."""
    return re.search(r"conctrace_connection_\w+_count\{[^}]*\}\[[^\]]*\]\) > 0", expr) is not None


def evaluate(prom):
    """{(panel title, refId): [(labels, value)]} for every target, now."""
    out = {}
    for p, t in targets():
        res = prom.query(expand(t["expr"]))
        out[p["title"], t["refId"]] = [(r["metric"], float(r["value"][1])) for r in res]
    return out


def check_moment(prom, moment, held_open):
    """moment: "held" (open ones, none closed yet), "both", "closed" (none open)."""
    results = evaluate(prom)
    ncpu = os.cpu_count()
    for p in panels():
        shown = []
        for t in p["targets"]:
            series = results[p["title"], t["refId"]]
            where = f"{moment}: {p['title']!r} {t['refId']} {expand(t['expr'])}"
            for labels, v in series:
                assert math.isfinite(v) and v >= 0, f"{where}: {v} {labels}"
                if "group_left(target)" in t["expr"]:
                    assert labels.get("target"), f"{where}: no target label: {labels}"
                if unit_of(p, t["refId"]) == "percentunit":
                    assert v <= ncpu, f"{where}: {v} CPUs of {ncpu}"
            expected = {"held": not closed_only(t["expr"]), "both": True,
                        "closed": not open_only(t["expr"])}[moment]
            assert not expected or series, f"{where}: empty"
            shown += series
        # a panel about one kind of connection only says so in its title
        if moment == "held" and all(closed_only(t["expr"]) for t in p["targets"]):
            assert "closed connection" in p["title"], \
                f"{p['title']!r} is empty while connections are held, and does not say why"
        elif moment == "closed" and all(open_only(t["expr"]) for t in p["targets"]):
            assert "open connection" in p["title"], \
                f"{p['title']!r} is empty once connections closed, and does not say why"
        else:
            assert shown, f"{moment}: panel {p['title']!r} shows nothing"
    # the figures, where the run says what they must be
    if held_open is not None:
        opened = results["Connections", "A"]
        assert [v for _, v in opened] == [held_open], opened
    return results


def settled(prom, metric, value):
    """Two scrapes in a row of `metric == value`."""
    prom_wait(prom, f"count_over_time({metric}[3s]) >= 2 and "
              f"min_over_time({metric}[3s]) == {value} and max_over_time({metric}[3s]) == {value}",
              f"{metric} == {value} in two scrapes", timeout=30)


def test_dashboard_on_epoll_echo_held_then_closed(tmp_path):
    conns, requests = 100, 20
    run = TracedRun(tmp_path, "--bpf-stats")
    prom, holder = None, None
    try:
        prom = PrometheusServer(tmp_path, run.metrics_port)
        holder = subprocess.Popen([str(LOADGEN), "-p", str(run.server_port), "-c", str(HELD),
                                   "-n", "3", "--hold", "120", "-q"],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 15
        while one(scrape(run.metrics_port), "conctrace_received_bytes_total") < \
                HELD * 3 * PING_BYTES:
            assert time.monotonic() < deadline, "held connections never all served"
            time.sleep(REFRESH_S)
        settled(prom, "conctrace_received_bytes_total", HELD * 3 * PING_BYTES)
        settled(prom, "conctrace_connections_open", HELD)
        held = check_moment(prom, "held", HELD)
        run_loadgen(run.server_port, conns, requests)
        settled(prom, "conctrace_connections_closed_total", conns)
        # the histograms observe a closed connection EXPORTER_SETTLE_S later
        settled(prom, "conctrace_connection_kernel_bytes_count", conns)
        check_moment(prom, "both", HELD)
        holder.kill()
        holder.wait()
        wait_quiescent(run.metrics_port, conns + HELD)
        settled(prom, "conctrace_connections_closed_total", conns + HELD)
        # the held ones reach the histograms EXPORTER_SETTLE_S after their
        # close: the closed-only panels read them
        settled(prom, "conctrace_connection_kernel_bytes_count", conns + HELD)
        check_moment(prom, "closed", 0)
        # a window over the whole run: the ratio of the rates is the mean
        headline = next(t["expr"] for p, t in targets()
                        if p["id"] == 1 and t["legendFormat"].startswith("closed"))
        per_conn = prom.query(expand(headline, "10m"))
        rep = run.report()
    finally:
        if holder and holder.poll() is None:
            holder.kill()
            holder.wait()
        if prom:
            prom.stop()
        run.kill()
    # while held: per open connection, what a held connection holds
    kernel = held["Kernel memory per connection, by model", "A"]
    assert len(kernel) == 1 and kernel[0][0]["target"].endswith("epoll_echo -p 0")
    assert kernel[0][1] > 0
    # an event loop's connections switch little or never: the loop does
    switches = held["Context switches per connection", "A"]
    assert len(switches) == 1
    mean = rep["per_connection"]["kernel_bytes"]["mean"]
    assert len(per_conn) == 1 and abs(float(per_conn[0]["value"][1]) - mean) <= 1e-6 * mean
    print(f"epoll_echo, {HELD} held: kernel memory per open connection "
          f"{kernel[0][1]:.0f} B, switches per open connection {switches[0][1]:.1f}; "
          f"closed: mean peak {mean:.0f} B")


class KeepAlive:
    """A client that asks nginx for its stub_status over HTTP/1.1 (served
    from memory: the workers cannot read the test's private tmp files) and
    keeps the connection."""

    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        self.sock.sendall(b"GET /status HTTP/1.1\r\nHost: localhost\r\n\r\n")
        reply = b""
        while b"\r\n\r\n" not in reply or len(reply.partition(b"\r\n\r\n")[2]) < length(reply):
            chunk = self.sock.recv(4096)
            assert chunk, f"nginx closed a keep-alive connection: {reply!r}"
            reply += chunk
        assert reply.startswith(b"HTTP/1.1 200 "), reply


def length(reply):
    m = re.search(rb"\r\nContent-Length: (\d+)\r\n", reply, re.I)
    assert m, f"no Content-Length: {reply!r}"
    return int(m.group(1))


def test_dashboard_on_nginx_recvfrom_held_then_closed(tmp_path):
    """nginx reads requests with recvfrom(), not read(): the panels still
    show switches and costs, per connection and per second."""
    needs_root()
    nginx, ab = installed("nginx"), installed("ab")
    port = free_port()
    (tmp_path / "nginx.conf").write_text(NGINX_CONF.format(dir=tmp_path, port=port))
    ct = subprocess.Popen([str(CONCTRACE), "--prometheus", "127.0.0.1:0", "--bpf-stats", "--",
                           nginx, "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf")],
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=ROOT)
    prom, clients = None, []
    try:
        metrics_port = int(wait_line(ct.stderr, METRICS_RE).group(1))
        wait_listening(port)
        prom = PrometheusServer(tmp_path, metrics_port)
        clients = [KeepAlive(port) for _ in range(HELD)]
        before = one(scrape(metrics_port), "conctrace_connections_open")
        assert before >= HELD
        settled(prom, "conctrace_connections_open", int(before))
        held = check_moment(prom, "held", before)
        out = subprocess.run([ab, "-q", "-n", "500", "-c", "10", f"http://127.0.0.1:{port}/status"],
                             capture_output=True, timeout=120)
        # (stub_status's length changes with the count of connections, which
        # ab calls "Failed requests (Length)": only completion is checked)
        assert out.returncode == 0 and b"Complete requests:      500\n" in out.stdout \
            and b"Non-2xx" not in out.stdout, out.stdout
        prom_wait(prom, "conctrace_connections_closed_total >= 500", "ab's connections closed",
                  timeout=30)
        prom_wait(prom, "conctrace_connection_kernel_bytes_count >= 500",
                  "ab's connections in the histograms", timeout=30)
        settled(prom, "conctrace_connections_open", int(before))
        check_moment(prom, "both", before)
        m = scrape(metrics_port)
    finally:
        for c in clients:
            c.sock.close()
        if prom:
            prom.stop()
        ct.send_signal(signal.SIGINT)          # nginx: fast shutdown
        ct.wait(timeout=30)
    assert ct.returncode == 0
    calls = {dict(k)["name"]: v for k, v in m["conctrace_syscalls_total"].items()}
    kernel = held["Kernel memory per connection, by model", "A"][0][1]
    switches = sum(v for _, v in held["Context switches per second", "A"])
    print(f"nginx: recvfrom {calls.get('recvfrom', 0):.0f}, read {calls.get('read', 0):.0f}, "
          f"{before:.0f} open while held: kernel memory per open connection {kernel:.0f} B, "
          f"{switches:.1f} switches/s")
    assert calls.get("recvfrom", 0) >= 500, calls
