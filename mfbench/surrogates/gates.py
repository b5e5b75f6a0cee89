"""The gates a surrogate benchmark must pass to stand in for its table, and the one-line
summary shown beside its name (``mfbench benchmarks``, replay's summary, the report).

1. ``slice_ceiling``: in every slice (budget x architecture) the cross-validated Spearman is at
   least the slice's 1-seed noise ceiling (``quality.seed_spearman``).
2. ``heldout_spearman``: on grid configurations held out from fitting (``mfbench validate``),
   Spearman >= 0.9 at every budget.
3. ``ranking``: the optimizers' ranking agrees with the exact table's (Spearman) at least as well
   as the table agrees with itself on other seeds (``validate --optimizers``).
4. ``noise_coverage``: in every slice, 0.8 +- 0.05 of the table's per-seed values lie inside the
   80 % interval of the noise the objective samples (``quality.noise_coverage``).

``fit`` evaluates 1 and 4 from its quality report; 2 and 3 come from a validate result. The
record lives in the manifest under ``"gates"``; it is untrusted input like the rest of a
surrogate folder, so a reader keeps only known gate names with finite numbers, recomputes every
pass/fail from the figures and the thresholds here (never from the file), and drops gates 1 and
4 when their figures differ from the folder's ``quality.json``.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

log = logging.getLogger(__name__)

#: thresholds (code, not data: a record cannot move them)
HELDOUT_SPEARMAN = 0.9
COVERAGE_TARGET, COVERAGE_TOLERANCE = 0.8, 0.05
#: in the order they are recorded and shown (fit's two first)
GATE_NAMES = ("slice_ceiling", "noise_coverage", "heldout_spearman", "ranking")
FIT_GATES = ("slice_ceiling", "noise_coverage")
_BUDGET_SLICE = re.compile(r"^b=(\d+) (.+)$")


def gate_slices(rows: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The budget x architecture slices of a quality table (the per-budget ``all`` slice when
    the table has a single architecture)."""
    at_budget = [r for r in rows if isinstance(r.get("slice"), str) and _BUDGET_SLICE.match(r["slice"])]
    per_arch = [r for r in at_budget if not r["slice"].endswith(" all")]
    return per_arch or at_budget


def _num(v: Any) -> float:
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else math.nan


def _gate(name: str, figure: Any, threshold: Any, passed: bool | None, **detail: Any) -> dict[str, Any]:
    return {"name": name, "figure": figure, "threshold": threshold, "passed": passed, **detail}


