"""Fit, compare, save and load surrogate models of a learning-curve table.

A surrogate is a set of scikit-learn regressors over the rows of ``surrogates.data``: one per
target (val error, test error, ...), one for the per-seed spread of the val error (the noise
model) and one for the log of the seconds per epoch (the cost model: cumulative seconds =
seconds per epoch x epochs, monotone by construction). Each is chosen among model families by
cross-validation grouped by configuration. Saved with skops (no pickle: loading runs no code
from the file), beside a manifest that records the sha256 of every file and of the training
data, the library versions and the choices; a file whose hash differs is refused, and a
manifest written by other library versions makes the loader refit from its table.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import math
import os
import platform
import shutil
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mfbench.core.errors import UsageError, read_json
from mfbench.core.io import inside, jsonable, safe_name
from mfbench.surrogates.data import (
    COST_TARGET,
    DEFAULT_TARGETS,
    NOISE_TARGET,
    TARGET_FIELDS,
    TrainingData,
    training_data,
)
from mfbench.surrogates.encoding import Encoder
from mfbench.surrogates.quality import quality_table, rank_score, slice_metrics, to_markdown

log = logging.getLogger(__name__)

FORMAT = "mfbench-surrogate"
FORMAT_VERSION = 1
#: libraries whose version decides whether a saved model file means the same thing
REFIT_LIBRARIES = ("numpy", "scikit-learn", "skops")
#: candidates for every target; two complexities of boosting because the right one depends on how
#: densely the table covers its space (grid: 31 leaves win; 256 Sobol configs over 17
#: hyperparameters: 7 leaves and half the features per split, +0.06 within-budget Spearman)
FAMILIES = ("extra_trees", "random_forest", "hist_gbm", "hist_gbm_small", "knn")


_CONTROLLER: Any = None
PREDICT_CHUNK = 16_384


def limit_threads(n: int | None) -> Any:
    """Cap OpenMP threads (HistGradientBoosting): on a busy machine its spinning threads run
    tens of times slower than one thread. ``None`` leaves the library default."""
    global _CONTROLLER
    if n is None:
        return contextlib.nullcontext()
    if _CONTROLLER is None:
        import sklearn.ensemble  # noqa: F401  (loads the OpenMP runtime the controller must see)
        from threadpoolctl import ThreadpoolController

        _CONTROLLER = ThreadpoolController()
    return _CONTROLLER.limit(limits=int(n), user_api="openmp")


def make_model(family: str, seed: int, n_estimators: int = 100, threads: int | None = None) -> Any:
    """The candidate families, with settings fixed in advance (no tuning on the test folds)."""
    from sklearn.ensemble import ExtraTreesRegressor, HistGradientBoostingRegressor, RandomForestRegressor
    from sklearn.neighbors import KNeighborsRegressor
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if family == "extra_trees":
        return ExtraTreesRegressor(
            n_estimators=n_estimators, max_features=1.0, min_samples_leaf=1, random_state=seed, n_jobs=threads or -1
        )
    if family == "random_forest":
        return RandomForestRegressor(
            n_estimators=n_estimators, max_features=0.5, min_samples_leaf=1, random_state=seed, n_jobs=threads or -1
        )
    if family == "hist_gbm":
        return HistGradientBoostingRegressor(
            max_iter=3 * n_estimators,
            learning_rate=0.05,
            max_leaf_nodes=31,
            min_samples_leaf=5,
            l2_regularization=1e-3,
            early_stopping=False,
            random_state=seed,
        )
    if family == "hist_gbm_small":
        return HistGradientBoostingRegressor(
            max_iter=3 * n_estimators,
            learning_rate=0.05,
            max_leaf_nodes=7,
            min_samples_leaf=10,
            max_features=0.5,
            l2_regularization=1e-3,
            early_stopping=False,
            random_state=seed,
        )
    if family == "knn":
        # kd_tree: exact distances per query, so one query and a batch break ties alike (brute
        # force computes distances by matrix products whose rounding depends on the batch)
        knn = KNeighborsRegressor(n_neighbors=7, weights="distance", algorithm="kd_tree")
        return make_pipeline(StandardScaler(), knn)
    raise UsageError(f"unknown model family {family!r}; known: {', '.join(FAMILIES)}")


def library_versions() -> dict[str, str]:
    import scipy
    import sklearn
    import skops

    from mfbench import __version__

    return {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "scikit-learn": sklearn.__version__,
        "skops": skops.__version__,
        "mfbench": __version__,
    }


def sha256_file(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


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


# --------------------------------------------------------------------------------------
# The fitted surrogate
# --------------------------------------------------------------------------------------


@dataclass
class Surrogate:
    encoder: Encoder
    models: dict[str, Any]  # target / NOISE_TARGET / COST_TARGET -> fitted regressor
    manifest: dict[str, Any]
    path: Path | None = None
    quality: dict[str, Any] = field(default_factory=dict)
    threads: int | None = None  # OpenMP threads for batch predictions (None: library default)

    def __post_init__(self) -> None:
        from mfbench.surrogates.fast import BitvectorTrees, PackedTrees, bitvector_packable, packable

        self.targets = [t for t in self.models if t not in (NOISE_TARGET, COST_TARGET)]
        self._range = {t: (float(lo), float(hi)) for t, (lo, hi) in self.manifest.get("target_range", {}).items()}
        for m in self.models.values():  # prediction is called from one thread per query
            for est in (m, getattr(m, "steps", [[None, None]])[-1][1]):
                if hasattr(est, "n_jobs"):
                    est.n_jobs = None
        bits = {k: m for k, m in self.models.items() if bitvector_packable(m)}
        self._bits = BitvectorTrees(bits) if bits else None
        fast = {k: m for k, m in self.models.items() if k not in bits and packable(m)}
        self._packed = PackedTrees(fast) if fast else None
        self._slow = [k for k in self.models if k not in bits and k not in fast]

    @property
    def budgets(self) -> list[int]:
        return [int(b) for b in self.manifest["budgets"]]

    @property
    def name(self) -> str:
        return str(self.manifest.get("name", "surrogate"))

    def _transform(self, name: str, v: np.ndarray) -> np.ndarray:
        if name == COST_TARGET:
            return np.exp(v)  # seconds per epoch > 0
        if name == NOISE_TARGET:
            return np.maximum(v, 0.0)
        # boosting extrapolates past the data (it predicted 0.0 val error where the table's
        # best is 0.011): a surrogate answers within the range its table observed
        lo, hi = self._range.get(name, (0.0, 1.0))
        return np.clip(v, lo, hi)

    def predict_rows(self, X: np.ndarray) -> dict[str, np.ndarray]:
        """Every model on many feature rows: the compiled bitvector trees where they apply,
        scikit-learn's batch predict for the others."""
        # a few rows gain nothing from threads and lose much when the machine is busy; a big
        # batch uses ``threads`` (None: every core)
        big = len(X) >= 2048
        out = self._predict_bits(X, self.threads if big else 1)
        jobs = (self.threads or -1) if big else None
        with limit_threads(self.threads if big else 1):
            for k in [*(self._packed.names if self._packed else []), *self._slow]:
                m = self.models[k]
                if hasattr(m, "n_jobs") and hasattr(m, "estimators_"):
                    m.n_jobs = jobs
                # scikit-learn walks the whole batch once per tree: in chunks that stay in
                # the CPU cache, boosting predicts 1.5x faster (100k rows of 30 features)
                parts = [m.predict(X[i : i + PREDICT_CHUNK]) for i in range(0, len(X) or 1, PREDICT_CHUNK)]
                pred = np.concatenate(parts) if len(parts) != 1 else parts[0]
                out[k] = self._transform(k, np.asarray(pred, dtype=np.float64))
        return out

    def predict_few(self, X: np.ndarray) -> dict[str, np.ndarray]:
        """The same for one to a few rows: compiled or packed trees (10-100x faster than
        scikit-learn's per-tree calls); the compiled ones give ``predict_rows``'s bits."""
        out = self._predict_bits(X, 1)
        if self._packed is not None:
            P = self._packed.predict_rows(X)
            for j, k in enumerate(self._packed.names):
                out[k] = self._transform(k, P[:, j])
        for k in self._slow:
            out[k] = self._transform(k, np.asarray(self.models[k].predict(X), dtype=np.float64))
        return out

    def _predict_bits(self, X: np.ndarray, threads: int | None) -> dict[str, np.ndarray]:
        if self._bits is None:
            return {}
        P = self._bits.predict(X, threads)
        return {k: self._transform(k, P[:, j]) for j, k in enumerate(self._bits.names)}


