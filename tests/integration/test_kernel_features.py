# SPDX-License-Identifier: MIT
"""A kernel that refuses a program costs the figure it gives, not the run.

Kernels differ in what they hook and what their verifier accepts. Only the
core (connections, context switches, CPU time) is required: any other
program the kernel lacks or refuses is left out with one warning naming
the figure lost, and the rest is measured; a stand-in takes its place
where one exists (programs.c). CONCTRACE_DROP_PROGS=a,b makes conctrace
treat those programs as refused, so every path a kernel may force is
taken here, whatever kernel runs the suite; the kernel matrix (`make
test-kernels`) takes the real ones on real kernels.
"""

import json
import os
import re
import subprocess

import pytest

from conftest import ROOT, binary
from test_conctrace import CONCTRACE, PING_BYTES, needs_root

SKELETON = ROOT / "build" / "conctrace.skel.h"
CONNS, REQUESTS = 20, 3


def programs():
    """The BPF object's programs, as its skeleton lists them."""
    return re.findall(r'progs\[\d+\]\.name = "(\w+)";', SKELETON.read_text())


CORE = {"on_sched_switch", "on_process_fork", "on_process_exit"}
# core in full mode; fentry/fexit on x64_sys_call stand in for them where
# the kernel lacks or refuses the tracepoints (and allows fentry: this
# machine refuses it, EPERM)
FULL_MODE_CORE = {"on_sys_enter", "on_sys_exit"}
LIGHT_MODE_ONLY = {"on_inet_sock_set_state", "sweep_ended"}
ATTACH_ONLY = {"held_sockets", "held_threads", "held_uring", "held_stacks"}  # -p: test_attach.py
# uprobes, loaded in every run, attached where a binary has libuv (Node),
# is Go's (go_probes.c), a Python (py_probes.c) or has V8 (v8_probes.c)
UPROBES = {"on_uv_queue_work", "on_uv_queue_work_run", "on_uv_work", "on_uv_work_done",
           "on_go_chan_park", "on_go_chan_recv", "on_go_chan_send", "on_asyncio_step", "on_gc_start", "on_gc_done",
           "on_compile_start", "on_compile_done", "on_runtime_thread", "on_py_queue_put",
           "on_py_queue_got"}
FLAME = {"on_kmem_cache_alloc": "kmem", "on_kmalloc": "kmem", "on_cpu_sample": "cpu"}
# loaded only where the program they stand in for is left out
STAND_INS = {
    "on_sock_recv_length": ["on_inet_recvmsg", "on_inet6_recvmsg", "on_unix_stream_recvmsg",
                            "on_unix_seqpacket_recvmsg"],
    "on_sock_send_length": ["on_inet_sendmsg", "on_inet6_sendmsg", "on_unix_stream_sendmsg",
                            "on_unix_seqpacket_sendmsg"],
    "on_rss_stat": ["on_rss_stat_count"],
    "on_io_uring_submit_req": ["on_io_uring_submit_sqe"],
    "on_io_uring_complete": ["on_io_uring_complete_res"],
    "on_sched_switch": ["on_sched_switch_stateless"],
    "on_sys_enter": ["on_sys_call"],
    "on_sys_exit": ["on_sys_return"],
}
ALL_STAND_INS = {s for alts in STAND_INS.values() for s in alts}
# something else does the job of these (programs.c's instead): nothing is
# lost; samples walk the machine's sockets where snapshot_files is refused
REPLACED = {"sweep_ended", "snapshot_files"}


def traced_run(tmp_path, drop, light=False, flame=None, server="uring_echo", verbose=False):
    path = tmp_path / "run.json"
    args = [str(CONCTRACE), f"--load=-c {CONNS} -n {REQUESTS}", "--json", str(path)]
    args += ["--no-syscalls"] if light else []
    args += ["--flame", flame, "--folded", str(tmp_path / "out.folded")] if flame else []
    args += ["-v"] if verbose else []
    env = dict(os.environ, CONCTRACE_DROP_PROGS=",".join(drop))
    out = subprocess.run([*args, "--", str(binary(server)), "-p", "0"], env=env,
                         capture_output=True, text=True, timeout=120)
    rep = json.loads(path.read_text()) if out.returncode == 0 else None
    return out, rep


def warnings(stderr):
    return [line for line in stderr.splitlines() if line.startswith("conctrace: warning: ")]


def test_every_program_is_known_to_this_test():
    """A program added without a line here would go untested."""
    known = CORE | FULL_MODE_CORE | LIGHT_MODE_ONLY | ATTACH_ONLY | set(FLAME) | ALL_STAND_INS | \
        UPROBES | {
        "on_sock_recv_length", "on_sock_send_length", "on_sched_waking", "on_sched_wakeup",
        "on_sched_wakeup_new", "snapshot_tcp", "snapshot_unix", "snapshot_files", "on_rss_stat",
        "on_io_uring_submit_req", "on_io_uring_complete"}
    assert set(programs()) <= known, set(programs()) - known


OPTIONAL = [p for p in programs()
            if p not in CORE | FULL_MODE_CORE | ALL_STAND_INS | ATTACH_ONLY]


