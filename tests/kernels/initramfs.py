# SPDX-License-Identifier: MIT
"""The guests' initramfs: busybox, this build and what it links against.

    /init                   init.sh: mounts, loopback, scenarios.sh, power off
    /bin/busybox            busybox-static; init.sh installs its applets
    /ct/conctrace           the build under test, laid out as in the tree, so
    /ct/servers/*           conctrace --load finds servers/loadgen beside it
    /ct/rusage_wrap         the servers' parent that writes their rusage
    /ct/scenarios.sh
    /ct/matrix.env          KM_* settings of this run, for scenarios.sh
    /lib..., /usr/lib...    the shared libraries ldd names, at the same paths

No kernel modules: everything the scenarios need (serial console, loopback,
BPF, io_uring) is built into Debian's cloud kernels, and results leave
through the serial console.
"""

import os
import shlex
import shutil
import subprocess
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
BUSYBOX = Path("/bin/busybox")


def _libraries(binaries):
    """Every shared object the binaries load, with the dynamic loader."""
    libs = set()
    for b in binaries:
        out = subprocess.run(["ldd", str(b)], capture_output=True, text=True).stdout
        for line in out.splitlines():
            words = line.split()
            # "libx.so.1 => /lib/.../libx.so.1 (0x...)" or "/lib64/ld-linux-x86-64.so.2 (0x...)"
            path = words[2] if "=>" in words and len(words) > 2 else words[0] if words else ""
            if path.startswith("/"):
                libs.add(path)
    return sorted(libs)


def build(root, wrap, out, settings):
    """Write the initramfs for the build in `root` to `out` (gzip'd newc cpio).
    settings: the KM_* variables scenarios.sh reads."""
    binaries = [root / "conctrace", *sorted((root / "servers").glob("*_echo")),
                root / "servers" / "loadgen"]
    for b in [*binaries, wrap, BUSYBOX]:
        if not os.access(b, os.X_OK):
            raise FileNotFoundError(f"{b} is missing: `make all` first (and busybox-static)")
    with tempfile.TemporaryDirectory(prefix="kmatrix-initramfs-") as tmp:
        fs = Path(tmp)
        for d in ("bin", "proc", "sys", "dev", "tmp", "ct/servers"):
            (fs / d).mkdir(parents=True)
        shutil.copy2(BUSYBOX, fs / "bin" / "busybox")
        os.symlink("busybox", fs / "bin" / "sh")
        for b in binaries:
            shutil.copy2(b, fs / "ct" / b.relative_to(root))
        shutil.copy2(wrap, fs / "ct" / "rusage_wrap")
        shutil.copy2(HERE / "scenarios.sh", fs / "ct" / "scenarios.sh")
        shutil.copy2(HERE / "init.sh", fs / "init")
        (fs / "init").chmod(0o755)
        (fs / "ct" / "matrix.env").write_text(
            "".join(f"{k}={shlex.quote(str(v))}\n" for k, v in settings.items()))
        for lib in _libraries([*binaries]):
            dest = fs / lib.lstrip("/")
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(Path(lib).resolve(), dest)
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