# --------------------------------------------------------------------------------------
# Fitting and model comparison
# --------------------------------------------------------------------------------------


def _design(encoder: Encoder, data: TrainingData) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    Xc = encoder.encode_configs(data.configs)
    X = encoder.rows(Xc[data.row_config], data.epoch, data.schedule)
    mb = max(data.budgets)
    Xcost = encoder.rows(Xc, mb, mb)
    return Xc, X, Xcost


def _oof(
    family: str,
    X: np.ndarray,
    y: np.ndarray,
    groups: np.ndarray,
    folds: int,
    seed: int,
    n_estimators: int,
    threads: int | None = None,
) -> np.ndarray:
    from sklearn.model_selection import GroupKFold

    pred = np.full(len(y), np.nan)
    cv = GroupKFold(n_splits=folds, shuffle=True, random_state=seed)
    for tr, te in cv.split(X, y, groups):
        m = make_model(family, seed, n_estimators, threads)
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
    _, X, Xcost = _design(encoder, data)
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
    for target, Xt, y, groups in jobs:
        ok = np.isfinite(y)
        if ok.sum() < folds or len(np.unique(groups[ok])) < folds:
            raise UsageError(f"not enough finite values of {target} to cross-validate ({int(ok.sum())})")
        is_error = target in TARGET_FIELDS
        criterion = "mean within-budget Spearman" if is_error else "pooled R²"
        fams: dict[str, Any] = {}
        for fam in families:
            t0 = time.perf_counter()
            pred = _oof(fam, Xt[ok], y[ok], groups[ok], folds, seed, n_estimators, threads)
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
        report["targets"][target] = {
            "chosen": chosen,
            "criterion": criterion,
            "slices": fams[chosen].pop("slices", None),
            "families": {f: {k: v for k, v in e.items() if k != "slices"} for f, e in fams.items()},
        }
    return report


