# SPDX-License-Identifier: MIT
"""The Debian package (issue 20): built, checked by lintian, installed,
run from its installed paths, purged.

`make deb` runs `dpkg-buildpackage -us -uc -b` on debian/ in a copy of the
sources (about 30 s: the static build from scratch), then lintian. The
package must: be conctrace_VERSION_ARCH.deb with the version --version
says; depend on nothing (its binaries are static: libc too); give lintian
no error (its overrides, debian/conctrace.lintian-overrides, say why the
static binaries are meant); install with apt; run `conctrace -V` (libbpf
built in) and the demo from /usr/lib/conctrace; and leave no file behind
once purged.
"""

import os
import re
import shutil
import subprocess

import pytest

from conftest import ROOT
from test_conctrace import needs_root
from test_manpage import tool

DEB_DIR = ROOT / "build" / "deb"
APT = ["apt-get", "-y", "-q", "-o", "DPkg::Lock::Timeout=120"]


def version():
    text = (ROOT / "common" / "version.h").read_text()
    return re.search(r'#define CONCTRACE_VERSION "([^"]+)"', text).group(1)


def installed():
    out = subprocess.run(["dpkg-query", "-W", "-f=${Status}", "conctrace"],
                         capture_output=True, text=True)
    return "install ok installed" in out.stdout


@pytest.fixture(scope="module")
def deb():
    needs_root()
    for name in ("dpkg-buildpackage", "dh", "lintian"):
        tool(name)
    out = subprocess.run(["make", "--no-print-directory", "-C", str(ROOT), "deb"],
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    debs = sorted(DEB_DIR.glob("conctrace_*.deb"))
    assert len(debs) == 1, debs
    return debs[0]


def test_deb_name_version_and_depends(deb):
    arch = subprocess.run(["dpkg", "--print-architecture"], capture_output=True, text=True,
                          check=True).stdout.strip()
    assert deb.name == f"conctrace_{version()}_{arch}.deb"
    fields = subprocess.run(["dpkg-deb", "-f", str(deb)], capture_output=True, text=True,
                            check=True).stdout
    # static binaries: not even libc; python3 (compare) is only recommended
    assert not re.search(r"^(Pre-)?Depends:", fields, re.M), fields
    assert re.search(r"^Recommends: python3$", fields, re.M), fields


def test_lintian_finds_no_error(deb):
    out = subprocess.run([tool("lintian"), "--fail-on", "error", str(deb)],
                         capture_output=True, text=True, timeout=300)
    errors = [l for l in out.stdout.splitlines() if l.startswith("E:")]
    assert out.returncode == 0 and not errors, out.stdout + out.stderr


def test_install_run_purge(deb, tmp_path):
    if installed():
        pytest.fail("a conctrace package is installed already: this test would purge it "
                    "(dpkg --purge conctrace first)", pytrace=False)
    out = subprocess.run([*APT, "install", "--no-install-recommends", str(deb)],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    try:
        files = subprocess.run(["dpkg", "-L", "conctrace"], capture_output=True, text=True,
                               check=True).stdout.split()
        for f in ("/usr/sbin/conctrace", "/usr/lib/conctrace/loadgen",
                  "/usr/lib/conctrace/demo", "/usr/share/conctrace/grafana-dashboard.json",
                  "/usr/share/man/man8/conctrace.8.gz", "/usr/share/doc/conctrace/copyright"):
            assert f in files, f

        ldd = subprocess.run(["ldd", "/usr/sbin/conctrace"], capture_output=True, text=True)
        assert "not a dynamic executable" in ldd.stdout + ldd.stderr, ldd.stdout
        v = subprocess.run(["/usr/sbin/conctrace", "-V"], cwd=tmp_path, capture_output=True,
                           text=True, timeout=60)
        assert v.returncode == 0, v.stdout + v.stderr
        assert re.match(rf"conctrace {re.escape(version())} \(libbpf \d+\.\d+, built in: "
                        r"static binary\)", v.stdout), v.stdout

        # the demo, as installed: its servers and loadgen from /usr/lib/conctrace
        demo = subprocess.run(["/usr/lib/conctrace/demo"], cwd=tmp_path, capture_output=True,
                              text=True, timeout=120,
                              env={**os.environ, "LOAD": "-c 20 -n 2 -q"})
        assert demo.returncode == 0, demo.stdout[-2000:] + demo.stderr[-2000:]
        for server in ("epoll_echo", "threaded_echo"):
            assert f"conctrace: /usr/lib/conctrace/{server} -p 0 (pid" in demo.stdout, server
        assert demo.stdout.count("connections: 20 total") == 2, demo.stdout

        man = subprocess.run([tool("man"), "-w", "conctrace"], capture_output=True, text=True)
        assert man.stdout.strip() == "/usr/share/man/man8/conctrace.8.gz", man.stdout
    finally:
        out = subprocess.run([*APT, "purge", "conctrace"], capture_output=True, text=True,
                             timeout=300)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    assert not installed()
    left = [f for f in files if os.path.lexists(f) and not os.path.isdir(f)]
    assert left == [], left
    for d in ("/usr/lib/conctrace", "/usr/share/conctrace", "/usr/share/doc/conctrace"):
        assert not os.path.exists(d), d
    assert shutil.which("conctrace") != "/usr/sbin/conctrace"
