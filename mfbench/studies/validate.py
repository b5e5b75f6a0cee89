"""Faithfulness: a surrogate queried on the configurations of a table it never saw.

Per budget (scratch), the surrogate's noise-free prediction against the table's seed-mean
validation error: Spearman, Kendall tau, R^2 and the overlap of the two top-10 sets (how many
of the table's 10 best the surrogate also puts in its 10 best); beside them the table's own
noise ceiling (one seed against the mean of the others).

What a benchmark is for, though, is ranking optimizers: ``ranking_agreement`` replays the same
optimizers and seeds on the table and on the surrogate served on the table's configurations
(``SURROGATE@TABLE``), and compares the two rankings (mean rank over seeds, as in a
critical-difference diagram).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from mfbench.surrogates.data import training_data
from mfbench.surrogates.model import Surrogate
from mfbench.surrogates.quality import fmt, seed_spearman, slice_metrics
from mfbench.surrogates.store import load_surrogate


def faithfulness(surrogate: Surrogate | str | Path, table_path: str | Path, top: int = 10) -> dict[str, Any]:
    from mfbench.tables.table import load_table

    surr = surrogate if isinstance(surrogate, Surrogate) else load_surrogate(surrogate)
    table = load_table(table_path)
    data = training_data(table, ("val_error",))
    Xc = surr.encoder.encode_configs(data.configs)  # refuses configs outside the surrogate's space
    rows = []
    for b in sorted(set(data.budgets) & set(surr.budgets)):
        m = (data.epoch == b) & (data.schedule == b)
        idx = data.row_config[m]
        y = data.y["val_error"][m]
        pred = surr.predict_rows(surr.encoder.rows(Xc[idx], b, b))["val_error"]
        k = min(top, len(y))
        overlap = len(set(np.argsort(y, kind="stable")[:k]) & set(np.argsort(pred, kind="stable")[:k]))
        rows.append(
            {
                "budget": b,
                **slice_metrics(y, pred),
                f"top{top}_overlap": overlap,
                "top_k": k,
                "mae": float(np.mean(np.abs(pred - y))) if len(y) else float("nan"),
                "seed_spearman": seed_spearman(data.y_seeds["val_error"][m]),
            }
        )
    return {
        "surrogate": str(surr.path or surr.name),
        "table": str(table_path),
        "n_configs": len(data.configs),
        "per_budget": rows,
    }


def print_faithfulness(res: dict[str, Any], top: int = 10) -> None:
    from rich.console import Console
    from rich.table import Table

    t = Table(title=f"faithfulness of {res['surrogate']} on {res['table']} ({res['n_configs']} configs)")
    cols = ("budget", "n", "spearman", "kendall", "r2", "mae", "regret", "seed_spearman", f"top{top}_overlap")
    for c in cols:
        t.add_column("1-seed spearman" if c == "seed_spearman" else c, justify="right")
    for r in res["per_budget"]:
        cells = [fmt(r.get(c)) for c in cols]
        cells[-1] = f"{r[f'top{top}_overlap']}/{r['top_k']}"
        t.add_row(*cells, style="red" if (r.get("spearman") or 0) < 0.9 else None)
    Console().print(t)


def ranking_agreement(
    surrogate: str | Path,
    table: str | Path,
    optimizers: Any,
    seeds: Any,
    budget: str,
    out: str | Path,
    jobs: int | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Replay ``optimizers`` x ``seeds`` on ``table`` and on ``surrogate@table`` (into ``out``,
    resumable) and compare the optimizers' final normalized regrets and mean ranks.

    The noise ceiling beside it: the table replayed on as many other seeds, ranked the same way
    and compared with its own ranking (how reproducible the ranking is with this many seeds; a
    surrogate cannot be expected to agree with the table better than the table with itself)."""
    import pandas as pd
    from scipy import stats as sst

    from mfbench.analysis.stats import rank_scores
    from mfbench.core.errors import UsageError
    from mfbench.studies.replay import replay

    specs = [str(table), f"{surrogate}@{table}"]
    res = replay(specs, optimizers, seeds, budget, jobs=jobs, out=out, progress=progress)
    other = [max(int(s) for s in seeds) + 1 + i for i in range(len(seeds))]  # disjoint, as many
    res_other = replay([str(table)], optimizers, other, budget, jobs=jobs, out=out, progress=progress)
    # the folder may hold other benchmarks too (another surrogate validated on the same table
    # runs, which are shared): only this table's and this surrogate's runs are compared
    tab_label, sur_label = res.labels
    frame = pd.read_parquet(Path(out) / "trajectories.parquet")
    frame = frame[frame["benchmark"].isin([tab_label, sur_label])]
    final = frame.sort_values("eval_index").groupby(["benchmark", "optimizer", "seed"])["normalized_regret"].last()
    if not {tab_label, sur_label} <= set(final.index.get_level_values("benchmark")):
        raise UsageError(f"{out}: no runs of {tab_label} or of {sur_label} to compare")
    per: dict[str, pd.DataFrame] = {}
    for b in (tab_label, sur_label):
        per[b] = final.loc[b].unstack("optimizer")  # seeds x optimizers
    common_opts = sorted(set(per[tab_label].columns) & set(per[sur_label].columns))
    if len(common_opts) < 3:
        raise UsageError(f"ranking agreement needs at least 3 optimizers with runs on both, got {common_opts}")
    # paired: only the seeds on which every optimizer has a run on both benchmarks
    common_seeds = sorted(
        int(s)
        for s in set(per[tab_label].index) & set(per[sur_label].index)
        if per[tab_label].loc[s, common_opts].notna().all() and per[sur_label].loc[s, common_opts].notna().all()
    )
    if not common_seeds:
        raise UsageError(f"{out}: no seed has a run of every optimizer on both benchmarks")
    rows, mean_rank, mean_regret = [], {}, {}
    for b in (tab_label, sur_label):
        scores = per[b].loc[common_seeds, common_opts]
        mean_rank[b] = rank_scores(scores).mean()
        mean_regret[b] = scores.mean()
    for o in common_opts:
        rows.append(
            {
                "optimizer": o,
                "table_regret": float(mean_regret[tab_label][o]),
                "surrogate_regret": float(mean_regret[sur_label][o]),
                "table_rank": float(mean_rank[tab_label][o]),
                "surrogate_rank": float(mean_rank[sur_label][o]),
            }
        )
    tab_other = per[tab_label].reindex(index=other, columns=common_opts).dropna()
    other_rank = rank_scores(tab_other).mean() if len(tab_other) else None
    for r in rows:
        r["table_rank_other_seeds"] = float(other_rank[r["optimizer"]]) if other_rank is not None else math.nan
    rows.sort(key=lambda r: r["table_rank"])
    a, b = [r["table_rank"] for r in rows], [r["surrogate_rank"] for r in rows]
    c = [r["table_rank_other_seeds"] for r in rows]
    k = min(3, len(rows))

    def top(key: str) -> set[str]:
        return {r["optimizer"] for r in sorted(rows, key=lambda r: r[key])[:k]}

    ceiling: dict[str, Any] = {
        "seeds": [int(s) for s in tab_other.index],
        "spearman": math.nan,
        "kendall": math.nan,
        f"top{k}_overlap": 0,
    }
    if other_rank is not None:
        ceiling.update(spearman=float(sst.spearmanr(a, c).statistic), kendall=float(sst.kendalltau(a, c).statistic))
        ceiling[f"top{k}_overlap"] = len(top("table_rank") & top("table_rank_other_seeds"))
    return {
        "table": tab_label,
        "surrogate": sur_label,
        "budget": str(budget),
        "seeds": common_seeds,
        "n_failed": res.failed + res_other.failed,
        "rows": rows,
        "spearman": float(sst.spearmanr(a, b).statistic),
        "kendall": float(sst.kendalltau(a, b).statistic),
        f"top{k}_overlap": len(top("table_rank") & top("surrogate_rank")),
        "top_k": k,
        "ceiling": ceiling,
    }


