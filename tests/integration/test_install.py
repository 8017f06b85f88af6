# SPDX-License-Identifier: MIT
"""make install / make uninstall (issue 20): the installed copy works from
outside the tree, and uninstalling leaves nothing.

Installed into a temporary DESTDIR with the default PREFIX (/usr/local):
the files are where docs/conctrace.8's FILES says; the installed conctrace,
run from a directory outside the tree, finds the installed loadgen for
--load (relative to itself: DESTDIR and all) and traces the installed
epoll_echo; the installed compare finds the installed conctrace and
servers; nothing is written beside them (no __pycache__); and make
uninstall removes every file, and conctrace's own folders.
"""

import json
import shutil
import subprocess
import sys

from conftest import ROOT
from test_conctrace import needs_root

PREFIX = "usr/local"
INSTALLED = {
    "sbin/conctrace": 0o755,
    "lib/conctrace/loadgen": 0o755,
    "lib/conctrace/threaded_echo": 0o755,
    "lib/conctrace/epoll_echo": 0o755,
    "lib/conctrace/coro_echo": 0o755,
    "lib/conctrace/uring_echo": 0o755,
    "lib/conctrace/compare": 0o755,
    "lib/conctrace/demo": 0o755,
    "lib/conctrace/svgchart.py": 0o644,
    "share/conctrace/grafana-dashboard.json": 0o644,
    "share/man/man8/conctrace.8": 0o644,
}


def make(*args):
    out = subprocess.run(["make", "--no-print-directory", "-C", str(ROOT), *args],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    return out


def files_under(d):
    return sorted(str(p.relative_to(d)) for p in d.rglob("*") if not p.is_dir())


def test_install_run_from_outside_the_tree_uninstall(tmp_path):
    needs_root()
    dest, work = tmp_path / "dest", tmp_path / "work"
    work.mkdir()
    make("install", f"DESTDIR={dest}")
    prefix = dest / PREFIX
    assert files_under(dest) == sorted(f"{PREFIX}/{f}" for f in INSTALLED)
    for f, mode in INSTALLED.items():
        assert (prefix / f).stat().st_mode & 0o777 == mode, f
    assert (prefix / "share/man/man8/conctrace.8").read_bytes() == \
        (ROOT / "docs/conctrace.8").read_bytes()
    json.loads((prefix / "share/conctrace/grafana-dashboard.json").read_text())

    # --load from outside the tree: loadgen is found beside the installed
    # conctrace (../lib/conctrace/loadgen), not in the tree
    conctrace = prefix / "sbin/conctrace"
    run = subprocess.run([str(conctrace), "--load=-c 20 -n 2 -q", "--json", "r.json", "--",
                          str(prefix / "lib/conctrace/epoll_echo"), "-p", "0"],
                         cwd=work, capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr[-2000:]
    report = json.loads((work / "r.json").read_text())
    # what loadgen sent: 20 connections x 2 PINGs of 5 bytes
    assert report["connections"]["total"] == 20, report["connections"]
    assert report["connections"]["bytes_rx"] == 20 * 2 * len("PING\n"), report["connections"]

    # compare, installed, drives the installed conctrace and servers
    out = subprocess.run([sys.executable, str(prefix / "lib/conctrace/compare"), "--conns", "3",
                          "--models", "epoll", "--scenarios", "idle", "--hold", "0.6",
                          "--interval", "0.1", "--json", "c.json"],
                         cwd=work, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    row, = json.loads((work / "c.json").read_text())["rows"]
    assert row["status"] == "ok" and row["kernel_bytes_per_conn"] > 0, row

    # nothing was written beside the installed files
    assert files_under(dest) == sorted(f"{PREFIX}/{f}" for f in INSTALLED)
    make("uninstall", f"DESTDIR={dest}")
    assert files_under(dest) == []
    for d in ("lib/conctrace", "share/conctrace"):
        assert not (prefix / d).exists(), d


def test_load_names_where_it_looked_for_loadgen(tmp_path):
    """A conctrace with no loadgen beside it says where it looked, and
    --load fails (exit 3), as a loadgen that cannot run does."""
    needs_root()
    lonely = tmp_path / "bin"
    lonely.mkdir()
    shutil.copy2(ROOT / "conctrace", lonely / "conctrace")
    run = subprocess.run([str(lonely / "conctrace"), "--load=-c 1 -n 1", "--",
                          str(ROOT / "servers/epoll_echo"), "-p", "0"],
                         cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert run.returncode == 3, run.stderr[-2000:]
    assert f"looked for {lonely}/servers/loadgen and {lonely}/../lib/conctrace/loadgen" \
        in run.stderr, run.stderr
