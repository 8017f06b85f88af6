# SPDX-License-Identifier: MIT
"""What the benchmarks share: their one-line exits, waiting for a line a
process prints, a process's CPU as the scheduler counts it, and the BPF
programs a process holds."""

import json
import re
import subprocess
import sys
import time
from pathlib import Path

NAME = Path(sys.argv[0]).stem     # bench-overhead, bench-scale, ...


def die(msg):
    sys.exit(f"{NAME}: {msg}")


def wait_for(stream, pattern, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = stream.readline()
        if not line:
            break
        m = re.search(pattern, line)
        if m:
            return m
    die(f"no line matching {pattern!r}")


def cpu_ns(pid):
    """The process's CPU time so far, as the scheduler accounts it (ns;
    steal excluded): the sum of its threads' schedstat run times."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            total += int((task / "schedstat").read_text().split()[0])
        except (FileNotFoundError, ProcessLookupError):
            pass
    return total


def fdinfo(pid):
    """The text of each of process pid's /proc fdinfo files."""
    for f in Path(f"/proc/{pid}/fdinfo").iterdir():
        try:
            yield f.read_text()
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue


def own_prog_ids(pid):
    """The BPF programs process pid holds (its fds' prog_id): conctrace's or
    hook_floor's own, whatever else runs on the machine."""
    return {int(m.group(1)) for t in fdinfo(pid)
            if (m := re.search(r"^prog_id:\s+(\d+)", t, re.M))}


def all_progs():
    """{prog id: bpftool's record} of every BPF program loaded."""
    out = subprocess.run(["bpftool", "-j", "prog", "show"], capture_output=True, text=True)
    return {p["id"]: p for p in json.loads(out.stdout or "[]")}
