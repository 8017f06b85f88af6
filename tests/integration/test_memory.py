# SPDX-License-Identifier: MIT
"""Kernel memory per connection against the kernel's slab accounting (issue 4).

For each server, over TCP and Unix sockets, MEM_CONNS idle connections are
held open by loadgen (a separate process) while conctrace traces the server.
The ground truth (slabtruth.py, which explains each source) is the growth of
the unmerged slab caches between the listening server and the held state,
minus the client's own objects counted from /proc/CLIENT, plus what lives in
merged caches counted from the server itself (epoll items from fdinfo,
threads from status). conctrace must agree:

  * per category (sock, inode, file, dentry, epoll, thread, io_uring): within
    5% of the truth; the LSM blobs, measured through a merged cache, 10%;
  * live kernel bytes while held (the timeline sample with every connection
    open) / N: within 5% of the truth's total;
  * after the client has gone: live kernel bytes back to 0;
  * the thread category also against the task_struct cache's own growth
    (slabtruth's thread_slab): the one check of it that is not a count
    times the slab size conctrace also reads;
  * conctrace's own maps (their fdinfo memlock): exactly one hash element
    per held connection, as the kernel's hashtab.c accounts it (struct
    htab_elem, the key and the record, each rounded to 8, and the llist
    node of its allocator; sizes from the kernel's BTF), given back when
    they close.

The connections are idle: no request, so no buffer is charged (a queued FIN
is, transiently, at close: which is why the held state is compared, not the
per-connection peaks).
"""

import json
import os
import re
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

import slabtruth
from conftest import ROOT, SERVERS, binary, report_figure, script_module
from test_conctrace import CONCTRACE, LOADGEN, needs_root, wait_line

MEM_CONNS = 5000
INTERVAL = 0.3
LISTEN_RE = re.compile(rb"listening on (?:tcp [^ ]+:(\d+)|unix [^ ]+) \(pid (\d+)\)")
TOLERANCE = {"lsm": 0.10}           # merged cache: its other tenants add noise
DEFAULT_TOLERANCE = 0.05
MIN_ABS = 8                         # bytes/conn: a category the truth puts at 0


