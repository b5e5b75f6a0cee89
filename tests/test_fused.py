"""The fused trainer: a member of a fused group is the same training as the trial trained alone."""

import json
import math
import sqlite3
import subprocess
import sys

import numpy as np
import pytest
import torch

from mfbench.training.fused import Member, _dropout_masks, fuse_key, fused_augment, train_group
from mfbench.training.records import EPOCH_FIELDS
from mfbench.training.train import augment, train_trial

# every per-epoch record but the measured timings
METRICS = tuple(f for f in EPOCH_FIELDS if not f.endswith("_seconds"))

#: the bound tested for a member against its lone twin in float64 (measured: up to 2.3e-15)
REL_TOL = 1e-9

ARCHS = {"resnet": "resnet_blocks", "vgg": "vgg_convs", "inception": "inception_modules"}


@pytest.fixture(autouse=True)
def one_thread():
    """One torch thread: on a shared 2-core machine two threads spin against other work."""
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(old)


@pytest.fixture
def float64():
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        yield
    finally:
        torch.set_default_dtype(old)


def _variant(tiny, arch, i):
    """Member ``i`` of a mixed group: every optimizer kind (SGD with and without momentum, Adam,
    RMSprop with and without), its own learning rate, weight decay, dropout, label smoothing and
    schedule, one shared network shape."""
    c = {k: v for k, v in tiny.items() if k not in ("resnet_blocks", "momentum")}
    opt, extra = [
        ("sgd", {"momentum": 0.9}),
        ("sgd", {}),
        ("adam", {}),
        ("rmsprop", {"momentum": 0.5}),
        ("rmsprop", {}),
    ][i]
    c.update(
        architecture=arch,
        optimizer=opt,
        augmentation="standard",
        batch_size=256,
        dropout=0.3 * (i % 2),
        label_smoothing=0.1 if i % 3 == 0 else 0.0,
        learning_rate=(0.05 if opt == "sgd" else 0.003) * (1 + i / 10),
        weight_decay=1e-4 * (i + 1),
        lr_schedule="constant" if i == 4 else "cosine",
        **{ARCHS[arch]: 1},
        **extra,
    )
    return c


def _worst_relative_gap(fused, lone):
    assert fused.status == lone.status and len(fused.epochs) == len(lone.epochs)
    assert fused.val_confusion == lone.val_confusion and fused.test_confusion == lone.test_confusion
    assert (fused.n_params, fused.flops) == (lone.n_params, lone.flops)
    worst = 0.0
    for a, b in zip(fused.epochs, lone.epochs):
        assert a.epoch == b.epoch
        for f in METRICS:
            x, y = getattr(a, f), getattr(b, f)
            if math.isnan(y):
                assert math.isnan(x), f
                continue
            worst = max(worst, abs(x - y) / max(abs(y), 1e-300))
    return worst


@pytest.mark.slow
@pytest.mark.parametrize("arch", list(ARCHS))
def test_member_equals_its_lone_training_in_float64(tiny_config, digits, float64, arch):
    members = [Member(_variant(tiny_config, arch, i), seed=i, schedule_epochs=1 + i % 2) for i in range(5)]
    fused = train_group(members, digits)
    assert all(r.trainer == "fused" and r.status == "ok" for r in fused), [r.reason for r in fused]
    assert [len(r.epochs) for r in fused] == [1, 2, 1, 2, 1]  # each member ends with its schedule
    for m, r in zip(members, fused):
        lone = train_trial(m.config, digits, m.seed, m.schedule_epochs)
        assert _worst_relative_gap(r, lone) <= REL_TOL


@pytest.mark.slow
def test_a_diverged_member_does_not_disturb_the_others(tiny_config, digits, float64):
    ok = dict(tiny_config, batch_norm=False)
    bad = dict(ok, learning_rate=1e12, momentum=0.99)
    members = [Member(ok, 0, 3), Member(bad, 0, 3), Member(ok, 1, 2)]
    fused = train_group(members, digits)
    assert [r.status for r in fused] == ["ok", "diverged", "ok"]
    assert [len(r.epochs) for r in fused] == [3, 1, 2]
    assert not math.isfinite(fused[1].epochs[-1].train_loss) and "non-finite" in fused[1].reason
    for m, r in zip(members, fused):
        assert _worst_relative_gap(r, train_trial(m.config, digits, m.seed, m.schedule_epochs)) <= REL_TOL


