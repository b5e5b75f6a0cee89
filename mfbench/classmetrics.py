"""Class metrics from confusion matrices, and which framework decides for each optimizer.

Torch-free (tables, objectives and the report use it). ``macro_prf`` follows scikit-learn's
``precision_recall_fscore_support(average="macro", zero_division=0)``: per-class precision,
recall and F1 averaged over the labels present in the truth or the predictions, 0 for a class
that is never predicted. It works on a stack of matrices (``(..., K, K)``, rows = truth), so a
whole table's runs are scored in one call; an all-NaN matrix (no matrix recorded) gives NaN.
"""

from __future__ import annotations

import numpy as np

#: how the registry's adapter modules map to the library that makes the decisions
_MODULE_FRAMEWORK = {
    "optuna_adapter": "Optuna", "hyperopt_adapter": "hyperopt", "smac_adapter": "SMAC",
    "hpbandster_adapter": "hpbandster", "keras_tuner_adapter": "Keras Tuner", "dehb_adapter": "DEHB",
    "ray_adapter": "Ray Tune", "ray_tune_adapter": "Ray Tune",
}  # fmt: skip
#: fixed display order of the frameworks (mfbench's own last)
FRAMEWORKS = ("Optuna", "hyperopt", "SMAC", "hpbandster", "Keras Tuner", "DEHB", "Ray Tune", "mfbench")


def framework_of(optimizer: str) -> str:
    """The library that decides for ``optimizer``: its adapter module in the registry, ``ray-*``
    for Ray Tune, else mfbench's own (random, grid, GA, OptiML and unknown names)."""
    from mfbench.optimizers.base import REGISTRY

    if optimizer.startswith("ray-"):
        return "Ray Tune"
    target = REGISTRY.get(optimizer, "")
    module = target.split(":")[0].rsplit(".", 1)[-1]
    return _MODULE_FRAMEWORK.get(module, "mfbench")


def macro_prf(cm: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Macro precision, recall and F1 of each confusion matrix in ``cm`` (``(..., K, K)``, rows = truth)."""
    cm = np.asarray(cm, dtype=np.float64)
    tp = np.diagonal(cm, axis1=-2, axis2=-1)
    pred, true = cm.sum(axis=-2), cm.sum(axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = np.where(pred > 0, tp / np.where(pred > 0, pred, 1.0), 0.0)
        r = np.where(true > 0, tp / np.where(true > 0, true, 1.0), 0.0)
        f = np.where(p + r > 0, 2 * p * r / np.where(p + r > 0, p + r, 1.0), 0.0)
        labels = (true > 0) | (pred > 0)
        n = labels.sum(axis=-1)
        out = [np.where(n > 0, np.where(labels, x, 0.0).sum(axis=-1) / np.where(n > 0, n, 1), np.nan) for x in (p, r, f)]
    missing = np.isnan(cm).any(axis=(-2, -1))
    return tuple(np.where(missing, np.nan, x) for x in out)  # type: ignore[return-value]


def normalize_rows(cm: np.ndarray) -> np.ndarray:
    """Each row (true class) divided by its total: the fraction of that class predicted as each label."""
    cm = np.asarray(cm, dtype=np.float64)
    tot = cm.sum(axis=-1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(tot > 0, cm / np.where(tot > 0, tot, 1.0), 0.0)
