"""mfbench's LCBench answers against the reference, ``yahpo_gym==1.0.2``, query by query.

yahpo_gym cannot live beside mfbench (it pins ConfigSpace <= 0.6.1 and numpy < 2), so it runs
in its own virtual environment, called here in a subprocess:

    python3 -m venv /tmp/yahpo-venv && /tmp/yahpo-venv/bin/pip install yahpo-gym==1.0.2 onnxruntime
    PYTHONPATH=. python scripts/compare_lcbench_yahpo.py [--yahpo-python /tmp/yahpo-venv/bin/python] [-n 12000]

It draws ``n`` random queries (task uniform over the 34, configuration sampled from mfbench's
ConfigSpace space, epoch uniform in 1..52), asks yahpo_gym's
``BenchmarkSet("lcbench", instance=task).objective_function(config)`` one query at a time
(with its input checks on), and compares per target the maximum absolute difference of
mfbench's raw outputs, one at a time, and in one batch per (task, epoch) against yahpo_gym asked
with the same batches (onnxruntime's float32 arithmetic depends on the batch: yahpo_gym's own
batched answers differ from its single ones by a few float32 ulps, reported for scale); then mfbench's mapped
``evaluate`` values (val_error = 1 - val_accuracy/100, test_error = 1 - test_balanced_accuracy)
on the queries whose epoch is inside the ladder's range. Writes the result to
``scripts/results/compare_lcbench_yahpo.txt`` and the golden queries of the tests
(``tests/fixtures/lcbench_yahpo_golden.json``: the first 40 queries with yahpo's answers).
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

ROOT = Path(__file__).resolve().parents[1]
RESULT = ROOT / "scripts" / "results" / "compare_lcbench_yahpo.txt"
GOLDEN = ROOT / "tests" / "fixtures" / "lcbench_yahpo_golden.json"
GOAL = 1e-5

#: runs in the yahpo venv: reads queries from argv[1], writes answers to argv[2]
ORACLE = r"""
import json, sys, time
from yahpo_gym import BenchmarkSet
queries = json.load(open(sys.argv[1]))
benches, out = {}, []
t0 = time.perf_counter()
for q in queries:
    b = benches.get(q["task"])
    if b is None:
        b = benches[q["task"]] = BenchmarkSet("lcbench", instance=q["task"], multithread=False)
    res = b.objective_function({**q["config"], "epoch": q["epoch"], "OpenML_task_id": q["task"]})[0]
    out.append({k: float(v) for k, v in res.items()})
seconds = time.perf_counter() - t0
groups = {}
for i, q in enumerate(queries):
    groups.setdefault((q["task"], q["epoch"]), []).append(i)
batched = [None] * len(queries)
t0 = time.perf_counter()
for (task, epoch), idx in groups.items():
    res = benches[task].objective_function([{**queries[i]["config"], "epoch": epoch, "OpenML_task_id": task}
                                            for i in idx])
    for i, r in zip(idx, res):
        batched[i] = {k: float(v) for k, v in r.items()}
import yahpo_gym, ConfigSpace, numpy, onnxruntime
json.dump({"answers": out, "seconds": seconds, "batched": batched, "batched_seconds": time.perf_counter() - t0,
           "versions": {"yahpo_gym": "1.0.2", "ConfigSpace": ConfigSpace.__version__, "numpy": numpy.__version__,
                        "onnxruntime": onnxruntime.__version__}}, open(sys.argv[2], "w"))
