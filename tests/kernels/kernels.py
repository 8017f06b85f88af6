# SPDX-License-Identifier: MIT
"""The kernels of the matrix, and their Debian packages fetched and cached.

Each VM kernel is a Debian cloud kernel image, pinned to the package this
matrix was written against. Debian removes old ABI packages as it moves on,
so a pin that no longer resolves falls back to what the kernel's
metapackage depends on now, and the run says which package it used.

The .deb and the vmlinuz extracted from it are cached in build/kernels/NAME/
with a note of which package they are and for which pin: a second run
downloads nothing, and a changed pin is fetched anew.
Bullseye's lists live in build/kernels/apt-bullseye/ and are read through
apt's Dir:: options, so the machine's own apt setup is left untouched.
"""

import json
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

HOST = "host"       # the running kernel, run natively: there is no /boot to boot it from
KEYRING = "/usr/share/keyrings/debian-archive-keyring.gpg"


@dataclass(frozen=True)
class Kernel:
    name: str               # as KERNELS names it: "6.1"
    suite: str              # Debian suite; None: the machine's own sources
    package: str            # the pinned image package
    meta: str               # the metapackage whose dependency replaces a vanished pin
    may_refuse: bool = False    # passes if conctrace refuses it in one line ("needs Linux X.Y")


VM_KERNELS = {k.name: k for k in [
    Kernel("5.10", "bullseye", "linux-image-5.10.0-32-cloud-amd64", "linux-image-cloud-amd64",
           may_refuse=True),
    Kernel("6.1", None, "linux-image-6.1.0-50-cloud-amd64", "linux-image-cloud-amd64"),
    Kernel("6.12", None, "linux-image-6.12.100+deb12-cloud-amd64",
           "linux-image-6.12-cloud-amd64"),
]}
ALL = [*VM_KERNELS, HOST]


class FetchError(Exception):
    pass


@dataclass
class Image:
    """A kernel ready to boot, and which package it came from."""
    kernel: Kernel
    vmlinuz: Path
    package: str            # name
    version: str
    how: str                # "pinned", or which metapackage it was resolved through


class Apt:
    """apt-get and apt-cache for one suite: the machine's own setup, or a
    sources list of our own with its own lists and cache directories."""

    def __init__(self, suite, cache_root):
        self.opts = []
        self.suite = suite
        if suite:
            root = cache_root / f"apt-{suite}"
            for d in ("lists/partial", "cache/archives/partial"):
                (root / d).mkdir(parents=True, exist_ok=True)
            sources = root / "sources.list"
            sources.write_text(f"deb [signed-by={KEYRING}] http://deb.debian.org/debian "
                               f"{suite} main\n")
            self.opts = ["-o", f"Dir::Etc::sourcelist={sources}",
                         "-o", "Dir::Etc::sourceparts=-",
                         "-o", f"Dir::State::Lists={root / 'lists'}",
                         "-o", f"Dir::Cache={root / 'cache'}"]
        self.updated = False

    def run(self, tool, *args, cwd=None, check=True):
        r = subprocess.run([tool, *self.opts, *args], cwd=cwd, capture_output=True, text=True)
        if check and r.returncode:
            raise FetchError(f"{tool} {' '.join(args)}: {r.stderr.strip()[-500:]}")
        return r

    def update(self):
        """Fresh lists: always for our own suite (its lists start empty);
        for the machine's only when a package cannot be found (lists
        absent on a fresh machine, or stale)."""
        if not self.updated:
            self.run("apt-get", "-qq", "update")
            self.updated = True

    def candidate(self, package):
        """The version apt would fetch for package, or None if it has none."""
        r = self.run("apt-cache", "policy", package, check=False)
        for line in r.stdout.splitlines():
            words = line.split()
            if words[:1] == ["Candidate:"] and len(words) == 2 and words[1] != "(none)":
                return words[1]
        return None

    def dependency(self, meta):
        """The image package a metapackage depends on now."""
        r = self.run("apt-cache", "depends", meta, check=False)
        for line in r.stdout.splitlines():
            words = line.split()
            if words[:1] == ["Depends:"] and words[1].startswith("linux-image-"):
                return words[1]
        return None


def _resolve(kernel, apt):
    """(package, version, how): the pin if apt has it, else the metapackage's choice."""
    for attempt in range(2):
        version = apt.candidate(kernel.package)
        if version:
            return kernel.package, version, "pinned"
        dep = apt.dependency(kernel.meta)
        version = dep and apt.candidate(dep)
        if version:
            return dep, version, f"{kernel.meta} -> {dep} ({kernel.package} is gone)"
        if attempt == 0 and not apt.updated:
            apt.update()
    raise FetchError(f"neither {kernel.package} nor {kernel.meta} resolves"
                     f"{' in ' + kernel.suite if kernel.suite else ''}")


def _extract_vmlinuz(deb, out):
    """boot/vmlinuz-* from the package, without unpacking its modules."""
    with tempfile.TemporaryDirectory(prefix="kmatrix-deb-") as tmp:
        tar = subprocess.Popen(["dpkg-deb", "--fsys-tarfile", str(deb)], stdout=subprocess.PIPE)
        r = subprocess.run(["tar", "-x", "-C", tmp, "--wildcards", "./boot/vmlinuz-*"],
                           stdin=tar.stdout, capture_output=True, text=True)
        tar.stdout.close()
        if tar.wait() or r.returncode:
            raise FetchError(f"cannot extract vmlinuz from {deb.name}: {r.stderr.strip()}")
        found = list(Path(tmp, "boot").glob("vmlinuz-*"))
        if len(found) != 1:
            raise FetchError(f"{deb.name} holds {len(found)} vmlinuz files")
        shutil.move(str(found[0]), out)


def fetch(kernel, cache_root, log):
    """The kernel's Image, from cache_root/NAME/ if it is there, else
    downloaded (apt-get download) and extracted into it."""
    where = cache_root / kernel.name
    note = where / "package.json"
    vmlinuz = where / "vmlinuz"
    if note.is_file() and vmlinuz.is_file():
        n = json.loads(note.read_text())
        if n.get("pin") == kernel.package:      # else the pin moved on: fetch anew
            return Image(kernel, vmlinuz, n["package"], n["version"], n["how"])

    where.mkdir(parents=True, exist_ok=True)
    apt = Apt(kernel.suite, cache_root)
    if kernel.suite:
        apt.update()
    package, version, how = _resolve(kernel, apt)
    log(f"[{kernel.name}] downloading {package} {version} ({how})")
    for old in where.glob("*.deb"):
        old.unlink()
    # apt-get download fetches as the _apt user when it can write the
    # directory, else as root with a notice on stderr: either way, one .deb
    where.chmod(0o755)
    apt.run("apt-get", "-qq", "download", f"{package}={version}", cwd=where)
    debs = list(where.glob("*.deb"))
    if len(debs) != 1:
        raise FetchError(f"apt-get download {package} left {len(debs)} .deb files in {where}")
    _extract_vmlinuz(debs[0], vmlinuz)
    note.write_text(json.dumps({"pin": kernel.package, "package": package, "version": version,
                                "how": how, "deb": debs[0].name}, indent=1) + "\n")
    return Image(kernel, vmlinuz, package, version, how)