def slice_ceiling_gate(rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Gate 1: the share of slices whose CV Spearman reaches the 1-seed ceiling (all must);
    slices without a ceiling (fewer than 2 seeds) are not counted; none counted: not evaluated."""
    counted = [r for r in gate_slices(rows) if math.isfinite(_num(r.get("seed_spearman")))]
    n_pass = sum(1 for r in counted if _num(r.get("spearman")) >= _num(r["seed_spearman"]))
    n = len(counted)
    passed = None if n == 0 else n_pass == n
    return _gate("slice_ceiling", n_pass / n if n else math.nan, 1.0, passed, n_pass=n_pass, n_slices=n)


def coverage_gate(rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Gate 4: the lowest and highest slice coverage, both within 0.8 +- 0.05 (a slice without a
    coverage figure fails it; no slice with one: not evaluated)."""
    sl = gate_slices(rows)
    cov = [_num(r.get("coverage")) for r in sl]
    lo_ok, hi_ok = round(COVERAGE_TARGET - COVERAGE_TOLERANCE, 6), round(COVERAGE_TARGET + COVERAGE_TOLERANCE, 6)
    finite = [c for c in cov if math.isfinite(c)]
    if not finite:
        return _gate("noise_coverage", [math.nan, math.nan], [lo_ok, hi_ok], None, n_slices=len(sl))
    passed = len(finite) == len(cov) and all(lo_ok - 1e-12 <= c <= hi_ok + 1e-12 for c in finite)
    n_in = sum(1 for c in finite if lo_ok - 1e-12 <= c <= hi_ok + 1e-12)
    return _gate("noise_coverage", [min(finite), max(finite)], [lo_ok, hi_ok], passed, n_pass=n_in, n_slices=len(sl))


def fit_gates(quality: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Gates 1 and 4 from a quality report (``fit``'s, or a folder's ``quality.json``)."""
    rows = ((quality.get("targets") or {}).get("val_error") or {}).get("slices") or []
    if not isinstance(rows, list):
        rows = []
    rows = [r for r in rows if isinstance(r, Mapping)]
    return [slice_ceiling_gate(rows), coverage_gate(rows)]


def heldout_gate(per_budget: Sequence[float]) -> dict[str, Any]:
    """Gate 2 from the held-out Spearman at each budget (``faithfulness``'s ``per_budget``)."""
    vals = [_num(v) for v in per_budget]
    if not vals:
        return _gate("heldout_spearman", math.nan, HELDOUT_SPEARMAN, None, per_budget=[])
    worst = min(vals) if all(math.isfinite(v) for v in vals) else math.nan
    passed = math.isfinite(worst) and worst >= HELDOUT_SPEARMAN
    return _gate("heldout_spearman", worst, HELDOUT_SPEARMAN, passed, per_budget=vals)


def ranking_gate(spearman: Any, ceiling: Any) -> dict[str, Any]:
    """Gate 3: the optimizer-ranking Spearman against the exact table, at least the table's own
    (other seeds) Spearman."""
    s, c = _num(spearman), _num(ceiling)
    passed = None if not math.isfinite(c) else (math.isfinite(s) and s >= c)
    return _gate("ranking", s, c, passed)


def validate_gates(res: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Gates 2 and 3 from a ``mfbench validate --out`` result (3 only with ``--optimizers``)."""
    out = []
    per = res.get("per_budget")
    if isinstance(per, list) and per:
        out.append(heldout_gate([r.get("spearman") if isinstance(r, Mapping) else None for r in per]))
    rk = res.get("ranking")
    if isinstance(rk, Mapping):
        ceil = rk.get("ceiling") if isinstance(rk.get("ceiling"), Mapping) else {}
        out.append(ranking_gate(rk.get("spearman"), ceil.get("spearman")))
    return out


def gate_record(
    gates: Sequence[Mapping[str, Any]], allow_below_gate: bool, source: str = "fit", validated_on: str | None = None
) -> dict[str, Any]:
    """What the manifest records: every gate evaluated, whether all passed, and whether the
    surrogate was written below gate on request (``--allow-below-gate``)."""
    rec: dict[str, Any] = {
        "gates": [dict(g) for g in gates],
        "passed": all(g["passed"] is not False for g in gates),
        "allow_below_gate": bool(allow_below_gate),
        "source": source,
    }
    if validated_on:
        rec["validated_on"] = validated_on
    return rec


def failed(gates: Sequence[Mapping[str, Any]]) -> list[str]:
    return [str(g["name"]) for g in gates if g.get("passed") is False]


def merge(record: Mapping[str, Any] | None, gates: Sequence[Mapping[str, Any]], **fields: Any) -> dict[str, Any]:
    """``record`` with ``gates`` replacing those of the same name (a new validate result)."""
    old = [g for g in (record or {}).get("gates", []) if isinstance(g, Mapping)]
    names = {g["name"] for g in gates}
    keep = [g for g in old if g.get("name") not in names]
    order = {n: i for i, n in enumerate(GATE_NAMES)}
    allgates = sorted([*keep, *gates], key=lambda g: order.get(str(g.get("name")), 99))
    rec = gate_record(
        allgates, bool((record or {}).get("allow_below_gate", False)), str((record or {}).get("source", ""))
    )
    if isinstance((record or {}).get("validated_on"), str):
        rec["validated_on"] = record["validated_on"]  # type: ignore[index]
    rec.update(fields)
    return rec


# ------------------------------------------------------------------------------------------
# reading a record back (untrusted)


def _counts(g: Mapping[str, Any]) -> tuple[int, int] | None:
    """A record's ``(n_slices, n_pass)``: non-negative integers, at most all slices passing."""
    n, k = g.get("n_slices"), g.get("n_pass")
    if not all(isinstance(x, int) and not isinstance(x, bool) and x >= 0 for x in (n, k)) or k > n:
        return None
    return n, k


def _clean_gate(g: Any) -> dict[str, Any] | None:
    """A known gate rebuilt from its numbers only, its pass/fail recomputed; None if malformed."""
    if not isinstance(g, Mapping) or g.get("name") not in GATE_NAMES:
        return None
    name, fig = g["name"], g.get("figure")
    if name == "slice_ceiling":
        if (counts := _counts(g)) is None:
            return None
        n, k = counts
        rows = [{"slice": f"b={i} x", "spearman": 1.0 if i < k else 0.0, "seed_spearman": 0.5} for i in range(n)]
        return slice_ceiling_gate(rows)
    if name == "noise_coverage":
        if not (isinstance(fig, list) and len(fig) == 2):
            return None
        lo, hi = (_num(x) for x in fig)
        if not (math.isfinite(lo) and math.isfinite(hi) and 0 <= lo <= hi <= 1):
            return None
        if (counts := _counts(g)) is None or counts[0] == 0:
            return None
        n, k = counts
        rows = [{"slice": "b=1 x", "coverage": lo}, {"slice": "b=1 y", "coverage": hi}]
        out = coverage_gate(rows)
        out.update(n_pass=k, n_slices=n)
        return out
    if name == "heldout_spearman":
        per = g.get("per_budget")
        if not isinstance(per, list) or not per or len(per) > 1000:
            return None
        vals = [_num(v) for v in per]
        if not all(math.isfinite(v) and -1 <= v <= 1 for v in vals):
            return None
        return heldout_gate(vals)
    s, c = _num(fig), _num(g.get("threshold"))
    if not (math.isfinite(s) and -1 <= s <= 1) or (math.isfinite(c) and not -1 <= c <= 1):
        return None
    return ranking_gate(s, c)


def _same(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    def close(x: Any, y: Any) -> bool:
        if isinstance(x, list) and isinstance(y, list):
            return len(x) == len(y) and all(close(p, q) for p, q in zip(x, y))
        fx, fy = _num(x), _num(y)
        return (math.isnan(fx) and math.isnan(fy)) or abs(fx - fy) <= 1e-9

    return all(close(a.get(k), b.get(k)) for k in ("figure", "n_pass", "n_slices"))


def read_gates(manifest: Mapping[str, Any], quality: Mapping[str, Any] | None) -> tuple[dict[str, Any] | None, str]:
    """``(record, problem)``: the manifest's gate record, checked (see the module docstring),
    or ``(None, why)`` when there is none or it cannot be used (then it is ignored)."""
    rec = manifest.get("gates")
    if rec is None:
        return None, "not recorded"
    if not isinstance(rec, Mapping) or not isinstance(rec.get("gates"), list) or len(rec["gates"]) > len(GATE_NAMES):
        return None, "record malformed (ignored)"
    gates: list[dict[str, Any]] = []
    for g in rec["gates"]:
        clean = _clean_gate(g)
        if clean is None or any(x["name"] == clean["name"] for x in gates):
            return None, "record malformed (ignored)"
        gates.append(clean)
    if quality:
        recomputed = {g["name"]: g for g in fit_gates(quality)}
        for g in gates:
            if g["name"] in FIT_GATES and not _same(g, recomputed[g["name"]]):
                log.warning(
                    "the surrogate's gate %s does not match its quality.json; ignoring its gate record", g["name"]
                )
                return None, "record does not match quality.json (ignored)"
    allow = rec.get("allow_below_gate")
    return gate_record(gates, allow is True, "manifest"), ""


def gate_line(record: Mapping[str, Any] | None, problem: str = "") -> str:
    """``gates: 1/12 slices >= 1-seed ceiling, coverage 0.74-0.83, ..., below gate (allowed)``:
    numbers and fixed words only (nothing from the file is echoed)."""
    if record is None:
        return f"gates: {problem or 'not recorded'}"
    parts = []
    for g in record["gates"]:
        name, fig = g["name"], g["figure"]
        if name == "slice_ceiling":
            parts.append(f"{g['n_pass']}/{g['n_slices']} slices ≥ 1-seed ceiling")
        elif name == "noise_coverage":
            parts.append(f"coverage {fig[0]:.2f}–{fig[1]:.2f}")
        elif name == "heldout_spearman":
            parts.append(f"held-out Spearman min {fig:.2f}" if math.isfinite(fig) else "held-out Spearman —")
        elif name == "ranking":
            thr = g["threshold"]
            parts.append(f"ranking {fig:.2f} vs ceiling {thr:.2f}" if math.isfinite(thr) else f"ranking {fig:.2f}")
    bad = failed(record["gates"])
    if not bad:
        verdict = "all gates passed" if record["gates"] else "no gate evaluated"
    else:
        verdict = "below gate (allowed)" if record.get("allow_below_gate") else "below gate"
    return "gates: " + ", ".join([*parts, verdict])


def surrogate_gate_line(surrogate: Any) -> str:
    """The gate line of a loaded ``Surrogate`` (its manifest's record checked against its quality)."""
    rec, problem = read_gates(surrogate.manifest, surrogate.quality)
    return gate_line(rec, problem)
