"""One trial: ``(config, seed, schedule_epochs, device) -> per-epoch records``.

Why it is fast: the dataset lives on the device as uint8 tensors, a batch is an index slice,
augmentation is batched on the device, metrics are accumulated as tensors and read back once
per epoch (no host sync inside the step loop), and on CUDA the step runs in bf16 autocast with
channels_last. Why it is reproducible: every random draw (initialization, shuffling,
augmentation, dropout) comes from a generator seeded by ``(seed, purpose)``.
"""

from __future__ import annotations

import hashlib
import math
import platform
import resource
import time
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from mfbench.training.data import Dataset
from mfbench.training.models import build_model, count_flops, count_params

# the record types live in a torch-free module (tables and reports must not import torch);
# re-exported here where they were first defined
from mfbench.training.records import EPOCH_FIELDS, EpochRecord, TrialResult  # noqa: E402
from mfbench.training.space import config_id, to_config


def derive_seed(seed: int, purpose: str) -> int:
    """A 63-bit seed for one purpose of one run, the same in every process."""
    return int.from_bytes(hashlib.sha256(f"{seed}:{purpose}".encode()).digest()[:8], "little") >> 1


def resolve_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def device_name(dev: torch.device) -> str:
    if dev.type == "cuda":
        return torch.cuda.get_device_name(dev)
    return platform.processor() or platform.machine() or "cpu"


# --------------------------------------------------------------------------------------
# Data on the device
# --------------------------------------------------------------------------------------

_DEVICE_CACHE: dict[tuple[int, str], dict[str, torch.Tensor]] = {}


def _on_device(ds: Dataset, dev: torch.device) -> dict[str, torch.Tensor]:
    key = (id(ds), str(dev))
    if key not in _DEVICE_CACHE:
        mean, std = ds.mean_std
        _DEVICE_CACHE[key] = {
            "x": torch.from_numpy(ds.x).to(dev),
            "y": torch.from_numpy(ds.y).to(dev),
            "mean": torch.from_numpy(mean).to(dev).view(1, -1, 1, 1),
            "std": torch.from_numpy(std).to(dev).view(1, -1, 1, 1),
        }
    return _DEVICE_CACHE[key]


