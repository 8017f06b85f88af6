# SPDX-License-Identifier: MIT
"""Books that balance (issue 17, item 3): what conctrace splits between
connections, the event loop and the pool adds up to the process total, and the
process total is the kernel's.

  * context switches, voluntary and involuntary, against wait4() for a
    process whose 3,000 threads exit at once: within 1%. The kernel folds
    an exiting thread's counts into its process's when it releases the
    thread, before the thread's last switches (a preemption on the way out,
    which thousands of threads exiting together take turns for): those are
    counted nowhere, and conctrace must not count them either (it counted
    about one involuntary switch per thread, 2,700 against wait4's 10).
  * user memory: connections + event loop + pool never above the RSS they explain.
    For a launched command that is its RSS, from nothing at exec: equal to
    VmRSS (to a page or two: the execve() arguments are copied in before
    the image is the task's) while the server idles; before, the figures
    began with conctrace's own child between fork and exec, about 1.2 MB
    above anything the command ever had.
  * syscalls: per connection + event loop + pool = the process total, in attach
    mode too, with calls that never return (exit, exit_group) and calls
    still blocked when the report is taken (a thread per idle connection in
    read()) in a bucket: the thread's current connection, else the loop.
"""

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import binary
from test_conctrace import CONCTRACE, LISTEN_RE, LOADGEN, needs_root, no_conn, \
    run_loadgen, start_server, task_switches, wait_line, wait_sockets

THREADS = 3000

# a process of THREADS idle threads (blocked on a lock) that SIGINT kills
# at once: the kernel's group exit, every thread woken to die together
POOL = """
import signal, sys, threading
signal.signal(signal.SIGINT, signal.SIG_DFL)
threading.stack_size(1 << 16)
lock = threading.Lock()
lock.acquire()
for _ in range(int(sys.argv[1])):
    threading.Thread(target=lock.acquire, daemon=True).start()
sys.stderr.write("ready\\n")
sys.stderr.flush()
signal.pause()
"""


