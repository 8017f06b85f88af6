# SPDX-License-Identifier: MIT
"""conctrace runs as root and writes where it is told: outputs nobody can redirect.

What docs/security.md promises about the files conctrace writes, checked
with the real binary (real BPF, a real target):

  * a path that cannot be written (--json /proc/nope/x.json, --json /tmp,
    --svg /proc/x, --folded /proc/x, a view's own sibling file) is refused
    in one line before anything is traced: exit 1 well under a second, the
    command never run;
  * a symlink or a hard link planted at any output path (--json, --folded,
    --svg and the per-view files derived from one path) never has its
    target written: the link is replaced by the new file, or, when another
    user planted it in a shared sticky directory like /tmp, the run is
    refused before it starts;
  * a directory anyone can write and that is not sticky is refused; so is
    another user's file in a sticky one;
  * outputs are 0600, an existing file's mode included, and owned by the
    user who ran sudo (SUDO_UID, SUDO_GID);
  * a target whose symbols and file name hold <, ", &, newlines, a 4 KiB
    name and multi-byte characters: every SVG parses as XML, with the names
    as text and no markup of theirs; the JSON parses; the folded files keep
    one stack per line; /metrics passes `promtool check metrics`.
"""

import json
import os
import re
import shutil
import signal
import stat
import subprocess
import time
import urllib.request
import xml.etree.ElementTree as ET

import pytest

from conftest import ROOT
from test_conctrace import CONCTRACE, LISTEN_RE, LOADGEN, needs_root, wait_line

OTHER = 65534           # nobody: "another user"
SUDO_USER = 4242        # an id no account has: ownership is by number
REFUSE_S = 0.5          # "well under a second": nothing but the check has run
SVG_NS = "{http://www.w3.org/2000/svg}"
FRAME_LEN = 160         # flame.c: what a frame name is cut to, NUL included

# every output option, with the file conctrace writes for it; two views
# with --svg: each view's file is derived from the one path
OUTPUTS = {
    "json": (["--json", "{d}/out.json"], "out.json"),
    "folded": (["--folded", "{d}/out.folded"], "out.folded"),
    "svg-view": (["--flame", "mem,offcpu", "--svg", "{d}/out.svg"], "out.offcpu.svg"),
}


def conctrace(args, target=("true",), env=None, timeout=60):
    t0 = time.monotonic()
    r = subprocess.run([str(CONCTRACE), *args, "--", *target], capture_output=True,
                       text=True, timeout=timeout, env=env)
    return r, time.monotonic() - t0


def assert_refused(r, elapsed, path, marker=None):
    """One line naming the path, exit 1, before tracing began."""
    print(r.stderr.strip(), f"({elapsed * 1000:.0f} ms)")
    assert r.returncode == 1, r.stderr
    lines = r.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"conctrace: cannot write {path} ("), lines
    assert "tracing pid" not in r.stderr
    assert elapsed < REFUSE_S, f"refused after {elapsed:.2f} s"
    assert not marker or not marker.exists(), "the command ran although the run was refused"


def shared_dir(tmp_path, mode=0o1777):
    """A directory like /tmp: anyone writes, sticky (or not, when asked)."""
    d = tmp_path / f"shared{mode:o}"
    d.mkdir()
    os.chmod(d, mode)
    return d


def plant(d, name, kind, owner):
    """A precious file, and a symlink or hard link to it at d/name owned by owner."""
    precious = d.parent / f"precious-{d.name}-{name}-{kind}"
    precious.write_text("precious\n")
    link = d / name
    if kind == "symlink":
        link.symlink_to(precious)
        os.lchown(link, owner, owner)
    else:
        os.link(precious, link)
        os.chown(precious, owner, owner)    # a hard link's owner is its file's
    return precious, link


# ---- issue 19 row 1: an output that cannot be written loses no run ------------------

@pytest.mark.parametrize("args, path", [
    (["--json", "/proc/nope/x.json"], "/proc/nope/x.json"),
    (["--json", "/tmp"], "/tmp"),
    (["--svg", "/proc/x"], "/proc/x"),
    (["--folded", "/proc/x"], "/proc/x"),
    (["--json", "/dev/fd/57"], "/dev/fd/57"),                   # no such descriptor
], ids=["json-nodir", "json-dir", "svg-proc", "folded-proc", "json-badfd"])
def test_unwritable_output_refused_before_tracing(tmp_path, args, path):
    needs_root()
    marker = tmp_path / "ran"
    r, elapsed = conctrace(args, ["sh", "-c", f"touch {marker}; sleep 3"])
    assert_refused(r, elapsed, path, marker)


