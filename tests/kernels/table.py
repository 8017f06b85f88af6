# SPDX-License-Identifier: MIT
"""The feature x kernel table: Markdown, for the README and the terminal.

Columns are the kernels as they were run; rows are the kernel itself
(release, package), each mode and each server (passed / run, and the
first failure where there is one), the tracepoints and iterators each
kernel lacks (from conctrace's own warnings), and the slab sizes that
differ between kernels. Below it, each kernel's exact /proc/version.
"""

import re

SIZES_SHOWN = ("TCP", "sock_inode_cache", "filp", "dentry", "task_struct")


def _cell(text):
    return str(text).replace("|", "\\|").replace("\n", " ")


def _short(failure):
    """A failure as a table cell can hold it: a load failure by its reason."""
    return re.sub(r"^conctrace exited \d+: cannot load BPF programs: ", "cannot load: ", failure)


def _tally(results):
    """'pass 4/4', 'refused 4/4', or 'FAIL 1/4: first failure'."""
    if not results:
        return "not run"
    passed = [r for r in results if r.passed]
    if len(passed) == len(results):
        refused = [r for r in results if r.verdict == "refused"]
        if refused:
            return f"refused {len(refused)}/{len(results)}: {refused[0].stderr.strip()}"
        return f"pass {len(results)}/{len(results)}"
    first = next(r for r in results if not r.passed)
    return f"**FAIL** {len(passed)}/{len(results)}: {_short(first.first_failure)}"


def _got_to_load(r):
    """conctrace checked the kernel's tracepoints in this run (it warns of a
    missing one before it loads): the absence of a warning says something.
    A refusal, or a guest that died first, says nothing of them."""
    return bool(r.lacks) or "cannot load BPF programs" in r.stderr or \
        "listening on" in r.stderr


def _server_cell(results):
    """'full pass, light FAIL' for one server's modes."""
    return ", ".join(f"{r.mode} {r.verdict if r.passed else '**FAIL**'}" for r in results) \
        or "not run"


def markdown(runs, servers, modes):
    """runs: matrix.KernelRun of each kernel, in column order."""
    header = ["", *(run.name for run in runs)]
    rows = [
        ["kernel (`uname -r`)", *(f"`{run.facts.release}`" for run in runs)],
        ["package", *(run.package_text() for run in runs)],
    ]
    for mode in modes:
        rows.append([f"{mode} mode", *(_tally([r for r in run.ordered() if r.mode == mode])
                                       for run in runs)])
    for server in servers:
        rows.append([server, *(_server_cell([r for r in run.ordered() if r.server == server])
                               for run in runs)])
    lacks = sorted({(point, kind) for run in runs for r in run.ordered()
                    for point, kind, _ in r.lacks})
    for point, kind in lacks:
        cells = []
        for run in runs:
            progs = sorted({prog for r in run.ordered() for p, k, prog in r.lacks
                            if (p, k) == (point, kind)})
            cells.append(f"missing: {', '.join(progs)} off" if progs
                         else "present" if any(map(_got_to_load, run.ordered())) else "?")
        rows.append([f"`{point}` {kind}", *cells])
    for cache in SIZES_SHOWN:
        rows.append([f"`{cache}` slab_size",
                     *(str(run.facts.size_of(cache) or "?") for run in runs)])

    lines = ["| " + " | ".join(_cell(c) for c in header) + " |",
             "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    lines.append("")
    lines += [f"- {run.name}: `{run.facts.version}`" for run in runs]
    return "\n".join(lines) + "\n"