def test_switches_match_wait4_when_3000_threads_exit_at_once(tmp_path):
    needs_root()
    path = tmp_path / "r.json"
    pool = subprocess.Popen([sys.executable, "-c", POOL, str(THREADS)], stderr=subprocess.PIPE)
    ct = None
    try:
        wait_line(pool.stderr, rb"ready", timeout=60)
        ct = subprocess.Popen([str(CONCTRACE), "-p", str(pool.pid), "--json", str(path),
                               "--json-conns", "0"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        wait_line(ct.stderr, rb"conctrace: tracing pid")
        time.sleep(0.3)
        base_vol, base_invol = task_switches(pool.pid)
        pool.send_signal(signal.SIGINT)
        _, status, rusage = os.wait4(pool.pid, 0)
        assert os.waitstatus_to_exitcode(status) == -signal.SIGINT
        ct.communicate(timeout=60)
    finally:
        if pool.poll() is None:
            pool.kill()
            pool.wait()
        if ct and ct.poll() is None:
            ct.kill()
            ct.wait()
    p = json.loads(path.read_text())["process"]
    vol, invol = rusage.ru_nvcsw - base_vol, rusage.ru_nivcsw - base_invol
    print(f"{THREADS} threads exiting: conctrace {p['ctx_switches_voluntary']} voluntary + "
          f"{p['ctx_switches_involuntary']} involuntary, wait4 {vol} + {invol}")
    # 1%, and a switch or two for the one in flight when conctrace attached
    assert abs(p["ctx_switches_voluntary"] - vol) <= max(0.01 * vol, 2), (p, vol)
    assert abs(p["ctx_switches_involuntary"] - invol) <= max(0.01 * invol, 2), (p, invol)


def vmrss(pid):
    return int(re.search(r"VmRSS:\s+(\d+)", Path(f"/proc/{pid}/status").read_text())
               .group(1)) * 1024


@pytest.mark.parametrize("name", ["sleep", "epoll_echo", "threaded_echo"])
def test_user_bytes_never_above_the_rss_they_explain(name, tmp_path):
    needs_root()
    path = tmp_path / "r.json"
    cmd = ["sleep", "60"] if name == "sleep" else [str(binary(name)), "-p", "0"]
    ct = subprocess.Popen([str(CONCTRACE), "--json", str(path), "--json-conns", "1000",
                           "--", *cmd], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        if name == "sleep":
            m = wait_line(ct.stderr, rb"tracing pid (\d+)")
            pid = int(m.group(1))
            time.sleep(0.5)
        else:
            m = wait_line(ct.stderr, LISTEN_RE)
            port, pid = int(m.group(1)), int(m.group(2))
            run_loadgen(port, conns=200, requests=10)
            wait_sockets(pid, 1)
            time.sleep(0.5)     # threads gone, stacks given back
        rss = vmrss(pid)
        # no code of the target runs after this: what conctrace charged is
        # the RSS just read (exit_mm() tears the image down where no event
        # names a target task)
        os.kill(pid, signal.SIGKILL)
        ct.communicate(timeout=30)
    finally:
        if ct.poll() is None:
            ct.kill()
            ct.wait()
    rep = json.loads(path.read_text())
    conns = sum(c["user_bytes_net"] for c in rep["conns"])
    loop = no_conn(rep, "user_bytes")
    print(f"{name}: connections {conns} + loop and pool {loop} = {conns + loop} B; VmRSS {rss} B")
    assert conns + loop <= rss, (conns, loop, rss)
    assert conns + loop >= rss - 4 * os.sysconf("SC_PAGE_SIZE"), (conns, loop, rss)


def syscall_books(rep):
    conns = sum(c["syscalls_total"] for c in rep["conns"])
    loop = no_conn(rep, "syscalls")
    total = rep["process"]["syscalls"]
    by_name = sum(rep["process"]["syscalls_by_name"].values())
    return conns, loop, total, by_name


@pytest.mark.parametrize("name", ["threaded_echo", "epoll_echo"])
def test_syscalls_add_up_in_attach_mode_with_calls_still_blocked(name, tmp_path):
    """100 idle connections held while the report is taken: threaded_echo's
    100 threads are blocked in read(), entered after attach."""
    needs_root()
    path = tmp_path / "r.json"
    server, port, pid = start_server(name)
    ct = lg = None
    try:
        ct = subprocess.Popen([str(CONCTRACE), "-p", str(pid), "--json", str(path),
                               "--json-conns", "1000"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        wait_line(ct.stderr, rb"conctrace: tracing pid")
        lg = subprocess.Popen([str(LOADGEN), "-p", str(port), "-c", "100", "-n", "1",
                               "--hold", "30"], stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE)
        wait_line(lg.stderr, rb"loadgen: holding 100")
        time.sleep(0.3)
        ct.send_signal(signal.SIGINT)
        ct.communicate(timeout=30)
    finally:
        for p in (lg, server):
            if p:
                p.kill()
                p.wait()
    rep = json.loads(path.read_text())
    conns, loop, total, by_name = syscall_books(rep)
    print(f"{name} attached: connections {conns} + loop {loop} = {conns + loop}, "
          f"process {total}")
    assert total == by_name
    assert conns + loop == total, (conns, loop, total)


def test_syscalls_add_up_with_calls_that_never_return(tmp_path):
    """A launched threaded_echo stopped while it holds 50 connections: its
    threads die in read() and the main thread calls exit_group(), which never
    returns; all of them are in the process total and in a bucket."""
    needs_root()
    path = tmp_path / "r.json"
    ct = subprocess.Popen([str(CONCTRACE), "--json", str(path), "--json-conns", "1000", "--",
                           str(binary("threaded_echo")), "-p", "0"],
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    lg = None
    try:
        port = int(wait_line(ct.stderr, LISTEN_RE).group(1))
        lg = subprocess.Popen([str(LOADGEN), "-p", str(port), "-c", "50", "-n", "1",
                               "--hold", "30"], stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE)
        wait_line(lg.stderr, rb"loadgen: holding 50")
        ct.send_signal(signal.SIGINT)
        ct.communicate(timeout=30)
    finally:
        if lg:
            lg.kill()
            lg.wait()
    rep = json.loads(path.read_text())
    conns, loop, total, by_name = syscall_books(rep)
    names = rep["process"]["syscalls_by_name"]
    print(f"launched, stopped: connections {conns} + loop {loop} = {conns + loop}, "
          f"process {total}; exit_group {names.get('exit_group')}")
    assert names.get("exit_group") == 1, names
    assert conns + loop == total == by_name, (conns, loop, total)


@pytest.mark.parametrize("name", ["threaded_echo", "epoll_echo", "uring_echo"])
def test_syscall_time_adds_up(name, tmp_path):
    """Every syscall's time (its entry to its exit, as the process's
    syscall_ns_by_name sums it) is in exactly one place: a connection's
    syscall_ns, the loop's or the pool's. A connection's record keeps one
    sum (the time by name is the process's), so the books are the sums.
    Measured with --syscall-time only: without it, none of the three is in
    the report (no zeros that read as measured)."""
    needs_root()
    path = tmp_path / "r.json"
    proc = subprocess.run([str(CONCTRACE), "--syscall-time", "--load=-c 50 -n 20", "--json",
                           str(path), "--json-conns", "1000", "--", str(binary(name)), "-p", "0"],
                          capture_output=True, timeout=120)
    assert proc.returncode == 0, proc.stderr.decode()
    rep = json.loads(path.read_text())
    untimed = tmp_path / "untimed.json"
    proc = subprocess.run([str(CONCTRACE), "--load=-c 5 -n 2", "--json", str(untimed), "--",
                           str(binary(name)), "-p", "0"], capture_output=True, timeout=120)
    assert proc.returncode == 0, proc.stderr.decode()
    bare = json.loads(untimed.read_text())
    assert "syscall_ns_by_name" not in bare["process"] and \
        "syscall_ns" not in bare["event_loop"] and \
        not any("syscall_ns" in c for c in bare["conns"]), bare["process"].keys()
    assert len(rep["conns"]) == rep["connections"]["total"] == 50, rep["connections"]
    conns = sum(c["syscall_ns"] for c in rep["conns"])
    loop = no_conn(rep, "syscall_ns")
    total = sum(rep["process"]["syscall_ns_by_name"].values())
    print(f"{name}: syscall time, connections {conns} + loop and pool {loop} = "
          f"{conns + loop} ns; process {total} ns")
    assert conns > 0 and conns + loop == total, (conns, loop, total)
