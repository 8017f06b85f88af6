# SPDX-License-Identifier: MIT
"""Where the scenarios run: a QEMU guest booting one kernel, or the host.

Either way a process prints scenarios.sh's frames on its stdout (the
guest's serial console, or the script's own stdout), and it is read line by
line under a deadline. A guest that hangs fails its kernel, not the run: at
the deadline, or on Ctrl-C, its whole process group is stopped (QEMU, or
the host's script with conctrace, the servers and loadgen under it).
"""

import os
import selectors
import signal
import subprocess
import threading
import time

from frames import FrameReader

GRACE_S = 10        # the host's conctrace reports and exits on SIGINT within this

_running = set()    # process groups being read, for stop_all()
_stopping = False   # after Ctrl-C: no new guest may start
_lock = threading.Lock()


class Stopped(Exception):
    """stop_all() was called: the run is over."""


def qemu_command(vmlinuz, initramfs, cpus, memory_mb):
    """TCG (no KVM here), serial console on stdio, power-off or panic ends it.

    One host thread for all the guest's vCPUs (thread=single): with one
    thread per vCPU, 6.12 guests died of "Oops: int3" at a patched static
    branch (__schedule, syscall_exit_to_user_mode_prepare, trace_rss_stat)
    in 3 of 10 boots, as conctrace's attach enables tracepoints while the
    other vCPU runs through them: a vCPU still executing the int3 that
    text_poke_bp placed after the kernel's sync, most likely QEMU's, not the
    kernel's. 0 in 8 boots this way, for about 10% more time. The guest
    still has two CPUs to schedule threads across."""
    return ["qemu-system-x86_64", "-M", "q35", "-cpu", "max", "-accel", "tcg,thread=single",
            "-smp", str(cpus), "-m", str(memory_mb), "-nodefaults", "-display", "none",
            "-serial", "stdio", "-no-reboot", "-kernel", str(vmlinuz), "-initrd", str(initramfs),
            "-append", "console=ttyS0 quiet panic=-1"]


class Outcome:
    """How a stream ended: the reader with everything it got, and why it stopped."""

    def __init__(self, reader, status, timed_out, stderr):
        self.reader = reader
        self.status = status
        self.timed_out = timed_out
        self.stderr = stderr


def stream(cmd, timeout_s, on_start, on_done, env=None):
    """Run cmd, feeding its stdout lines to a FrameReader, until it exits or
    timeout_s passes (then its process group is killed)."""
    reader = FrameReader(on_start, on_done)
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=env, start_new_session=True)
    with _lock:
        _running.add(proc)
        stopping = _stopping
    if stopping:                        # Ctrl-C came while it was starting
        _stop(proc)
        raise Stopped()
    deadline = time.monotonic() + timeout_s
    timed_out = False
    err = bytearray()
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    sel.register(proc.stderr, selectors.EVENT_READ)
    pending = b""
    ended = False                       # its output ended by itself
    try:
        open_streams = 2
        while open_streams:
            left = deadline - time.monotonic()
            if left <= 0:
                timed_out = True
                break
            for key, _ in sel.select(min(left, 1.0)):
                chunk = os.read(key.fd, 65536)
                if not chunk:
                    sel.unregister(key.fileobj)
                    open_streams -= 1
                elif key.fileobj is proc.stderr:
                    err += chunk
                else:
                    pending += chunk
                    *lines, pending = pending.split(b"\n")
                    for line in lines:
                        reader.feed(line.decode(errors="replace"))
        if pending:
            reader.feed(pending.decode(errors="replace"))
        ended = not timed_out
    finally:
        sel.close()
        if ended:
            try:
                proc.wait(GRACE_S)      # its output has ended: it is exiting
            except subprocess.TimeoutExpired:
                pass
        _stop(proc)                     # a no-op once the group is gone
        proc.stdout.close()
        proc.stderr.close()
        with _lock:
            _running.discard(proc)
    return Outcome(reader, proc.returncode, timed_out, err.decode(errors="replace"))


def _group_alive(proc):
    proc.poll()                         # reap the leader: a zombie still counts
    try:
        os.killpg(proc.pid, 0)
        return True
    except ProcessLookupError:
        return False


def _stop(proc):
    """SIGINT to the process group (conctrace then stops its target, reports
    and exits; QEMU quits), SIGKILL to whatever is left after GRACE_S."""
    if not _group_alive(proc):
        return
    os.killpg(proc.pid, signal.SIGINT)
    deadline = time.monotonic() + GRACE_S
    while _group_alive(proc) and time.monotonic() < deadline:
        time.sleep(0.05)
    if _group_alive(proc):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def stopping():
    """True once stop_all() has been called."""
    return _stopping


def stop_all():
    """Ctrl-C: stop every guest and host run still going, start no other."""
    global _stopping
    with _lock:
        _stopping = True
        procs = list(_running)
    for p in procs:
        _stop(p)
