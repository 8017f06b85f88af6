# SPDX-License-Identifier: MIT
"""The matrix's own logic, without a kernel: framing on a noisy console,
what a failed load is blamed on, the verdicts the checks give, and what
the initramfs holds. A harness that misreads its input would report a
kernel wrongly, so `make test-kernels` runs these first (pytest, a second).
"""

import base64
import hashlib
import json
import shutil
import subprocess

import pytest

import checks
from frames import FrameReader, Scope

CONNS, REQUESTS = 20, 5
SETTINGS = {"KM_CONNS": CONNS, "KM_REQUESTS": REQUESTS}


def frame(scope, name, data, corrupt_md5=False):
    md5 = hashlib.md5(data + (b"x" if corrupt_md5 else b"")).hexdigest()
    b64 = base64.encodebytes(data).decode().splitlines()
    return [f"@@KM BEGIN {scope} {name} {md5}", *b64, f"@@KM END {scope} {name}"]


def read(lines):
    done = []
    reader = FrameReader(lambda scope: None, done.append)
    for line in lines:
        reader.feed(line + "\r\n")          # the serial console's line ends
    return reader, {s.name: s for s in done}


# ---- frames ---------------------------------------------------------------------

def test_frames_survive_console_noise_around_them():
    data = bytes(range(256)) * 3
    reader, done = read(["[    1.0] a kernel line", *frame("x.full", "f", data),
                         "[    1.1] another", "@@KM DONE x.full", "@@KM FINISHED"])
    assert done["x.full"].files == {"f": data}
    assert not done["x.full"].damaged
    assert reader.finished
    assert list(reader.console) == ["[    1.0] a kernel line", "[    1.1] another"]


def test_a_frame_hit_by_a_kernel_message_is_damaged_not_misread():
    lines = frame("x.full", "f", b"0123456789" * 30)
    lines.insert(2, "[    2.0] printk inside the frame")
    _, done = read([*lines, "@@KM DONE x.full"])
    assert done["x.full"].damaged == ["f"] and "f" not in done["x.full"].files


def test_a_wrong_checksum_or_a_cut_frame_is_damaged():
    cut = frame("x.full", "g", b"abc")[:-1]             # the guest died before END
    _, done = read([*frame("x.full", "f", b"abc", corrupt_md5=True), *cut,
                    "@@KM DONE x.full"])
    assert sorted(done["x.full"].damaged) == ["f", "g"]


# ---- what a failed load is blamed on -------------------------------------------------

VERIFIER = """libbpf: prog 'on_sched_switch': BPF program load failed: Permission denied
libbpf: prog 'on_sched_switch': -- BEGIN PROG LOAD LOG --
; proc_counters()->stacks_lost++;
1669: (79) r1 = *(u64 *)(r0 +144)
R0 invalid mem access 'map_value_or_null'
processed 225 insns (limit 1000000) max_states_per_insn 0 total_states 18
-- END PROG LOAD LOG --"""

CO_RE = """libbpf: prog 'on_rss_stat': BPF program load failed: Invalid argument
libbpf: prog 'on_rss_stat': -- BEGIN PROG LOAD LOG --
231: (56) if w1 != 0x0 goto pc+199    ; R1_w=0
232: <invalid CO-RE relocation>
failed to resolve CO-RE relocation <byte_off> [1239] struct mm_struct.rss_stat[0]
processed 69 insns (limit 1000000)
-- END PROG LOAD LOG --"""

EMPTY_LOG = """libbpf: prog 'sweep_ended': BPF program load failed: Operation not permitted
libbpf: permission error while running as root; try raising 'ulimit -l'? current value: 8.0 MiB
libbpf: prog 'sweep_ended': -- BEGIN PROG LOAD LOG --
processed 0 insns (limit 1000000) max_states_per_insn 0 total_states 0
-- END PROG LOAD LOG --"""

MAP = """libbpf: Error in bpf_create_map_xattr(threads):Invalid argument(-22). Retrying without BTF.
libbpf: map 'threads': failed to create: Invalid argument(-22)"""


def test_load_failure_names_the_verifier_s_verdict():
    assert checks.load_failure(VERIFIER) == \
        "prog on_sched_switch: Permission denied: verifier: R0 invalid mem access " \
        "'map_value_or_null'"
    assert checks.load_failure(CO_RE).endswith(
        "verifier: failed to resolve CO-RE relocation <byte_off> [1239] "
        "struct mm_struct.rss_stat[0]")