@pytest.mark.parametrize("prog", OPTIONAL)
def test_an_optional_program_refused_costs_only_its_figure(prog, tmp_path):
    """The run goes on with every connection counted; one warning per
    figure lost names the program (or a stand-in does its job, or
    userspace does)."""
    needs_root()
    out, rep = traced_run(tmp_path, [prog], light=prog in LIGHT_MODE_ONLY,
                          flame=FLAME.get(prog))
    assert out.returncode == 0, out.stderr
    assert rep["connections"]["total"] == CONNS and rep["lost_events"] == 0, rep["connections"]
    said = warnings(out.stderr)
    if prog in REPLACED:
        assert not said, said
        return
    stand_ins = STAND_INS.get(prog, [])
    # each warning names the program left out, or a stand-in the kernel
    # refused in turn; none if the stand-ins took over
    for line in said:
        assert any(p in line for p in [prog, *stand_ins]), line
    if not stand_ins:
        assert len(said) == 1 and prog in said[0], out.stderr


@pytest.mark.parametrize("server", ["epoll_echo", "threaded_echo"])
def test_bytes_without_the_socket_length_tracepoints(server, tmp_path):
    """Without those tracepoints (6.1) the protocols' recvmsg/sendmsg give
    the bytes, where the kernel lets fexit programs load; where it does not (this machine's
    6.18 builds refuse fexit), full mode takes them from the syscalls'
    results and says so. Exact either way."""
    needs_root()
    out, rep = traced_run(tmp_path, ["on_sock_recv_length", "on_sock_send_length"],
                          server=server)
    assert out.returncode == 0, out.stderr
    said = warnings(out.stderr)
    assert not said or (len(said) == 1 and "from syscall results" in said[0]), said
    total = CONNS * REQUESTS * PING_BYTES
    assert (rep["connections"]["bytes_rx"], rep["connections"]["bytes_tx"]) == (total, total)
    assert rep["connections"]["total"] == CONNS


@pytest.mark.parametrize("prog", sorted(CORE | FULL_MODE_CORE))
def test_a_core_program_refused_is_one_line_and_exit_1(prog, tmp_path):
    """Refused with every stand-in it has: nothing to measure without it."""
    needs_root()
    out, _ = traced_run(tmp_path, [prog, *STAND_INS.get(prog, [])])
    assert out.returncode == 1, out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and f"cannot run without {prog}" in lines[0], out.stderr


def test_syscalls_go_through_the_tracepoints_else_fentry_where_allowed(tmp_path):
    """The report names the syscall hooks a run used: the raw tracepoints;
    where they are left out, fentry/fexit on x64_sys_call if the kernel
    allows it (the kernel matrix's 6.1 and 6.12 do; this machine's 6.18
    refuses it, EPERM, and full mode cannot run); none in light mode."""
    needs_root()
    out, rep = traced_run(tmp_path, [])
    assert out.returncode == 0, out.stderr
    assert rep["tracer"]["syscall_hooks"] == "tracepoints" and not warnings(out.stderr)
    env = dict(os.environ, CONCTRACE_DROP_PROGS="on_sys_enter,on_sys_exit")
    version = subprocess.run([str(CONCTRACE), "-V"], env=env, capture_output=True, text=True,
                             timeout=60).stdout
    fentry = "full mode: loads" in version
    out, rep = traced_run(tmp_path, ["on_sys_enter", "on_sys_exit"])
    if fentry:
        assert out.returncode == 0, out.stderr
        assert rep["tracer"]["syscall_hooks"] == "fentry" and not warnings(out.stderr)
        assert rep["process"]["syscalls"] > CONNS * REQUESTS
    else:
        assert out.returncode == 1, out.stderr
        assert "cannot run without on_sys_enter" in out.stderr
        assert "refuses fentry programs on x64_sys_call" in out.stderr
    out, rep = traced_run(tmp_path, [], light=True)
    assert rep["tracer"]["syscall_hooks"] == "none"


def test_light_mode_without_socket_io_says_so(tmp_path):
    """Light mode names connections only through socket I/O."""
    needs_root()
    drop = ["on_sock_recv_length", "on_sock_send_length", *STAND_INS["on_sock_recv_length"],
            *STAND_INS["on_sock_send_length"]]
    out, _ = traced_run(tmp_path, drop, light=True)
    assert out.returncode == 1, out.stderr
    last = out.stderr.strip().splitlines()[-1]
    assert "light mode (--no-syscalls) finds connections through socket I/O" in last
    assert "run without --no-syscalls" in last


def test_version_says_what_this_kernel_gives():
    """-V loads both modes and lists what each goes without."""
    needs_root()
    out = subprocess.run([str(CONCTRACE), "-V"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr
    assert re.search(r"^kernel: Linux \S+ \(conctrace needs \d+\.\d+ or newer", out.stdout,
                     re.M), out.stdout
    assert "full mode: loads" in out.stdout and "light mode (--no-syscalls): loads" in out.stdout
    env = dict(os.environ, CONCTRACE_DROP_PROGS="on_sched_switch")
    out = subprocess.run([str(CONCTRACE), "-V"], env=env, capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 1
    assert "cannot run without on_sched_switch" in out.stderr
