"""``replay --ray``: each run a Ray task, the same trajectories as local execution; a cluster
that cannot be reached is one clear usage error, before anything is written."""

from __future__ import annotations

import pandas as pd
import pytest

pytest.importorskip("ray")

from mfbench.core.errors import UsageError
from mfbench.execution.runner import TIMING_COLUMNS
from mfbench.studies.replay import replay

BENCH = "synthetic-grid"


def _frame(out):
    return pd.read_parquet(out / "trajectories.parquet").drop(columns=list(TIMING_COLUMNS))


def test_an_unreachable_cluster_is_one_usage_error(tmp_path):
    with pytest.raises(UsageError, match="cannot reach a Ray cluster"):
        replay([BENCH], ["random"], [0], "5x", ray="127.0.0.1:1", out=tmp_path / "r", progress=False)
    assert not (tmp_path / "r").exists()  # nothing written
    with pytest.raises(UsageError, match="HOST:PORT"):
        replay([BENCH], ["random"], [0], "5x", ray="nowhere", out=tmp_path / "r", progress=False)


@pytest.mark.slow
def test_a_local_ray_gives_the_same_trajectories(tmp_path):
    """PYTHONHASHSEED and one BLAS thread reach the tasks through Ray's runtime environment."""
    opts = (["random", "tpe-asha"], [0, 1], "10x")
    replay([BENCH], *opts, workers=2, jobs=2, out=tmp_path / "local", progress=False)
    res = replay([BENCH], *opts, workers=2, ray="local", out=tmp_path / "ray", progress=False)
    assert res.ok == 4, res.failures
    pd.testing.assert_frame_equal(_frame(tmp_path / "local"), _frame(tmp_path / "ray"), check_exact=True)
