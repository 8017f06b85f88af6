# SPDX-License-Identifier: MIT
"""Go servers as ground truth (issue 16): conctrace had never traced one,
and on Go's net/http with a goroutine worker pool the issue saw one
connection listed twice. Two servers written here on Debian's Go 1.19,
standard library only (tests/integration/runtimes/go_*.go), each keeping
its own books per connection (go_books.go): the connections it accepted,
the bytes each socket carried, and each heavy request's CPU from the
serving thread's own clock:

  * go_pool_http: net/http, a /heavy handler hands its work to 4 worker
    goroutines, each locked to its OS thread, through a channel, and
    waits: the work runs on another thread than the one that read the
    request, woken through the runtime's futex (the hand-off). Again with
    one worker and every heavy request in flight, so that jobs queue: the
    worker takes the next job from a handler parked on the channel as it
    finishes the last, woken by no one; conctrace follows the job through
    uprobes on the Go runtime's channels (bpf/progs/runtimes.bpf.h,
    userspace/tracer/go_probes.c).
  * go_echo: plain net, one goroutine per connection, the heavy line
    burned in the connection's own goroutine, which Go's scheduler moves
    between its few OS threads (netpoller, no thread per connection).

Driven as test_runtimes.py drives Node and asyncio (its helpers): a heavy
and a light connection to warm up, then 20 heavy and 20 light interleaved,
all open at once, 20 requests each. Asserted: connections.total is the
server's accepted count; every connection in conns[] once, no record
merged; each connection's bytes exactly its books'; conns[] + loop + pool
+ unsplit = the process, for switches and CPU, and syscalls within
SYSCALL_SLACK (below: why); each heavy connection's CPU within stated
bounds of its books, no light one above a stated share of the median
heavy one.

Light echo connections are held to twice their median, each over its own
books: go_echo.go times each request from its line read to its reply
written, and adds the serving threads' CPU on either side of it (its
read, the read that finds nothing, the scheduler's search for the next
goroutine, a new socket's set-up before its first request and its close
after its last, and the host's stalls there: marks at each reply's start
and end and at each accept, read and close), which conctrace may rightly
give to the connection served before or after, so such a gap counts for
both (around_ns, go_books.go's threadGaps). Their true costs differ by up
to 1.9x (below: why). Before
conctrace took a read that found nothing (EAGAIN) as the end of the
thread's work for that connection, the highest was up to 7.8x the median:
Go's scheduler had run a heavy goroutine's burn on the thread whose last
read named the light connection. The pool server's light connections have
no such books (net/http parses and replies outside the handler), and
their raw figures spread as widely as the truth does (the highest up to
3.2x the median on the kernel build of 2026-12-05, the excess in each
case net/http's own frames of that connection, readRequest and the
reply's flush, on-CPU stacks say). What they are held to instead is the
misplacement the pool risks: the pool's work (go_books.go's burn) on a
light connection, which the kernel's own on-CPU samples name
(`--flame cpu --by-conn`, POOL_SAMPLE_HZ): every sample whose stack is in
burn must be a heavy connection's (or the warm-up's, or the pool's).
"""

import contextlib
import os
import subprocess
import threading
from pathlib import Path

import pytest

from conftest import report_figure
from test_conctrace import needs_root
from test_runtimes import (REQUESTS, RUNTIMES, adds_up, http_get, interleaved, judge, read_until,
                           traced)