def test_unwritable_view_sibling_refused_before_tracing(tmp_path):
    """--flame mem,cpu --svg out.svg writes out.mem.svg and out.cpu.svg:
    the second is checked too, not found wrong after the run."""
    needs_root()
    (tmp_path / "out.cpu.svg").mkdir()
    marker = tmp_path / "ran"
    r, elapsed = conctrace(["--flame", "mem,cpu", "--svg", str(tmp_path / "out.svg")],
                           ["touch", str(marker)])
    assert_refused(r, elapsed, tmp_path / "out.cpu.svg", marker)
    assert "it is a directory" in r.stderr
    assert not (tmp_path / "out.mem.svg").exists()


# ---- issue 21: planted links --------------------------------------------------------

@pytest.mark.parametrize("output", OUTPUTS)
@pytest.mark.parametrize("kind", ["symlink", "hardlink"])
def test_link_at_output_is_replaced_not_followed(tmp_path, output, kind):
    """A link in a directory no one else writes, or one of our own in /tmp:
    the output takes its name, the file it pointed at stays as it was."""
    needs_root()
    args, name = OUTPUTS[output]
    for d, owner in ((tmp_path / "own", 0), (shared_dir(tmp_path), 0)):
        d.mkdir(exist_ok=True)
        precious, link = plant(d, name, kind, owner)
        r, _ = conctrace([a.format(d=d) for a in args])
        assert r.returncode == 0, r.stderr
        assert precious.read_text() == "precious\n", f"written through the {kind}"
        st = os.lstat(link)
        assert stat.S_ISREG(st.st_mode) and st.st_mode & 0o7777 == 0o600
        assert st.st_ino != os.stat(precious).st_ino
        assert os.stat(precious).st_nlink == 1
        if name.endswith(".json"):
            json.loads(link.read_text())
        elif name.endswith(".svg"):
            ET.parse(link)
        assert not [p for p in d.iterdir() if p.name.startswith(".conctrace-")], \
            "a temporary file was left behind"


@pytest.mark.parametrize("output", OUTPUTS)
@pytest.mark.parametrize("kind", ["symlink", "hardlink"])
def test_other_users_link_in_tmp_refused(tmp_path, output, kind):
    """The issue's own case: another user plants /tmp/report.json before
    root's run. Refused before tracing, the target untouched, the link left."""
    needs_root()
    args, name = OUTPUTS[output]
    d = shared_dir(tmp_path)
    precious, link = plant(d, name, kind, OTHER)
    marker = tmp_path / "ran"
    r, elapsed = conctrace([a.format(d=d) for a in args], ["touch", str(marker)])
    assert_refused(r, elapsed, link, marker)
    assert "belongs to another user" in r.stderr
    assert precious.read_text() == "precious\n"
    assert os.lstat(link).st_uid == OTHER


def test_symlinked_directory_planted_in_tmp_refused(tmp_path):
    """/tmp/out -> /etc made by another user: `--json /tmp/out/passwd` must not
    replace /etc/passwd (what fs.protected_symlinks stops, when it is on)."""
    needs_root()
    d = shared_dir(tmp_path)
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "passwd").write_text("precious\n")
    (d / "out").symlink_to(victim)
    os.lchown(d / "out", OTHER, OTHER)
    r, elapsed = conctrace(["--json", str(d / "out" / "passwd")])
    assert_refused(r, elapsed, d / "out" / "passwd")
    assert "symlink on the way" in r.stderr
    assert (victim / "passwd").read_text() == "precious\n"
    os.lchown(d / "out", 0, 0)      # our own link: followed
    r, _ = conctrace(["--json", str(d / "out" / "passwd")])
    assert r.returncode == 0, r.stderr
    json.loads((victim / "passwd").read_text())


@pytest.mark.parametrize("output", OUTPUTS)
def test_world_writable_directory_refused(tmp_path, output):
    needs_root()
    args, name = OUTPUTS[output]
    d = shared_dir(tmp_path, 0o777)
    r, elapsed = conctrace([a.format(d=d) for a in args])
    assert_refused(r, elapsed, d / name.replace("offcpu", "mem"))     # the first view's
    assert "not sticky" in r.stderr
    assert list(d.iterdir()) == []


