"""Faithfulness: a surrogate queried on the configurations of a table it never saw.

Per budget (scratch), the surrogate's noise-free prediction against the table's seed-mean
validation error: Spearman, Kendall tau, R^2 and the overlap of the two top-10 sets (how many
of the table's 10 best the surrogate also puts in its 10 best).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from mfbench.surrogates.data import training_data
from mfbench.surrogates.model import Surrogate, load_surrogate
from mfbench.surrogates.quality import fmt, slice_metrics


def faithfulness(surrogate: Surrogate | str | Path, table_path: str | Path, top: int = 10) -> dict[str, Any]:
    from mfbench.table import load_table

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
        rows.append({"budget": b, **slice_metrics(y, pred), f"top{top}_overlap": overlap, "top_k": k,
                     "mae": float(np.mean(np.abs(pred - y))) if len(y) else float("nan")})  # fmt: skip
    return {"surrogate": str(surr.path or surr.name), "table": str(table_path), "n_configs": len(data.configs),
            "per_budget": rows}  # fmt: skip


def print_faithfulness(res: dict[str, Any], top: int = 10) -> None:
    from rich.console import Console
    from rich.table import Table

    t = Table(title=f"faithfulness of {res['surrogate']} on {res['table']} ({res['n_configs']} configs)")
    cols = ("budget", "n", "spearman", "kendall", "r2", "mae", "regret", f"top{top}_overlap")
    for c in cols:
        t.add_column(c, justify="right")
    for r in res["per_budget"]:
        cells = [fmt(r.get(c)) for c in cols]
        cells[-1] = f"{r[f'top{top}_overlap']}/{r['top_k']}"
        t.add_row(*cells, style="red" if (r.get("spearman") or 0) < 0.9 else None)
    Console().print(t)