def test_load_failure_without_a_verdict_or_of_a_map():
    assert checks.load_failure(EMPTY_LOG) == "prog sweep_ended: Operation not permitted"
    assert checks.load_failure(MAP) == "map 'threads': failed to create: Invalid argument(-22)"
    assert checks.load_failure("") == ""


# ---- verdicts -------------------------------------------------------------------------

FACTS = checks.KernelFacts(release="6.1.0-50-cloud-amd64",
                           slab_size={"TCP": 2304, "filp": 256, "dentry": 192},
                           slabinfo_objsize={"odd_cache": 96})


def run_files(**change):
    """The files of a scenario where everything agrees; `change` overrides."""
    sent = CONNS * REQUESTS * 5
    rep = {"connections": {"total": CONNS, "open_at_end": 0, "bytes_rx": sent, "bytes_tx": sent},
           "lost_events": 0,
           "conns": [{"family": "tcp4", "remote": f"127.0.0.1:{40000 + i}",
                      "bytes_rx": sent // CONNS, "bytes_tx": sent // CONNS,
                      "syscalls": {"read": REQUESTS + 1, "write": REQUESTS, "close": 1},
                      "syscalls_total": 2 * REQUESTS + 2,
                      "ctx_switches_voluntary": 1, "ctx_switches_involuntary": 0,
                      "cpu_ns": 1_000_000}
                     for i in range(CONNS)],
           "tracer": {"syscall_hooks": "fentry"},
           "internal_pairs": {"syscalls": 0, "ctx_switches": 0, "cpu_ns": 0},
           "event_loop": {"syscalls": 40, "ctx_switches": 32 - CONNS,
                          "cpu_ns": 50_000_000 - CONNS * 1_000_000},
           "pool": {"syscalls": 0, "ctx_switches": 0, "cpu_ns": 0},
           "process": {"ctx_switches_voluntary": 30, "ctx_switches_involuntary": 2,
                       "ctx_switches_voluntary_before_tracing": 1,
                       "ctx_switches_involuntary_before_tracing": 0,
                       "reaped": {"processes": 1, "ctx_switches_voluntary": 31,
                                  "ctx_switches_involuntary": 2, "cpu_ns": 51_000_000},
                       "cpu_ns": 50_000_000, "cpu_ns_before_tracing": 1_000_000,
                       "cpu_unsplit_ns": 0, "cpu_overcharged_ns": 0,
                       "syscalls": CONNS * (2 * REQUESTS + 2) + 40},
           "slab_sizes": {"filp": 256, "dentry": 192, "odd_cache": 96, "lsm_file_cache": 0},
           "kernel_breakdown": {"sock": 2304}}
    load = {"connections": {"established": CONNS}, "requests": {"errors": 0},
            "errors": {}, "bytes": {"sent": sent, "received": sent}}
    files = {"status": b"0\n", "stderr": b"", "conctrace.json": json.dumps(rep).encode(),
             "loadgen.json": json.dumps(load).encode(),
             "rusage": b"child_nvcsw 28\nchild_nivcsw 2\nself_nvcsw 2\nself_nivcsw 0\nexit 0\n"}
    files.update(change)
    return files


def verdict(files, may_refuse=False, name="epoll_echo.full"):
    return checks.check("6.1", Scope(name, files), FACTS, SETTINGS, may_refuse)


def test_agreeing_figures_pass():
    r = verdict(run_files())
    assert r.verdict == "pass", r.failures


def test_syscalls_that_do_not_add_up_or_miss_a_reply_fail():
    """Full mode's syscall programs (tracepoints, or fentry on x64_sys_call)
    must count every call once: the parts are the process, and each
    connection made one write() a request."""
    rep = json.loads(run_files()["conctrace.json"])
    rep["process"]["syscalls"] += 1
    r = verdict(run_files(**{"conctrace.json": json.dumps(rep).encode()}))
    assert r.verdict == "fail" and "the process" in r.failures[0], r.failures
    rep = json.loads(run_files()["conctrace.json"])
    rep["conns"][0]["syscalls"]["write"] -= 1
    rep["conns"][0]["syscalls_total"] -= 1
    rep["process"]["syscalls"] -= 1
    r = verdict(run_files(**{"conctrace.json": json.dumps(rep).encode()}))
    assert r.verdict == "fail" and "write() calls" in r.failures[0], r.failures
    # light mode has no syscall programs: nothing to check
    r = verdict(run_files(**{"conctrace.json": json.dumps(rep).encode()}),
                name="epoll_echo.light")
    assert r.verdict == "pass", r.failures


