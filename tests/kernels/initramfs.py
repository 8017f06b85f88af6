# SPDX-License-Identifier: MIT
"""The guests' initramfs: busybox and the static build, no shared library.

    /init                   init.sh: mounts, loopback, scenarios.sh, power off
    /bin/busybox            busybox-static; init.sh installs its applets
    /ct/conctrace           `make static`'s build, laid out as in the tree, so
    /ct/servers/*           conctrace --load finds servers/loadgen beside it
    /ct/rusage_wrap         the servers' parent that writes their rusage
    /ct/iowq_workers        a process whose threads io_uring makes
    /ct/fork_conns          a fork-per-connection server and its client
    /ct/scenarios.sh
    /ct/matrix.env          KM_* settings of this run, for scenarios.sh

Every executable is static and nothing else is packed: no dynamic loader,
no libbpf, libelf or libc, so the matrix shows the static binary runs on a
machine that has none of them (issue 20). build() refuses a dynamic
executable and checks the tree it packed holds no shared object.

No kernel modules: everything the scenarios need (serial console, loopback,
BPF, io_uring) is built into Debian's cloud kernels, and results leave
through the serial console.
"""

import os
import re
import shlex
import shutil
import struct
import subprocess
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
BUSYBOX = Path("/bin/busybox")
PT_INTERP = 3
SHARED_NAME_RE = re.compile(r"\.so(\.\d+)*$")     # libbpf.so, libc.so.6, ld-linux-x86-64.so.2


def dynamic(path):
    """Whether an ELF executable asks for a program interpreter (the dynamic
    loader, and with it shared libraries): a static one does not."""
    with open(path, "rb") as f:
        ident = f.read(64)
        if ident[:4] != b"\x7fELF" or ident[4] != 2 or ident[5] != 1:
            raise ValueError(f"{path}: not a 64-bit little-endian ELF file")
        phoff, = struct.unpack_from("<Q", ident, 0x20)
        phentsize, phnum = struct.unpack_from("<HH", ident, 0x36)
        f.seek(phoff)
        table = f.read(phentsize * phnum)
    return any(struct.unpack_from("<I", table, i * phentsize)[0] == PT_INTERP
               for i in range(phnum))


def shared_objects(fs):
    """The files under fs a dynamic loader could load: *.so and *.so.N names,
    and any ELF file that asks for one."""
    found = []
    for path in sorted(p for p in Path(fs).rglob("*") if p.is_file() and not p.is_symlink()):
        with open(path, "rb") as f:
            elf = f.read(4) == b"\x7fELF"
        if SHARED_NAME_RE.search(path.name) or (elf and dynamic(path)):
            found.append(str(path.relative_to(fs)))
    return found


def build(static, tools, out, settings):
    """Write the initramfs for `make static`'s build in `static` (conctrace
    and servers/) and the harness's static `tools` (in /ct by their names)
    to `out` (gzip'd newc cpio).
    settings: the KM_* variables scenarios.sh reads."""
    binaries = [static / "conctrace", *sorted((static / "servers").glob("*_echo")),
                static / "servers" / "loadgen"]
    for b in [*binaries, *tools, BUSYBOX]:
        if not os.access(b, os.X_OK):
            raise FileNotFoundError(f"{b} is missing: `make static` first (and busybox-static)")
        if dynamic(b):
            raise ValueError(f"{b} is linked dynamically: the guests carry no shared "
                             "library (`make static` builds the static one)")
    with tempfile.TemporaryDirectory(prefix="kmatrix-initramfs-") as tmp:
        fs = Path(tmp)
        for d in ("bin", "proc", "sys", "dev", "tmp", "ct/servers"):
            (fs / d).mkdir(parents=True)
        shutil.copy2(BUSYBOX, fs / "bin" / "busybox")
        os.symlink("busybox", fs / "bin" / "sh")
        for b in binaries:
            shutil.copy2(b, fs / "ct" / b.relative_to(static))
        for t in tools:
            shutil.copy2(t, fs / "ct" / t.name)
        shutil.copy2(HERE / "scenarios.sh", fs / "ct" / "scenarios.sh")
        shutil.copy2(HERE / "init.sh", fs / "init")
        (fs / "init").chmod(0o755)
        (fs / "ct" / "matrix.env").write_text(
            "".join(f"{k}={shlex.quote(str(v))}\n" for k, v in settings.items()))
        libs = shared_objects(fs)
        if libs:
            raise ValueError(f"the initramfs would hold shared objects: {' '.join(libs)}")
        names = subprocess.run(["find", "."], cwd=fs, capture_output=True, text=True,
                               check=True).stdout
        with open(out, "wb") as f:
            cpio = subprocess.Popen(["cpio", "--quiet", "-o", "-H", "newc", "-R", "0:0"],
                                    cwd=fs, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
            gz = subprocess.Popen(["gzip", "-1"], stdin=cpio.stdout, stdout=f)
            cpio.stdout.close()
            cpio.communicate(names.encode())
            if cpio.returncode or gz.wait():
                raise RuntimeError(f"cpio/gzip failed writing {out}")
    return out
