#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The kernel matrix (`sudo make test-kernels`): every reference server under
conctrace, full and light mode, driven by loadgen, on Debian's 5.10, 6.1 and
6.12 cloud kernels booted under QEMU (TCG: there is no KVM here) and on the
running kernel itself (run natively: it cannot be booted, there is no /boot),
each scenario checked against that kernel's own ground truth (checks.py).

Environment (make variables of the same names work too):
  KERNELS         which kernels, in column order (default "5.10 6.1 6.12 host")
  KERNEL_JOBS     VMs booted at once (default 2: one host thread each)
  KERNEL_TIMEOUT  seconds a VM may run before it is killed and its kernel
                  failed (default 240)
  KM_CONNS, KM_REQUESTS   loadgen's connections and PINGs per connection
                  (default 20 x 5: TCG runs about ten times slower)
  KERNELS_UPDATE_DOC=1   also write the table into docs/kernels.md, between
                  its kernel-matrix markers (only from a run that passed)

Prints a line per scenario as it ends, then the failures with conctrace's
own words, then the table (also written to build/kernels/table.md). Exit
status 0 only if every scenario of every kernel passed (5.10 may instead be
refused, in one line, by a conctrace that knows it needs newer).
"""

import os
import re
import shlex
import shutil
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import checks
import guest
import initramfs
import kernels
import table

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "build" / "kernels"
WRAP = OUT / "rusage_wrap"
IOWQ = OUT / "iowq_workers"         # tests/tools/iowq_workers.c, static
FORK = OUT / "fork_conns"           # tests/tools/fork_conns.c, static
TOOLS = [WRAP, IOWQ, FORK]
# `make static`'s build: in the guests, whose initramfs holds no shared
# library, and on the host alike, so every column tests the binary that ships
STATIC = ROOT / "build" / "static"
SERVERS = ["threaded_echo", "epoll_echo", "coro_echo", "uring_echo"]
MODES = ["full", "light", "attach"]	# attach: -p on a server already holding KM_CONNS

# One scenario takes 2-6 s under TCG, a whole guest 25-50 s (boot 4-5 s; 6.1
# is the slow one: conctrace loads again for each program it leaves out):
# the bounds are about five times that, so that a hang costs its kernel and
# little of the budget (the whole matrix must stay well under 8 minutes).
SCENARIO_TIMEOUT_S = 40     # one conctrace run, in the guest or on the host; then it is stopped
VM_TIMEOUT_S = 240          # one guest, boot to power-off; then it is killed
# Each guest runs on one host thread (guest.qemu_command): two at once use
# this machine's two cores: 47-56 s for the matrix against 82 s one at a time.
JOBS = 2
GUEST_CPUS, GUEST_MEMORY_MB = 2, 1024
FAILURE_LINES = 6           # of conctrace's stderr, shown under a failed scenario

_print_lock = threading.Lock()


def say(text):
    with _print_lock:
        print(text, flush=True)


@dataclass
class KernelRun:
    """One column of the matrix: a kernel and what its scenarios gave."""
    name: str
    image: kernels.Image = None          # None for the host
    facts: checks.KernelFacts = field(default_factory=checks.KernelFacts)
    results: dict = field(default_factory=dict)     # (server, mode) -> checks.Result
    why_not_loaded: dict = field(default_factory=dict)  # mode -> checks.load_failure()
    problem: str = ""                   # why the guest (or host run) itself failed
    running: str = ""                   # the scenario in progress (where a dying guest was)
    console: list = field(default_factory=list)     # its last console lines, if it failed
    seconds: float = 0.0

    def package_text(self):
        if self.image is None:
            return "the running kernel" if self.name == kernels.HOST else "not fetched"
        how = "" if self.image.how == "pinned" else f" (via {self.image.how})"
        return f"{self.image.package} {self.image.version}{how}"

    def ordered(self):
        return [self.results[k] for k in sorted(self.results, key=_order)]

    @property
    def passed(self):
        return not self.problem and all(r.passed for r in self.results.values()) and \
            len(self.results) == len(SERVERS) * len(MODES) and not self.flame_refused() and \
            self.io_workers()[0] and self.forked()[0]

    def io_workers(self):
        """(passed, what to show) of the io_uring workers' thread count."""
        return checks.io_workers_verdict(self.facts,
                                         self.image is not None and self.image.kernel.may_refuse)

    def forked(self):
        """(passed, what to show) of connections a forked child serves."""
        return checks.forked_verdict(self.facts,
                                     self.image is not None and self.image.kernel.may_refuse)

    def flame_refused(self):
        """Full mode loads here but not with every --flame view (`conctrace
        -V`'s flame mode): the stack programs and paths no scenario runs."""
        modes = self.facts.left_out()
        return modes.get("full") is not None and "flame" in modes and modes["flame"] is None


def _order(key):
    server, mode = key
    return SERVERS.index(server), MODES.index(mode)