"""


def make_queries(n: int, seed: int) -> list[dict]:
    rng = np.random.default_rng(seed)
    spaces = {t: lcbench.LCBenchObjective(t).space for t in lcbench.TASKS}
    out = []
    for _ in range(n):
        task = lcbench.TASKS[int(rng.integers(len(lcbench.TASKS)))]
        sp = spaces[task]
        sp.seed(int(rng.integers(2**31)))
        cfg = dict(sp.sample_configuration())
        cfg = {k: (int(v) if k in lcbench.INTEGERS else float(v)) for k, v in cfg.items()}
        out.append({"task": task, "config": cfg, "epoch": int(rng.integers(1, lcbench.MAX_EPOCH + 1))})
    return out


def ask_yahpo(python: str, queries: list[dict], data_dir: Path) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        (tmp / "data").mkdir()
        (tmp / "data" / "lcbench").symlink_to(data_dir)
        (tmp / "settings.yaml").write_text(f"data_path: {tmp / 'data'}\n")
        (tmp / "q.json").write_text(json.dumps(queries))
        env = {**os.environ, "YAHPO_LOCAL_CONFIG": str(tmp / "settings.yaml"), "OMP_NUM_THREADS": "1"}
        subprocess.run(
            [python, "-c", ORACLE, str(tmp / "q.json"), str(tmp / "a.json")],
            check=True,
            env=env,
            stdout=subprocess.DEVNULL,
        )
        return json.loads((tmp / "a.json").read_text())


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--yahpo-python", default="/tmp/yahpo-venv/bin/python")
    ap.add_argument("-n", type=int, default=12_000)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    if not Path(args.yahpo_python).exists():
        print(f"compare: {args.yahpo_python} not found (see this script's docstring to make the venv)", file=sys.stderr)
        return 2
    objs = {t: lcbench.LCBenchObjective(t) for t in lcbench.TASKS}
    data_dir = next(iter(objs.values())).model.data_dir
    queries = make_queries(args.n, args.seed)
    oracle = ask_yahpo(args.yahpo_python, queries, data_dir)
    ans = oracle["answers"]
    T = lcbench.TARGETS
    Y = np.array([[a[t] for t in T] for a in ans], dtype=np.float64)
    Yb = np.array([[a[t] for t in T] for a in oracle["batched"]], dtype=np.float64)

    # mfbench, one query at a time
    t0 = time.perf_counter()
    single = np.array(
        [[o[t][0] for t in T] for o in (objs[q["task"]].outputs([q["config"]], q["epoch"]) for q in queries)],
        dtype=np.float64,
    )
    t_single = time.perf_counter() - t0
    # mfbench, one batch per (task, epoch)
    batch = np.empty_like(single)
    groups: dict[tuple, list[int]] = {}
    for i, q in enumerate(queries):
        groups.setdefault((q["task"], q["epoch"]), []).append(i)
    for (task, epoch), idx in groups.items():
        o = objs[task].outputs([queries[i]["config"] for i in idx], epoch)
        batch[idx] = np.column_stack([o[t] for t in T])
    # mapped values through evaluate, where the epoch is inside the ladder's range
    inside = [i for i, q in enumerate(queries) if lcbench.LADDER[0] <= q["epoch"] <= lcbench.LADDER[-1]]
    mapped = np.array(
        [
            [
                (r := objs[queries[i]["task"]].evaluate(queries[i]["config"], queries[i]["epoch"], 0)).val_error,
                r.metrics["test_error"],
            ]
            for i in inside
        ]
    )
    expect = np.column_stack([np.clip(1 - Y[inside, 1] / 100, 0, 1), np.clip(1 - Y[inside, 5], 0, 1)])

    lines = [
        f"mfbench.objectives.lcbench vs yahpo_gym 1.0.2 ({json.dumps(oracle['versions'])}); mfbench: onnxruntime "
        f"{__import__('onnxruntime').__version__}, numpy {np.__version__}",
        f"{len(queries)} random queries (seed {args.seed}) over {len({q['task'] for q in queries})} tasks, "
        f"epochs 1..{lcbench.MAX_EPOCH}; goal: max |difference| <= {GOAL:g}",
        "",
        "max |difference| of mfbench's raw outputs from yahpo_gym's: one query at a time against one at a",
        "time (single), and batched per (task, epoch) against yahpo_gym given the same batches (batched);",
        "for scale, how far yahpo_gym's own batched answers are from its single ones (yahpo b-s), relative",
        "",
        f"{'target':24s} {'single':>10s} {'batched':>10s} {'yahpo b-s':>10s} {'rel. b-s':>10s} {'max |y|':>10s}",
    ]
    worst = 0.0
    for k, t in enumerate(T):
        ds, db = float(np.abs(single[:, k] - Y[:, k]).max()), float(np.abs(batch[:, k] - Yb[:, k]).max())
        dy = np.abs(Yb[:, k] - Y[:, k])
        rel = float((dy / np.maximum(np.abs(Y[:, k]), 1e-12)).max())
        worst = max(worst, ds, db)
        lines.append(f"{t:24s} {ds:10.3g} {db:10.3g} {dy.max():10.3g} {rel:10.3g} {np.abs(Y[:, k]).max():10.4g}")
    dm = np.abs(mapped - expect).max(axis=0)
    lines += [
        "",
        f"evaluate() on the {len(inside)} queries with epoch in {lcbench.LADDER[0]}..{lcbench.LADDER[-1]}: "
        f"max |diff| val_error {dm[0]:.3g}, test_error {dm[1]:.3g} (against yahpo_gym single; evaluate asks the",
        "model for the budget and the lower rungs in one call, for the cost's running maximum)",
        f"all within the goal: {bool(worst <= GOAL and dm.max() <= GOAL)}",
        f"speed, one query at a time: yahpo_gym {len(queries) / oracle['seconds']:,.0f}/s (incl. its checks), "
        f"mfbench outputs() {len(queries) / t_single:,.0f}/s; batched per (task, epoch): yahpo_gym "
        f"{len(queries) / oracle['batched_seconds']:,.0f}/s (groups of ~{len(queries) / len(groups):.0f})",
    ]
    text = "\n".join(lines)
    print(text)
    RESULT.write_text(text + "\n")
    GOLDEN.parent.mkdir(parents=True, exist_ok=True)
    GOLDEN.write_text(
        json.dumps(
            {
                "source": "yahpo_gym 1.0.2 objective_function, scripts/compare_lcbench_yahpo.py",
                "targets": list(T),
                "queries": [{**q, "yahpo": a} for q, a in zip(queries[:40], ans[:40])],
            },
            indent=1,
        )
        + "\n"
    )
    return 0 if worst <= GOAL and dm.max() <= GOAL else 1


if __name__ == "__main__":
    sys.exit(main())