def _strip(results):
    return [
        [{k: v for k, v in e.__dict__.items() if not k.endswith("seconds")} for e in r.epochs]
        + [r.val_confusion, r.status]
        for r in results
    ]


@pytest.mark.slow
def test_bit_identical_across_processes(tiny_config, digits):
    tiny_config.update(augmentation="standard", dropout=0.3)
    members = [(tiny_config, 7, 2), (dict(tiny_config, optimizer="adam", learning_rate=0.003), 8, 1)]
    code = (
        "import json, torch; torch.set_num_threads(1)\n"
        "from mfbench.training.data import load_dataset; from mfbench.training.fused import Member, train_group\n"
        f"ms = [Member(c, s, e) for c, s, e in json.loads({json.dumps(members)!r})]\n"
        "rs = train_group(ms, load_dataset('digits'))\n"
        "print(json.dumps([[{k: v for k, v in e.__dict__.items() if not k.endswith('seconds')} for e in r.epochs]"
        " + [r.val_confusion, r.status] for r in rs]))"
    )
    other = json.loads(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)
    here = json.loads(json.dumps(_strip(train_group([Member(c, s, e) for c, s, e in members], digits))))
    assert here == other
    assert other[0][-1] == "ok" and len(other[0]) == 2 + 2


def test_fused_augment_draws_what_augment_draws():
    x = torch.randint(0, 256, (3, 16, 1, 8, 8), dtype=torch.uint8)
    for kind in ("shift", "shift-flip", "crop-flip"):
        gens = [torch.Generator().manual_seed(s) for s in (1, 2, 3)]
        ref = [torch.Generator().manual_seed(s) for s in (1, 2, 3)]
        got = fused_augment(x, kind, [gens[0], None, gens[2]])
        assert torch.equal(got[0], augment(x[0], kind, ref[0]))
        assert torch.equal(got[1], x[1])  # a member without augmentation is left alone
        assert torch.equal(got[2], augment(x[2], kind, ref[2]))


def test_dropout_masks_are_torch_dropout_draws():
    """train.py's dropout draws from the global generator seeded per trial; a fused member
    draws the same mask from a generator of the same seed."""
    h = torch.randn(2, 32, 6)
    with torch.random.fork_rng():
        torch.manual_seed(11)
        want = [torch.nn.functional.dropout(h[0], 0.3, training=True)]
        torch.manual_seed(12)
        want.append(torch.nn.functional.dropout(h[1], 0.5, training=True))
    masks = _dropout_masks(
        [0.3, 0.5], [torch.Generator().manual_seed(11), torch.Generator().manual_seed(12)], (32, 6), h
    )
    assert torch.equal(h * masks, torch.stack(want))
    assert _dropout_masks([0.0, 0.0], [None, None], (32, 6), h) is None


def test_fuse_key_and_groups(tiny_config):
    from mfbench.tables.collect import fused_groups, make_plan

    other_opt = dict(tiny_config, optimizer="adam", learning_rate=0.01, lr_schedule="constant")
    wider = dict(tiny_config, width=8)
    assert fuse_key(tiny_config) == fuse_key(other_opt) != fuse_key(wider)
    plan = make_plan([tiny_config, wider, other_opt], [0, 1, 2], [1, 3, 9, 27])
    groups = fused_groups(plan.jobs, 12)
    assert sorted(len(g) for g in groups) == [3, 12, 12]  # every seed and schedule of a config, then others
    assert all(len({fuse_key(j.config) for j in g}) == 1 for g in groups)
    assert sorted(j.key for g in groups for j in g) == sorted(j.key for j in plan.jobs)
    assert all(len(g) <= 5 for g in fused_groups(plan.jobs, 5))


