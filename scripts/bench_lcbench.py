"""Speed of the LCBench objectives, side by side in one run: the raw ONNX session, mfbench's
single and batched queries, and (when its venv exists) yahpo_gym's own.

    PYTHONPATH=. python scripts/bench_lcbench.py [--yahpo-python /tmp/yahpo-venv/bin/python] [--repeat 5]

A single ``evaluate`` at a budget above the lowest rung asks the model for the lower rungs too
(the cost is the running maximum of ``time``), in the same call; repeated queries of a config
(the next rung of a Hyperband bracket) hit a per-objective cache. Best of ``--repeat`` runs.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from mfbench.objectives import lcbench

YAHPO = r"""
import json, sys, time
from yahpo_gym import BenchmarkSet
cfgs, reps = json.load(open(sys.argv[1])), int(sys.argv[3])
b = BenchmarkSet("lcbench", instance="3945", multithread=False, check=False)
q = [{**c, "epoch": 48, "OpenML_task_id": "3945"} for c in cfgs]
single = batched = 1e9
for _ in range(reps):
    t = time.perf_counter()
    for c in q[:500]:
        b.objective_function(c)
    single = min(single, (time.perf_counter() - t) / 500)
    t = time.perf_counter()
    for i in range(0, len(q), 1000):
        b.objective_function(q[i:i + 1000])
    batched = min(batched, (time.perf_counter() - t) / len(q))
json.dump({"single": single, "batched": batched}, open(sys.argv[2], "w"))
"""


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--yahpo-python", default="/tmp/yahpo-venv/bin/python")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("-n", type=int, default=10_000, help="configs per batched measurement")
    args = ap.parse_args()
    o = lcbench.LCBenchObjective("3945")
    o.space.seed(0)
    cfgs = [{k: (int(v) if k in lcbench.INTEGERS else float(v)) for k, v in dict(c).items()}
            for c in o.space.sample_configuration(args.n)]  # fmt: skip
    m = o.model
    X = np.column_stack([np.full(args.n, 48.0), o._matrix(cfgs)]).astype(np.float32)
    code = np.full((args.n, 1), m.codes["3945"], dtype=np.int32)
    few = 500

    def single(b):
        o._cache.clear()
        for c in cfgs[:few]:
            o.evaluate(c, b, 0)

    def cached():
        o._cache.clear()
        for c in cfgs[:few]:
            o.evaluate(c, 48, 0)
        t = time.perf_counter()
        for c in cfgs[:few]:
            o.evaluate(c, 24, 0)
        return time.perf_counter() - t

    # (what, queries, function); every repetition runs them all, interleaved, so that a busy
    # moment of a shared machine does not fall on one line only
    plan = [
        ("raw ONNX session, 1 row per call", few, lambda: [m.predict(code[i:i + 1], X[i:i + 1]) for i in range(few)]),
        ("raw ONNX session, 1,000-row calls", args.n,
         lambda: [m.predict(code[i:i + 1000], X[i:i + 1000]) for i in range(0, args.n, 1000)]),
        ("mfbench evaluate(), one at a time, budget 3 (uncached)", few, lambda: single(3)),
        ("mfbench evaluate(), one at a time, budget 48 (uncached)", few, lambda: single(48)),
        ("mfbench evaluate(), cached (the config seen at this rung)", few, cached),
        (f"mfbench evaluate_batch(), {args.n:,} configs, budget 3", args.n,
         lambda: o.evaluate_batch(cfgs, 3, [0] * args.n)),
        (f"mfbench predict_arrays(), {args.n:,} configs, budget 3", args.n, lambda: o.predict_arrays(cfgs, 3)),
        (f"mfbench evaluate_batch(), {args.n:,} configs, budget 48", args.n,
         lambda: o.evaluate_batch(cfgs, 48, [0] * args.n)),
        (f"mfbench predict_arrays(), {args.n:,} configs, budget 48", args.n, lambda: o.predict_arrays(cfgs, 48)),
    ]  # fmt: skip
    secs = [1e9] * len(plan)
    for _ in range(args.repeat):
        for k, (_, n, fn) in enumerate(plan):
            t = time.perf_counter()
            inner = fn()
            dt = inner if isinstance(inner, float) else time.perf_counter() - t
            secs[k] = min(secs[k], dt / n)
    rows: list[tuple[str, float]] = [(what, s) for (what, _, _), s in zip(plan, secs)]
    if Path(args.yahpo_python).exists():
        with tempfile.TemporaryDirectory() as tmp:
            tmp = Path(tmp)
            (tmp / "data").mkdir()
            (tmp / "data" / "lcbench").symlink_to(m.data_dir)
            (tmp / "s.yaml").write_text(f"data_path: {tmp / 'data'}\n")
            (tmp / "c.json").write_text(json.dumps(cfgs))
            env = {**os.environ, "YAHPO_LOCAL_CONFIG": str(tmp / "s.yaml"), "OMP_NUM_THREADS": "1"}
            subprocess.run([args.yahpo_python, "-c", YAHPO, str(tmp / "c.json"), str(tmp / "y.json"), str(args.repeat)],
                           check=True, env=env, stdout=subprocess.DEVNULL)  # fmt: skip
            y = json.loads((tmp / "y.json").read_text())
        rows.append(("yahpo_gym objective_function, one at a time (check=False)", y["single"]))
        rows.append(("yahpo_gym objective_function, 1,000-config lists", y["batched"]))
    raw = rows[1][1]
    print(f"LCBench task 3945, onnxruntime {__import__('onnxruntime').__version__}, one thread; best of {args.repeat}; "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")  # fmt: skip
    print(f"{'what':62s} {'us/query':>10s} {'queries/s':>11s} {'x raw batched':>14s}")
    for what, s in rows:
        print(f"{what:62s} {s * 1e6:10.1f} {1 / s:11,.0f} {s / raw:14.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
