"""Where ``mfbench report`` spends its time, and how this checkout compares with another one.

Run: ``python scripts/bench_report.py RUN_DIR [--old REV_OR_PATH] [--repeat 2]``

1. Phases, in this process, on this checkout: imports, load (``load_study``), compute
   (``analyse`` without its figures), figures drawn (the ``plots.plot_*`` calls, including their
   ``tight_layout``), figures saved (``plots.save_figure``: PNG + SVG) and render (sections, both
   formats, writing them). The figure functions are wrapped with timers for this.
2. With ``--old``: ``python -m mfbench report`` of this checkout and of the other one (a git
   revision, checked out in a temporary worktree and removed afterwards, or the path of a
   checkout), alternately ``--repeat`` times each, each in a fresh process, and the ratios
   new/old of the median wall and CPU times (CPU: what a shared machine pays; wall: what the
   user waits). The machine may be shared: alternating the two and taking
   ratios is what makes the numbers comparable; the absolute seconds are not.

Reports go to temporary folders (the study's own ``report/`` is not touched).
"""

from __future__ import annotations

import argparse
import functools
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _checkout import REPO, checkout


def phases(run_dir: Path, out: Path) -> dict[str, float]:
    """Seconds of each phase of one report of ``run_dir`` written to ``out`` (see module docstring)."""
    t0 = time.perf_counter()
    from mfbench.analysis import plots
    from mfbench.analysis.report import render_html, render_markdown
    from mfbench.analysis.report.compute import analyse
    from mfbench.analysis.report.load import load_study
    from mfbench.analysis.report.sections import build_report

    spent = {"imports": time.perf_counter() - t0, "figures drawn": 0.0, "figures saved": 0.0}

    def timed(fn, phase):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            t = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                spent[phase] += time.perf_counter() - t

        return wrapper

    originals = {n: getattr(plots, n) for n in dir(plots) if n.startswith("plot_") or n == "save_figure"}
    for name, fn in originals.items():
        setattr(plots, name, timed(fn, "figures saved" if name == "save_figure" else "figures drawn"))
    try:
        t = time.perf_counter()
        replay = load_study(run_dir)
        spent["load"] = time.perf_counter() - t
        t = time.perf_counter()
        results = analyse(replay, out, [0.25, 1.0], 0.05, 5, 1e-4)  # write_report's defaults
        spent["compute"] = time.perf_counter() - t - spent["figures drawn"] - spent["figures saved"]
        t = time.perf_counter()
        report = build_report(results)
        (out / "report.md").write_text(render_markdown.render(report))
        (out / "index.html").write_text(render_html.render(report))
        spent["render"] = time.perf_counter() - t
    finally:
        for name, fn in originals.items():
            setattr(plots, name, fn)
    return spent


def report_seconds(checkout: Path, run_dir: Path, out: Path) -> tuple[float, float]:
    """Wall and CPU time (user + system) of
    ``python -m mfbench report`` run from ``checkout`` in a fresh process."""
    env = {**os.environ, "PYTHONPATH": str(checkout)}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "mfbench", "report", str(run_dir), "--out", str(out)],
        cwd=checkout,
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def compare(run_dir: Path, old: str, repeat: int, tmp: Path) -> None:
    """Time this checkout and ``old`` alternately; print each time and the ratio of medians."""
    with checkout(old) as old_path:
        times: dict[str, list[tuple[float, float]]] = {"old": [], "new": []}
        for i in range(repeat):
            for name, path in (("old", old_path), ("new", REPO)):
                wall, cpu = report_seconds(path, run_dir, tmp / f"{name}_{i}")
                times[name].append((wall, cpu))
                print(f"  run {i + 1} {name}: {wall:7.1f} s wall, {cpu:7.1f} s CPU", flush=True)
        for k, what in enumerate(("wall", "CPU")):
            old_s = statistics.median(w[k] for w in times["old"])
            new_s = statistics.median(w[k] for w in times["new"])
            print(f"report new/old ({what}): {new_s:.1f} s / {old_s:.1f} s = {new_s / old_s:.2f} (medians of {repeat})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("run_dir", type=Path, help="a replay directory (with manifest.json)")
    ap.add_argument("--old", help="a git revision or the path of a checkout to compare against")
    ap.add_argument("--repeat", type=int, default=2, help="runs of each checkout with --old (default 2)")
    ap.add_argument("--no-phases", action="store_true", help="only the whole-command comparison")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench_report_"))
    try:
        if not args.no_phases:
            spent = phases(args.run_dir, tmp / "phases")
            total = sum(spent.values())
            print(f"phases of one report of {args.run_dir} (this checkout, in-process, figures saved serially):")
            for name in ("imports", "load", "compute", "figures drawn", "figures saved", "render"):
                print(f"  {name:14s} {spent[name]:7.2f} s  {100 * spent[name] / total:5.1f} %")
            print(f"  {'total':14s} {total:7.2f} s")
        if args.old:
            print(f"whole command, this checkout (new) against {args.old} (old), alternately:")
            compare(args.run_dir, args.old, args.repeat, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