def test_a_group_of_mixed_shapes_or_kfold_is_failed_not_raised(tiny_config, digits):
    rs = train_group([Member(tiny_config, 0, 1), Member(dict(tiny_config, width=8), 0, 1)], digits)
    assert [r.status for r in rs] == ["failed", "failed"] and "same network shapes" in rs[0].reason


def test_old_tables_read_and_append_as_lone(tmp_path):
    from mfbench.tables.table import TableWriter, load_table
    from mfbench.training.records import TrialResult

    db = tmp_path / "t.sqlite"
    meta = {"dataset": "digits", "space_name": "cnn", "budgets": [1], "split": {}, "folds": 0}
    w = TableWriter.open(db, meta)
    w.write(TrialResult(config={"a": 1}, config_id="c1", seed=0, schedule_epochs=1))
    w.close()
    con = sqlite3.connect(db)
    con.execute("ALTER TABLE runs DROP COLUMN trainer")  # a table as shipped before the fused trainer
    con.commit()
    con.close()
    assert [r["trainer"] for r in load_table(db).runs] == ["lone"]
    w = TableWriter.open(db, meta)
    w.write(TrialResult(config={"a": 1}, config_id="c1", seed=1, schedule_epochs=1, trainer="fused"))
    w.close()
    assert sorted(r["trainer"] for r in load_table(db).runs) == ["fused", "lone"]


def _rows(db):
    con = sqlite3.connect(db)
    rows = con.execute(
        "SELECT r.config_id, r.seed, r.schedule_epochs, r.status, r.n_epochs, r.trainer, e.epoch, e.train_loss,"
        " e.val_loss, e.val_acc, e.val_f1, e.test_acc, e.lr FROM runs r JOIN epochs e USING (run_id)"
        " ORDER BY r.config_id, r.seed, r.schedule_epochs, e.epoch"
    ).fetchall()
    con.close()
    return rows


@pytest.mark.slow
def test_collect_fused_resumes_a_partly_written_group_and_agrees_with_lone(tmp_path, tiny_config):
    from mfbench.tables.collect import collect
    from mfbench.tables.table import load_table

    b = {k: v for k, v in tiny_config.items() if k not in ("resnet_blocks", "momentum")}
    b.update(architecture="vgg", vgg_convs=1, optimizer="adam", learning_rate=0.003)
    cfg = tmp_path / "configs.json"
    cfg.write_text(json.dumps([tiny_config, b]))
    kw = {
        "dataset": "digits",
        "space": "cnn",
        "design": "file",
        "config_file": str(cfg),
        "seeds": [0, 1, 2],
        "budgets": [1, 2],
        "device": "cpu",
        "progress": False,
        "threads": 1,
    }
    full = collect(db=tmp_path / "full.sqlite", fuse=4, **kw)
    assert (full.ran, full.ok) == (12, 12)
    # stopped after 5 trials: the second group of 4 is trained whole and only one of its runs kept
    part = tmp_path / "part.sqlite"
    assert collect(db=part, fuse=4, max_trials=5, **kw).ran == 5
    rest = collect(db=part, fuse=4, **kw)
    assert (rest.skipped, rest.ran) == (5, 7)
    assert _rows(part) == _rows(tmp_path / "full.sqlite")  # the same table, bit for bit
    assert {r[5] for r in _rows(part)} == {"fused"}

    collect(db=tmp_path / "lone.sqlite", fuse="off", **kw)
    fused_t, lone_t = load_table(tmp_path / "full.sqlite"), load_table(tmp_path / "lone.sqlite")
    assert {r["trainer"] for r in lone_t.runs} == {"lone"}
    assert fused_t.config_ids == lone_t.config_ids
    # per-configuration seed-mean validation error at every budget, within seed noise
    last = np.asarray(fused_t.budgets) - 1
    err_f, err_l = (1 - t.metrics["val_acc"][:, :, range(len(last)), last] for t in (fused_t, lone_t))
    noise = np.sqrt(err_f.var(axis=1, ddof=1) / 3 + err_l.var(axis=1, ddof=1) / 3)
    assert (np.abs(err_f.mean(axis=1) - err_l.mean(axis=1)) <= 2 * noise + 1e-3).all()