def test_a_slab_size_the_kernel_does_not_give_fails_and_names_the_cache():
    rep = json.loads(run_files()["conctrace.json"])
    rep["slab_sizes"]["filp"] = 192                 # another kernel's size
    r = verdict(run_files(**{"conctrace.json": json.dumps(rep).encode()}))
    assert r.verdict == "fail" and "filp 192/256" in r.first_failure


def test_switches_beyond_the_tolerance_fail():
    """The truth is what conctrace reaped, less its fork's switches before
    tracing began; the wrapper's books for the server must fit inside it."""
    rep = json.loads(run_files()["conctrace.json"])
    rep["process"]["reaped"]["ctx_switches_voluntary"] = 23
    rusage = b"child_nvcsw 20\nchild_nivcsw 2\nself_nvcsw 2\nself_nivcsw 0\nexit 0\n"
    r = verdict(run_files(rusage=rusage, **{"conctrace.json": json.dumps(rep).encode()}))
    assert r.verdict == "fail" and r.failures == [
        "voluntary switches 30, rusage 22 (wait4 23 - 1 before tracing)"], r.failures
    for reaped, passed in ((32, True), (33, False)):   # one switch's race, not two
        rep["process"]["reaped"]["ctx_switches_voluntary"] = reaped
        r = verdict(run_files(**{"conctrace.json": json.dumps(rep).encode()}))
        assert (r.verdict == "pass") == passed, (reaped, r.failures)
    rusage = b"child_nvcsw 29\nchild_nivcsw 2\nself_nvcsw 2\nself_nivcsw 0\nexit 0\n"
    r = verdict(run_files(rusage=rusage))
    assert r.verdict == "fail" and r.failures == [
        "voluntary switches: conctrace's wait4() 30 is less than rusage_wrap's 31 "
        "(server 29 + wrapper 2)"], r.failures
    rep = json.loads(run_files()["conctrace.json"])
    del rep["process"]["reaped"]
    r = verdict(run_files(**{"conctrace.json": json.dumps(rep).encode()}))
    assert r.verdict == "fail" and "no reaped rusage" in r.first_failure, r.failures


def test_parts_that_do_not_add_up_to_the_process_fail():
    """Connections, pairs, loop and pool are the process: switches and CPU
    exactly (what is not yet split added, at most 1%; what exited threads
    left overcharged taken off)."""
    rep = json.loads(run_files()["conctrace.json"])
    rep["conns"][0]["ctx_switches_involuntary"] += 1
    r = verdict(run_files(**{"conctrace.json": json.dumps(rep).encode()}))
    assert r.failures == ["switches: connections, pairs, loop and pool 33, the process 32"]
    rep = json.loads(run_files()["conctrace.json"])
    rep["event_loop"]["cpu_ns"] -= 1
    r = verdict(run_files(**{"conctrace.json": json.dumps(rep).encode()}))
    assert r.failures == ["CPU: connections, pairs, loop, pool and unsplit less overcharged "
                          "49999999 ns, the process 50000000"]
    rep["event_loop"]["cpu_ns"] += 301
    rep["process"]["cpu_overcharged_ns"] = 300      # a thread's debt, left at its exit
    r = verdict(run_files(**{"conctrace.json": json.dumps(rep).encode()}))
    assert r.verdict == "pass", r.failures
    rep["event_loop"]["cpu_ns"] -= 100_000
    rep["process"]["cpu_unsplit_ns"] = 100_000      # given out later: in no bucket yet
    r = verdict(run_files(**{"conctrace.json": json.dumps(rep).encode()}))
    assert r.verdict == "pass", r.failures
    rep["event_loop"]["cpu_ns"] -= 1_000_000
    rep["process"]["cpu_unsplit_ns"] += 1_000_000   # 2.2% of the process
    r = verdict(run_files(**{"conctrace.json": json.dumps(rep).encode()}))
    assert r.failures == ["CPU not yet split 1100000 ns of 50000000"]