def augment(x: torch.Tensor, kind: str, gen: torch.Generator) -> torch.Tensor:
    """Batched augmentation of uint8 images (B, C, H, W): random shifts/crops with zero
    padding and horizontal flips, one draw per sample, no Python loop over samples."""
    b, c, h, w = x.shape
    dev = x.device
    if kind in ("shift", "shift-flip", "crop", "crop-flip"):
        pad = max(1, h // 8)
        xp = F.pad(x, (pad, pad, pad, pad))
        dy = torch.randint(0, 2 * pad + 1, (b,), generator=gen, device=dev)
        dx = torch.randint(0, 2 * pad + 1, (b,), generator=gen, device=dev)
        rows = (torch.arange(h, device=dev)[None, :] + dy[:, None])[:, None, :, None]
        cols = (torch.arange(w, device=dev)[None, :] + dx[:, None])[:, None, None, :]
        bi = torch.arange(b, device=dev)[:, None, None, None]
        ci = torch.arange(c, device=dev)[None, :, None, None]
        x = xp[bi, ci, rows, cols]
    if kind in ("shift-flip", "crop-flip"):
        flip = torch.rand(b, generator=gen, device=dev) < 0.5
        x = torch.where(flip[:, None, None, None], x.flip(-1), x)
    return x


def _confusion(y: torch.Tensor, pred: torch.Tensor, k: int) -> torch.Tensor:
    return torch.bincount(y * k + pred, minlength=k * k).view(k, k)


def macro_prf(cm: np.ndarray) -> tuple[float, float, float]:
    """Macro precision, recall and F1 from a confusion matrix (rows: truth), with 0 for a
    class that is never predicted or never present (scikit-learn's ``zero_division=0``)."""
    cm = cm.astype(np.float64)
    tp = np.diag(cm)
    pred = cm.sum(axis=0)
    true = cm.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = np.where(pred > 0, tp / pred, 0.0)
        r = np.where(true > 0, tp / true, 0.0)
        f = np.where(p + r > 0, 2 * p * r / (p + r), 0.0)
    present = true > 0
    # sklearn averages over the labels present in y_true or y_pred
    labels = present | (pred > 0)
    return float(p[labels].mean()), float(r[labels].mean()), float(f[labels].mean())


# --------------------------------------------------------------------------------------
# The trial
# --------------------------------------------------------------------------------------


#: input side from which CUDA trials run in bf16 autocast with channels_last by default
AMP_MIN_SIDE = 24


def default_amp(shape: tuple[int, ...]) -> bool:
    """bf16 autocast pays where convolutions are compute-bound (32x32 inputs and up: a
    ResNet-18-sized step ran at 79 TFLOP/s on an H200). On digits' 8x8 inputs a step is a few
    dozen tiny kernels: fp32 was 1.3x faster warm and cut the per-new-shape cuDNN set-up of a
    cold trial 3x (scripts/results/gpu_cold_variants_*.txt). 28x28 is not measured."""
    return min(shape[-2:]) >= AMP_MIN_SIDE


def _make_optimizer(config: Mapping[str, Any], params: Any) -> torch.optim.Optimizer:
    lr = float(config["learning_rate"])
    wd = float(config.get("weight_decay", 0.0))
    name = config["optimizer"]
    # foreach: one multi-tensor kernel per update instead of a Python loop over parameters
    # (torch picks it on CUDA by default, not on the CPU); bit-identical results, 5-35% faster
    # steps for the small CPU nets (tests/test_train.py checks the equality)
    if name == "sgd":
        return torch.optim.SGD(
            params, lr=lr, momentum=float(config.get("momentum", 0.0)), weight_decay=wd, foreach=True
        )
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=wd, foreach=True)
    if name == "rmsprop":
        return torch.optim.RMSprop(
            params, lr=lr, momentum=float(config.get("momentum", 0.0)), weight_decay=wd, foreach=True
        )
    raise ValueError(f"unknown optimizer {name!r}")


@torch.no_grad()
def _evaluate(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, norm: Callable, k: int, amp: bool):
    model.eval()
    logits = []
    for i in range(0, len(x), 2048):
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=amp):
            out = model(norm(x[i : i + 2048]))
            logits.append(out.float() if amp else out)
    out = torch.cat(logits)
    loss = F.cross_entropy(out, y)
    cm = _confusion(y, out.argmax(1), k)
    model.train()
    return loss, cm


