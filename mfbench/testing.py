"""Helpers for tests and benchmarks: tiny synthetic tables and a minimal ask/tell loop.

Tests build their own tables here in milliseconds instead of training CNNs; the values follow
``SyntheticObjective`` so that an optimizer that works on one works on the other.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from mfbench.objectives import Objective, Result, SyntheticObjective
from mfbench.space import config_id, get_space, iter_grid, sample_configs, validate_config
from mfbench.train import EpochRecord, TrialResult


def synthetic_trial(obj: SyntheticObjective, config: dict, seed: int, schedule_epochs: int,
                    noise: float = 0.02, diverge_at: int | None = None) -> TrialResult:
    """A fake trial whose val error decays towards the objective's value, with seeded noise."""
    rng = np.random.default_rng([seed, int(config_id(config), 16) & 0xFFFFFFFF, schedule_epochs])
    final = min(obj._mean(config, schedule_epochs), 0.85)
    recs = []
    for e in range(1, schedule_epochs + 1):
        err = float(np.clip(final + (0.9 - final) * math.exp(-3.0 * e / schedule_epochs) + noise * rng.normal(), 0, 1))
        recs.append(EpochRecord(
            epoch=e, train_loss=err * 2, train_acc=1 - err * 0.8, val_loss=err * 2.2, val_acc=1 - err,
            val_precision=1 - err, val_recall=1 - err, val_f1=1 - err * 1.05, test_loss=err * 2.3,
            test_acc=1 - err - 0.01, test_f1=1 - err * 1.06, lr=0.01, train_seconds=0.1 + 0.001 * config.get("width", 16),
            eval_seconds=0.01,
        ))  # fmt: skip
    status, reason = "ok", ""
    if diverge_at is not None and diverge_at <= schedule_epochs:
        recs = recs[:diverge_at]
        recs[-1].train_loss = float("nan")
        status, reason = "diverged", f"non-finite training loss at epoch {diverge_at}"
    return TrialResult(config=config, config_id=config_id(config), seed=seed, schedule_epochs=schedule_epochs,
                       status=status, reason=reason, epochs=recs, n_params=1000, flops=10000, device="synthetic",
                       host="test")  # fmt: skip


def make_tiny_table(path: str | Path, space: str = "cnn-grid", n_configs: int | None = 12,
                    seeds: Sequence[int] = (0, 1), budgets: Sequence[int] = (1, 3, 9),
                    design_seed: int = 0, diverge: dict[str, int] | None = None) -> Path:
    """Write a small, complete table of synthetic learning curves and return its path.

    ``space="cnn-grid"`` takes the first ``n_configs`` grid points (all when None);
    ``space="cnn"`` samples ``n_configs`` random configs. ``diverge`` maps config ids to the
    epoch at which their runs diverge."""
    from mfbench.collect import make_plan
    from mfbench.table import TableWriter

    cs = get_space(space)
    if space == "cnn-grid":
        configs = list(iter_grid(cs))[: n_configs or None]
    else:
        configs = sample_configs(cs, n_configs or 12, design_seed, "random")
    obj = SyntheticObjective(cs, budgets)
    meta = {
        "benchmark": Path(path).stem, "dataset": "synthetic", "space_name": space,
        "budgets": sorted(budgets), "split": {"n_classes": 10}, "folds": 0, "seeds": list(seeds),
    }  # fmt: skip
    writer = TableWriter.open(path, meta)
    try:
        for job in make_plan(configs, seeds, budgets).jobs:
            d = (diverge or {}).get(config_id(job.config))
            writer.write(synthetic_trial(obj, job.config, job.seed, job.schedule_epochs, diverge_at=d))
    finally:
        writer.close()
    return Path(path)


def drive(optimizer: Any, objective: Objective, n_evals: int, seed: int = 0) -> list[tuple[Any, Result]]:
    """The smallest ask/tell loop (one worker, no clock), for optimizer unit tests.

    Checks on every ask what the runner relies on: a valid config of the space, in Python
    natives, and a budget on the ladder."""
    history = []
    for i in range(n_evals):
        trial = optimizer.ask()
        assert trial.budget in objective.budgets, f"{optimizer.name}: budget {trial.budget} not on {objective.budgets}"
        validate_config(objective.space, trial.config)
        for k, v in trial.config.items():
            assert type(v) in (int, float, str, bool), f"{optimizer.name}: {k}={v!r} is {type(v).__name__}"
        res = objective.evaluate(trial.config, trial.budget, seed * 100_003 + i, mode=trial.mode,
                                 resume_from=trial.resume_from)  # fmt: skip
        optimizer.tell(trial, res)
        history.append((trial, res))
    return history


def best_true_value(objective: Objective, history: list[tuple[Any, Result]], full_budget_only: bool = False) -> float:
    """Noise-free value of the best configuration seen (by observed error, the way an
    incumbent is chosen); with ``full_budget_only``, among max-budget evaluations only."""
    cands = [(r.val_error, t.config) for t, r in history if not full_budget_only or t.budget == objective.max_budget]
    if not cands:
        cands = [(r.val_error, t.config) for t, r in history]
    return objective.true_value(min(cands, key=lambda x: x[0])[1])[0]