def settings():
    return {"KM_SERVERS": " ".join(SERVERS), "KM_MODES": " ".join(MODES),
            "KM_CONNS": int(os.environ.get("KM_CONNS") or 20),
            "KM_REQUESTS": int(os.environ.get("KM_REQUESTS") or 5),
            # full mode through the syscall tracepoints' stand-in (fentry on
            # x64_sys_call) for these, where the kernel allows it
            "KM_FENTRY_SERVERS": "coro_echo uring_echo",
            "KM_TIMEOUT": SCENARIO_TIMEOUT_S}


def run_kernel(run, cfg, cmd, timeout_s, env=None):
    """Stream one kernel's scenarios, checking each as it completes."""
    may_refuse = run.image is not None and run.image.kernel.may_refuse

    def on_start(scope):
        run.running = scope

    def on_done(scope):
        if scope.name == "kernel":
            run.facts = checks.KernelFacts.parse(scope.files)
            say(f"[{run.name}] {'booted' if run.image else 'running'} {run.facts.release}")
            return
        run.running = ""
        mode = scope.name.rsplit(".", 1)[1]
        if "verbose" in scope.files:
            run.why_not_loaded[mode] = checks.load_failure(scope.files["verbose"].decode())
        r = checks.check(run.name, scope, run.facts, cfg, may_refuse,
                         run.why_not_loaded.get(mode, ""))
        run.results[(r.server, r.mode)] = r
        line = f"[{run.name}] {r.server} {r.mode}: {'PASS' if r.passed else 'FAIL'}"
        if r.verdict == "refused":
            line += f" (refused: {r.stderr.strip()})"
        elif not r.passed:
            line += f": {r.first_failure}"
        else:
            line += f": {r.summary}"
        say(f"{line} ({r.seconds} s)")

    t0 = time.monotonic()
    outcome = guest.stream(cmd, timeout_s, on_start, on_done, env=env)
    run.seconds = time.monotonic() - t0
    if guest.stopping():
        return                          # interrupted: nothing to report
    if outcome.timed_out:
        run.problem = f"timed out after {timeout_s} s, killed"
    elif not outcome.reader.finished:
        panic = next((l for l in outcome.reader.console if "Kernel panic" in l), "")
        run.problem = f"crashed: {panic.split('] ', 1)[-1]}" if panic else \
            f"ended (status {outcome.status}) before its scenarios were done"
    if run.problem:
        run.console = list(outcome.reader.console) + outcome.stderr.splitlines()[-10:]
        for server in SERVERS:
            for mode in MODES:
                if (server, mode) not in run.results:
                    r = checks.Result(run.name, server, mode)
                    how = "did not finish" if run.running == f"{server}.{mode}" else \
                        "did not run"
                    r.failures.append(f"{how}: the {'guest' if run.image else 'run'} "
                                      f"{run.problem}")
                    run.results[(server, mode)] = r
                    say(f"[{run.name}] {server} {mode}: FAIL: {r.first_failure}")
    say(f"[{run.name}] done in {run.seconds:.0f} s")


def run_host(run, cfg):
    if os.geteuid() != 0:
        run.problem = "not run: conctrace needs root (sudo make test-kernels)"
        return
    work = tempfile.mkdtemp(prefix="kmatrix-host-")
    try:
        env = {**os.environ, **{k: str(v) for k, v in cfg.items()},
               "KM_CT": str(STATIC), "KM_WRAP": str(WRAP), "KM_IOWQ": str(IOWQ),
               "KM_FORK": str(FORK), "KM_WORK": work}
        timeout = len(SERVERS) * len(MODES) * (SCENARIO_TIMEOUT_S + 15)
        run_kernel(run, cfg, ["sh", str(Path(__file__).parent / "scenarios.sh")], timeout, env)
    finally:
        shutil.rmtree(work, ignore_errors=True)


OOPS_RE = re.compile(r"BUG:|Oops|general protection|invalid opcode|Kernel panic|WARNING:")


def console_excerpt(lines, most=40):
    """Why a guest died: its kernel's oops from the first line that says
    what happened, else the last lines it printed."""
    first = next((i for i, l in enumerate(lines) if OOPS_RE.search(l)), None)
    return lines[first:first + most] if first is not None else lines[-15:]