@pytest.mark.parametrize("output", OUTPUTS)
def test_other_users_file_in_sticky_directory_refused(tmp_path, output):
    needs_root()
    args, name = OUTPUTS[output]
    d = shared_dir(tmp_path)
    theirs = d / name
    theirs.write_text("theirs\n")
    os.chown(theirs, OTHER, OTHER)
    r, elapsed = conctrace([a.format(d=d) for a in args])
    assert_refused(r, elapsed, theirs)
    assert theirs.read_text() == "theirs\n"


# ---- issue 21 and issue 19 row 17: mode and owner -----------------------------------

def test_outputs_0600_and_owned_by_the_sudo_user(tmp_path):
    """Under sudo the user who asked owns what they asked for, mode 0600,
    an existing 0644 file's mode and owner included (the file is new), and
    a second run replaces their own file in /tmp rather than refusing it."""
    needs_root()
    d = shared_dir(tmp_path)
    (d / "out.json").write_text("old\n")
    os.chmod(d / "out.json", 0o644)
    env = dict(os.environ, SUDO_UID=str(SUDO_USER), SUDO_GID=str(SUDO_USER + 1))
    args = ["--json", str(d / "out.json"), "--flame", "mem,offcpu",
            "--folded", str(d / "out.folded"), "--svg", str(d / "out.svg")]
    for run in range(2):
        r, _ = conctrace(args, env=env)
        assert r.returncode == 0, r.stderr
        files = sorted(p.name for p in d.iterdir())
        assert files == ["out.json", "out.mem.folded", "out.mem.svg", "out.offcpu.folded",
                         "out.offcpu.svg"], files
        for p in d.iterdir():
            st = p.stat()
            assert (st.st_uid, st.st_gid) == (SUDO_USER, SUDO_USER + 1), p
            assert st.st_mode & 0o7777 == 0o600, (p, oct(st.st_mode))
    # without sudo's variables: root's
    r, _ = conctrace(["--json", str(tmp_path / "root.json")],
                     env={k: v for k, v in os.environ.items() if not k.startswith("SUDO_")})
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "root.json").stat().st_uid == 0


def test_stdout_by_name_is_written_not_replaced(tmp_path):
    """--folded /dev/stdout | flamegraph.pl: the descriptor is written to,
    and /dev/stdout stays the symlink it was."""
    needs_root()
    before = os.readlink("/dev/stdout")
    r, _ = conctrace(["--json", "/dev/stdout"])
    assert r.returncode == 0, r.stderr
    # the text report first (stdio's buffer flushed before), then the JSON
    assert json.loads(r.stdout[r.stdout.index("\n{\n") + 1:])["target"] == "true"
    assert os.readlink("/dev/stdout") == before


# ---- hostile names in a target -------------------------------------------------------

SCRIPT = b'<script>alert("&amp;")</script>\n]]><!--;x y'
LONG = b"&" + b"L" * 4000 + b'<"\n' + b"L" * 92            # 4 KiB
WIDE = "\u00e9".encode() * 100 + b'<"&\n'                 # cut mid-character at 160 B
HOSTILE = {"conn_serve": SCRIPT, "conn_thread": LONG, "reply_flush": WIDE}
EXE_NAME = os.fsdecode(b'evil<"&\n\xc3\xa9x\xff')     # and a byte of no character


def hostile_server(tmp_path):
    """threaded_echo built with three functions renamed, then their names
    rewritten in the symbol table byte for byte (a C compiler takes no such
    identifiers; the ELF format does)."""
    exe = tmp_path / EXE_NAME
    placeholders = {f: f"HOSTILE{i}_".encode() + b"Q" * (len(n) - 9)
                    for i, (f, n) in enumerate(HOSTILE.items())}
    subprocess.run(["gcc", "-O1", "-fno-inline", "-fno-omit-frame-pointer",
                    "-mno-omit-leaf-frame-pointer", "-D_GNU_SOURCE", "-std=c11",
                    f"-I{ROOT / 'servers'}",
                    *[f"-D{f}={p.decode()}" for f, p in placeholders.items()],
                    "-pthread", "-o", str(exe),
                    *[str(ROOT / "servers" / s) for s in
                      ("threaded_echo.c", "server.c", "protocol.c")]],
                   check=True, capture_output=True)
    data = exe.read_bytes()
    for f, p in placeholders.items():
        assert data.count(p) == 1, f"{f}: {data.count(p)} copies of its name"
        data = data.replace(p, HOSTILE[f])
    exe.write_bytes(data)
    return exe


