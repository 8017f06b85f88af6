# SPDX-License-Identifier: MIT
"""conctrace under valgrind's memcheck: one short --load run.

Every memcheck error fails the test (--error-exitcode), and so does any
definitely lost block. valgrind.supp silences only valgrind's model of the
bpf() syscall when libbpf calls it (fields of union bpf_attr a command does
not use, the NULL first key of map iteration); each entry says why. The
target and loadgen are exec'd, so they run natively, not under valgrind.
"""

import json
import re
import shutil
import subprocess

import pytest

from conftest import ROOT, binary
from test_conctrace import CONCTRACE, PING_BYTES, needs_root

VALGRIND_ERROR = 99


def test_conctrace_runs_clean_under_memcheck(tmp_path):
    needs_root()
    if not shutil.which("valgrind"):
        pytest.fail("valgrind is not installed: run `make deps`", pytrace=False)
    log = tmp_path / "memcheck.log"
    path = tmp_path / "r.json"
    r = subprocess.run(["valgrind", "--tool=memcheck", f"--error-exitcode={VALGRIND_ERROR}",
                        "--leak-check=full", "--errors-for-leak-kinds=definite",
                        "--track-fds=no", f"--log-file={log}",
                        f"--suppressions={ROOT / 'tests/integration/valgrind.supp'}",
                        str(CONCTRACE), "--load=-c 20 -n 3 -q", "--json", str(path), "--",
                        str(binary("epoll_echo")), "-p", "0"],
                       capture_output=True, text=True, timeout=180)
    text = log.read_text()
    summary = re.search(r"ERROR SUMMARY: (\d+) errors", text)
    print(summary.group(0) if summary else "no summary",
          re.findall(r"suppressed: \d+ from \d+", text)[-1:])
    assert r.returncode != VALGRIND_ERROR, text[-4000:]
    assert r.returncode == 0, r.stderr
    assert summary and summary.group(1) == "0", text[-4000:]
    assert "definitely lost" not in text or "definitely lost: 0 bytes" in text, text[-4000:]
    # and it measured what it measures natively
    rep = json.loads(path.read_text())
    assert rep["connections"]["total"] == 20
    assert all(c["bytes_rx"] == 3 * PING_BYTES for c in rep["conns"])