def _fit_all(
    data: TrainingData,
    encoder: Encoder,
    chosen: Mapping[str, str],
    seed: int,
    n_estimators: int,
    threads: int | None = None,
) -> dict[str, Any]:
    _, X, Xcost = _design(encoder, data)
    models: dict[str, Any] = {}
    for target, fam in chosen.items():
        if target == COST_TARGET:
            spe = data.seconds_per_epoch
            ok = np.isfinite(spe)
            Xt, y = Xcost[ok], np.log(spe[ok])
        else:
            y = data.y[target]
            ok = np.isfinite(y)
            Xt, y = X[ok], y[ok]
        if len(y) == 0:
            raise UsageError(f"no finite values of {target} to fit")
        m = make_model(fam, seed, n_estimators, threads)
        with limit_threads(threads):
            m.fit(Xt, y)
        models[target] = m
    return models


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
) -> Surrogate:
    """Compare the families by grouped CV, refit the best per target on all rows, compute the
    reference optimum, and (with ``out``) save model files, manifest and quality report."""
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
    chosen = {t: r["chosen"] for t, r in report["targets"].items()}
    models = _fit_all(data, encoder, chosen, seed, n_estimators, threads)
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
    surr = Surrogate(encoder, models, manifest, None, report, threads=threads)
    manifest["reference"] = _reference(surr, data, n_reference, seed)
    if out is not None:
        save_surrogate(surr, out)
    return surr


def target_ranges(data: TrainingData) -> dict[str, list[float]]:
    """The smallest and largest seed mean of each error target in the table: the bounds of
    every prediction."""
    return {
        t: [float(np.nanmin(v)), float(np.nanmax(v))]
        for t, v in data.y.items()
        if t in TARGET_FIELDS and np.isfinite(v).any()
    }


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
            t: {"family": f, "file": f"{t}.skops", "cv_criterion": report["targets"][t]["families"][f]["criterion"]}
            for t, f in chosen.items()
        },
    }


# --------------------------------------------------------------------------------------
# Save / load
# --------------------------------------------------------------------------------------


