"""Fit a new surrogate from a learning-curve table: compare the model families of
``surrogates.model`` by cross-validation grouped by configuration, refit the best per target on
all rows, compute the reference optimum, and save it with ``surrogates.store``.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from mfbench.core.errors import UsageError
from mfbench.surrogates.data import (
    COST_TARGET,
    DEFAULT_TARGETS,
    NOISE_TARGET,
    TARGET_FIELDS,
    TrainingData,
    training_data,
)
from mfbench.surrogates.encoding import Encoder
from mfbench.surrogates.gates import failed, fit_gates, gate_record
from mfbench.surrogates.model import (
    FAMILIES,
    Surrogate,
    design_matrices,
    fit_models,
    limit_threads,
    make_model,
    target_ranges,
)
from mfbench.surrogates.quality import quality_table, rank_score, slice_metrics
from mfbench.surrogates.store import (
    FORMAT,
    FORMAT_VERSION,
    check_surrogate_out,
    library_versions,
    model_file,
    save_surrogate,
)

log = logging.getLogger(__name__)


def sample_natives(space: Any, n: int, seed: int) -> list[dict[str, Any]]:
    """``n`` random configs as dicts of natives, converted column-wise (ConfigSpace's own
    per-config ``dict()`` costs about a millisecond each; this costs microseconds)."""
    from mfbench.training.space import space_from_json, space_to_json

    cs = space_from_json(space_to_json(space))
    cs.seed(int(seed))
    confs = cs.sample_configuration(n) if n > 1 else [cs.sample_configuration()]
    A = np.stack([c.get_array() for c in confs])
    out: list[dict[str, Any]] = [{} for _ in range(len(confs))]
    for name, i in cs.index_of.items():
        col = A[:, i]
        act = np.flatnonzero(~np.isnan(col))
        vals = np.asarray(cs[name].to_value(col[act])).tolist()
        if isinstance(vals, list):
            for r, v in zip(act.tolist(), vals):
                out[r][name] = {"True": True, "False": False}.get(v, v) if isinstance(v, str) else v
    return [dict(sorted(c.items())) for c in out]


def _oof(
    family: str,
    X: np.ndarray,
    y: np.ndarray,
    groups: np.ndarray,
    folds: int,
    seed: int,
    n_estimators: int,
    threads: int | None = None,
    target: str | None = None,
) -> np.ndarray:
    from sklearn.model_selection import GroupKFold

    pred = np.full(len(y), np.nan)
    cv = GroupKFold(n_splits=folds, shuffle=True, random_state=seed)
    for tr, te in cv.split(X, y, groups):
        m = make_model(family, seed, n_estimators, threads, target)
        with limit_threads(threads):
            try:
                m.fit(X[tr], y[tr])
                pred[te] = m.predict(X[te])
            except ValueError as exc:  # e.g. kNN with fewer training rows than neighbours
                raise UsageError(
                    f"model family {family} cannot be fitted on this table's {len(tr)}-row folds "
                    f"({one_line(exc)}); leave it out with --families"
                ) from None
    return pred


def oof_full(
    family: str,
    X: np.ndarray,
    y: np.ndarray,
    groups: np.ndarray,
    folds: int,
    seed: int,
    n_estimators: int,
    threads: int | None = None,
    target: str | None = None,
) -> np.ndarray:
    """Out-of-fold predictions of ``family`` for every row (NaN where ``y`` is not finite: those
    rows are neither trained on nor predicted), folds grouped by configuration."""
    ok = np.isfinite(y)
    full = np.full(len(y), np.nan)
    full[ok] = _oof(family, X[ok], y[ok], groups[ok], folds, seed, n_estimators, threads, target)
    return full


def add_coverage(report: dict[str, Any], data: TrainingData, means: Mapping[str, np.ndarray], std: np.ndarray) -> None:
    """Add each slice's noise coverage to the quality report of every error target in ``means``:
    its out-of-fold mean (clipped to the table's range, as ``Surrogate`` clips every prediction)
    and the noise model's out-of-fold std, against the table's per-seed values."""
    from mfbench.surrogates.quality import noise_coverage, slices

    ranges = target_ranges(data)
    arch = data.architectures[data.row_config] if len(data.row_config) else np.zeros(0, dtype=object)
    masks = dict(slices(data.epoch, data.schedule, arch, data.budgets))
    for target, mean in means.items():
        rows = report["targets"].get(target, {}).get("slices") or []
        lo, hi = ranges.get(target, (0.0, 1.0))
        mean = np.clip(mean, lo, hi)
        for row in rows:
            m = masks.get(row["slice"])
            if m is not None:
                row["coverage"] = noise_coverage(data.y_seeds[target][m], mean[m], std[m])


def one_line(exc: BaseException) -> str:
    return "; ".join(part.strip() for part in str(exc).splitlines() if part.strip())


def compare_families(
    data: TrainingData,
    encoder: Encoder,
    *,
    families: Sequence[str] = FAMILIES,
    folds: int = 5,
    seed: int = 0,
    n_estimators: int = 100,
    threads: int | None = None,
) -> dict[str, Any]:
    """Out-of-fold comparison of every family on every target; returns the quality report
    (``targets[name]["chosen"]`` is the family to refit)."""
    for f in families:
        make_model(f, seed)  # unknown names fail before any fitting
    _, X, Xcost = design_matrices(encoder, data)
    n_groups = len(np.unique(data.row_config))
    folds = int(min(folds, n_groups))
    if folds < 2:
        raise UsageError(f"cross-validation needs at least 2 configurations with runs, the table has {n_groups}")
    arch = data.architectures[data.row_config] if len(data.row_config) else np.zeros(0, dtype=object)
    spe = data.seconds_per_epoch
    cost_ok = np.isfinite(spe)
    jobs = [(t, X, data.y[t], data.row_config) for t in (*[t for t in data.y if t != NOISE_TARGET], NOISE_TARGET)]
    jobs.append((COST_TARGET, Xcost[cost_ok], np.log(spe[cost_ok]), np.flatnonzero(cost_ok)))
    report: dict[str, Any] = {"folds": folds, "targets": {}}
    chosen_pred: dict[str, np.ndarray] = {}
    for target, Xt, y, groups in jobs:
        ok = np.isfinite(y)
        if ok.sum() < folds or len(np.unique(groups[ok])) < folds:
            raise UsageError(f"not enough finite values of {target} to cross-validate ({int(ok.sum())})")
        is_error = target in TARGET_FIELDS
        criterion = "mean within-budget Spearman" if is_error else "pooled R²"
        fams: dict[str, Any] = {}
        preds: dict[str, np.ndarray] = {}
        for fam in families:
            t0 = time.perf_counter()
            preds[fam] = oof_full(fam, Xt, y, groups, folds, seed, n_estimators, threads, target)
            pred = preds[fam][ok]
            secs = time.perf_counter() - t0
            pooled = slice_metrics(y[ok], pred)
            entry: dict[str, Any] = {"pooled": pooled, "seconds": round(secs, 2)}
            if is_error:
                rows = quality_table(
                    y[ok], pred, data.epoch[ok], data.schedule[ok], arch[ok], data.budgets, data.y_seeds[target][ok]
                )
                entry["slices"] = rows
                entry["criterion"] = rank_score(rows, data.budgets)
                if not math.isfinite(entry["criterion"]):
                    entry["criterion"] = pooled.get("r2", math.nan)
            else:
                entry["criterion"] = pooled.get("r2", math.nan)
            fams[fam] = entry
            log.info("%s / %s: %s = %.4f (%.1f s)", target, fam, criterion, entry["criterion"], secs)
        scores = {f: (e["criterion"] if math.isfinite(e["criterion"]) else -math.inf) for f, e in fams.items()}
        chosen = max(scores, key=lambda f: scores[f])
        chosen_pred[target] = preds[chosen]
        report["targets"][target] = {
            "chosen": chosen,
            "criterion": criterion,
            "slices": fams[chosen].pop("slices", None),
            "families": {f: {k: v for k, v in e.items() if k != "slices"} for f, e in fams.items()},
        }
    means = {t: p for t, p in chosen_pred.items() if t in TARGET_FIELDS}
    add_coverage(report, data, means, np.maximum(chosen_pred[NOISE_TARGET], 0.0))
    return report


def _reference(surr: Surrogate, data: TrainingData, n_reference: int, seed: int) -> dict[str, Any]:
    """Optimum and bounds of the surrogate's noise-free function: its predictions at the
    largest budget over a fixed random sample of the space plus the training configs."""
    mb = max(data.budgets)
    sample = sample_natives(surr.encoder.space, n_reference, seed) if n_reference > 0 else []
    Xc = surr.encoder.encode_configs([*data.configs, *sample])
    P = surr.predict_rows(surr.encoder.rows(Xc, mb, mb))
    val, test = P["val_error"], P.get("test_error", P["val_error"])
    i = int(np.argmin(val))
    n_tab = len(data.configs)
    at_max = data.is_scratch() & (data.epoch == mb)
    tab_val = data.y["val_error"][at_max]
    return {
        "n_sample": n_reference,
        "seed": seed,
        "optimum": {"val_error": float(val[i]), "test_error": float(test[i])},
        "optimum_config": data.configs[i] if i < n_tab else sample[i - n_tab],
        "worst_val_error": float(np.max(val)),
        "full_budget_cost": float(np.median(P[COST_TARGET][:n_tab]) * mb),
        "table_best_val_error": float(np.nanmin(tab_val)) if tab_val.size else math.nan,
    }


def fit_surrogate(
    table_path: str | Path,
    out: str | Path | None = None,
    *,
    families: Sequence[str] = FAMILIES,
    folds: int = 5,
    seed: int = 0,
    n_estimators: int = 100,
    targets: Sequence[str] = DEFAULT_TARGETS,
    n_reference: int = 20_000,
    name: str | None = None,
    threads: int | None = None,
    allow_below_gate: bool = False,
) -> Surrogate:
    """Compare the families by grouped CV, refit the best per target on all rows, compute the
    reference optimum, and (with ``out``) save model files, manifest and quality report.

    The gates fit can judge (``surrogates.gates.fit_gates``) are recorded in the manifest; with
    ``out``, a surrogate that misses one is refused before anything is written, unless
    ``allow_below_gate`` (recorded too)."""
    from mfbench.tables.table import load_table

    bad = [t for t in targets if t not in TARGET_FIELDS]
    if bad or "val_error" not in targets:
        raise UsageError(f"targets must include val_error and be among {', '.join(TARGET_FIELDS)}; got {list(targets)}")
    if out is not None:
        check_surrogate_out(out, (table_path,))
    table = load_table(table_path)
    data = training_data(table, tuple(targets))
    encoder = _encoder_for(table)
    report = compare_families(
        data, encoder, families=families, folds=folds, seed=seed, n_estimators=n_estimators, threads=threads
    )
    gates = fit_gates(report)
    below = failed(gates)
    if out is not None and below and not allow_below_gate:
        raise UsageError(
            f"the surrogate misses its gates ({', '.join(below)}); nothing written to {out} "
            "(--allow-below-gate writes it anyway and records that in its manifest)"
        )
    chosen = {t: r["chosen"] for t, r in report["targets"].items()}
    models = fit_models(data, encoder, chosen, seed, n_estimators, threads)
    name = name or (Path(out).name if out else table.meta.get("benchmark", Path(table_path).stem))
    manifest = _manifest(
        name,
        table,
        table_path,
        data,
        encoder,
        chosen,
        report,
        dict(
            families=list(families),
            folds=folds,
            seed=seed,
            n_estimators=n_estimators,
            targets=list(targets),
            n_reference=n_reference,
        ),
    )
    report.update(name=name, table=str(table_path), n_configs=len(data.configs), n_rows=int(len(data.epoch)))
    manifest["target_range"] = target_ranges(data)
    manifest["gates"] = gate_record(gates, allow_below_gate)
    surr = Surrogate(encoder, models, manifest, None, report, threads=threads)
    manifest["reference"] = _reference(surr, data, n_reference, seed)
    if out is not None:
        save_surrogate(surr, out)
    return surr


def _encoder_for(table: Any) -> Encoder:
    from mfbench.training.space import get_space, space_from_json

    sj = table.meta.get("space_json")
    space = (
        space_from_json(sj if isinstance(sj, str) else json.dumps(sj)) if sj else get_space(table.meta["space_name"])
    )
    return Encoder(space, [int(b) for b in table.budgets])


def _manifest(
    name: str,
    table: Any,
    table_path: str | Path,
    data: TrainingData,
    encoder: Encoder,
    chosen: Mapping[str, str],
    report: Mapping[str, Any],
    options: dict[str, Any],
) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "name": name,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "table": {
            "path": str(Path(table_path).resolve()),
            "file": Path(table_path).name,
            "benchmark": table.meta.get("benchmark", ""),
            "data_sha256": data.digest,
            "n_configs": len(data.configs),
            "seeds": [int(s) for s in table.seeds],
        },
        "dataset": table.meta.get("dataset", ""),
        "space_name": table.meta.get("space_name", ""),
        "space_json": encoder.space_json,
        "budgets": encoder.budgets,
        "n_classes": table.n_classes,
        "encoder": encoder.spec(),
        "versions": library_versions(),
        "fit_options": options,
        "models": {
            t: {"family": f, "file": model_file(t, f), "cv_criterion": report["targets"][t]["families"][f]["criterion"]}
            for t, f in chosen.items()
        },
    }
