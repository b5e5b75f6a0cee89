import itertools
import json
import math
import subprocess
import sys

import numpy as np
import pytest
import torch

from mfbench.training.data import load_dataset
from mfbench.training.records import EPOCH_FIELDS
from mfbench.training.train import augment, macro_prf, train_trial

ARCHS = {"resnet": ("resnet_blocks", 1), "vgg": ("vgg_convs", 1), "inception": ("inception_modules", 1)}


def _config(tiny, arch, activation, optimizer):
    c = {k: v for k, v in tiny.items() if k not in ("resnet_blocks", "momentum")}
    knob, value = ARCHS[arch]
    c.update(architecture=arch, activation=activation, optimizer=optimizer, batch_size=256, **{knob: value})
    if optimizer in ("sgd", "rmsprop"):
        c["momentum"] = 0.9
    c["learning_rate"] = 0.05 if optimizer == "sgd" else 0.003
    return c


@pytest.mark.slow  # trains real CNNs
@pytest.mark.parametrize(
    "arch,activation,optimizer",
    list(itertools.product(ARCHS, ["relu", "tanh", "sigmoid", "gelu"], ["sgd", "adam", "rmsprop"])),
)
def test_every_family_activation_optimizer_trains(tiny_config, digits, arch, activation, optimizer):
    r = train_trial(_config(tiny_config, arch, activation, optimizer), digits, seed=0, schedule_epochs=1)
    assert r.status == "ok", r.reason
    assert len(r.epochs) == 1 and math.isfinite(r.epochs[0].train_loss)
    assert r.n_params > 0 and r.flops > 0


@pytest.mark.slow  # trains real CNNs
def test_records_carry_every_field(tiny_config, digits):
    tiny_config.update(augmentation="standard", dropout=0.2, label_smoothing=0.1, batch_size=32)
    r = train_trial(tiny_config, digits, seed=1, schedule_epochs=3)
    assert r.status == "ok" and [e.epoch for e in r.epochs] == [1, 2, 3]
    for e in r.epochs:
        for f in EPOCH_FIELDS:
            v = getattr(e, f)
            assert isinstance(v, float) and math.isfinite(v), f
        for f in ("train_acc", "val_acc", "val_precision", "val_recall", "val_f1", "test_acc", "test_f1"):
            assert 0.0 <= getattr(e, f) <= 1.0
        assert e.train_seconds > 0 and e.eval_seconds > 0
    # cosine schedule over 3 epochs: the LR at the start of each epoch decreases
    lrs = [e.lr for e in r.epochs]
    assert lrs[0] == pytest.approx(0.05) and lrs[0] > lrs[1] > lrs[2] > 0
    assert r.epochs[-1].val_acc > 0.5  # it learns something (chance is 0.1)
    cm = np.asarray(r.val_confusion)
    assert cm.shape == (10, 10) and cm.sum() == len(digits.split.val)
    assert np.trace(cm) / cm.sum() == pytest.approx(r.epochs[-1].val_acc)
    assert np.asarray(r.test_confusion).sum() == len(digits.split.test)
    assert r.peak_memory_bytes > 0 and r.device


@pytest.mark.slow  # trains real CNNs
def test_constant_schedule_prefix_equals_shorter_training(tiny_config, digits):
    """With a budget-independent schedule, epoch 2 of a 3-epoch training *is* a 2-epoch training
    (what lets one run serve every budget); with cosine it is not."""
    tiny_config["lr_schedule"] = "constant"
    long = train_trial(tiny_config, digits, seed=2, schedule_epochs=3)
    short = train_trial(tiny_config, digits, seed=2, schedule_epochs=2)
    assert long.epochs[1].val_loss == short.epochs[1].val_loss
    tiny_config["lr_schedule"] = "cosine"
    long = train_trial(tiny_config, digits, seed=2, schedule_epochs=3)
    short = train_trial(tiny_config, digits, seed=2, schedule_epochs=2)
    assert long.epochs[1].val_loss != short.epochs[1].val_loss


def _strip_times(records):
    return [{k: v for k, v in e.items() if not k.endswith("_seconds")} for e in records]


@pytest.mark.slow  # trains real CNNs
def test_deterministic_across_processes(tiny_config, digits):
    tiny_config.update(augmentation="standard", dropout=0.3)
    code = (
        "import json, torch; torch.set_num_threads(1)\n"
        "from mfbench.training.data import load_dataset; from mfbench.training.train import train_trial\n"
        f"r = train_trial(json.loads({json.dumps(tiny_config)!r}), load_dataset('digits'), 7, 2)\n"
        "print(json.dumps([e.__dict__ for e in r.epochs]))"
    )
    runs = [
        json.loads(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)
        for _ in range(2)
    ]
    assert _strip_times(runs[0]) == _strip_times(runs[1])
    torch.set_num_threads(1)
    here = train_trial(tiny_config, digits, 7, 2)
    assert _strip_times([e.__dict__ for e in here.epochs]) == _strip_times(runs[0])
    other_seed = train_trial(tiny_config, digits, 8, 2)
    assert _strip_times([e.__dict__ for e in other_seed.epochs]) != _strip_times(runs[0])


