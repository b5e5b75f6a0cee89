"""Optimum, worst value and full-budget cost of every LCBench task at epoch 48 (the ladder's
top), written to ``mfbench/objectives/lcbench_reference.json``, which ``mfbench.objectives.lcbench`` reads.

Why a search and not YAHPO's ``instance_target_statistics.csv``: that file's min/max come from
YAHPO's own random search over all epochs, not at a fixed epoch, so it is no optimum at epoch
48 (it is copied into the output for comparison). The search, per task: 100,000 configurations
drawn uniformly (log-uniform where the space is log-scaled, integers rounded) with a fixed
seed, then 10 rounds of local refinement (2,000 Gaussian perturbations, sd 0.03 in the unit
cube, around the 20 best so far). ``worst`` is the worst of the random sample;
``full_budget_cost`` the median over 10,000 of them of the running-maximum ``time`` at 48.

    PYTHONPATH=. python scripts/lcbench_reference.py   # about 6 minutes on a shared core
"""

from __future__ import annotations

import csv
import json
import sys
import time

import numpy as np

from mfbench.objectives import lcbench

N_RANDOM, ROUNDS, PER_ROUND, TOP, SD, N_COST = 100_000, 10, 2_000, 20, 0.03, 10_000


def _bounds(m: lcbench.Model) -> list[tuple[float, float, bool, bool]]:
    return [
        (float(m.hp[k]["lower"]), float(m.hp[k]["upper"]), bool(m.hp[k]["log"]), k in lcbench.INTEGERS)
        for k in lcbench.HYPERPARAMETERS
    ]


def to_values(U: np.ndarray, bounds) -> np.ndarray:
    """Unit cube -> hyperparameter values (log-aware, integers rounded)."""
    X = np.empty_like(U)
    for j, (lo, hi, log, integer) in enumerate(bounds):
        u = np.clip(U[:, j], 0.0, 1.0)
        v = np.exp(np.log(lo) + u * (np.log(hi) - np.log(lo))) if log else lo + u * (hi - lo)
        X[:, j] = np.clip(np.round(v), lo, hi) if integer else np.clip(v, lo, hi)
    return X


def main() -> int:
    m = lcbench.model()
    bounds = _bounds(m)
    stats: dict[str, dict[str, float]] = {}
    with open(m.data_dir / "instance_target_statistics.csv") as fh:
        for row in csv.DictReader(fh):
            if row["scenario"] == "lcbench":
                stats.setdefault(row["instance"], {})[f"{row['metric']}_{row['statistic']}"] = float(row["value"])
    out = {
        "source": f"random search: {N_RANDOM:,} uniform configs + {ROUNDS}x{PER_ROUND:,} local refinements "
        "per task at epoch 48 (scripts/lcbench_reference.py)",
        "ladder": list(lcbench.LADDER),
        "model_sha256": lcbench.MODEL_SHA256,
        "tasks": {},
    }
    t0 = time.perf_counter()
    for task in lcbench.TASKS:
        obj = lcbench.LCBenchObjective(task)
        rng = np.random.default_rng([20, int(task)])
        U = rng.random((N_RANDOM, len(bounds)))
        X = to_values(U, bounds)
        P = obj._predict(X, [obj.max_budget])[0]
        val, _ = lcbench._errors(P)
        worst = float(val.max())
        best_U, best_v = U, val
        for _ in range(ROUNDS):
            top = np.argsort(best_v)[:TOP]
            Un = np.clip(
                best_U[top][rng.integers(TOP, size=PER_ROUND)] + rng.normal(0, SD, (PER_ROUND, len(bounds))), 0, 1
            )
            vn = lcbench._errors(obj._predict(to_values(Un, bounds), [obj.max_budget])[0])[0]
            best_U, best_v = np.concatenate([best_U[top], Un]), np.concatenate([best_v[top], vn])
        i = int(np.argmin(best_v))
        xb = to_values(best_U[i : i + 1], bounds)[0]
        cfg = {k: (int(v) if k in lcbench.INTEGERS else float(v)) for k, v in zip(lcbench.HYPERPARAMETERS, xb)}
        v_best, t_best = obj.true_value(cfg)
        Pc = obj._predict(X[:N_COST], list(lcbench.LADDER))[:, :, 0].astype(np.float64)
        cost = float(np.median(np.maximum.accumulate(Pc, axis=0)[-1]))
        st = stats.get(task, {})
        out["tasks"][task] = {
            "optimum": {"val_error": v_best, "test_error": t_best},
            "optimum_config": cfg,
            "worst_val_error": worst,
            "random_best_val_error": float(val.min()),
            "full_budget_cost": cost,
            "yahpo_statistics": {
                "best_val_error_any_epoch": 1 - st.get("val_accuracy_max", float("nan")) / 100,
                "worst_val_error_any_epoch": 1 - st.get("val_accuracy_min", float("nan")) / 100,
            },
        }
        print(
            f"{task}: optimum {v_best:.5f} (random best {val.min():.5f}, YAHPO stats best "
            f"{out['tasks'][task]['yahpo_statistics']['best_val_error_any_epoch']:.5f}), worst {worst:.4f}, "
            f"cost {cost:.1f}s  [{time.perf_counter() - t0:.0f}s]",
            flush=True,
        )
    lcbench.REFERENCE_FILE.write_text(json.dumps(out, indent=1) + "\n")
    print(f"wrote {lcbench.REFERENCE_FILE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
