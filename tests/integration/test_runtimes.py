# SPDX-License-Identifier: MIT
"""Work that moves between threads, or waits for a later pass of the loop,
goes to the connection it is for (issue 16, items 1 and 2), on runtimes
conctrace never saw, each server keeping its own books per connection:

  * Node 20's http server, a handler calling crypto.pbkdf2 on libuv's
    threadpool (4 threads), twice as many jobs in flight as threads: a
    thread that finishes one takes the next from the queue, woken by no
    one. The uprobes on uv_queue_work and uv__queue_work
    (bpf/progs/runtimes.bpf.h) say whose each job is. Before, a new thread
    started on its creator's connection and kept it: one connection took
    739 ms, the other 19 about 2 ms each; with the hand-off alone, 0.26 to
    2.31 of the books.
  * Python 3.11 asyncio streams: a connection's coroutine resumes on the
    loop's pass after the one that read its data, after other connections'
    reads. A uprobe where a Task's step resumes its coroutine (in the
    _asyncio module, py_probes.c) starts its work, pending until it names
    its connection (its reply); the pass before the first read is the
    loop's. Before any of it, heavy and light connections came out
    inverted.
  * Python's asyncio Protocol API (asyncio_protocol.py): the work in
    buffer_updated (data_received's twin), after its read.
  * Python's and V8's garbage collectors: a collection is the runtime's,
    not the connection whose allocation set it off (USDT probes
    python:gc__start and gc__done; uprobes on V8's Heap::CollectGarbage).
  * Python's run_in_executor on a pool of threads (asyncio_protocol.py
    executor): a job is the connection's that queued it, a uprobe at the
    pool queue's put noting it and one at get's return handing it to the
    worker that takes it (py_jobs.c).

Heavy and light connections interleave, all open at once. Each heavy
connection must be within its runtime's tolerance of its own books (asyncio
25%, Node -30% and +35%; asyncio's at most 25% above its books of all the
loop thread did around it, which hold the host's stalls: measured over 150
runs, 0.99-1.48 of the work's books, 0.78-1.02 of those), no light
connection above a quarter (Node: a third) of the median heavy connection,
less what its books hold beyond the light median (before, asyncio's light
connections took the heavy work: 42.5 ms median), and connections + loop +
pool + unsplit = the process, switches too.

Light connections are held to their own books (issue 16's bar, 2x): each
server keeps the loop thread's CPU around each connection, the callbacks
it runs for it and the gaps either side of each, which conctrace may
rightly give it or its neighbour (runtimes/loop_books.py; Node's main
thread through runtimes/thread_cpu.c, a Node-API addon, Node 20 having no
thread CPU clock). No light connection's figure over its books above 2x
the light median of that ratio. Measured over 15 runs each on the pti=on
build: the highest 1.05-1.42x (streams), 1.07-1.74x (Protocol),
1.13-1.31x (executor), 1.13-1.47x (Node). Raw, a light connection's
figure over the light median, the same runs were above 2x in 9 of 60 (up
to 2.5x), nothing misplaced: the host stalls the VM's CPU for 0.2-2 ms at kernel
entries (tens of ms at times), which the kernel counts as the running
thread's CPU, and the books saw the same. History: before a run's two
clocks disagreeing was the whole run's (memory.md, CPU time), the light
connection current at a run's end took up to 1.8 ms: 2.5-2.7x over its
books in 2 of 46 runs. Before the loop's pass and a step that named no
connection were split off at the next step (or read), their CPU went to
the connection named next: the set-up steps of 40 connections opened at
once, 0.9 ms, made one light connection 2.04-2.66x the light median in 3
of 5 runs (2.12x in a CI run). Before: with the pending after a wait
alone (no step probe), 1.32-2.37x in 3 runs, a heavy step's CPU sometimes
landing on the light connection read last; with the step probe, up to
2.7x, one light connection taking a 0.8 ms garbage collection set off
while 40 connections were set up (with Python's collector off:
1.24-1.34x). Node's, before V8's compilers and worker threads were the
runtime's: 1.18-3.28x over 25 runs (a TurboFan compile of a hot
function, run by a V8 worker the request woke, went to the light
connection that made it hot); with those probes dropped here, 1.37-1.69x
over its books in 4 runs.
"""

import contextlib
import json
import os
import signal
import socket
import statistics
import subprocess
import threading
from pathlib import Path

import pytest

from conftest import report_figure
from test_conctrace import CONCTRACE, cpu_parts, needs_root, no_conn, wait_line