def test_refusal_passes_only_where_allowed_and_only_in_one_line():
    refusal = b"conctrace: needs Linux 5.11 or newer (BPF task storage)\n"
    assert verdict(run_files(status=b"1", stderr=refusal), may_refuse=True).verdict == "refused"
    assert verdict(run_files(status=b"1", stderr=refusal)).verdict == "fail"
    noisy = b"conctrace: warning: this kernel has no unix iterator: snapshot_unix disabled\n"
    r = verdict(run_files(status=b"1", stderr=noisy + refusal), may_refuse=True)
    assert r.verdict == "fail"
    assert r.warnings == ["this kernel has no unix iterator: snapshot_unix disabled"]


def test_a_load_failure_is_reported_with_libbpf_s_reason():
    stderr = b"conctrace: cannot load BPF programs: Invalid argument (run with -v)\n"
    files = {"status": b"1", "stderr": stderr}
    r = checks.check("5.10", Scope("epoll_echo.light", files), FACTS, SETTINGS, False,
                     checks.load_failure(MAP))
    assert r.first_failure == ("conctrace exited 1: cannot load BPF programs: "
                               "map 'threads': failed to create: Invalid argument(-22)")


# ---- the table ------------------------------------------------------------------------

PROBE_6_1 = """conctrace 0.1.0 (libbpf 1.1)
kernel: Linux 6.1.0-50-cloud-amd64 (conctrace needs 5.11 or newer, and measures every figure from 6.1)
full mode: loads
  on_rss_stat left out (this kernel's rss_stat tracepoint takes 3 arguments, not 2); a stand-in measures the same
light mode (--no-syscalls): loads
  on_rss_stat left out (this kernel's rss_stat tracepoint takes 3 arguments, not 2); a stand-in measures the same
  sweep_ended left out (the kernel refused sweep_ended: BPF program load failed: Operation not permitted); userspace walks the connection map instead
  no user memory: the kernel refused on_rss_stat_old: R1 invalid mem access
"""
PROBE_5_10 = """conctrace 0.1.0 (libbpf 1.1)
kernel: Linux 5.10.0-32-cloud-amd64 (conctrace needs 5.11 or newer, and measures every figure from 6.1)
conctrace: needs Linux 5.11 or newer (task-local storage, BPF_MAP_TYPE_TASK_STORAGE); this is 5.10.0-32-cloud-amd64
"""


def test_table_says_what_each_kernel_goes_without_as_conctrace_v_does():
    import matrix
    import table
    new, old = matrix.KernelRun("6.1"), matrix.KernelRun("5.10")
    new.facts = checks.KernelFacts(probe=PROBE_6_1)
    old.facts = checks.KernelFacts(probe=PROBE_5_10)
    new.results[("epoll_echo", "full")] = verdict(run_files())
    refusal = b"conctrace: needs Linux 5.11 or newer (BPF task storage)\n"
    old.results[("epoll_echo", "full")] = verdict(
        run_files(status=b"1", stderr=refusal), may_refuse=True)
    md = table.markdown([new, old], ["epoll_echo"], ["full"])
    assert "| full mode | pass 1/1 | refused 1/1: conctrace: needs Linux 5.11" in md
    assert "| `conctrace -V` | full loads, light loads | conctrace: needs Linux 5.11" in md
    assert "| `on_rss_stat` | takes 3 arguments, not 2; stand-in | ? |" in md
    assert ("| `sweep_ended` | full: present, light: refused: Operation not permitted; "
            "userspace walks the map | ? |") in md
    assert "| no user memory | full: present, light: refused: R1 invalid mem access; " \
        "**figure lost** | ? |" in md


