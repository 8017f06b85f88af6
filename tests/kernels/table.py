# SPDX-License-Identifier: MIT
"""The feature x kernel table: Markdown, for the README and the terminal.

Columns are the kernels as they were run; rows are the kernel itself
(release, package), each mode and each server (passed / run, and the
first failure where there is one), what each kernel lacks as conctrace
itself says (`conctrace -V`: the programs it leaves out there, why, and
what stands in or which figure is lost; and the warnings of the runs),
and the slab sizes that differ between kernels. Below it, each kernel's
exact /proc/version.
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


def _probe_cell(facts):
    """Whether each mode loads, as `conctrace -V` says; its refusal if any."""
    modes = facts.left_out()
    if not modes:
        lines = [l for l in facts.probe.splitlines() if l.startswith("conctrace:")]
        return lines[-1] if lines else "?"
    return ", ".join(f"{m} {'loads' if entries is not None else 'does not load'}"
                     for m, entries in modes.items())


def _why(why):
    """Why a program is left out, as a cell holds it."""
    for pattern, short in ((r"this kernel has no \S+ (tracepoint|iterator)$", r"no \1"),
                           (r"this kernel's \S+ tracepoint takes (\d+) arguments, not (\d+)$",
                            r"takes \1 arguments, not \2"),
                           # the verifier's word, not where it stopped (", at: the C line")
                           (r"the kernel refused \S+: (?:BPF program load failed: )?(.*?)"
                            r"(?:, at: .*)?$", r"refused: \1")):
        if re.match(pattern, why):
            return re.sub(pattern, short, why)
    return why


THEN = {"a stand-in measures the same": "stand-in", "": "**figure lost**",
        "userspace walks the connection map instead": "userspace walks the map"}


def _left_out_cell(modes, what):
    """What a kernel's -V says of `what`, mode by mode: 'present' where the
    mode loads without leaving it out, '?' where -V could not tell."""
    if not modes:
        return "?"
    said = {}
    for mode, entries in modes.items():
        if entries is None:
            said[mode] = "?"
            continue
        hit = next(((why, then) for w, why, then in entries if w == what), None)
        said[mode] = f"{_why(hit[0])}; {THEN.get(hit[1], hit[1])}" if hit else "present"
    if len(set(said.values())) == 1:
        return next(iter(said.values()))
    return ", ".join(f"{mode}: {text}" for mode, text in said.items())


def _warnings_cell(run):
    """conctrace's warnings over the kernel's runs, each once."""
    seen = []
    for r in run.ordered():
        for w in r.warnings:
            if w not in seen:
                seen.append(w)
    return "; ".join(seen) or ("none" if run.results else "?")


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
    rows.append(["`conctrace -V`", *(_probe_cell(run.facts) for run in runs)])
    left_out = {run.name: run.facts.left_out() for run in runs}
    subjects = []
    for per_mode in left_out.values():
        for entries in per_mode.values():
            for what, _, _ in entries or []:
                if what not in subjects:
                    subjects.append(what)
    for what in subjects:
        label = f"`{what}`" if what.startswith(("on_", "sweep_", "snapshot_")) else what
        rows.append([label, *(_left_out_cell(left_out[run.name], what) for run in runs)])
    rows.append(["threads at peak with 4 io_uring workers",
                 *(("" if ok else "**FAIL** ") + what
                   for ok, what in (run.io_workers() for run in runs))])
    rows.append(["connections a forked child serves (full mode)",
                 *(("" if ok else "**FAIL** ") + what
                   for ok, what in (run.forked() for run in runs))])
    rows.append(["warnings in runs", *(_warnings_cell(run) for run in runs)])
    for cache in SIZES_SHOWN:
        rows.append([f"`{cache}` slab_size",
                     *(str(run.facts.size_of(cache) or "?") for run in runs)])

    lines = ["| " + " | ".join(_cell(c) for c in header) + " |",
             "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    lines.append("")
    lines += [f"- {run.name}: `{run.facts.version}`" for run in runs]
    return "\n".join(lines) + "\n"