RUNTIMES = Path(__file__).resolve().parent / "runtimes"
HEAVY = LIGHT = 20
REQUESTS = 20
PYTHON = "/usr/bin/python3"     # Debian's 3.11, as a user would run it
NODE = "/usr/bin/node"
NODE_POOL = 4                   # libuv's threadpool, UV_THREADPOOL_SIZE unset
# each heavy connection's CPU against its books: [low, high] x (the tests say why)
ASYNCIO_BOUNDS = (0.75, 1.25)
# Node: conctrace's figure also holds the loop's part of each heavy
# request (its parsing, the pool job's completion and the reply), which
# the books (the pool's CPU) do not: about 0.1 of a 2 ms call, so the
# calls take about 6 ms (NODE_ITERATIONS), where it is about 0.03. And
# the books give each call the pool's average: a call's CPU varies with
# what else runs on the two CPUs, and a connection's 20 calls' sum with
# it, 0.78 to 1.28 of the books over 50 runs on the pti=on build
NODE_BOUNDS = (0.7, 1.35)
# pbkdf2's iterations for a heavy Node request: about 6 ms of CPU here
NODE_ITERATIONS = "18000"
# no light connection above this share of the median heavy connection
ASYNCIO_LIGHT_SHARE = 1 / 4
# no light connection's figure over its books above this x the light
# median of that ratio (issue 16's bar; the module's docstring says what
# it took)
ASYNCIO_LIGHT_SPREAD = 2
NODE_LIGHT_SHARE = 1 / 3
NODE_LIGHT_SPREAD = 2


def traced(tmp_path, cmd, client, options=(), env=None):
    """Run cmd under conctrace (with options; env: the server's environment
    beside ours), drive it with client(port) -> {port: kind}, stop it with
    SIGTERM (it writes its books); the report, the books, the kinds."""
    path, books = tmp_path / "r.json", tmp_path / "books.json"
    ct = subprocess.Popen([str(CONCTRACE), "--json", str(path), "--json-conns", "1000",
                           *options, "--", *cmd, str(books)],
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                          env=dict(os.environ, **(env or {})))
    try:
        m = wait_line(ct.stderr, rb"listening on port (\d+) \(pid (\d+)\)", timeout=30)
        port, pid = int(m.group(1)), int(m.group(2))
        kinds = client(port)
        os.kill(pid, signal.SIGTERM)
        ct.wait(timeout=30)
    finally:
        if ct.poll() is None:
            ct.kill()
            ct.wait()
    assert ct.returncode == 0
    return json.loads(path.read_text()), json.loads(books.read_text()), kinds


@pytest.fixture(scope="module")
def thread_cpu_addon(tmp_path_factory):
    """runtimes/thread_cpu.c built into a tmp dir: the Node-API addon that
    gives node_pool.js its main thread's CPU clock (its books' loop_ns)."""
    out = tmp_path_factory.mktemp("addon") / "thread_cpu.node"
    r = subprocess.run(["cc", "-O2", "-Wall", "-Werror", "-shared", "-fPIC", "-o", str(out),
                        str(RUNTIMES / "thread_cpu.c")], capture_output=True, text=True)
    assert r.returncode == 0, f"cc thread_cpu.c: {r.stderr.strip()}"
    return {"THREAD_CPU_ADDON": str(out)}


def light_books(own, kinds):
    """{port: each light connection's loop_ns, its server's books of the
    loop thread's CPU around it (loop_books.py, node_pool.js)}."""
    books = {p: own[p]["loop_ns"] for p in kinds if kinds[p] == "light"}
    assert all(books.values()), books
    return books


def interleaved(port, session):
    """A heavy and a light connection, one after the other, to warm the
    runtime (its first requests compile and allocate what all later ones
    use: Node's first light connections took 2-3x the others'); then
    HEAVY + LIGHT connections, opened alternately, all at once; each runs
    session(sock, heavy) for its requests. {client port: kind}, the
    warm-up's as "warm-up"."""
    kinds, errors, threads = {}, [], []
    for heavy in (True, False):
        with socket.create_connection(("127.0.0.1", port)) as s:
            kinds[s.getsockname()[1]] = "warm-up"
            session(s, heavy)
    socks = []
    for i in range(HEAVY + LIGHT):
        s = socket.create_connection(("127.0.0.1", port))
        heavy = i % 2 == 0
        kinds[s.getsockname()[1]] = "heavy" if heavy else "light"
        socks.append((s, heavy))

    def run(s, heavy):
        try:
            session(s, heavy)
        except Exception as e:      # noqa: BLE001 (reported below)
            errors.append(e)
        finally:
            s.close()
    for s, heavy in socks:
        threads.append(threading.Thread(target=run, args=(s, heavy)))
        threads[-1].start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    return kinds


