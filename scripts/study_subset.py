"""A part of a study folder as a study folder of its own, for a report on what has finished:
the run files of some seeds (optionally only the benchmarks where every optimizer has all of
them), the manifest narrowed to those runs, and the merged trajectories.

    python scripts/study_subset.py runs/lcbench runs/lcbench-s0 --seeds 0
    python scripts/study_subset.py runs/lcbench runs/lcbench-5seeds --seeds 0-4 --complete
    python -m mfbench report runs/lcbench-s0

The LCBench study (issue 20) runs for days on a 2-core machine, task by task; its seed-0 part
and its tasks with all five seeds are the verdicts that can be read before it ends. The source
folder is only read; the destination must not exist.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

from mfbench.cli.args import parse_int_list
from mfbench.studies.runfiles import merge_runs, run_filename


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("src")
    p.add_argument("dst")
    p.add_argument("--seeds", required=True, help="0 or 0-4 or 0,2")
    p.add_argument("--complete", action="store_true", help="only benchmarks where every optimizer has every seed")
    a = p.parse_args(argv)
    src, dst = Path(a.src), Path(a.dst)
    seeds = parse_int_list(a.seeds, "--seeds")
    if not (src / "manifest.json").is_file():
        print(f"study_subset: {src} holds no manifest.json", file=sys.stderr)
        return 2
    if dst.exists():
        print(f"study_subset: {dst} exists; give a new folder", file=sys.stderr)
        return 2
    man = json.loads((src / "manifest.json").read_text())
    optimizers = sorted(man["optimizers"])
    benchmarks = sorted(man["benchmarks"])

    def present(b: str) -> list[tuple[str, int]]:
        return [(o, s) for o in optimizers for s in seeds if (src / "runs" / run_filename(b, o, s)).exists()]

    keep = [b for b in benchmarks if present(b) and (not a.complete or len(present(b)) == len(optimizers) * len(seeds))]
    if not keep:
        print(f"study_subset: no benchmark of {src} has runs of seeds {a.seeds}", file=sys.stderr)
        return 2
    (dst / "runs").mkdir(parents=True)
    for b in keep:
        for o, s in present(b):
            shutil.copy2(src / "runs" / run_filename(b, o, s), dst / "runs" / run_filename(b, o, s))
    wanted = {(b, o, s) for b in keep for o, s in present(b)}
    man["runs"] = [r for r in man["runs"] if (r["benchmark"], r["optimizer"], r["seed"]) in wanted]
    man["failures"] = [f for f in man.get("failures", []) if f.get("benchmark") in keep and f.get("seed") in seeds]
    man["benchmarks"] = {b: man["benchmarks"][b] for b in keep}
    man["seeds"] = sorted(seeds)
    man["seeds_by_benchmark"] = {b: sorted(seeds) for b in keep}
    man["budget"]["seconds"] = {b: v for b, v in man["budget"]["seconds"].items() if b in keep}
    man["command"] = f"{man.get('command', '')}  [subset: {' '.join(sys.argv[1:])}]"
    (dst / "manifest.json").write_text(json.dumps(man, indent=1))
    merge_runs(dst)
    print(f"{dst}: {len(wanted)} runs of {len(keep)} benchmarks, seeds {a.seeds}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