def check_surrogate_out(out: str | Path, inputs: Sequence[str | Path] = ()) -> Path:
    """The folder a fit may write: absent, empty, or a surrogate folder of ours (its manifest says
    so), which is then replaced; never a file, another folder, or one holding an input."""
    from mfbench.core.io import contains

    out = Path(out)
    for i in inputs:
        if contains(out, i):
            raise UsageError(f"--out {out} holds the input {i}; write the surrogate to another folder")
    if out.exists() or out.is_symlink():
        if not out.is_dir() or out.is_symlink():
            raise UsageError(f"--out {out} exists and is not a folder; refusing to replace it")
        if any(out.iterdir()):
            try:
                read_manifest(out)
            except UsageError:
                raise UsageError(
                    f"--out {out} exists and is not an mfbench surrogate folder; refusing to "
                    "replace it (give a new folder)"
                ) from None
    for parent in out.parents:
        if parent.exists():
            if not parent.is_dir() or not os.access(parent, os.W_OK):
                raise UsageError(f"--out {out}: cannot create a folder in {parent}")
            break
    return out


def _clean_stale_temporaries(out: Path) -> None:
    """Remove temporary siblings of ``out`` left by a killed save (their process is gone)."""
    for d in out.parent.glob(f".{out.name}.tmp-*-*"):
        try:
            pid = int(d.name[len(f".{out.name}.tmp-") :].split("-", 1)[0])
            os.kill(pid, 0)
        except ProcessLookupError:
            if d.name.endswith("-old") and not out.exists():  # killed between its two renames
                d.rename(out)
            else:
                shutil.rmtree(d, ignore_errors=True)
        except (ValueError, PermissionError, OSError):
            continue