def read_until(s, end):
    """Up to and past end: what arrived with it (an HTTP body) too."""
    buf = b""
    while end not in buf:
        chunk = s.recv(65536)
        assert chunk, "closed by the server"
        buf += chunk
    return buf


def http_get(s, path):
    """One HTTP/1.1 request on the kept-alive connection s, its reply read
    to the end of its body."""
    s.sendall(b"GET /%s HTTP/1.1\r\nHost: x\r\n\r\n" % path)
    head = read_until(s, b"\r\n\r\n")
    length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
    body = head.split(b"\r\n\r\n", 1)[1]
    while len(body) < length:
        body += s.recv(65536)


def one_record_each(rep):
    """Every connection in conns[] once: a connection finalized twice (issue
    16: Go's net/http with a pool, 2 runs in 23) is listed twice, and its
    figures counted twice."""
    ids = [c["id"] for c in rep["conns"]]
    twice = sorted({i for i in ids if ids.count(i) > 1})
    assert not twice, ("listed twice", twice, rep["connections"])
    remotes = [c["remote"] for c in rep["conns"]]
    assert len(set(remotes)) == len(remotes), sorted(remotes)


def adds_up(rep, name=None, syscall_slack=0):
    """Every connection once, and conns[], the internal pairs, the loop and
    the pool are the process: CPU (with what is not yet split), switches,
    and syscalls (within syscall_slack calls: the callers say why)."""
    one_record_each(rep)
    proc = rep["process"]
    # asyncio's self-pipe is an internal pair, beside the connections
    pairs = rep["internal_pairs"]
    cpu = cpu_parts(rep)
    assert abs(cpu - proc["cpu_ns"]) <= 0.001 * proc["cpu_ns"] + 1000, (cpu, proc)
    calls = sum(c["syscalls_total"] for c in rep["conns"])
    over = calls + pairs["syscalls"] + no_conn(rep, "syscalls") - proc["syscalls"]
    if name:
        report_figure(f"{name}: syscalls: connections {calls}, pairs {pairs['syscalls']}, loop "
                      f"{rep['event_loop']['syscalls']}, pool {rep['pool']['syscalls']}: "
                      f"{over:+d} on the process's {proc['syscalls']}")
    assert abs(over) <= syscall_slack, \
        (calls, pairs["syscalls"], rep["event_loop"]["syscalls"], rep["pool"]["syscalls"], proc)
    switches = sum(c["ctx_switches_voluntary"] + c["ctx_switches_involuntary"]
                   for c in rep["conns"])
    assert switches + pairs["ctx_switches"] + no_conn(rep, "ctx_switches") == \
        proc["ctx_switches_voluntary"] + proc["ctx_switches_involuntary"]


def light_spread_failure(conns, kinds, light_truth, ratios, ratio_median):
    """The light-spread check's failure, a string (pytest cuts the repr of
    anything else short, as it did a CI run's): the ratios' range and
    median, and the three light connections furthest over their books
    with what the record holds beside the CPU and the order they opened
    in among all connections (once, the one over was the first light
    connection of a burst): a cause's trace for the next run."""
    opened = sorted(conns, key=lambda p: conns[p]["open_ns"])
    top = sorted((p for p in kinds if kinds[p] == "light"),
                 key=lambda p: conns[p]["cpu_ns"] / light_truth[p])[-3:]
    lines = [f"light ratios {ratios[0]:.2f}-{ratios[-1]:.2f}, median "
             f"{ratio_median:.3f}; furthest over their books:"]
    for p in reversed(top):
        c = conns[p]
        lines.append(f"  port {p} (opened {opened.index(p) + 1} of {len(opened)}): "
                     f"{c['cpu_ns'] / 1e6:.2f} ms against books of {light_truth[p] / 1e6:.2f} ms, "
                     f"run queue {c['runq_ns'] / 1e6:.2f} ms, switches "
                     f"{c['ctx_switches_voluntary']} voluntary {c['ctx_switches_involuntary']} "
                     f"involuntary, {c['syscalls_total']} syscalls")
    return "\n".join(lines)


