"""What one training produces, as plain dataclasses: the unit the tables store.

Kept free of torch so that reading a table, fitting a surrogate or writing a report never
imports it (a second of start-up and hundreds of MB for nothing).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

EPOCH_FIELDS = (
    "train_loss",
    "train_acc",
    "val_loss",
    "val_acc",
    "val_precision",
    "val_recall",
    "val_f1",
    "test_loss",
    "test_acc",
    "test_f1",
    "lr",
    "train_seconds",
    "eval_seconds",
)


@dataclass
class EpochRecord:
    epoch: int  # 1-based
    train_loss: float
    train_acc: float
    val_loss: float
    val_acc: float
    val_precision: float
    val_recall: float
    val_f1: float
    test_loss: float
    test_acc: float
    test_f1: float
    lr: float
    train_seconds: float
    eval_seconds: float


@dataclass
class TrialResult:
    config: dict[str, Any]
    config_id: str
    seed: int
    schedule_epochs: int
    status: str = "ok"
    reason: str = ""
    epochs: list[EpochRecord] = field(default_factory=list)
    val_confusion: list[list[int]] | None = None
    test_confusion: list[list[int]] | None = None
    n_params: int = 0
    flops: int = 0
    peak_memory_bytes: int = 0
    device: str = ""
    host: str = ""
    torch_version: str = ""
    cuda_version: str = ""
    started: float = 0.0
    finished: float = 0.0
    trainer: str = "lone"  # "lone" (train.py) or "fused" (fused.py)

    @property
    def key(self) -> tuple[str, int, int]:
        return (self.config_id, self.seed, self.schedule_epochs)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)