def hold_idle(target, n, ready, pid, base_sockets, hold_s=120):
    """loadgen holding n idle connections to target (its -H/-p or -u
    arguments), returned once server pid has accepted them all."""
    client = subprocess.Popen([str(LOADGEN), *target, "-c", str(n), "-n", "0",
                               "--hold", str(hold_s), "-q", "--ready-file", str(ready)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for(lambda: ready.exists() or client.poll() is not None, 60, "loadgen to connect")
    assert client.poll() is None, f"loadgen exited {client.returncode}"
    slabtruth.wait_accepted(pid, base_sockets, n)
    return client


def held_truth(target, n, ready, pid, interval):
    """n idle connections from loadgen (target: its -H/-p or -u arguments)
    held on server pid: the slab truth of the held state taken before any
    fd is listed, conctrace left three samples of it, then the client gone
    and the server's sockets closed. Returns slabtruth.Truth's parts:
    (before, held, server0, server1, client)."""
    server0 = slabtruth.ProcCounts(pid)
    before = slabtruth.Snapshot()
    client = hold_idle(target, n, ready, pid, server0.sockets)
    try:
        time.sleep(0.2)
        held = slabtruth.Snapshot()     # before listing fds: see ProcCounts
        server1 = slabtruth.ProcCounts(pid)
        clientc = slabtruth.ProcCounts(client.pid)
        time.sleep(3 * interval)        # conctrace samples the held state
    finally:
        client.terminate()
        client.wait()
    wait_for(lambda: slabtruth.ProcCounts(pid).sockets <= server0.sockets, 30,
             "the server to close every connection")
    return before, held, server0, server1, clientc


def category_check(cat, got, want, truth, width):
    """A kernel-memory category per connection against the slab truth's:
    within its tolerance, and what the truth's own samples say it may be
    off by. (the line that says so, whether it is)"""
    noise = truth.noise(cat)
    tol = max(TOLERANCE.get(cat, DEFAULT_TOLERANCE) * want, MIN_ABS) + noise
    line = (f"  {cat:{width}s} conctrace {got:9.1f}  truth {want:9.1f}  (±{tol:.0f}"
            + (f", {noise:.1f} of it the samples' spread" if noise else "") + ")")
    return line, abs(got - want) <= tol


def wait_for(cond, timeout, what):
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def map_name(map_id):
    """A BPF map's name, as bpftool shows it ("?" if it is gone)."""
    show = subprocess.run(["bpftool", "-j", "map", "show", "id", str(map_id)],
                          capture_output=True, text=True)
    return json.loads(show.stdout).get("name", "?") if show.returncode == 0 else "?"


@pytest.mark.parametrize("family", ["tcp", "unix"])
@pytest.mark.parametrize("name", SERVERS)
def test_kernel_memory_matches_slab_growth(name, family, tmp_path):
    needs_root()
    report = tmp_path / "mem.json"
    ready = tmp_path / "ready"
    sock = tmp_path / "echo.sock"
    where = ["-u", str(sock)] if family == "unix" else ["-b", "127.0.0.1", "-p", "0"]
    ct = subprocess.Popen([str(CONCTRACE), "-i", str(INTERVAL), "--json", str(report),
                           "--json-conns", "0", "--", str(binary(name)), *where],
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        m = wait_line(ct.stderr, LISTEN_RE)
        pid = int(m.group(2))
        target = ["-u", str(sock)] if family == "unix" else \
                 ["-H", "127.0.0.1", "-p", m.group(1).decode(), "--sources", "4"]
        # conctrace's live lines go to the same pipe: keep it drained
        drain = subprocess.Popen(["cat"], stdin=ct.stderr, stdout=subprocess.DEVNULL)
        ct_maps = slabtruth.map_fdinfos(ct.pid)
        # named while conctrace holds them: once it has exited, the kernel
        # frees its maps, and a lookup by id after that finds none
        for m in ct_maps:
            m["name"] = map_name(m["map_id"])
        before, held, server0, server1, clientc = held_truth(target, MEM_CONNS, ready, pid,
                                                             INTERVAL)
        time.sleep(3 * INTERVAL)        # and the state after
    finally:
        ct.send_signal(signal.SIGINT)
        ct.wait(timeout=30)
        drain.wait(timeout=5)
    assert ct.returncode == 0, ct.returncode

    truth = slabtruth.Truth(MEM_CONNS, family, before, held, server0, server1, clientc)
    print(truth.report())
    report_figure(f"{name}/{family}: external activity {truth.external}, "
                  f"sample spread {truth.held.spread}")
    want = truth.categories()
    rep = json.loads(report.read_text())
    got = rep["kernel_breakdown"]
    assert rep["connections"]["total"] == MEM_CONNS
    assert truth.server_sockets == MEM_CONNS

    bad = []
    for cat in slabtruth.Truth.CATEGORIES:
        line, ok = category_check(cat, got[cat], want[cat], truth, 9)
        print(line)
        if not ok:
            bad.append(line)
    # the thread figure against the task_struct cache's own growth (not a
    # thread count times slab_size): the pid and the stack as counted
    thread_slab = want["thread_slab"] + truth.threads * (truth.sizes.get("pid", 0)
                                                         + truth.kstack) / MEM_CONNS
    # other processes' tasks came and went meanwhile: the global task
    # count (exact) says how many, each a task_struct of the same cache
    thread_slab -= truth.external["nr_threads"] * truth.sizes["task_struct"] / MEM_CONNS
    tol = max(DEFAULT_TOLERANCE * thread_slab, MIN_ABS)
    line = (f"  thread    conctrace {got['thread']:9.1f}  task_struct growth {thread_slab:9.1f}"
            f"  (±{tol:.0f}; external threads {truth.external['nr_threads']})")
    print(line)
    if abs(got["thread"] - thread_slab) > tol:
        bad.append(line)
    assert not bad, "kernel memory per connection off the slab truth:\n" + "\n".join(bad)

    held_samples = [s for s in rep["timeline"] if s["open_conns"] == MEM_CONNS]
    assert held_samples, f"no timeline sample with all {MEM_CONNS} open: {rep['timeline']}"
    live = max(s["kernel_bytes"] for s in held_samples) / MEM_CONNS
    print(f"  live kernel bytes/conn while held: conctrace {live:.1f}, truth {truth.total():.1f}")
    assert abs(live - truth.total()) <= DEFAULT_TOLERANCE * truth.total(), \
        (live, truth.total())

    last = rep["timeline"][-1]
    assert last["open_conns"] == 0 and last["kernel_bytes"] == 0, last

    # conctrace's own maps, as the kernel counts them: a connection record
    # in its hash element per tracked connection, given back when its
    # record is final. The connection map is the hash map of records.
    record = rep["tracer"]["conn_record_bytes"]
    conns_map = [m for m in ct_maps if m["name"] == "conns_g0"]
    assert len(conns_map) == 1 and int(conns_map[0]["value_size"]) == record, ct_maps
    elem = slabtruth.hash_elem_bytes(int(conns_map[0]["key_size"]), record)
    held = max(s["tracer_bytes"] for s in held_samples)
    own = (held - last["tracer_bytes"]) / MEM_CONNS
    print(f"  conctrace's own maps: {own:.1f} B per tracked connection, record {record} B, "
          f"hash element {elem} B")
    assert own == elem, (own, elem, record, held, last)


CGROUP_CONNS = 3000
# conctrace reads the cgroup from before the server's exec, the test from
# once it listens: the server's start-up (at most all the new cgroup held
# then) is in conctrace's reading only; beyond that, the held state's own
# movement between the two readings
CGROUP_READ_TOLERANCE = 0.01
# and the cgroup's own fuzz: each CPU holds up to MEMCG_CHARGE_BATCH (64)
# pages charged ahead or uncharged late (its per-CPU stock), so two readings
# of a cgroup that holds still may differ by that much a CPU (seen: 160 KiB
# apart, 1.2% of coro_echo's 13.6 MB, on the pti=on build of 2026-12-05)
CGROUP_STOCK_BYTES = 64 * os.sysconf("SC_PAGE_SIZE") * os.cpu_count()


def cgroup_dir(pid):
    """The directory of PID's memory cgroup: v1's memory hierarchy if it is
    mounted, else the v2 unified one (where conctrace puts its cgroup)."""
    lines = [line.rstrip("\n").split(":", 2) for line in open(f"/proc/{pid}/cgroup")]
    mounts = [line.split() for line in open("/proc/mounts")]
    for _, controllers, path in lines:
        if "memory" in controllers.split(","):
            for m in mounts:
                if m[2] == "cgroup" and "memory" in m[3].split(","):
                    return m[1] + path
    path = next(p for h, _, p in lines if h == "0")
    return next(m[1] for m in mounts if m[2] == "cgroup2") + path


def cgroup_kernel_bytes(cgdir):
    """Kernel memory the cgroup has been charged, read from its own files:
    v2 memory.stat's `kernel` (before 5.18, the sum of its parts), v1
    memory.kmem.usage_in_bytes."""
    stat = os.path.join(cgdir, "memory.kmem.usage_in_bytes")
    if os.path.exists(stat):
        return int(open(stat).read())
    fields = dict(line.split() for line in open(os.path.join(cgdir, "memory.stat")))
    if "kernel" in fields:
        return int(fields["kernel"])
    return sum(int(fields.get(k, 0)) for k in ("slab", "kernel_stack", "pagetables", "percpu"))


def cgroup_run(name, tmp_path):
    """conctrace --cgroup on server name while CGROUP_CONNS idle connections
    are held: (conctrace's exit status, its text report, its JSON, the
    cgroup's kernel charge at listen and its growth while the connections
    were held, read from the cgroup's own files). The test's run, and
    scripts/docfigures.py's for docs/accuracy.md."""
    report = tmp_path / "cg.json"
    ready = tmp_path / "ready"
    ct = subprocess.Popen([str(CONCTRACE), "--cgroup", "--json", str(report), "--json-conns", "0",
                           "--", str(binary(name)), "-b", "127.0.0.1", "-p", "0"],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    client = None
    try:
        m = wait_line(ct.stderr, LISTEN_RE)
        pid = int(m.group(2))
        drain = subprocess.Popen(["cat"], stdin=ct.stderr, stdout=subprocess.DEVNULL)
        cgroup = next(line.split(":", 2)[2].strip()
                      for line in open(f"/proc/{pid}/cgroup")
                      if "memory" in line.split(":")[1] or line.startswith("0::"))
        assert "conctrace-" in cgroup, f"server not in a conctrace cgroup: {cgroup}"
        base = slabtruth.ProcCounts(pid).sockets
        cgdir = cgroup_dir(pid)
        charged0 = cgroup_kernel_bytes(cgdir)
        client = subprocess.Popen([str(LOADGEN), "-H", "127.0.0.1", "-p", m.group(1).decode(),
                                   "--sources", "4", "-c", str(CGROUP_CONNS), "-n", "0",
                                   "--hold", "120", "-q", "--ready-file", str(ready)],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for(lambda: ready.exists() or client.poll() is not None, 60, "loadgen to connect")
        slabtruth.wait_accepted(pid, base, CGROUP_CONNS)
        charged1 = cgroup_kernel_bytes(cgdir)
        time.sleep(1.5)                 # a memory sample (every 1 s) of the held state
    finally:
        if client:
            client.kill()
            client.wait()
        ct.send_signal(signal.SIGINT)
        out, _ = ct.communicate(timeout=30)
        drain.wait(timeout=5)
    return ct.returncode, out.decode(), \
        json.loads(report.read_text()) if report.exists() else None, charged0, charged1 - charged0


@pytest.mark.parametrize("name", SERVERS)
def test_cgroup_charges_match_attributed_kernel_memory(name, tmp_path):
    """--cgroup: the kernel memory the server's own memory cgroup was
    charged while CGROUP_CONNS idle connections were held, read by this
    test from the cgroup's own files (before the client connects and while
    it holds them), must be explained by what conctrace attributes to
    them: 90..105%; and conctrace's own reading of the cgroup must agree
    with the test's (within CGROUP_READ_TOLERANCE). Not attributed, and the
    reason for the 10%: the anon_vma and anon_vma_chain (168 B here) the
    first fault of each new anonymous mapping allocates (a thread's or a
    coroutine's stack; coro_echo measures 94-95%), and the server's own
    allocations in that time. Afterwards the cgroup is gone."""
    needs_root()
    status, out, rep, charged0, growth = cgroup_run(name, tmp_path)
    assert status == 0, status
    cg = rep["closure_cgroup"]
    print(out.strip().splitlines()[-3], cg, sep="\n")
    explained = cg["attributed_object_bytes"] / growth
    report_figure(f"{name}: cgroup charged +{growth} B (test's reading; {charged0} B at "
                  f"listen), conctrace read +{cg['kernel_growth_bytes']} B; attributed "
                  f"{cg['attributed_object_bytes']} B: explained {explained:.1%}")
    assert cg["attributed_object_bytes"] >= CGROUP_CONNS * 2048, cg
    assert 0.90 <= explained <= 1.05, (explained, growth, cg)
    start_up = cg["kernel_growth_bytes"] - growth
    slack = CGROUP_READ_TOLERANCE * growth + CGROUP_STOCK_BYTES
    assert -slack <= start_up <= charged0 + slack, (growth, charged0, cg)
    assert not os.path.exists(cg["path"]), f"cgroup {cg['path']} left behind"
    assert "cgroup " in out and "explained" in out


OWN_MAPS_LIMIT = 4 << 20            # issue 18: before any connection, default options
OWN_GEN0 = 1024                     # a first generation the steps below outgrow twice
# connections held open at once, one loadgen each. A generation is asked
# for once half of what those present hold is in use, and added at
# userspace's next poll: the connections accepted meanwhile must fit in
# the other half (the default's first generation leaves 16,384 for a
# burst; 1,024's leave 512, and 2,560 once 5,120 are held). So each step
# ends within what the generations present at its start hold, and a poll
# that comes late loses nothing: from 2,000 straight to 6,000, one CI run
# tracked 5,918 (the generation asked for at 2,560 came after 5,120 were
# held), and from 400 to 2,000, one tracked 5,776 of 6,000 (224 past the
# first generation's 1,024 before the second came)
OWN_STEPS = (400, 600, 2000, 4000, 6000)


def own_maps(pid):
    """[(name, memlock bytes)] of every BPF map PID holds an fd of, as the
    kernel accounts them (fdinfo memlock; names from bpftool)."""
    out = [(map_name(m["map_id"]), int(m["memlock"])) for m in slabtruth.map_fdinfos(pid)]
    return sorted(out, key=lambda x: -x[1])


def own_bytes(pid):
    return sum(b for _, b in own_maps(pid))


def kmalloc_objects():
    """{cache: active objects} of the kmalloc caches (/proc/slabinfo)."""
    out = {}
    for line in Path("/proc/slabinfo").read_text().splitlines():
        f = line.split()
        if f and f[0].startswith(("kmalloc-", "kmalloc-cg-")) and f[1].isdigit():
            out[f[0]] = int(f[1])
    return out


def kmalloc_cache(size):
    """The kmalloc cache of a slot size, cgroup-charged where there are such."""
    name = f"{size // 1024}k" if size >= 1024 and size % 1024 == 0 else str(size)
    caches = kmalloc_objects()
    return next(c for c in (f"kmalloc-cg-{name}", f"kmalloc-{name}") if c in caches)


# issue 18: a tracked connection's element is in the 512 B class (the 592 B
# record it had took 1 KiB). The allocator hands elements out in batches
# and keeps freed ones per CPU: a few dozen each way beyond one a connection.
CONN_ALLOC_TARGET = 512
CONN_ALLOC_SLACK = (0.97, 1.05)


def test_own_maps_before_any_connection_fit_4_mib():
    """conctrace's own BPF maps, read from the kernel (the memlock of every
    map its process holds): at most 4 MiB before any connection with the
    default options (issue 18), a million connections allowed."""
    needs_root()
    ct = subprocess.Popen([str(CONCTRACE), "--", str(binary("epoll_echo")), "-p", "0"],
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_line(ct.stderr, LISTEN_RE)
        table = own_maps(ct.pid)
    finally:
        ct.send_signal(signal.SIGINT)
        ct.wait(timeout=30)
    total = sum(b for _, b in table)
    print("conctrace's maps before any connection (fdinfo memlock):")
    for name, b in table:
        print(f"  {name:16s} {b:10d} B")
    print(f"  {'total':16s} {total:10d} B = {total / 1048576:.2f} MiB")
    report_figure(f"conctrace's own maps before any connection: {total / 1048576:.2f} MiB")
    assert total <= OWN_MAPS_LIMIT, table


def test_own_maps_grow_with_open_connections_and_give_back(tmp_path):
    """conctrace's own BPF maps, read from the kernel (the memlock of every
    map its process holds), with a first connection-map generation small
    enough to be outgrown twice (CONCTRACE_CONN_GEN0): the growth per open
    connection at each of OWN_STEPS stays within two records (the hash
    element and the generations' bucket arrays, which are added as the
    connections need them, never for a million up front), every
    connection is tracked, and once they close what is left is exactly
    the empty generations added, as the kernel counts them."""
    needs_root()
    report = tmp_path / "own.json"
    ct = subprocess.Popen([str(CONCTRACE), "--json", str(report), "--json-conns", "0", "--",
                           str(binary("epoll_echo")), "-b", "127.0.0.1", "-p", "0"],
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                          env={**os.environ, "CONCTRACE_CONN_GEN0": str(OWN_GEN0)})
    clients = []
    try:
        m = wait_line(ct.stderr, LISTEN_RE)
        pid = int(m.group(2))
        drain = subprocess.Popen(["cat"], stdin=ct.stderr, stdout=subprocess.DEVNULL)
        target = ["-H", "127.0.0.1", "-p", m.group(1).decode(), "--sources", "4"]
        base_sockets = slabtruth.ProcCounts(pid).sockets
        empty = own_bytes(ct.pid)
        slab_empty = kmalloc_objects()
        held = 0
        growth = []
        for step in OWN_STEPS:
            clients.append(hold_idle(target, step - held, tmp_path / f"ready{step}", pid,
                                     base_sockets + held))
            held = step
            time.sleep(0.5)     # a generation asked for is added at the next poll
            now = own_bytes(ct.pid)
            growth.append((step, now - empty))
        slab_held = kmalloc_objects()
        gens = [b for name, b in own_maps(ct.pid) if name.startswith("conns_g")]
        for c in clients:
            c.terminate()
            c.wait()
        clients = []
        wait_for(lambda: slabtruth.ProcCounts(pid).sockets <= base_sockets, 30,
                 "the server to close every connection")
        time.sleep(0.5)
        after = own_bytes(ct.pid)
        added = sum(b for name, b in own_maps(ct.pid)
                    if name.startswith("conns_g") and name != "conns_g0")
    finally:
        for c in clients:
            c.kill()
            c.wait()
        ct.send_signal(signal.SIGINT)
        ct.wait(timeout=30)
        drain.wait(timeout=5)
    assert ct.returncode == 0
    rep = json.loads(report.read_text())
    record = rep["tracer"]["conn_record_bytes"]
    assert rep["connections"]["total"] == OWN_STEPS[-1], \
        (rep["connections"], rep["lost_events"], rep["tracer"])
    assert rep["connections"]["not_tracked"] == 0 and rep["lost_events"] == 0
    print(f"connection map generations held: {len(gens)} ({gens} B of memlock with "
          f"{OWN_STEPS[-1]} open)")
    for n, g in growth:
        print(f"  {n:6d} open: maps grew {g:9d} B, {g / n:6.1f} B per connection "
              f"(record {record} B)")
    # the steps outgrow the first generation twice: the map grew
    assert len(gens) == 3, gens
    for n, g in growth:
        assert record <= g / n <= 2 * record, (n, g, record)
    # given back on close: only the generations added stay, empty
    print(f"after every close: {after - empty} B above the start, the generations added "
          f"hold {added} B empty")
    assert after - empty == added, (after, empty, added)
    # and as the allocator gives it: one object of the size class conctrace
    # names per tracked connection, in that kmalloc cache (which nothing
    # else of an idle epoll server's connection uses)
    alloc = rep["tracer"]["conn_alloc_bytes"]
    cache = kmalloc_cache(alloc)
    grew = slab_held[cache] - slab_empty[cache]
    report_figure(f"each tracked connection: a {record} B record, {alloc} B allocated; "
                  f"{cache} grew by {grew} objects for {held} connections "
                  f"({grew / held:.3f} each)")
    lo, hi = CONN_ALLOC_SLACK
    assert lo * held <= grew <= hi * held, (cache, grew, held, slab_empty, slab_held)
    assert alloc <= CONN_ALLOC_TARGET, (alloc, record)


def test_memory_samples_are_paced_by_their_own_cpu(tmp_path):
    """The memory samples' pacing (userspace/main/conctrace.c, the rule
    unit-tested in tests/unit/test_memory.c): each sample's cost is the CPU
    it took, not 0 and no more than the whole run's (wait4's rusage of
    conctrace, which counts its waited target and loadgen too); the
    interval the pacer set is SAMPLE_MIN_S or SAMPLE_COST_RATIO times a
    sample's cost; and the loop took the samples that far apart, within a
    poll (100 ms) and a sample's own time."""
    needs_root()
    path = tmp_path / "paced.json"
    proc = subprocess.Popen([str(CONCTRACE), "--load=-c 500 -n 1 --hold 2 -q", "--json", str(path),
                             "--json-conns", "0", "--", str(binary("epoll_echo")), "-p", "0"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    err = proc.stderr.read().decode()
    assert os.waitstatus_to_exitcode(status) == 0, err
    rep = json.loads(path.read_text())
    # the loop's constants, as bench-scale's projection reads them
    loop_constant = script_module(ROOT / "scripts" / "bench-scale.py").loop_constant
    floor, ratio = loop_constant("SAMPLE_MIN_S"), loop_constant("SAMPLE_COST_RATIO")
    cost_s = rep["tracer"]["memory_sample_cpu_ns_max"] / 1e9
    every_s = rep["tracer"]["memory_sample_interval_max_s"]
    run_cpu_s = usage.ru_utime + usage.ru_stime
    times = [p["t_s"] for p in rep["timeline"]]
    gaps = [b - a for a, b in zip(times, times[1:-1])]     # the last: the report's own
    print(f"a sample's CPU at most {cost_s * 1e3:.2f} ms, the run's {run_cpu_s:.2f} s; "
          f"interval at most {every_s:.3f} s; {len(times)} samples, "
          f"gaps {min(gaps):.3f} to {max(gaps):.3f} s")
    assert 0 < cost_s <= run_cpu_s
    assert floor <= every_s <= max(floor, ratio * cost_s) + 1e-9
    assert len(gaps) >= 3 and max(gaps) <= every_s + 0.1 + cost_s + 0.05


def ss_rmem(port):
    """skmem r (sk_rmem_alloc) of the server side of connections on port."""
    out = subprocess.run(["ss", "-tmnH", "state", "established", f"( sport = :{port} )"],
                         capture_output=True, text=True, check=True).stdout
    return [int(m) for m in re.findall(r"skmem:\(r(\d+),", out)]


def test_unread_data_shows_in_rx_queue_as_ss_sees_it(tmp_path):
    """epoll_echo stops reading a connection while its WAIT is pending, so
    the megabyte sent after it sits in the socket's receive queue, with no
    event of conctrace's: only memory samples read it. Its rx_queue must
    equal what ss reports for that socket (skmem r). A sample walks the
    target's own descriptors and walks every socket of the machine only
    where those did not find every open connection, every 10th sample and
    for the report (tracer/snapshot.c): samples taken while the data sits
    there must hold it, more of them than the run had walks of the
    machine, so walks of the target's descriptors read it too. Before 6.1,
    which has no such walk, every sample walks the machine."""
    needs_root()
    path = tmp_path / "rx.json"
    ct = subprocess.Popen([str(CONCTRACE), "--json", str(path), "--", str(binary("epoll_echo")),
                           "-p", "0"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    client = None
    try:
        port = int(wait_line(ct.stderr, LISTEN_RE).group(1))
        client = socket.create_connection(("127.0.0.1", port))
        client.sendall(b"WAIT 10000\n")
        time.sleep(0.2)
        client.setblocking(False)
        payload, sent = b"x" * 4096, 0
        deadline = time.monotonic() + 5
        while sent < (1 << 20) and time.monotonic() < deadline:
            try:
                sent += client.send(payload)
            except BlockingIOError:
                time.sleep(0.01)   # the server's queue is full: the rest waits
        time.sleep(0.3)
        queued = ss_rmem(port)
        assert len(queued) == 1 and queued[0] > 64 * 1024, queued
        time.sleep(1.5)            # samples every 0.1 to 0.2 s here
    finally:
        ct.send_signal(signal.SIGINT)
        ct.communicate(timeout=30)
        if client:
            client.close()
    rep = json.loads(path.read_text())
    conns, tracer = rep["conns"], rep["tracer"]
    assert len(conns) == 1
    holding = [p for p in rep["timeline"] if p["kernel_bytes"] >= queued[0]]
    print(f"ss skmem r {queued[0]}, conctrace rx_queue_peak {conns[0]['rx_queue_peak']}; "
          f"{len(holding)} of {len(rep['timeline'])} samples held it; walks: "
          f"{tracer['memory_samples_own_walks']} of the target's descriptors, "
          f"{tracer['memory_samples_machine_walks']} of the machine's")
    assert conns[0]["rx_queue_peak"] == queued[0]
    if tuple(int(x) for x in re.findall(r"\d+", os.uname().release)[:2]) < (6, 1):
        assert tracer["memory_samples_own_walks"] == 0
    else:
        assert len(holding) > tracer["memory_samples_machine_walks"]