def judge(name, rep, truth, kinds, low, high, light_share, syscall_slack=0, light_spread=None,
          light_truth=None, truth_around=None):
    """truth: {client port: the server's own CPU for it, ns}; each heavy
    connection within [low, high] x its truth (with truth_around, {port:
    the server's books of all it did around the connection}, at most high
    x that: a stall of the host's that the kernel counts as the thread's
    CPU is in those books, not in the work's), no light one above
    light_share x the median heavy one (with light_truth, less what its
    books hold beyond the light median); with light_spread and light_truth,
    {port: the server's own books of each light connection}, none whose
    figure over its books is above light_spread x the light median of
    that ratio (light connections that really cost more, or that the
    host's stalls landed on, do not count against it); then adds_up()."""
    one_record_each(rep)
    conns = {int(c["remote"].rsplit(":", 1)[1]): c for c in rep["conns"]}
    assert sorted(conns) == sorted(kinds), (sorted(conns), sorted(kinds))
    kinds = {p: k for p, k in kinds.items() if k != "warm-up"}
    heavy = {p: (conns[p]["cpu_ns"], truth[p]) for p in kinds if kinds[p] == "heavy"}
    light = [conns[p]["cpu_ns"] for p in kinds if kinds[p] == "light"]
    proc = rep["process"]
    median = statistics.median(light)
    ratios = sorted(ns / t for ns, t in heavy.values())
    report_figure(
        f"{name}: heavy connections {sum(ns for ns, _ in heavy.values()) / 1e6:.1f} ms "
        f"(own books {sum(t for _, t in heavy.values()) / 1e6:.1f} ms; each at "
        f"{ratios[0]:.2f}-{ratios[-1]:.2f} of its books), light "
        f"{sum(light) / 1e6:.1f} ms (median {median / 1e6:.2f}, max {max(light) / 1e6:.2f}), "
        f"event loop {rep['event_loop']['cpu_ns'] / 1e6:.1f} ms, pool "
        f"{rep['pool']['cpu_ns'] / 1e6:.1f} ms, process {proc['cpu_ns'] / 1e6:.1f} ms")
    for p, (ns, t) in heavy.items():
        top = truth_around[p] if truth_around else t
        assert low * t <= ns <= high * top, (p, ns, t, top, ratios)
    heavy_median = statistics.median(ns for ns, _ in heavy.values())
    # with light books, less what the server itself spent around a light
    # connection beyond the light median: a stall of the host's (it was
    # 7 ms on one light connection in a run), not heavy work
    held = light if not light_truth else [
        conns[p]["cpu_ns"] - max(0, light_truth[p] - statistics.median(light_truth.values()))
        for p in kinds if kinds[p] == "light"]
    assert max(held) <= heavy_median * light_share, (heavy_median, sorted(light), sorted(held))
    if light_spread is not None:
        ratios = sorted(conns[p]["cpu_ns"] / light_truth[p] for p in kinds if kinds[p] == "light")
        ratio_median = statistics.median(ratios)
        report_figure(f"{name}: light connections over their own books "
                      f"{ratios[0]:.2f}-{ratios[-1]:.2f}, the highest "
                      f"{ratios[-1] / ratio_median:.2f}x their median; raw, the highest "
                      f"{max(light) / median:.2f}x the light median")
        assert ratios[-1] <= light_spread * ratio_median, \
            light_spread_failure(conns, kinds, light_truth, ratios, ratio_median)
    adds_up(rep, name, syscall_slack)