@pytest.mark.slow  # trains real CNNs
def test_divergence_is_recorded_and_caller_goes_on(tiny_config, digits):
    tiny_config.update(learning_rate=1e12, batch_norm=False, momentum=0.99)
    r = train_trial(tiny_config, digits, seed=0, schedule_epochs=5)
    assert r.status == "diverged" and "non-finite" in r.reason
    assert 1 <= len(r.epochs) < 5
    assert not math.isfinite(r.epochs[-1].train_loss)


@pytest.mark.slow  # trains real CNNs
def test_failure_is_recorded_not_raised(tiny_config, digits):
    tiny_config["architecture"] = "transformer"
    r = train_trial(tiny_config, digits, seed=0, schedule_epochs=1)
    assert r.status == "failed" and "transformer" in r.reason and r.epochs == []


@pytest.mark.slow  # trains real CNNs
def test_kfold_averages_over_folds(tiny_config):
    ds = load_dataset("digits", folds=3)
    assert len(ds.folds) == 3
    pool = np.concatenate([ds.split.train, ds.split.val])
    for tr, va in ds.folds:
        assert set(tr).isdisjoint(va) and set(tr) | set(va) == set(pool)
    r = train_trial(tiny_config, ds, seed=0, schedule_epochs=1)
    assert r.status == "ok" and np.asarray(r.val_confusion).sum() == len(pool)


def test_splits_are_stratified_and_fixed():
    a, b = load_dataset("digits"), load_dataset("digits", split_seed=0)
    assert a.split.digest() == b.split.digest()
    parts = [a.split.train, a.split.val, a.split.test]
    assert sum(len(p) for p in parts) == len(a.y) and len(set(np.concatenate(parts))) == len(a.y)
    freq = [np.bincount(a.y[p], minlength=10) / len(p) for p in parts]
    assert np.abs(freq[0] - freq[2]).max() < 0.02


def test_augment_is_batched_and_seeded():
    x = torch.arange(2 * 1 * 8 * 8, dtype=torch.uint8).view(2, 1, 8, 8).repeat(16, 1, 1, 1)
    g1, g2 = torch.Generator().manual_seed(0), torch.Generator().manual_seed(0)
    a, b = augment(x, "shift-flip", g1), augment(x, "shift-flip", g2)
    assert a.shape == x.shape and a.dtype == torch.uint8 and torch.equal(a, b)
    assert not torch.equal(a, x)


def test_macro_prf_matches_sklearn():
    from sklearn.metrics import confusion_matrix, f1_score, precision_score, recall_score

    rng = np.random.default_rng(0)
    y, p = rng.integers(0, 5, 300), rng.integers(0, 4, 300)  # class 4 never predicted
    cm = confusion_matrix(y, p, labels=range(5))
    got = macro_prf(cm)
    want = (
        precision_score(y, p, average="macro", zero_division=0),
        recall_score(y, p, average="macro", zero_division=0),
        f1_score(y, p, average="macro", zero_division=0),
    )
    assert got == pytest.approx(want)


@pytest.mark.parametrize("optimizer", ["sgd", "adam", "rmsprop"])
def test_foreach_optimizers_are_bit_identical_to_the_loop(tiny_config, optimizer):
    """The multi-tensor (foreach) updates that train.py uses for speed must not change a single
    bit of what the tables record: the same steps with torch's per-parameter loop agree."""
    from mfbench.training.models import build_model
    from mfbench.training.train import _make_optimizer

    cfg = _config(tiny_config, "resnet", "relu", optimizer)
    cfg["weight_decay"] = 1e-4
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(32, 1, 8, 8, generator=g), torch.randint(0, 10, (32,), generator=g)
    params = []
    for foreach in (True, False):
        torch.manual_seed(0)
        model = build_model(cfg, 1, 8, 10)
        opt = _make_optimizer(cfg, model.parameters())
        for group in opt.param_groups:
            assert group["foreach"] is True
            group["foreach"] = foreach
        for step in range(5):
            for group in opt.param_groups:
                group["lr"] = cfg["learning_rate"] * (1 - step / 10)  # as the cosine schedule does
            loss = torch.nn.functional.cross_entropy(model(x), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        params.append(torch.cat([p.detach().flatten() for p in model.parameters()]))
    assert torch.equal(params[0], params[1])


def test_amp_default_follows_the_input_size():
    """bf16 autocast on CUDA only where it paid on a lent H200 (32x32 inputs), fp32 on digits."""
    from mfbench.training.train import default_amp

    assert not default_amp((1, 8, 8)) and default_amp((3, 32, 32)) and default_amp((1, 28, 28))