def test_attach_scenario_judged_on_what_it_found():
    """attach mode: every held connection found, before_attach, with this
    kernel's sizes; a server that cannot run on a refusing kernel is no fault."""
    facts = checks.KernelFacts.parse({"slab_sizes": b"TCP 2368 2300\ntask_struct 5888 5800\n"
                                      b"eventpoll_epi 128 128\neventpoll_pwq 64 64\n"
                                      b"vm_area_struct 192 184\n"})
    conn = {"origin": "before_attach", "threads": 1}
    rep = {"connections": {"total": 2, "open_at_end": 2}, "conns": [conn, dict(conn)],
           "kernel_breakdown": {"sock": 2368, "epoll": 0, "io_uring": 0, "thread": 22464,
                                "vmas": 384}}

    def judge(report, server="threaded_echo", extra=None, may_refuse=False):
        files = {"status": b"0", "conctrace.json": json.dumps(report).encode(), **(extra or {})}
        scope = Scope(f"{server}.attach", files)
        return checks.check("6.x", scope, facts, {"KM_CONNS": 2}, may_refuse)

    assert judge(rep).verdict == "pass", judge(rep).failures
    short = json.loads(json.dumps(rep))
    short["connections"]["total"] = 1
    assert judge(short).verdict == "fail"
    seen = json.loads(json.dumps(rep))
    seen["conns"][1]["origin"] = "accept"
    assert "origins" in judge(seen).failures[0]
    lonely = json.loads(json.dumps(rep))
    lonely["conns"][0]["threads"] = 0
    assert "1 threads found" in judge(lonely).failures[0]
    # coro_echo: its coroutine's stack and guard, two VMAs
    coro = json.loads(json.dumps(rep))
    coro["conns"] = [{"origin": "before_attach", "threads": 0}] * 2
    coro["kernel_breakdown"].update(epoll=192, thread=0)
    assert judge(coro, "coro_echo").verdict == "pass", judge(coro, "coro_echo").failures
    coro["kernel_breakdown"]["vmas"] = 0
    assert "VMA bytes" in judge(coro, "coro_echo").failures[0]
    dead = {"server_failed": b"the server exited before listening:\nuring_echo: ENOSYS\n"}
    assert judge(rep, "uring_echo", dead, may_refuse=True).verdict == "refused"
    assert judge(rep, "uring_echo", dead).verdict == "fail"


# ---- the initramfs: the static build, no shared library --------------------------

def _packed(cpio_gz):
    """Names in a gzip'd newc cpio, as the guest's kernel unpacks it."""
    gz = subprocess.run(["gzip", "-dc", str(cpio_gz)], capture_output=True, check=True).stdout
    return subprocess.run(["cpio", "-it", "--quiet"], input=gz, capture_output=True,
                          check=True).stdout.decode().split()


def test_initramfs_holds_the_static_build_and_no_shared_library(tmp_path):
    """What the guests boot (issue 20): make static's binaries, and not one
    shared object for a loader to find."""
    import initramfs
    import matrix
    out = initramfs.build(matrix.STATIC, matrix.TOOLS, tmp_path / "i.cpio.gz", SETTINGS)
    names = _packed(out)
    assert "ct/conctrace" in names and "ct/servers/loadgen" in names, names
    assert not [n for n in names if initramfs.SHARED_NAME_RE.search(n)], names
    assert not [n for n in names if n.startswith(("lib", "usr/lib", "lib64"))], names


def test_initramfs_refuses_a_dynamic_binary(tmp_path):
    """A dynamic conctrace in its place is refused, not packed with its
    libraries as before: the guests would no longer test the static build."""
    import initramfs
    import matrix
    shutil.copytree(matrix.STATIC, tmp_path / "static")
    shutil.copy2(matrix.ROOT / "conctrace", tmp_path / "static" / "conctrace")
    with pytest.raises(ValueError, match="linked dynamically"):
        initramfs.build(tmp_path / "static", matrix.TOOLS, tmp_path / "i.cpio.gz", SETTINGS)
    # and what a loader could load is found by name or by its interpreter
    libs = tmp_path / "libs"
    libs.mkdir()
    (libs / "libz.so.1").write_bytes(b"")
    shutil.copy2(matrix.ROOT / "conctrace", libs / "renamed")
    assert initramfs.shared_objects(libs) == ["libz.so.1", "renamed"]


def test_a_kernel_where_flame_views_do_not_load_fails():
    import matrix
    run = matrix.KernelRun("6.1")
    for server in matrix.SERVERS:
        for mode in matrix.MODES:
            run.results[(server, mode)] = verdict(run_files())
    fork = checks.KernelFacts.parse(fork_files())
    io_workers = {"io_workers_status": 0, "io_workers_kernel": 5, "io_workers_traced": 5,
                  "fork_status": 0, "fork_stdout": fork.fork_stdout,
                  "fork_conns": fork.fork_conns}
    run.facts = checks.KernelFacts(probe=PROBE_6_1 + "flame mode (full, --flame all): loads\n",
                                   **io_workers)
    assert run.passed
    refused = ("prog 'on_sys_enter': failed to load: -13\n"
               "flame mode (full, --flame all): does not load (the error above says why)\n")
    run.facts = checks.KernelFacts(probe=PROBE_6_1 + refused, **io_workers)
    assert not run.passed
    # a kernel that loads neither says so of its modes, not of --flame
    run.facts = checks.KernelFacts(probe=PROBE_5_10)
    assert not run.flame_refused()