def _train_split(
    config: Mapping[str, Any],
    ds: Dataset,
    train_idx: np.ndarray,
    val_idx: np.ndarray,
    test_idx: np.ndarray,
    seed: int,
    schedule_epochs: int,
    epochs: int,
    dev: torch.device,
    on_epoch: Callable[[EpochRecord], None] | None,
    amp: bool | None = None,
) -> tuple[str, list[EpochRecord], np.ndarray | None, np.ndarray | None, torch.nn.Module]:
    t = _on_device(ds, dev)
    k = ds.n_classes
    c, h, w = ds.shape
    cuda = dev.type == "cuda"
    amp = cuda and (default_amp(ds.shape) if amp is None else amp)
    mem_format = torch.channels_last if amp else torch.contiguous_format

    def norm(xb: torch.Tensor) -> torch.Tensor:
        # the default dtype (float32; float64 in the fused trainer's equality tests)
        xf = (xb.to(torch.get_default_dtype()) / 255.0 - t["mean"]) / t["std"]
        return xf.contiguous(memory_format=mem_format)

    idx = {
        name: torch.from_numpy(np.asarray(a, dtype=np.int64)).to(dev)
        for name, a in (("train", train_idx), ("val", val_idx), ("test", test_idx))
    }
    x_tr, y_tr = t["x"][idx["train"]], t["y"][idx["train"]]
    x_va, y_va = t["x"][idx["val"]], t["y"][idx["val"]]
    x_te, y_te = t["x"][idx["test"]], t["y"][idx["test"]]

    with torch.random.fork_rng(devices=[dev] if cuda else []):
        torch.manual_seed(derive_seed(seed, "init"))
        model = build_model(config, c, h, k).to(dev, memory_format=mem_format)
    opt = _make_optimizer(config, model.parameters())
    n = len(x_tr)
    bs = min(int(config["batch_size"]), n)
    steps_per_epoch = n // bs + (1 if n % bs >= 2 else 0)  # a last batch of 1 breaks batch norm
    total_steps = schedule_epochs * steps_per_epoch
    base_lr = float(config["learning_rate"])
    cosine = config.get("lr_schedule", "constant") == "cosine"

    def lr_at(step: int) -> float:
        return base_lr * 0.5 * (1 + math.cos(math.pi * step / total_steps)) if cosine else base_lr

    g_shuffle = torch.Generator(device=dev).manual_seed(derive_seed(seed, "shuffle"))
    g_aug = torch.Generator(device=dev).manual_seed(derive_seed(seed, "augment"))
    aug = ds.augmentation if config.get("augmentation", "none") != "none" else None
    smoothing = float(config.get("label_smoothing", 0.0))
    records: list[EpochRecord] = []
    status = "ok"
    cm_va = cm_te = None
    step = 0
    # dropout draws from the global generator: give it its own seeded stream for this trial
    with torch.random.fork_rng(devices=[dev] if cuda else []):
        torch.manual_seed(derive_seed(seed, "dropout"))
        model.train()
        for epoch in range(1, epochs + 1):
            t0 = time.perf_counter()
            epoch_lr = lr_at(step)
            perm = torch.randperm(n, generator=g_shuffle, device=dev)
            loss_sum = torch.zeros((), device=dev)
            correct = torch.zeros((), device=dev, dtype=torch.long)
            seen = 0
            for s in range(steps_per_epoch):
                bidx = perm[s * bs : (s + 1) * bs]
                xb, yb = x_tr[bidx], y_tr[bidx]
                if aug:
                    xb = augment(xb, aug, g_aug)
                if cosine:  # a constant schedule's rate was set when the optimizer was built
                    for group in opt.param_groups:
                        group["lr"] = lr_at(step)
                with torch.autocast("cuda", dtype=torch.bfloat16, enabled=amp):
                    out = model(norm(xb))
                    loss = F.cross_entropy(out.float() if amp else out, yb, label_smoothing=smoothing)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                loss_sum += loss.detach() * len(bidx)
                correct += (out.argmax(1) == yb).sum()
                seen += len(bidx)
                step += 1
            if cuda:
                torch.cuda.synchronize(dev)
            t1 = time.perf_counter()
            va_loss, cm_va_t = _evaluate(model, x_va, y_va, norm, k, amp)
            te_loss, cm_te_t = _evaluate(model, x_te, y_te, norm, k, amp)
            train_loss = float(loss_sum) / seen
            cm_va, cm_te = cm_va_t.cpu().numpy(), cm_te_t.cpu().numpy()
            p, r, f1 = macro_prf(cm_va)
            _, _, tf1 = macro_prf(cm_te)
            rec = EpochRecord(
                epoch=epoch,
                train_loss=train_loss,
                train_acc=float(correct) / seen,
                val_loss=float(va_loss),
                val_acc=float(np.trace(cm_va) / cm_va.sum()),
                val_precision=p,
                val_recall=r,
                val_f1=f1,
                test_loss=float(te_loss),
                test_acc=float(np.trace(cm_te) / cm_te.sum()),
                test_f1=tf1,
                lr=epoch_lr,
                train_seconds=t1 - t0,
                eval_seconds=time.perf_counter() - t1,
            )
            records.append(rec)
            if on_epoch:
                on_epoch(rec)
            if not math.isfinite(train_loss):
                status = "diverged"
                break
    return status, records, cm_va, cm_te, model


