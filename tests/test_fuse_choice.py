"""collect --fuse auto|off|N: which trainer a sweep uses, and that a table is never silently mixed."""

from __future__ import annotations

import json
import sqlite3

import pytest

from mfbench.core.errors import UsageError
from mfbench.tables.collect import TrainingJob, fused_groups
from mfbench.tables.fuse_choice import DEFAULT_GROUP, MAX_GROUP, choose_trainer, parse_fuse


@pytest.mark.parametrize("value, want", [("auto", "auto"), ("OFF", "off"), ("4", 4), (12, 12), (" 1 ", 1)])
def test_parse_fuse_accepts(value, want):
    assert parse_fuse(value) == want


@pytest.mark.parametrize("value", ["0", 0, "-1", "2.5", "fused", "", str(MAX_GROUP + 1), True, None, 3.0])
def test_parse_fuse_refuses(value):
    with pytest.raises(UsageError, match="--fuse"):
        parse_fuse(value)


def _jobs(tiny_config, n_configs_same_shape: int, seeds=(0, 1, 2)):
    jobs = []
    for i in range(n_configs_same_shape):
        cfg = dict(tiny_config, learning_rate=0.01 * (i + 1))
        jobs += [TrainingJob(cfg, s, 1) for s in seeds]
    return jobs


def _choose(fuse, jobs, cuda=False, folds=0, table=frozenset()):
    return choose_trainer(fuse, cuda=cuda, folds=folds, jobs=jobs, table_trainers=set(table), groups=fused_groups)


def test_auto_fuses_on_the_cpu_only_where_there_is_something_to_fuse(tiny_config):
    jobs = _jobs(tiny_config, 2)
    assert _choose("auto", jobs).group_size == DEFAULT_GROUP
    assert _choose("auto", jobs[:1]).group_size == 0  # one trial: nothing to fuse
    # different batch sizes: no two trials share a fuse key
    lone_jobs = [TrainingJob(dict(tiny_config, batch_size=b), 0, 1) for b in (16, 32, 64)]
    assert _choose("auto", lone_jobs).trainer == "lone"
    assert _choose("auto", jobs, folds=5).trainer == "lone"
    assert _choose("auto", jobs, cuda=True).trainer == "lone"


def test_auto_keeps_the_tables_trainer_and_explicit_choices_win(tiny_config):
    jobs = _jobs(tiny_config, 2)
    assert _choose("auto", jobs, table={"lone"}).trainer == "lone"
    assert _choose("auto", jobs, table={"lone", "fused"}).trainer == "lone"
    fused = _choose("auto", jobs, cuda=True, table={"fused"})
    assert fused.group_size == DEFAULT_GROUP and "table" in fused.why
    assert _choose("off", jobs).trainer == "lone"
    assert _choose(3, jobs, table={"lone"}).group_size == 3  # explicit: the user's choice (collect warns)
    assert _choose(3, jobs, folds=5).trainer == "lone"  # k-fold datasets cannot be fused


def _trainers(db) -> list[str]:
    con = sqlite3.connect(db)
    try:
        return [t for (t,) in con.execute("SELECT trainer FROM runs ORDER BY run_id")]
    finally:
        con.close()


def test_collect_default_fuses_and_a_lone_table_stays_lone(tmp_path, tiny_config):
    """The default (auto) fuses a new table's seeds on the CPU; a table collected lone and
    resumed with the default gets lone runs only (and a fused table fused ones)."""
    from mfbench.tables.collect import collect

    cfg = tmp_path / "configs.json"
    cfg.write_text(json.dumps([tiny_config]))
    kw = dict(
        dataset="digits",
        space="cnn",
        design="file",
        config_file=str(cfg),
        seeds=[0, 1],
        budgets=[1],
        device="cpu",
        progress=False,
        threads=1,
    )
    s = collect(db=tmp_path / "auto.sqlite", **kw)
    assert (s.ran, s.trainer) == (2, "fused") and _trainers(tmp_path / "auto.sqlite") == ["fused", "fused"]

    lone = tmp_path / "lone.sqlite"
    assert collect(db=lone, fuse="off", max_trials=1, **kw).trainer == "lone"
    s = collect(db=lone, **kw)  # resumed with the default
    assert (s.skipped, s.ran, s.trainer) == (1, 1, "lone") and _trainers(lone) == ["lone", "lone"]

    fused = tmp_path / "fused.sqlite"
    assert collect(db=fused, fuse=2, max_trials=1, **kw).trainer == "fused"
    s = collect(db=fused, **dict(kw, seeds=[0, 1, 2]))  # appended seed, with the default
    assert (s.ran, s.trainer) == (2, "fused") and _trainers(fused) == ["fused"] * 3