def save_surrogate(surr: Surrogate, out: str | Path) -> Path:
    """Write the folder atomically (a temporary sibling, then a rename): model files (skops),
    ``manifest.json`` with their hashes, ``quality.json`` and ``quality.md``. An existing ``out``
    is replaced only when it is a surrogate folder (``check_surrogate_out``)."""
    from mfbench.core.lightimport import skops_io

    sio = skops_io()
    out = check_surrogate_out(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    _clean_stale_temporaries(out)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-{os.getpid()}-", dir=out.parent))
    try:
        manifest = json.loads(json.dumps(surr.manifest))
        for t, m in surr.models.items():
            f = tmp / manifest["models"][t]["file"]
            sio.dump(m, f)
            manifest["models"][t]["sha256"] = sha256_file(f)
        table_file = Path(manifest["table"]["path"])
        try:
            manifest["table"]["relative_path"] = os.path.relpath(table_file, out.resolve())
        except ValueError:  # another drive
            manifest["table"]["relative_path"] = None
        (tmp / "manifest.json").write_text(json.dumps(jsonable(manifest, strict=False), indent=2) + "\n")
        if surr.quality:
            (tmp / "quality.json").write_text(json.dumps(jsonable(surr.quality, strict=False), indent=2) + "\n")
            (tmp / "quality.md").write_text(to_markdown(surr.quality))
        old = None
        if out.exists():
            old = out.with_name(f".{out.name}.tmp-{os.getpid()}-old")
            out.rename(old)
        tmp.rename(out)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    surr.manifest, surr.path = manifest, out
    return out


def read_manifest(path: str | Path) -> dict[str, Any]:
    p = Path(path) / "manifest.json"
    if not p.exists():
        raise UsageError(f"{path}: not a surrogate folder (no manifest.json)")
    manifest = read_json(p)
    if (
        not isinstance(manifest, dict)
        or manifest.get("format") != FORMAT
        or manifest.get("format_version") != FORMAT_VERSION
    ):
        raise UsageError(f"{p}: not an mfbench surrogate manifest of format version {FORMAT_VERSION}")
    check_manifest(p, manifest)
    return manifest


def check_manifest(p: Path, manifest: Mapping[str, Any]) -> None:
    """Refuse, in one line, a manifest whose keys a loader needs are missing or of the wrong
    type, or whose names would become paths outside their folder (hand-edited or hostile)."""

    def need(ok: bool, what: str) -> None:
        if not ok:
            raise UsageError(f"{p}: {what}")

    need(isinstance(manifest.get("name", "surrogate"), str), "'name' must be a string")
    safe_name(manifest.get("name", "surrogate"), f"{p}: surrogate name")
    models = manifest.get("models")
    need(isinstance(models, dict) and bool(models), "'models' must be a non-empty object")
    for t, e in models.items():
        need(
            isinstance(e, dict) and isinstance(e.get("file"), str) and isinstance(e.get("family"), str),
            f"model {t!r} needs a 'file' and a 'family' (strings)",
        )
        safe_name(e["file"], f"{p}: model file of {t}")
    need(
        isinstance(manifest.get("budgets"), list)
        and bool(manifest["budgets"])
        and all(isinstance(b, int) and not isinstance(b, bool) and b > 0 for b in manifest["budgets"]),
        "'budgets' must be a list of positive integers",
    )
    need(isinstance(manifest.get("space_json"), (str, dict)), "'space_json' is missing")
    table = manifest.get("table")
    need(
        isinstance(table, dict)
        and isinstance(table.get("path"), str)
        and isinstance(table.get("file"), str)
        and isinstance(table.get("data_sha256"), str),
        "'table' needs 'path', 'file' and 'data_sha256' (strings)",
    )
    need(isinstance(manifest.get("versions", {}), dict), "'versions' must be an object")


def surrogate_info(path: str | Path) -> dict[str, Any]:
    """What a surrogate folder holds, for ``mfbench info``: its manifest's summary, after the
    same checks a load makes (hashes, allowlisted types) but without constructing a model."""
    from mfbench.surrogates.trusted import check_model_file

    path = Path(path)
    manifest = read_manifest(path)
    for entry in manifest["models"].values():
        f = inside(path, entry["file"], f"{path / 'manifest.json'}: model file")
        if not f.is_file():
            raise UsageError(f"{f}: model file missing")
        if sha256_file(f) != entry.get("sha256"):
            raise UsageError(f"{f}: sha256 does not match the manifest")
        check_model_file(f)
    return {
        "path": str(path),
        "kind": "surrogate",
        "name": manifest.get("name", ""),
        "dataset": manifest.get("dataset", ""),
        "space": manifest.get("space_name", ""),
        "ladder": manifest["budgets"],
        "table": manifest["table"].get("file", ""),
        "configs": manifest["table"].get("n_configs"),
        "models": {t: e["family"] for t, e in manifest["models"].items()},
        "versions": manifest.get("versions", {}),
        "created": manifest.get("created", ""),
    }


def version_mismatch(manifest: Mapping[str, Any]) -> dict[str, tuple[str, str]]:
    """``{library: (saved, running)}`` for the libraries whose version decides the file format."""
    have, now = manifest.get("versions", {}), library_versions()
    return {k: (str(have.get(k)), now[k]) for k in REFIT_LIBRARIES if str(have.get(k)) != now[k]}


def cache_dir() -> Path:
    return Path(os.environ.get("MFBENCH_CACHE") or Path.home() / ".cache" / "mfbench")


def load_surrogate(path: str | Path, *, refit: bool = True, threads: int | None = None) -> Surrogate:
    """Load a saved surrogate, refusing model files whose sha256 differs from the manifest.
    Saved by other library versions: refit from the manifest's table (cached under
    ``$MFBENCH_CACHE``), or refuse when ``refit=False``."""
    path = Path(path)
    manifest = read_manifest(path)
    quality = _read_json(path / "quality.json")
    mismatch = version_mismatch(manifest)
    if mismatch:
        what = ", ".join(f"{k} {a} (running {b})" for k, a, b in ((k, *v) for k, v in mismatch.items()))
        if not refit:
            raise UsageError(f"{path} was saved with {what}; refit it with 'mfbench fit'")
        log.warning("%s was saved with %s: refitting it from its table", path, what)
        surr = _refit_cached(path, manifest, quality, mismatch, threads)
    else:
        surr = _load_files(path, manifest, quality)
    surr.threads = threads
    return surr


def _read_json(p: Path) -> dict[str, Any]:
    try:
        return read_json(p) if p.exists() else {}
    except json.JSONDecodeError:
        return {}


def _load_files(path: Path, manifest: dict[str, Any], quality: dict[str, Any]) -> Surrogate:
    from mfbench.core.lightimport import skops_io

    sio = skops_io()

    from mfbench.surrogates.trusted import check_model_file

    models = {}
    for t, entry in manifest["models"].items():
        f = inside(path, entry["file"], f"{path / 'manifest.json'}: model file")
        if not f.is_file():
            raise UsageError(f"{f}: model file missing")
        digest = sha256_file(f)
        if digest != entry.get("sha256"):
            raise UsageError(f"{f}: sha256 {digest[:12]}... does not match the manifest; refusing to load it")
        trusted = check_model_file(f)  # an exact allowlist: the hash above detects accidents, not tampering
        try:
            models[t] = sio.load(f, trusted=trusted)
        except Exception as exc:  # noqa: BLE001  (a well-formed schema whose arrays or states do not fit together)
            raise UsageError(f"{f}: cannot load this model file ({type(exc).__name__}: {exc})") from None
    encoder = Encoder.from_json(manifest["space_json"], manifest["budgets"])
    return Surrogate(encoder, models, manifest, path, quality)


def find_table(path: Path, manifest: Mapping[str, Any]) -> Path:
    t = manifest["table"]
    cands = []
    if t.get("relative_path"):
        cands.append((path / t["relative_path"]).resolve())
    cands.append(Path(t["path"]))
    if os.environ.get("MFBENCH_DATA"):
        cands.append(Path(os.environ["MFBENCH_DATA"]) / "tabular" / t["file"])
    cands.append(Path(__file__).resolve().parents[2] / "tabular" / t["file"])
    for c in cands:
        if c.exists():
            return c
    raise UsageError(
        f"{path}: its training table {t['file']} is not found (looked in "
        f"{', '.join(str(c) for c in cands)}); cannot refit"
    )


def refit_from_manifest(
    path: Path, manifest: dict[str, Any], quality: dict[str, Any] | None = None, threads: int | None = None
) -> Surrogate:
    """The same families and options as the manifest, refitted on its table (no new CV:
    the manifest's scores are kept and marked as from the original fit)."""
    from mfbench.tables.table import load_table

    table_path = find_table(path, manifest)
    table = load_table(table_path)
    opts = manifest.get("fit_options", {})
    data = training_data(table, tuple(opts.get("targets", DEFAULT_TARGETS)))
    if data.digest != manifest["table"]["data_sha256"]:
        log.warning("%s: table %s has changed since the surrogate was fitted (data sha256 differs)", path, table_path)
    encoder = Encoder.from_json(manifest["space_json"], manifest["budgets"])
    chosen = {t: e["family"] for t, e in manifest["models"].items()}
    models = _fit_all(data, encoder, chosen, int(opts.get("seed", 0)), int(opts.get("n_estimators", 100)), threads)
    new = json.loads(json.dumps(manifest))
    new["refit"] = {
        "from_versions": manifest.get("versions", {}),
        "table": str(table_path),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "data_sha256": data.digest,
    }
    new["versions"] = library_versions()
    new["target_range"] = target_ranges(data)
    new["table"]["path"] = str(Path(table_path).resolve())
    for entry in new["models"].values():
        entry.pop("sha256", None)
    return Surrogate(encoder, models, new, None, quality or {})


def _refit_cached(
    path: Path,
    manifest: dict[str, Any],
    quality: dict[str, Any],
    mismatch: Mapping[str, Any],
    threads: int | None = None,
) -> Surrogate:
    key = hashlib.sha256(
        json.dumps([manifest["table"]["data_sha256"], manifest["models"], library_versions()], sort_keys=True).encode()
    ).hexdigest()[:16]
    cached = cache_dir() / "surrogates" / safe_name(f"{manifest.get('name', 'surrogate')}-{key}", "surrogate name")
    if (cached / "manifest.json").exists():
        try:
            m = read_manifest(cached)
            if not version_mismatch(m):
                return _load_files(cached, m, quality)
        except UsageError as exc:
            log.warning("ignoring the cached refit %s: %s", cached, exc)
    surr = refit_from_manifest(path, manifest, quality, threads)
    try:
        save_surrogate(surr, cached)
    except (OSError, UsageError) as exc:  # a read-only home (or a damaged cache entry) must not stop the refit
        log.warning("could not cache the refitted surrogate in %s: %s", cached, exc)
    return surr