def test_a_refusal_cell_holds_the_verifiers_word_not_the_source_line():
    import table
    why = ("the kernel refused on_kmalloc: invalid bpf_context access off=8 size=8, "
           "at: int BPF_PROG(on_kmalloc, unsigned long call_site, @ flame.bpf.h:24")
    assert table._why(why) == "refused: invalid bpf_context access off=8 size=8"


def io_workers_files(status=b"0\n", stdout=b"...report...\nthreads at peak 5\n", traced=5,
                     stderr=b""):
    return {"iowq.status": status, "iowq.stdout": stdout, "iowq.stderr": stderr,
            "iowq.json": json.dumps({"process": {"threads_peak": traced}}).encode()}


def test_io_uring_workers_counted_as_the_kernel_counts_them():
    """conctrace's threads at peak of iowq_workers against the kernel's:
    equal passes, and one above (a worker started and ended between the
    kernel's polls); one below, more above, not run, or a figure missing
    fails; a refusal passes only on a kernel allowed to refuse."""
    def judged(may_refuse=False, **files):
        return checks.io_workers_verdict(checks.KernelFacts.parse(io_workers_files(**files)),
                                         may_refuse)
    assert judged() == (True, "5, as the kernel")
    assert judged(traced=1) == (False, "conctrace 1, the kernel 5")
    assert judged(traced=6) == (True, "6, the kernel's polls 5 (one more, between polls)")
    assert judged(traced=4) == (False, "conctrace 4, the kernel 5")
    assert judged(traced=7) == (False, "conctrace 7, the kernel 5")
    assert judged(traced=9) == (False, "conctrace 9, the kernel 5")
    assert not judged(stdout=b"")[0]
    assert checks.io_workers_verdict(checks.KernelFacts(), False) == (False, "not run")
    refusal = b"conctrace: needs Linux 5.11 or newer (task-local storage)\n"
    assert judged(True, status=b"1\n", stderr=refusal) == (True, "refused")
    assert not judged(False, status=b"1\n", stderr=refusal)[0]


def fork_files(status=b"0\n", stdout=b"served 2 held 200 ms\n", lives_ms=(201, 204),
               bytes_tx=1, stderr=b"", families=("tcp4", "unix")):
    conns = [{"origin": "accept", "family": family, "open_ns": 10**9,
              "close_ns": 10**9 + int(ms * 1e6), "bytes_tx": bytes_tx}
             for ms, family in zip(lives_ms, families)]
    conns += [{"origin": "connect", "open_ns": 10**9, "close_ns": 10**9 + 1000, "bytes_tx": 0}]
    return {"fork.status": status, "fork.stdout": stdout, "fork.stderr": stderr,
            "fork.json": json.dumps({"conns": conns}).encode()}


def test_forked_childrens_connections_live_until_the_child_lets_go():
    """Full mode's connections that fork_conns' children serve: each of the
    accepted ones closed, its byte, open at least as long as the child held
    it, half of them over a Unix socket; the client's own connections do
    not count. One that ended at the
    parent's close (a fork after its accept), one never closed, one
    missing, or no run fails; a refusal passes only where allowed."""
    def judged(may_refuse=False, **files):
        return checks.forked_verdict(checks.KernelFacts.parse(fork_files(**files)), may_refuse)
    assert judged() == (True, "2 open 201 to 204 ms (1 TCP, 1 Unix), the children held 200")
    assert judged(families=("tcp4", "tcp4")) == \
        (False, "0 of 2 over a Unix socket, fork_conns served half")
    assert judged(lives_ms=(2.5, 204)) == (False, "open 2.5 ms, the child held it 200")
    assert judged(lives_ms=(201,)) == (False, "1 accepted connections, fork_conns served 2")
    assert judged(bytes_tx=0) == (False, "bytes sent [0, 0], not 1 each")
    files = fork_files()
    files["fork.json"] = files["fork.json"].replace(b'"close_ns": 1201000000', b'"close_ns": 0')
    assert checks.forked_verdict(checks.KernelFacts.parse(files), False) == \
        (False, "1 of 2 never closed")
    assert not judged(stdout=b"")[0]
    assert checks.forked_verdict(checks.KernelFacts(), False) == (False, "not run")
    refusal = b"conctrace: needs Linux 5.11 or newer (task-local storage)\n"
    assert judged(True, status=b"1\n", stderr=refusal) == (True, "refused")
    assert not judged(False, status=b"1\n", stderr=refusal)[0]