def promtool():
    tool = shutil.which("promtool")
    assert tool, "promtool is not installed: run `sudo make deps` (Debian's prometheus)"
    return tool


def test_hostile_symbol_names(tmp_path):
    needs_root()
    tool = promtool()
    exe = hostile_server(tmp_path)
    out = tmp_path / "out"
    ct = subprocess.Popen([str(CONCTRACE), "--prometheus", "127.0.0.1:0",
                           "--flame", "syscalls,offcpu", "--svg", f"{out}.svg",
                           "--folded", f"{out}.folded", "--json", f"{out}.json",
                           "--", str(exe), "-p", "0"],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        port = int(wait_line(ct.stderr, re.compile(
            rb"serving metrics on http://127\.0\.0\.1:(\d+)/metrics")).group(1))
        server_port = int(wait_line(ct.stderr, LISTEN_RE).group(1))
        subprocess.run([str(LOADGEN), "-p", str(server_port), "-c", "20", "-n", "50", "-q"],
                       check=True, capture_output=True, timeout=60)
        time.sleep(1.2)     # the page is rebuilt at most once a second
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
            page = resp.read()
        lint = subprocess.run([tool, "check", "metrics"], input=page, capture_output=True)
    finally:
        ct.send_signal(signal.SIGINT)
        _, err = ct.communicate(timeout=60)
    assert ct.returncode == 0, err.decode(errors="replace")
    assert lint.returncode == 0, (lint.stdout + lint.stderr).decode()
    # the command line, in the target label, escaped as the format says
    target = [line for line in page.decode().splitlines()
              if line.startswith("conctrace_info{")]
    assert target and 'evil<\\"&\\n\u00e9x\ufffd' in target[0], target

    rep = json.loads((tmp_path / "out.json").read_bytes())
    assert rep["target"].startswith(os.fsencode(exe).decode(errors="replace")), rep["target"]
    assert rep["connections"]["total"] == 20

    seen = set()
    for view in ("syscalls", "offcpu"):
        root = ET.parse(tmp_path / f"out.{view}.svg").getroot()
        # no element from the names: only the page's own script
        assert len(root.findall(f".//{SVG_NS}script")) == 1
        assert not root.findall(".//script") and not root.findall(f".//{SVG_NS}foreignObject")
        titles = [t.text or "" for t in root.iter(f"{SVG_NS}title")]
        # a frame's name is cut at FRAME_LEN (flame.c), a whole character
        names = [t.rpartition(" \u2014 ")[0] for t in titles]
        assert max(len(n.encode()) for n in names) < FRAME_LEN, max(names, key=len)
        seen |= {f for f, n in HOSTILE.items()
                 if any(t.startswith(n.decode(errors="replace")[:20].replace(";", ":")
                                     .replace("\n", "?")) for t in titles)}
        for line in (tmp_path / f"out.{view}.folded").read_text().splitlines():
            assert re.fullmatch(r"[^\n]+ \d+", line), line
    # each name was on some stack, so each went through the escaping
    assert seen == set(HOSTILE), f"frames seen: {seen}"


# ---- the threat model points at tests that exist ---------------------------------------

def test_security_doc_names_real_tests():
    """Every test docs/security.md names for a bound (`file::name`, or
    `::name` after one) is there, so the page cannot point at nothing."""
    doc = (ROOT / "docs" / "security.md").read_text()
    files = {p.name: p for p in (ROOT / "tests").rglob("test_*") if p.suffix in (".py", ".c")}
    current, checked = None, 0
    for ref in re.findall(r"`([^`]*(?:test_\w+\.(?:py|c))?(?:::\w+)?)`", doc):
        m = re.fullmatch(r"(?:[\w/.]*?(test_\w+\.(?:py|c)))?(?:::(\w+))?", ref)
        if not m or not (m.group(1) or m.group(2)):
            continue
        if m.group(1):
            assert m.group(1) in files, f"docs/security.md names {ref}: no such file"
            current = files[m.group(1)]
        if m.group(2):
            assert current, f"{ref} follows no file"
            text = current.read_text()
            assert re.search(rf"(def|void) {m.group(2)}\(", text), \
                f"docs/security.md names {ref}: not in {current.relative_to(ROOT)}"
            checked += 1
    print(f"{checked} tests named in docs/security.md, all found")
    assert checked >= 15