def report_failures(runs):
    """The failed scenarios, those that failed alike together: the checks
    that failed, conctrace's last words, and what libbpf said about a load
    that failed (scenarios.sh asks `conctrace -v` once per kernel and mode)."""
    for run in runs:
        if run.flame_refused():
            probe = run.facts.probe.splitlines()
            at = next(i for i, l in enumerate(probe) if l.startswith("flame mode"))
            say(f"\n== {run.name}: full mode loads, `--flame all` does not (conctrace -V):")
            for line in probe[max(0, at - FAILURE_LINES):at + 1]:
                say(f"   | {line}")
        for (ok, what), check, stderr in (
                (run.forked(), "connections a forked child serves", run.facts.fork_stderr),
                (run.io_workers(), "io_uring workers in the threads at peak",
                 run.facts.io_workers_stderr)):
            if not ok and not run.problem:
                say(f"\n== {run.name}: {check}: {what}")
                for line in [l for l in stderr.splitlines() if l.strip()][-FAILURE_LINES:]:
                    say(f"   stderr | {line}")
        if run.problem:
            say(f"\n== {run.name}: the {'guest' if run.image else 'run'} {run.problem}")
            if run.image:
                say("   boot it by hand: " + shlex.join(guest.qemu_command(
                    run.image.vmlinuz, OUT / "initramfs.cpio.gz", GUEST_CPUS, GUEST_MEMORY_MB)))
            for line in console_excerpt(run.console):
                say(f"   | {line}")
        alike = {}
        for r in run.ordered():
            if not r.passed and not r.first_failure.startswith(("did not run", "did not finish")):
                alike.setdefault((r.mode, r.first_failure), []).append(r)
        for (mode, _), results in alike.items():
            first = results[0]
            say(f"\n== {run.name} {mode}: {' '.join(r.server for r in results)}: FAIL")
            for f in first.failures:
                say(f"   - {f}")
            for line in [l for l in first.stderr.splitlines() if l.strip()][-FAILURE_LINES:]:
                say(f"   stderr | {line}")
            verbose = next((r.verbose for r in run.ordered() if r.mode == mode and r.verbose), "")
            for line in verbose.splitlines():
                say(f"   conctrace -v | {line}")


DOC = ROOT / "docs" / "kernels.md"
MARKERS = ("<!-- kernel-matrix: begin -->\n", "<!-- kernel-matrix: end -->")


def update_doc(md):
    """The table between docs/kernels.md's markers, so the page shows what a
    run printed, never a table typed by hand."""
    text = DOC.read_text()
    begin, end = text.index(MARKERS[0]) + len(MARKERS[0]), text.index(MARKERS[1])
    DOC.write_text(text[:begin] + md + text[end:])


def main():
    started = time.monotonic()
    names = (os.environ.get("KERNELS") or " ".join(kernels.ALL)).split()
    unknown = [n for n in names if n not in kernels.ALL]
    if unknown:
        sys.exit(f"test-kernels: unknown kernel {' '.join(unknown)}; "
                 f"known: {' '.join(kernels.ALL)}")
    jobs = int(os.environ.get("KERNEL_JOBS") or JOBS)
    vm_timeout = int(os.environ.get("KERNEL_TIMEOUT") or VM_TIMEOUT_S)
    cfg = settings()
    OUT.mkdir(parents=True, exist_ok=True)
    runs = [KernelRun(n) for n in names]
    vms = [run for run in runs if run.name != kernels.HOST]

    if vms:
        image = initramfs.build(STATIC, TOOLS, OUT / "initramfs.cpio.gz", cfg)
        for run in vms:
            try:
                run.image = kernels.fetch(kernels.VM_KERNELS[run.name], OUT, say)
            except (kernels.FetchError, OSError) as e:
                run.problem = f"not fetched: {e}"
                continue
            say(f"[{run.name}] {run.package_text()}")
    say(f"{len(SERVERS)} servers x {len(MODES)} modes on {' '.join(names)}: "
        f"loadgen -c {cfg['KM_CONNS']} -n {cfg['KM_REQUESTS']}")

    # guests in worker threads (KERNEL_JOBS at once), the host in this one
    pool = ThreadPoolExecutor(max_workers=jobs)
    try:
        for run in runs:
            if run.name == kernels.HOST:
                run_host(run, cfg)
        guests = [pool.submit(run_kernel, run, cfg,
                              guest.qemu_command(run.image.vmlinuz, image, GUEST_CPUS,
                                                 GUEST_MEMORY_MB), vm_timeout)
                  for run in vms if run.image]
        for g in guests:
            g.result()
    except KeyboardInterrupt:
        say("\ntest-kernels: interrupted; stopping what runs")
        guest.stop_all()
        pool.shutdown(cancel_futures=True)
        return 130
    finally:
        pool.shutdown()

    md = table.markdown(runs, SERVERS, MODES)
    (OUT / "table.md").write_text(md)
    say(f"\n{md}")
    # after the table, so that a log's last lines (all CI keeps) say what failed
    report_failures(runs)
    failed = [run.name for run in runs if not run.passed]
    if os.environ.get("KERNELS_UPDATE_DOC") == "1" and not failed:
        update_doc(md)
        say(f"test-kernels: the table is in {DOC.relative_to(ROOT)}")
    took = time.monotonic() - started
    say(f"test-kernels: {len(runs) - len(failed)}/{len(runs)} kernels passed"
        f"{' (failed: ' + ' '.join(failed) + ')' if failed else ''} in {took:.0f} s; "
        f"table in {(OUT / 'table.md').relative_to(ROOT)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