GO = "/usr/bin/go"      # Debian's golang-go (1.19), as a user would build with
# iterations of go_books.go's burn(): about 2 ms of CPU here, 40 ms a heavy connection
BURN = 2_000_000
GO_POOL = 4             # go_pool_http.go's workers
# Each heavy connection's CPU against its books: [low, high] x, issue 16's
# bar (25%). Measured on this 2-CPU machine, other tests running beside:
# pool 0.99-1.12 over 16 runs (2 heavy requests in flight, as the test
# runs it), echo 0.95-1.09 over 34. The books hold the burn only;
# conctrace's figure also the connection's HTTP parsing and reply (a light
# connection's whole cost: 0.5-1.1 ms for 20 requests, 1-2% of a heavy
# one) and, in the pool, the runtime's hand-offs around each job (the
# worker's thread woken, the handler's woken back): the high side. Go
# moves goroutines between threads, but conctrace follows the thread, and
# the burn is measured on one locked thread, so the spread is the other
# work's, not the scheduler's (the lowest, 0.95, an echo connection whose
# goroutine's work after a read went to the connection its thread named
# next). 25% leaves twice the measured spread on either side.
POOL_BOUNDS = ECHO_BOUNDS = (0.75, 1.25)
# no light connection above this share of the median heavy one: measured
# at most 0.025 (pool: 1.14 ms against 46 ms) and 0.07 (echo: 3.2 ms against
# 45 ms); an eighth is about twice the worst, three misplaced 2 ms jobs
POOL_LIGHT_SHARE = ECHO_LIGHT_SHARE = 1 / 8
# no light echo connection above twice the light median, each taken over
# its own books (go_echo.go: around_ns, its replies and the gaps either
# side of each on their threads): the same 20 requests cost up to 2.24x
# more on one connection than another as the books count them (a
# connection served while the server idles between requests pays the
# wakeups and cold caches; one served while the heavy ones keep it busy
# does not), so the raw figures spread with the truth. Measured on the
# pti=on build (2026-12-06): the highest 1.04-1.32x the median in 38 runs
# (median 1.16). Before the books marked each read: 1.25-1.31x (the
# medians of 4 batches, 127 runs) and above 2x in 4 runs, twice a heavy
# request's burn on a light connection (before go_runs_own,
# bpf/progs/syscalls.bpf.h), twice 0.5-1.7 ms on a light connection its
# books did not show: traced once, 2.2 ms of a thread's CPU after another
# connection's reply, which conctrace gives to the connection read next
# (pending), there a light one whose read found nothing. History:
# over the reply alone, 1.10-1.42x in 40 runs of 2026-12-05, then above 2x
# in 9 of 45 runs (up to 3.98x) and 2 of 3 CI runs: a host's stall between
# a reply and the next read, in a closing read, or a new thread's start
# (0.9 ms, the runtime's: conctrace gives it to the pool since)
ECHO_LIGHT_SPREAD = 2
# on-CPU samples per second in the pool tests: a job's burn (about 2 ms)
# is 20 of them; conctrace's own cost per sample is in every thread's CPU
# alike (the books' clock counts it too)
POOL_SAMPLE_HZ = 10_000
# the pool's work on a light connection, at most: measured 0 in 23 runs
# since goroutines are followed (bpf/lib/goroutines.bpf.h) and locked
# workers' wakeups go by the send that gave the job (on_go_chan_send);
# before, 3.0-3.3 ms in 3 of about 20 (a whole job misplaced, which also
# put that connection at 2.2-3.5x the light median). A quarter of a job:
# a burn cut short by a wakeup's misplaced tail still fails.
POOL_WORK_ON_LIGHT_NS = 500_000
# conns[] + loop + pool against the process's syscalls: exact in all but 2
# of about 110 checks (45 of 45 in one batch of 15 runs); those 2, on the
# 4-worker pool, were 1 call over the process's (5702 on 5701, 7898 on
# 7897): a call counted on two accounts: a read counted at its entry for
# the connection then current, whose record was final by the time the read
# named its own, so the count could not leave it and was added again.
# Since the count stays where it cannot be taken from (bpf/lib/charging,
# recount_syscall): exact in 54 of 54 checks. Two calls of slack stay
# until more runs say so (a call lost or counted twice per connection
# would be 40 or more).
SYSCALL_SLACK = 2