def test_node_threadpool_work_goes_to_the_connection_that_asked(tmp_path, thread_cpu_addon):
    needs_root()
    if not Path(NODE).exists():
        pytest.fail("node is not installed: scripts/install-deps.sh", pytrace=False)

    # heavy requests in flight: twice as many as the pool has threads, so
    # jobs queue and a thread that finishes one takes the next without
    # sleeping: no wakeup says whose it is, the uprobes do
    in_flight = threading.Semaphore(NODE_POOL * 2)

    def session(s, heavy):
        for _ in range(REQUESTS):
            with in_flight if heavy else contextlib.nullcontext():
                http_get(s, b"heavy" if heavy else b"light")

    # about 6 ms a call here (the issue measured 2 ms calls: see NODE_BOUNDS)
    rep, books, kinds = traced(tmp_path, [NODE, str(RUNTIMES / "node_pool.js"), NODE_ITERATIONS],
                               lambda port: interleaved(port, session), env=thread_cpu_addon)
    own = {int(p): c for p, c in books["conns"].items()}
    assert all(own[p]["requests"] == REQUESTS for p in kinds), own
    # the books: the pool threads' CPU while serving, as the kernel counts
    # it, split by calls (all alike); conctrace's figure holds the loop's
    # work for each heavy request too (about 0.1 of it)
    assert books["pool_threads"] == NODE_POOL, books["pool_threads"]
    truth = {p: own[p]["pool_cpu_ns"] for p in kinds}
    # Measured: 0.78-1.28 of the books over 50 runs on the pti=on build
    # (before a run's clocks disagreeing was the whole run's, 0.81-1.69
    # over 10: memory.md, CPU time); 0.85-1.18 over 18 on the earlier
    # build (with 2 ms calls: 0.95-1.29, under a 1.35 bound for the loop's
    # part). Until 2026-12-05 the
    # books held a call's cost calibrated on the busy pool before serving,
    # off by up to 1.4x (a call costs more CPU when the other CPU's thread
    # is busy too): 0.69-1.54 over 22 runs, each run's connections within
    # 0.74-1.40 of their median ratio. With the hand-off alone (the uprobes
    # dropped): 0.12-2.79, up to 23x apart.
    judge("node pbkdf2", rep, truth, kinds, *NODE_BOUNDS, NODE_LIGHT_SHARE,
          light_spread=NODE_LIGHT_SPREAD, light_truth=light_books(own, kinds))


def test_asyncio_streams_work_goes_to_the_connection_it_resumes_for(tmp_path):
    needs_root()

    def session(s, heavy):
        for _ in range(REQUESTS):
            s.sendall(b"HEAVY\n" if heavy else b"LIGHT\n")
            read_until(s, b"\n")

    # about 2 ms of CPU a request: 40 ms a heavy connection
    rep, books, kinds = traced(tmp_path, [PYTHON, str(RUNTIMES / "asyncio_streams.py"), "40000"],
                               lambda port: interleaved(port, session))
    own = {int(p): c for p, c in books["conns"].items()}
    assert all(own[p]["requests"] == REQUESTS for p in kinds), own
    truth = {p: own[p]["cpu_ns"] for p in kinds}
    judge("asyncio streams", rep, truth, kinds, *ASYNCIO_BOUNDS, ASYNCIO_LIGHT_SHARE,
          light_spread=ASYNCIO_LIGHT_SPREAD, light_truth=light_books(own, kinds),
          truth_around={p: own[p]["loop_ns"] for p in kinds})


def line_session(s, heavy):
    """REQUESTS lines on s, each answered before the next."""
    for _ in range(REQUESTS):
        s.sendall(b"HEAVY\n" if heavy else b"LIGHT\n")
        read_until(s, b"\n")


def protocol_run(tmp_path, mode, work, session=line_session):
    """asyncio_protocol.py in mode, driven as the others: the report, the
    server's books, the kinds, each connection's book by port."""
    rep, books, kinds = traced(tmp_path, [PYTHON, str(RUNTIMES / "asyncio_protocol.py"), mode,
                                          str(work)], lambda port: interleaved(port, session))
    own = {int(p): c for p, c in books["conns"].items()}
    assert all(own[p]["requests"] == REQUESTS for p in kinds), own
    return rep, books, kinds, own


def test_asyncio_protocol_work_goes_to_its_connection(tmp_path):
    """The Protocol API: a connection's work runs in buffer_updated, right
    after its read, and goes to it; the loop's pass before the read and
    Python's garbage collections do not."""
    needs_root()
    rep, _, kinds, own = protocol_run(tmp_path, "inline", 40000)
    judge("asyncio protocol", rep, {p: own[p]["cpu_ns"] for p in kinds}, kinds, *ASYNCIO_BOUNDS,
          ASYNCIO_LIGHT_SHARE, light_spread=ASYNCIO_LIGHT_SPREAD,
          light_truth=light_books(own, kinds), truth_around={p: own[p]["loop_ns"] for p in kinds})


def test_python_garbage_collection_is_the_runtimes(tmp_path):
    """Each heavy request runs a full garbage collection (gc.collect()): the
    runtime's work, which the USDT probes python:gc__start/gc__done keep
    apart from the connection whose code set it off. The loop holds at
    least 0.9 of the collections' CPU the server timed itself (gc.callbacks;
    the loop's own dispatch is the rest), and no heavy connection more than
    a quarter of the collections it asked for. Measured here: the loop 1.09
    to 1.12 of the collections; each heavy connection 0.9-1.5 ms against
    23 ms of collections asked for. Without the probes
    (CONCTRACE_DROP_PROGS): the loop 0.10, each heavy connection 27-29 ms."""
    needs_root()
    rep, books, kinds, _ = protocol_run(tmp_path, "gc", 1000)
    collections_are_the_runtimes("python gc", rep, books["gc_ns"], kinds,
                                 rep["event_loop"]["cpu_ns"], 0.9)