def print_ranking(res: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    t = Table(
        title=f"optimizer rankings: {res['table']} vs {res['surrogate']} "
        f"({len(res['seeds'])} seeds, budget {res['budget']}, final normalized regret)"
    )
    for c in (
        "optimizer",
        "table regret",
        "surrogate regret",
        "table rank",
        "surrogate rank",
        "table rank, other seeds",
    ):
        t.add_column(c, justify="left" if c == "optimizer" else "right")
    for r in res["rows"]:
        t.add_row(
            r["optimizer"],
            fmt(r["table_regret"]),
            fmt(r["surrogate_regret"]),
            f"{r['table_rank']:.2f}",
            f"{r['surrogate_rank']:.2f}",
            fmt(r.get("table_rank_other_seeds", math.nan)),
        )
    Console().print(t)
    k = res["top_k"]
    print(
        f"rank agreement: Spearman {res['spearman']:.3f}, Kendall tau {res['kendall']:.3f}, "
        f"top-{k} overlap {res[f'top{k}_overlap']}/{k}"
    )
    c = res.get("ceiling")
    if c:
        print(
            f"noise ceiling (the table against itself on seeds {_seed_text(c['seeds'])}): Spearman "
            f"{c['spearman']:.3f}, Kendall tau {c['kendall']:.3f}, top-{k} overlap {c[f'top{k}_overlap']}/{k}"
        )


def _seed_text(seeds: list[int]) -> str:
    if seeds and seeds == list(range(seeds[0], seeds[-1] + 1)) and len(seeds) > 2:
        return f"{seeds[0]}-{seeds[-1]}"
    return ",".join(str(s) for s in seeds)
