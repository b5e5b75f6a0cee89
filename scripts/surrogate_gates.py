"""Recompute and record the gate figures of a saved surrogate without refitting it.

Gates 1 and 4 need its out-of-fold predictions: they are recomputed from its training table
exactly as ``mfbench fit`` computes them (the families chosen in the manifest, its fold count,
seed and estimator count, ``surrogates.fit.oof_full``). The recomputed val-error Spearman of
every slice is compared with the folder's ``quality.json`` first, and nothing is written when
they differ (then the predictions are not the fit's). Coverage is added to ``quality.json`` /
``quality.md``; gates 2 and 3 come from ``mfbench validate --out`` results (``--validate``).
The model files are not touched; the manifest gains only its ``"gates"`` record.

``--noise-check`` separates the noise model from the mean model: per slice, the share of each
seed's value inside the sampled 80 % interval centred on the mean of the *other* seeds (the
table's, not the surrogate's), beside what a right noise model gives there (that centre is
itself a mean of S - 1 seeds, so the share is P(|Z| < 1.2816 / sqrt(1 + 1/(S - 1))), 0.70 for
three seeds, not 0.8).

    python scripts/surrogate_gates.py surrogates/digits-cnn \\
        --validate scripts/results/validate_ranking_10x_20seeds_digits-cnn_on_digits-grid.json --write
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import warnings
from pathlib import Path

import numpy as np


def main(argv: list[str] | None = None) -> int:
    from mfbench.core.errors import read_json
    from mfbench.surrogates.data import NOISE_TARGET, TARGET_FIELDS, training_data
    from mfbench.surrogates.encoding import Encoder
    from mfbench.surrogates.fit import add_coverage, oof_full
    from mfbench.surrogates.gates import fit_gates, gate_line, gate_record, read_gates, validate_gates
    from mfbench.surrogates.model import design_matrices
    from mfbench.surrogates.quality import quality_table
    from mfbench.surrogates.store import find_table, read_manifest, write_gate_record
    from mfbench.tables.table import load_table

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("surrogate")
    ap.add_argument("--validate", action="append", default=[], help="a 'mfbench validate --out' JSON (repeatable)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--write", action="store_true", help="record the figures (default: print them only)")
    ap.add_argument(
        "--noise-check", action="store_true", help="also the noise model's coverage around the table's mean"
    )
    args = ap.parse_args(argv)

    path = Path(args.surrogate)
    manifest = read_manifest(path)
    quality = read_json(path / "quality.json")
    opts = manifest["fit_options"]
    table_path = find_table(path, manifest)
    data = training_data(load_table(table_path), tuple(opts["targets"]))
    if data.digest != manifest["table"]["data_sha256"]:
        print(f"{table_path}: not the table {path} was fitted on (data sha256 differs)", file=sys.stderr)
        return 2
    encoder = Encoder.from_json(manifest["space_json"], manifest["budgets"])
    _, X, _ = design_matrices(encoder, data)
    folds, seed, n_est = int(quality["folds"]), int(opts["seed"]), int(opts["n_estimators"])
    arch = data.architectures[data.row_config]
    pred = {}
    for t in [*(t for t in opts["targets"] if t in TARGET_FIELDS), NOISE_TARGET]:
        fam = manifest["models"][t]["family"]
        pred[t] = oof_full(fam, X, data.y[t], data.row_config, folds, seed, n_est, args.threads, t)
        print(f"{t}: out-of-fold {fam} ({folds} folds, seed {seed}, {n_est} estimators)")
    # the same predictions as the fit's: every slice's Spearman as in quality.json
    worst = 0.0
    for t in pred:
        if t == NOISE_TARGET:
            continue
        ok = np.isfinite(data.y[t])
        rows = quality_table(
            data.y[t][ok], pred[t][ok], data.epoch[ok], data.schedule[ok], arch[ok], data.budgets, None
        )
        saved = {r["slice"]: r["spearman"] for r in quality["targets"][t]["slices"]}
        for r in rows:
            a, b = r["spearman"], saved.get(r["slice"], math.nan)
            worst = max(worst, 0.0 if (math.isnan(a) and math.isnan(b)) else abs(a - b))
    print(f"largest difference from quality.json's slice Spearman: {worst:.2e}")
    if not worst <= 1e-9:
        print("the recomputed predictions are not the fit's; nothing written", file=sys.stderr)
        return 1
    if args.noise_check:
        noise_check(data, arch, np.maximum(pred[NOISE_TARGET], 0))
    add_coverage(quality, data, {t: p for t, p in pred.items() if t != NOISE_TARGET}, np.maximum(pred[NOISE_TARGET], 0))
    gates = fit_gates(quality)
    validated_on = None
    for v in args.validate:
        res = read_json(v)
        gates += validate_gates(res)
        validated_on = Path(str(res.get("table", ""))).name or None
    record = gate_record(gates, allow_below_gate=True, source="scripts/surrogate_gates.py", validated_on=validated_on)
    for r in quality["targets"]["val_error"]["slices"]:
        print(
            f"  {r['slice']:>16}: Spearman {r['spearman']:.3f}, 1-seed {r['seed_spearman']:.3f}, cov {r['coverage']:.3f}"
        )
    print(json.dumps(record["gates"], indent=1))
    checked, problem = read_gates({"gates": record}, quality)
    print(gate_line(checked, problem))
    if args.write:
        write_gate_record(path, record, quality)
        print(f"recorded in {path / 'manifest.json'}; coverage added to {path / 'quality.json'}")
    return 0


def noise_check(data, arch: np.ndarray, std: np.ndarray, target: str = "val_error") -> None:
    """Coverage of each seed's value by the interval sampled around the other seeds' mean."""
    from scipy.stats import norm

    from mfbench.surrogates.quality import COVERAGE_LEVEL, noise_coverage, slices

    Y = data.y_seeds[target]
    n_seeds = Y.shape[1]
    if n_seeds < 2:
        print("noise check: needs at least two seeds")
        return
    expect = 2 * norm.cdf(norm.ppf(0.5 + COVERAGE_LEVEL / 2) / math.sqrt(1 + 1 / (n_seeds - 1))) - 1
    print(
        f"noise check ({target}): a seed's value inside the {COVERAGE_LEVEL * 100:.0f} % interval around the other seeds' mean"
    )
    print(
        f"  (a right noise model gives {expect:.3f} with {n_seeds} seeds; the surrogate's mean error is not involved)"
    )
    for name, mask in slices(data.epoch, data.schedule, arch, data.budgets):
        if not name.startswith("b=") or name.endswith(" all"):
            continue
        inside = total = 0
        for k in range(n_seeds):
            v = Y[mask][:, k]
            with warnings.catch_warnings():  # a row whose other seeds all lack a run: NaN, skipped
                warnings.simplefilter("ignore", RuntimeWarning)
                centre = np.nanmean(np.delete(Y[mask], k, axis=1), axis=1)
            n = int((np.isfinite(v) & np.isfinite(centre)).sum())
            inside += noise_coverage(v[:, None], centre, std[mask]) * n if n else 0
            total += n
        print(f"  {name:>16}: {inside / total:.3f} of {total}")


if __name__ == "__main__":
    raise SystemExit(main())