def _mean_records(per_fold: list[list[EpochRecord]]) -> list[EpochRecord]:
    """Average per-epoch records over folds (seconds are summed: they are the cost)."""
    n = min(len(r) for r in per_fold)
    out = []
    for e in range(n):
        vals = {}
        for name in EPOCH_FIELDS:
            xs = [getattr(r[e], name) for r in per_fold]
            vals[name] = float(np.sum(xs)) if name.endswith("seconds") else float(np.mean(xs))
        out.append(EpochRecord(epoch=e + 1, **vals))
    return out


def train_trial(
    config: Mapping[str, Any],
    dataset: Dataset,
    seed: int,
    schedule_epochs: int,
    device: str = "cpu",
    epochs: int | None = None,
    on_epoch: Callable[[EpochRecord], None] | None = None,
    amp: bool | None = None,
) -> TrialResult:
    """Train ``config`` for ``epochs`` (default: all) epochs of a ``schedule_epochs``-long LR
    schedule. Never raises for a problem of the trial itself: the result says ``failed``
    (with the reason) or ``diverged`` (with the epochs it had).

    ``amp``: bf16 autocast and channels_last on CUDA (default: ``default_amp``, on for inputs of
    at least 24x24; ignored on the CPU); scripts/bench_train.py measures both."""
    cfg = to_config(config)
    res = TrialResult(
        config=cfg,
        config_id=config_id(cfg),
        seed=int(seed),
        schedule_epochs=int(schedule_epochs),
        torch_version=torch.__version__,
    )
    res.host = platform.node()
    res.started = time.time()
    epochs = int(epochs or schedule_epochs)
    try:
        dev = resolve_device(device)
        res.device = device_name(dev)
        res.cuda_version = torch.version.cuda or ""
        if dev.type == "cuda":
            torch.cuda.reset_peak_memory_stats(dev)
        splits = [(tr, va) for tr, va in dataset.folds] if dataset.folds else [(dataset.split.train, dataset.split.val)]
        per_fold, statuses, cms_va, cms_te = [], [], [], []
        model = None
        for f, (tr, va) in enumerate(splits):
            fold_seed = seed if not dataset.folds else derive_seed(seed, f"fold{f}")
            st, recs, cm_va, cm_te, model = _train_split(
                cfg,
                dataset,
                tr,
                va,
                dataset.split.test,
                fold_seed,
                schedule_epochs,
                epochs,
                dev,
                on_epoch if len(splits) == 1 else None,
                amp,
            )
            per_fold.append(recs)
            statuses.append(st)
            cms_va.append(cm_va)
            cms_te.append(cm_te)
        res.epochs = per_fold[0] if len(per_fold) == 1 else _mean_records(per_fold)
        res.status = "diverged" if "diverged" in statuses else "ok"
        if res.status == "diverged":
            res.reason = f"non-finite training loss at epoch {len(res.epochs)}"
        if cms_va[0] is not None:
            res.val_confusion = np.sum(cms_va, axis=0).astype(int).tolist()
            res.test_confusion = np.sum(cms_te, axis=0).astype(int).tolist()
        if model is not None:
            res.n_params = count_params(model)
            res.flops = count_flops(model, dataset.shape)
        if dev.type == "cuda":
            res.peak_memory_bytes = int(torch.cuda.max_memory_allocated(dev))
        else:  # process-wide on the CPU: ru_maxrss is in KiB on Linux
            res.peak_memory_bytes = int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024
    except Exception as exc:  # one trial's failure never stops the caller
        res.status = "failed"
        res.reason = f"{type(exc).__name__}: {exc}"[:500]
    res.finished = time.time()
    return res
