#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""docfigures' runs (scripts/docfigures.py says what each is for): the
kernel's slab sizes, each bundled server holding idle connections, README's
example, an attach to connections held before, the --cgroup closure, and
docs/compare.json read back. Each returns the raw figures the documents'
are made from; RunError says what to do when one cannot measure."""

import datetime
import json
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "integration"))
import slabtruth  # noqa: E402  (the slab truth the memory tests use)
# the RSS truth (smaps_rollup) and line waits of the user-memory test: one
# measurement, one implementation
from test_conctrace import smaps_rss, wait_line  # noqa: E402
from test_memory import cgroup_run, wait_for  # noqa: E402
# attaching to connections held before: test_attach.py's own run
from test_attach import ATTACH_CONNS, attach_to_held  # noqa: E402

CONCTRACE = ROOT / "conctrace"
LOADGEN = ROOT / "servers" / "loadgen"
SERVERS = ("threaded_echo", "epoll_echo", "coro_echo", "uring_echo")
IDLE_CONNS = 3000
INTERVAL = 0.3
TRUTH_SETTLED = 0.005
CLOSURE_SETTLED = 0.10
EXAMPLE_LOAD = "-c 1000 -n 10"
COMPARE_JSON = ROOT / "docs" / "compare.json"
# the caches whose slot sizes the documents state
CACHES = ("TCP", "TCPv6", "UNIX", "sock_inode_cache", "filp", "dentry", "lsm_inode_cache",
          "lsm_file_cache", "eventpoll_epi", "eventpoll_pwq", "task_struct", "pid",
          "io_kiocb", "vm_area_struct", "anon_vma", "anon_vma_chain")
LISTEN_RE = re.compile(rb"listening on tcp [^ ]+:(\d+) \(pid (\d+)\)")


class RunError(Exception):
    """A run that could not measure: the message says what to do."""


# ---- the runs -------------------------------------------------------------------------

def measure_kernel():
    """Slot sizes of the caches the documents name, from the kernel."""
    return {c: slabtruth.slab_size(c) for c in CACHES if slabtruth.exists(c)}


def stop(proc, sig=signal.SIGTERM):
    if proc and proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def measure_idle(name, n=IDLE_CONNS):
    """One bundled server holding n idle TCP connections, conctrace attached:
    the user side against smaps_rollup, the kernel side against slab truth."""
    tmp = Path(tempfile.mkdtemp(prefix="docfigures-"))
    report, ready = tmp / "idle.json", tmp / "ready"
    server = subprocess.Popen([str(ROOT / "servers" / name), "-p", "0"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    ct = client = None
    try:
        m = wait_line(server.stderr, LISTEN_RE, timeout=5)
        port, pid = m.group(1).decode(), int(m.group(2))
        # one connection first, untraced: the code a request runs is
        # faulted in before the baseline (file pages, the event loop's)
        base = slabtruth.ProcCounts(pid).sockets
        subprocess.run([str(LOADGEN), "-H", "127.0.0.1", "-p", port, "-c", "1", "-n", "1",
                        "-q"], stdout=subprocess.DEVNULL, check=True, timeout=30)
        wait_for(lambda: slabtruth.ProcCounts(pid).sockets <= base, 5, f"{name} to close")
        ct = subprocess.Popen([str(CONCTRACE), "-p", str(pid), "-i", str(INTERVAL),
                               "--json", str(report), "--json-conns", "0"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        wait_line(ct.stderr, rb"conctrace: tracing pid", timeout=30)
        drain = subprocess.Popen(["cat"], stdin=ct.stderr, stdout=subprocess.DEVNULL)
        ct_maps = slabtruth.map_fdinfos(ct.pid)     # the connection map's key size
        rss0, server0, before = smaps_rss(pid), slabtruth.ProcCounts(pid), slabtruth.Snapshot()
        client = subprocess.Popen([str(LOADGEN), "-H", "127.0.0.1", "-p", port, "-c", str(n),
                                   "-n", "1", "--hold", "60", "--sources", "4", "-q",
                                   "--ready-file", str(ready)],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for(lambda: ready.exists() or client.poll() is not None, 60, "loadgen to connect")
        if client.poll() is not None:
            raise RunError(f"loadgen exited {client.returncode} before holding {n} connections")
        slabtruth.wait_accepted(pid, server0.sockets, n)
        time.sleep(0.2)
        held = slabtruth.Snapshot()     # before listing fds: see ProcCounts
        server1, clientc = slabtruth.ProcCounts(pid), slabtruth.ProcCounts(client.pid)
        rss1 = smaps_rss(pid)
        time.sleep(3 * INTERVAL)        # conctrace samples the held state
        ct.send_signal(signal.SIGINT)   # detaches: the server keeps running
        text = ct.stdout.read().decode()
        ct.wait(timeout=30)
        drain.wait(timeout=5)
        if ct.returncode != 0:
            raise RunError(f"conctrace -p {pid} exited {ct.returncode}")
    finally:
        stop(ct, signal.SIGINT)
        stop(client, signal.SIGKILL)
        stop(server)
    rep = json.loads(report.read_text())
    truth = slabtruth.Truth(n, "tcp", before, held, server0, server1, clientc)
    held_samples = [s["kernel_bytes"] for s in rep["timeline"] if s["open_conns"] == n]
    if rep["connections"]["total"] != n or not held_samples:
        raise RunError(f"{name}: conctrace saw {rep['connections']['total']} connections "
                       f"of {n}, {len(held_samples)} samples with all open")
    verdict = next((ln.strip() for ln in text.splitlines() if ln.strip().startswith("=>")), "")
    return {
        "rss_growth": (rss1 - rss0) / n,
        "user": rep["per_connection"]["user_bytes"]["mean"],
        "kernel": max(held_samples) / n,
        "truth": truth.total(),
        "rss_held": rss1,
        "external": truth.external,
        "breakdown": rep["kernel_breakdown"],
        "verdict": verdict,
        "closure_line": next((ln for ln in text.splitlines() if ln.startswith("closure:")), ""),
        "closure": rep["closure"],
        "record": rep["tracer"]["conn_record_bytes"],
        # a thread's own state: the value of the one task-storage map
        # (BPF_MAP_TYPE_TASK_STORAGE, 29), as the kernel's fdinfo says
        "thread_state": next(int(m["value_size"]) for m in ct_maps
                             if m.get("map_type") == "29"),
        # its hash element, as the kernel counts it in memlock (test_memory.py
        # measures exactly this per held connection): the map whose value is a record
        "elem": slabtruth.hash_elem_bytes(
            next(int(m["key_size"]) for m in ct_maps
                 if int(m.get("value_size", 0)) == rep["tracer"]["conn_record_bytes"]),
            rep["tracer"]["conn_record_bytes"]),
    }


def measure_idle_settled(name, attempts=5):
    """measure_idle, repeated while other processes moved the exact global
    counts (sockets, TCP sockets, threads) by more than TRUTH_SETTLED of
    the connections: their objects then sit in the caches the truth reads
    (seen here: 6,000 sockets freed meanwhile, a truth of -3,255 B)."""
    for _ in range(attempts):
        r = measure_idle(name)
        # and over the whole run, which the closure reads: TCP grew by the
        # server's and the local client's sockets, n each, and little else
        tcp = r["closure"]["caches"]["TCP"]["growth_objects"]
        if all(abs(v) <= TRUTH_SETTLED * IDLE_CONNS for v in r["external"].values()) \
                and abs(tcp - 2 * IDLE_CONNS) <= CLOSURE_SETTLED * IDLE_CONNS:
            return r
    raise RunError(f"{name}: other processes' sockets or threads came and went during each "
                   f"of {attempts} runs ({r['external']}): rerun on a quieter machine")


def measure_example():
    """README's example run: its text report."""
    out = subprocess.run([str(CONCTRACE), f"--load={EXAMPLE_LOAD}", "--",
                          "./servers/threaded_echo", "-p", "0"], cwd=ROOT,
                         capture_output=True, timeout=120)
    if out.returncode != 0:
        raise RunError(f"the example run exited {out.returncode}: "
                       f"{out.stderr.decode()[-300:]}")
    text = out.stdout.decode()
    # loadgen's summary comes first; the report starts at its header
    return text[text.index("conctrace: "):]