@pytest.fixture(scope="module")
def go_servers(tmp_path_factory):
    """Both servers built from source into a tmp dir: no module, nothing
    from the network (GOPATH mode, one directory of files); the build
    cache in tmp too, so a run leaves nothing behind."""
    if not Path(GO).exists():
        pytest.fail("go is not installed: scripts/install-deps.sh", pytrace=False)
    out = tmp_path_factory.mktemp("go")
    env = dict(os.environ, GOCACHE=str(out / "cache"), GOPATH=str(out / "gopath"),
               GO111MODULE="off", GOFLAGS="", CGO_ENABLED="0")
    built = {}
    for name in ("go_pool_http", "go_echo"):
        r = subprocess.run([GO, "build", "-o", str(out / name), str(RUNTIMES / "go_books.go"),
                            str(RUNTIMES / f"{name}.go")],
                           env=env, capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, f"go build {name}: {r.stderr.strip()}"
        built[name] = out / name
    return built


def check_books(name, rep, books, kinds):
    """The server's books against conctrace's report: connections, one
    record each, bytes. Returns {client port: book}."""
    own = {int(addr.rsplit(":", 1)[1]): b for addr, b in books["conns"].items()}
    assert sorted(own) == sorted(kinds), (sorted(own), sorted(kinds))
    c = rep["connections"]
    report_figure(f"{name}: connections {c['total']} (server accepted {books['accepted']}), "
                  f"{len(rep['conns'])} records, merged {c['records_merged']}, charges "
                  f"after their record {c['late_charges']}")
    assert c["total"] == books["accepted"], (c, books["accepted"])
    assert c["records_merged"] == 0, c
    assert c["late_charges_unmatched"] == 0, c
    assert len(rep["conns"]) == c["total"], "--json-conns must list them all"
    for conn in rep["conns"]:
        b = own[int(conn["remote"].rsplit(":", 1)[1])]
        assert (conn["bytes_rx"], conn["bytes_tx"]) == (b["bytes_rx"], b["bytes_tx"]), (conn, b)
    # the runtime's threads (Ms, made for whichever goroutine is runnable)
    # are no connection's: it made some (clone calls), none is charged to
    # one (before: 10 threads on 8 of go_echo's 42 connections in a run)
    made = rep["process"]["syscalls_by_name"].get("clone", 0)
    holding = {c["id"]: c["threads"] for c in rep["conns"] if c["threads"]}
    report_figure(f"{name}: threads made (clone) {made}, on connections {sum(holding.values())}")
    assert made > 0 and not holding, (made, holding)
    for p, k in kinds.items():
        assert own[p]["requests"] == REQUESTS or k == "warm-up", (p, own[p])
        assert own[p]["heavy"] == (own[p]["requests"] if k == "heavy" else 0) or k == "warm-up"
    return own


def pool_work_by_conn(folded, rep):
    """From the on-CPU stacks (--flame cpu --by-conn --folded): ns sampled
    in go_books.go's burn (the pool's work), by connection id."""
    ids = {f"conn {c['id']}": c["id"] for c in rep["conns"]}
    work = {}
    for line in folded.read_text().splitlines():
        stack, ns = line.rsplit(" ", 1)
        frames = stack.split(";")
        if len(frames) > 1 and frames[1] in ids and "main.burn" in frames:
            work[ids[frames[1]]] = work.get(ids[frames[1]], 0) + int(ns)
    return work


def flamed(tmp_path):
    """conctrace's options for a pool run, and where its stacks go."""
    folded = tmp_path / "cpu.folded"
    return ["--flame", "cpu", "--by-conn", "--sample-hz", str(POOL_SAMPLE_HZ),
            "--folded", str(folded)], folded


def no_pool_work_on_light(name, rep, kinds, folded):
    """No light connection holds the pool's work, by the kernel's samples;
    the heavy ones hold most of it."""
    conns = {int(c["remote"].rsplit(":", 1)[1]): c for c in rep["conns"]}
    work = pool_work_by_conn(folded, rep)
    light = {p: work.get(conns[p]["id"], 0) for p in kinds if kinds[p] == "light"}
    heavy = sum(work.get(conns[p]["id"], 0) for p in kinds if kinds[p] == "heavy")
    report_figure(f"{name}: the pool's work (samples in burn) on heavy connections "
                  f"{heavy / 1e6:.1f} ms of {sum(work.values()) / 1e6:.1f} ms on any; "
                  f"on light ones at most {max(light.values()) / 1e6:.2f} ms")
    assert max(light.values()) <= POOL_WORK_ON_LIGHT_NS, sorted(light.values())
    assert heavy >= 0.9 * sum(work.values()), (heavy, work)


def test_go_http_pool_work_goes_to_the_connection_that_asked(go_servers, tmp_path):
    needs_root()

    # heavy requests in flight: half as many as the pool has workers, so a
    # job always finds a worker asleep on the channel and wakes it (the
    # hand-off): this test is the wakeup's. A worker that finds the next
    # job's sender already waiting takes it without sleeping, and only the
    # channel probes say whose it is: queued_run below is theirs.
    in_flight = threading.Semaphore(GO_POOL // 2)

    def session(s, heavy):
        for _ in range(REQUESTS):
            with in_flight if heavy else contextlib.nullcontext():
                http_get(s, b"heavy" if heavy else b"light")

    options, folded = flamed(tmp_path)
    rep, books, kinds = traced(tmp_path, [str(go_servers["go_pool_http"]), str(BURN),
                                          str(GO_POOL)],
                               lambda port: interleaved(port, session), options)
    own = check_books("go net/http pool", rep, books, kinds)
    judge("go net/http pool", rep, {p: own[p]["cpu_ns"] for p in kinds}, kinds,
          *POOL_BOUNDS, POOL_LIGHT_SHARE, SYSCALL_SLACK)
    no_pool_work_on_light("go net/http pool", rep, kinds, folded)


@pytest.fixture(scope="module")
def queued_run(go_servers, tmp_path_factory):
    """The pool server with one worker and every heavy request in flight:
    the worker finishes a job with the next one's sender already waiting
    on the channel, and takes it without sleeping, so only the channel
    probes (runtime.recv taking a parked sender's value) can say whose it
    is. One run, read by the two tests below."""
    needs_root()

    def session(s, heavy):
        for _ in range(REQUESTS):
            http_get(s, b"heavy" if heavy else b"light")

    tmp = tmp_path_factory.mktemp("queued")
    options, folded = flamed(tmp)
    rep, books, kinds = traced(tmp, [str(go_servers["go_pool_http"]), str(BURN), "1"],
                               lambda port: interleaved(port, session), options)
    return rep, check_books("go net/http queued", rep, books, kinds), kinds, folded


def test_go_http_pool_queued_jobs_add_up(queued_run):
    """Misplaced work is still counted once: connections, bytes (checked
    by the fixture), every connection once, the buckets the process."""
    adds_up(queued_run[0], "go net/http queued", SYSCALL_SLACK)


# Before the channel probes, measured in 11 runs: the heavy connections
# down to 0.02-0.05 of their books, one or two up to 3.6-15.8x (the
# worker's connection at its last hand-off), and the pool bucket 35-880 ms
# of the books' 880-920 ms; with CONCTRACE_DROP_PROGS=on_go_chan_recv this
# test still fails so (0.02-7.19 and 0.02-8.64 in two runs). With them,
# 16 runs: every heavy connection at 0.96-1.20 of its books; in 10 of them
# the highest light one 0.51-0.96 ms (median 0.44-0.68) against 44 ms a
# heavy one, the pool bucket 3.4-9.1 ms. The high side is the widest of
# the Go tests: runs with GOGC=off stayed within 0.97-1.13 (6 runs), so
# part of it is the garbage collector's work, charged to the connection
# its thread last named.
def test_go_http_pool_queued_jobs_go_to_the_connection_that_asked(queued_run):
    rep, own, kinds, folded = queued_run
    judge("go net/http queued", rep, {p: own[p]["cpu_ns"] for p in kinds}, kinds,
          *POOL_BOUNDS, POOL_LIGHT_SHARE, SYSCALL_SLACK)
    no_pool_work_on_light("go net/http queued", rep, kinds, folded)


def test_go_echo_goroutine_work_goes_to_its_connection(go_servers, tmp_path):
    needs_root()

    def session(s, heavy):
        for _ in range(REQUESTS):
            s.sendall(b"HEAVY\n" if heavy else b"LIGHT\n")
            read_until(s, b"\n")

    rep, books, kinds = traced(tmp_path, [str(go_servers["go_echo"]), str(BURN)],
                               lambda port: interleaved(port, session))
    own = check_books("go echo", rep, books, kinds)
    judge("go echo", rep, {p: own[p]["cpu_ns"] for p in kinds}, kinds,
          *ECHO_BOUNDS, ECHO_LIGHT_SHARE, SYSCALL_SLACK, light_spread=ECHO_LIGHT_SPREAD,
          light_truth={p: own[p]["around_ns"] for p in kinds})
