# SPDX-License-Identifier: MIT
"""`make demo` installs what the demo needs, `make test` the rest.

scripts/install-deps.sh --print lists the packages a mode asks apt for,
installing nothing. The demo's list holds no test-only package (a browser,
Prometheus, QEMU, the servers we did not write); the full list holds
everything. The demo's list is also enough: each tool and library `make
all` runs or links comes from a package that the list, or what its packages
depend on, installs (apt's own dependency data, read locally, no network).
"""

import os
import re
import shutil
import subprocess

import pytest

from conftest import ROOT

# what only the tests use: none of it may come with `make demo`
TEST_ONLY = {"chromium", "prometheus", "valgrind", "redis-server", "redis-tools", "nginx-light",
             "apache2-utils", "qemu-system-x86", "busybox-static", "tmux", "python3-pytest",
             "libcmocka-dev", "strace", "libclang-rt-dev", "golang-go"}
BUILD = {"clang", "gcc", "libbpf-dev", "liburing-dev", "bpftool"}


def listed(*args):
    out = subprocess.run(["sh", "scripts/install-deps.sh", "--print", *args], cwd=ROOT,
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    pkgs = out.stdout.split()
    assert pkgs and len(pkgs) == len(set(pkgs)), out.stdout
    return set(pkgs)


def test_demo_asks_for_no_test_package():
    demo, full = listed("--demo"), listed()
    assert not demo & TEST_ONLY, f"make demo would install {sorted(demo & TEST_ONLY)}"
    assert BUILD <= demo, sorted(BUILD - demo)
    assert demo <= full and TEST_ONLY <= full, sorted((demo | TEST_ONLY) - full)
    print(f"demo: {len(demo)} packages ({' '.join(sorted(demo))}); make test: {len(full)}")


def test_make_demo_runs_the_demo_mode():
    def installs(target):
        out = subprocess.run(["make", "-n", target], cwd=ROOT, capture_output=True, text=True,
                             timeout=120)
        assert out.returncode == 0, out.stderr
        return [line.strip() for line in out.stdout.splitlines() if "install-deps.sh" in line]

    assert installs("demo") == ["sh scripts/install-deps.sh --demo"]
    assert installs("deps") == ["sh scripts/install-deps.sh"]
    # make test's own commands cannot all be dry-run (check-sanitize cds
    # into a tree it copies): its prerequisites, from make's database
    db = subprocess.run(["make", "-p", "-n", "deps"], cwd=ROOT, capture_output=True,
                        text=True, timeout=120).stdout
    rules = dict(re.findall(r"^(demo|test):(.*)$", db, re.M))
    assert rules["test"].split() == ["deps"] and rules["demo"].split() == ["deps-demo"], rules


def test_bad_option_is_refused():
    out = subprocess.run(["sh", "scripts/install-deps.sh", "--demo", "--bogus"], cwd=ROOT,
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 2 and out.stdout == ""
    assert out.stderr == "install-deps: unknown option '--bogus' (use --demo, --print)\n"


def owner(path):
    """The Debian package holding path, or None."""
    for p in {path, re.sub(r"^/usr(?=/(lib|bin|sbin)/)", "", path)}:
        out = subprocess.run(["dpkg-query", "-S", p], capture_output=True, text=True)
        if out.returncode == 0:
            return out.stdout.split(":", 1)[0].split(",")[0].strip()
    return None


def test_demo_packages_build_everything():
    if not shutil.which("dpkg-query") or not shutil.which("apt-cache"):
        pytest.skip("not a Debian/Ubuntu machine: install-deps.sh is for those")
    demo = listed("--demo")
    closure = subprocess.run(
        ["apt-cache", "depends", "--recurse", "--no-recommends", "--no-suggests",
         "--no-conflicts", "--no-breaks", "--no-replaces", "--no-enhances", *sorted(demo)],
        capture_output=True, text=True, timeout=120, check=True).stdout
    provided = {line.strip() for line in closure.splitlines() if not line.startswith(" ")}
    essential = {line.split()[0] for line in subprocess.run(
        ["dpkg-query", "-W", "-f", "${Package} ${Essential}\n"],
        capture_output=True, text=True, check=True).stdout.splitlines() if line.endswith(" yes")}
    # no "make[1]: Entering directory" lines when run from a make
    build = subprocess.run(["make", "--no-print-directory", "-n", "-B", "V=1", "all"], cwd=ROOT,
                           capture_output=True,
                           text=True, timeout=120, check=True).stdout
    used = {}
    for tool in {line.split()[0] for line in build.splitlines() if line.strip()}:
        path = shutil.which(tool)
        assert path, f"make all runs {tool}, not installed here"
        used[tool] = os.path.realpath(path)
    for lib in set(re.findall(r"(?<=\s)-l(\w+)", build)):
        path = subprocess.run(["cc", f"-print-file-name=lib{lib}.so"],
                              capture_output=True, text=True).stdout.strip()
        assert os.path.isabs(path), f"make all links -l{lib}: not found here"
        used[f"-l{lib}"] = os.path.normpath(path)
    assert {"clang", "cc", "bpftool", "-lbpf", "-luring"} <= set(used), sorted(used)
    missing, by_hand = {}, []
    for what, path in sorted(used.items()):
        pkg = owner(path)
        if pkg is None:
            by_hand.append(what)    # installed by hand here: nothing to say about apt
            continue
        if pkg not in provided and pkg not in essential:
            missing[what] = pkg
    assert not missing, f"make all needs packages make demo does not install: {missing}"
    assert len(by_hand) < len(used) / 2, f"hardly any from packages here: {by_hand}"