def measure_compare(path=COMPARE_JSON):
    """Rerun scripts/compare at the connection counts docs/results.md shows."""
    subprocess.run([sys.executable, str(ROOT / "scripts" / "compare"), "--conns",
                    "1,1000,10000", "--json", str(path), "--svg",
                    str(path.with_suffix(".svg"))], check=True)


def measure_attached(name="threaded_echo", attempts=5):
    """conctrace -p on a server already holding ATTACH_CONNS idle TCP
    connections (test_attach.py's run): what it finds held per connection,
    against the slab truth of the same held state; repeated while other
    processes moved the exact global counts (measure_idle_settled)."""
    for _ in range(attempts):
        with tempfile.TemporaryDirectory(prefix="docfigures-") as tmp:
            rep, truth = attach_to_held(name, "tcp", Path(tmp))
        if all(abs(v) <= TRUTH_SETTLED * ATTACH_CONNS for v in truth.external.values()):
            break
    else:
        raise RunError(f"{name} attached: other processes' sockets or threads came and went "
                       f"during each of {attempts} runs ({truth.external}): rerun on a quieter "
                       "machine")
    if rep["connections"]["total"] != ATTACH_CONNS:
        raise RunError(f"{name} attached: conctrace found {rep['connections']['total']} "
                       f"connections of {ATTACH_CONNS}")
    got = rep["kernel_breakdown"]
    return {"kernel": sum(got[c] for c in slabtruth.Truth.CATEGORIES), "truth": truth.total()}


def measure_cgroup(name):
    """conctrace --cgroup on a bundled server holding test_memory.py's idle
    connections (its cgroup test's run): the share of the cgroup's kernel
    charge, by the cgroup's own reading, that conctrace attributes, and
    conctrace's own cgroup line."""
    with tempfile.TemporaryDirectory(prefix="docfigures-") as tmp:
        status, out, rep, _, growth = cgroup_run(name, Path(tmp))
    if status != 0 or rep is None or growth <= 0:
        raise RunError(f"{name} --cgroup: conctrace exited {status}, the cgroup grew {growth} B")
    line = next(ln for ln in out.splitlines() if ln.startswith("cgroup "))
    return {"explained": rep["closure_cgroup"]["attributed_object_bytes"] / growth,
            # the cgroup's name carries the server's pid: N, as in the example's header
            "line": re.sub(r"conctrace-\d+(?:-[0-9a-f]+)?", "conctrace-N", line)}


def measure(servers=SERVERS):
    """Every short run, fresh."""
    return {"kernel": measure_kernel(),
            "idle": {s: measure_idle_settled(s) for s in servers},
            "example": measure_example(),
            "attach": {"threaded_echo": measure_attached("threaded_echo")},
            "cgroup": {s: measure_cgroup(s) for s in servers},
            "date": datetime.date.today().isoformat()}