def collections_are_the_runtimes(name, rep, gc_ns, kinds, buckets, share):
    """gc_ns: the collections' CPU as the server timed them, each heavy
    connection's requests having asked for an equal part. buckets (what
    the loop, and the pool if the runtime collects there too, hold) at
    least share of it; no heavy connection above a quarter of its part;
    then adds_up()."""
    conns = {int(c["remote"].rsplit(":", 1)[1]): c for c in rep["conns"]}
    heavy = sorted(conns[p]["cpu_ns"] for p in kinds if kinds[p] == "heavy")
    asked = gc_ns / (HEAVY + 1)     # the warm-up's heavy connection asked too
    report_figure(f"{name}: collections {gc_ns / 1e6:.1f} ms (the server's own timing), "
                  f"the runtime's buckets {buckets / 1e6:.1f} ms, heavy connections "
                  f"{heavy[0] / 1e6:.2f}-{heavy[-1] / 1e6:.2f} ms each, "
                  f"{asked / 1e6:.1f} ms of collections asked for each")
    assert buckets >= share * gc_ns, (buckets, gc_ns)
    assert heavy[-1] <= asked / 4, (heavy, asked)
    adds_up(rep, name)


def test_asyncio_executor_work_goes_to_the_connection_that_asked(tmp_path):
    """run_in_executor on a pool of 4 threads, as many heavy requests in
    flight: hashlib.pbkdf2_hmac, which releases the GIL. Each job is the
    connection's that queued it: the uprobes at the pool's SimpleQueue put
    and get (a worker busy when a job came takes the next with no wakeup);
    passing the GIL hands nothing over (on_interpreter_lock). Measured over
    8 runs: each heavy connection 1.06-1.12 of its books (the loop's part
    of each request beside the job). Before the queue's probes, with the
    wakeup's hand-off alone, 0.08-1.22: a strict xfail."""
    needs_root()
    in_flight = threading.Semaphore(4)

    def session(s, heavy):
        for _ in range(REQUESTS):
            with in_flight if heavy else contextlib.nullcontext():
                s.sendall(b"HEAVY\n" if heavy else b"LIGHT\n")
                read_until(s, b"\n")

    rep, _, kinds, own = protocol_run(tmp_path, "executor", 4000, session)
    # around a heavy connection: the loop thread's books and its jobs'
    judge("asyncio executor", rep, {p: own[p]["cpu_ns"] for p in kinds}, kinds, *ASYNCIO_BOUNDS,
          ASYNCIO_LIGHT_SHARE, light_spread=ASYNCIO_LIGHT_SPREAD,
          light_truth=light_books(own, kinds),
          truth_around={p: own[p]["loop_ns"] + own[p]["cpu_ns"] for p in kinds})


def test_v8_garbage_collection_is_the_runtimes(tmp_path):
    """Node with --expose-gc: each heavy request runs a full garbage
    collection (global.gc()), the runtime's work, which the uprobes on V8's
    Heap::CollectGarbage (v8_probes.c) keep apart from the connection whose
    code set it off. The loop and the pool (V8's helper threads) hold at
    least 0.7 of the collections' CPU the server timed itself (the
    process's CPU around each call, which a tick of rusage's granularity
    blurs), no heavy connection more than a quarter of the collections it
    asked for. Measured here: 1.09-1.13 of the collections; each heavy
    connection 3.7-9.1 ms against 90-123 ms asked for. Without the probes
    (CONCTRACE_DROP_PROGS): 0.06, and 112-123 ms each; with the probes but
    hand-offs from a collecting thread, 76-100 ms each (V8's parallel
    markers took the connection's work)."""
    needs_root()
    if not Path(NODE).exists():
        pytest.fail("node is not installed: scripts/install-deps.sh", pytrace=False)

    def session(s, heavy):
        for _ in range(REQUESTS):
            http_get(s, b"gc" if heavy else b"light")

    rep, books, kinds = traced(tmp_path, [NODE, "--expose-gc", str(RUNTIMES / "node_pool.js"),
                                          "1000"], lambda port: interleaved(port, session))
    collections_are_the_runtimes("v8 gc", rep, books["gc_ns"], kinds,
                                 rep["event_loop"]["cpu_ns"] + rep["pool"]["cpu_ns"], 0.7)
