#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""200,000 short connections through conctrace against epoll_echo (issue 8).

Runs tests/integration/test_faults.py's churn test in full mode with
--churn connections (200,000 by default; `make test` runs 20,000) in
batches of 10,000, one PING each, then closed: the test's own line is
printed (time, conctrace's RSS after the first batch and at the end, the
connection map's occupancy after each batch, lost events, the ring), and
its figures, which the test writes to a file for this bench
(CONCTRACE_CHURN_JSON), as docs/hardening.md's block `fig:bench.churn`
under a line naming the run (command, commit, machine, kernel, the count
of others' tracing programs seen during it). The test's asserts hold (map
empty after every batch, every connection counted, no event lost,
conctrace's RSS within 256 KiB): a run that fails them writes nothing.

--write writes the block there, and every quote of it in README.md and
docs/ (scripts/benchlib.py), refusing a run others' tracing programs
touched unless --shared; --from FILE writes a saved output's, running
nothing.

Usage (root): sudo make bench-churn [BENCH_ARGS="[--churn N] [--write [--shared]]"]
Exit status: 0 measured (and written), 1 the test failed or --write refused, 2 bad usage.
"""

import argparse
import json
import os
import subprocess
import tempfile
import time
from functools import partial
from pathlib import Path

from benchlib import OthersSeen, add_write_options, die, print_run, write_printed, write_saved

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "hardening.md"
BLOCK = "bench.churn"
TEST = ("tests/integration/test_faults.py", "-k", "test_connection_churn and full")


def descendants(pid):
    """pid and every process under it (the test's conctrace among them)."""
    children = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            # the command may hold spaces and parentheses: ppid follows the last ')'
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    out, todo = set(), [pid]
    while todo:
        p = todo.pop()
        out.add(p)
        todo += children.get(p, [])
    return out


def block_text(r):
    """The test's figures as docs/hardening.md's block shows them: units in
    the headers, so that each cell is a figure prose may quote."""
    c, t, occ = r["connections"], r["tracer"], r["occupancy"]
    growth = (r["rss_end"] - r["rss_start"]) / r["connections_made"]
    return "\n".join([
        f"epoll_echo under conctrace (full mode): {r['connections_made']:,} connections from "
        f"loadgen in batches of {r['batch']:,}, one PING each, then closed "
        "(tests/integration/test_faults.py's churn test).", "",
        "| run | seconds | connections made | connections counted | batches "
        "| batches leaving the map empty | lost events | untracked | open at end "
        "| KiB conctrace RSS after the first batch | KiB conctrace RSS at the end "
        "| B conctrace RSS growth per connection | records through the overflow map |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
        f"| full | {r['seconds']:.0f} | {r['connections_made']:,} | {c['total']:,} | {len(occ)} "
        f"| {occ.count(0)} | {r['lost_events']} | {c.get('not_tracked', 0)} "
        f"| {c['open_at_end']} | {r['rss_start'] // 1024:,} | {r['rss_end'] // 1024:,} "
        f"| {growth:.2f} | {t['ring_overflow_records']:,} |"]) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--churn", type=int, default=200000,
                    help="connections (default 200,000), in batches of 10,000")
    add_write_options(ap, "docs/hardening.md's block")
    opts = ap.parse_args()
    if write_saved(opts, partial(write_printed, DOC, BLOCK)):
        return 0
    if os.geteuid() != 0:
        die("needs root to load BPF (try sudo)")
    python = os.environ.get("PYTHON", "/usr/bin/python3")
    with tempfile.TemporaryDirectory(prefix="bench-churn-") as tmp:
        figures = Path(tmp) / "churn.json"
        env = dict(os.environ, CONCTRACE_CHURN=str(opts.churn), CONCTRACE_CHURN_JSON=str(figures))
        test = subprocess.Popen([python, "-m", "pytest", "-q", "-s", *TEST,
                                 "-p", "no:cacheprovider"], cwd=ROOT, env=env)
        # others' programs looked for all through the run: tests come and
        # go within it; the test's own conctrace is not another's
        seen = OthersSeen()
        while test.poll() is None:
            seen.look(descendants(test.pid))
            time.sleep(1)
        others = seen.others()
        if test.returncode != 0:
            die(f"the churn test failed (pytest exited {test.returncode}): nothing written")
        if not figures.exists():
            die("the churn test wrote no figures (was it skipped?): nothing written")
        r = json.loads(figures.read_text())
    print_run(DOC, BLOCK, block_text(r), others, opts)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
