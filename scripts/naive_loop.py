"""The baseline that mfbench's trial code is measured against: a textbook torchvision-style
loop (PIL images, per-sample transforms, a DataLoader over a Dataset, fp32, metrics from
scikit-learn each epoch). Same models, same data, same epochs."""

from __future__ import annotations

import time

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from sklearn.metrics import f1_score, precision_recall_fscore_support
from torch.utils.data import DataLoader
from torch.utils.data import Dataset as TorchDataset
from torchvision import transforms

from mfbench.training.data import Dataset
from mfbench.training.models import build_model
from mfbench.training.train import _make_optimizer


class ImageDataset(TorchDataset):
    def __init__(self, x: np.ndarray, y: np.ndarray, tf):
        self.images = [
            Image.fromarray(img[0]) if img.shape[0] == 1 else Image.fromarray(img.transpose(1, 2, 0)) for img in x
        ]
        self.y = y
        self.tf = tf

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, i):
        return self.tf(self.images[i]), int(self.y[i])


def naive_train(config: dict, ds: Dataset, seed: int, epochs: int, device: str = "cpu") -> float:
    """Train like a tutorial would; returns seconds per epoch (train + eval)."""
    torch.manual_seed(seed)
    mean, std = ds.mean_std
    tfs = [transforms.ToTensor(), transforms.Normalize(mean.tolist(), std.tolist())]
    train_tf = transforms.Compose(
        (
            [transforms.RandomCrop(ds.shape[1], padding=max(1, ds.shape[1] // 8))]
            if config.get("augmentation") == "standard"
            else []
        )
        + tfs
    )
    sp = ds.split
    train = DataLoader(
        ImageDataset(ds.x[sp.train], ds.y[sp.train], train_tf), batch_size=int(config["batch_size"]), shuffle=True
    )
    evals = [
        DataLoader(ImageDataset(ds.x[i], ds.y[i], transforms.Compose(tfs)), batch_size=256) for i in (sp.val, sp.test)
    ]
    c, h, _ = ds.shape
    model = build_model(config, c, h, ds.n_classes).to(device)
    opt = _make_optimizer(config, model.parameters())
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, epochs) if config.get("lr_schedule") == "cosine" else None
    t0 = time.perf_counter()
    for _ in range(epochs):
        model.train()
        for xb, yb in train:
            xb, yb = xb.to(device), yb.to(device)
            opt.zero_grad()
            loss = F.cross_entropy(model(xb), yb, label_smoothing=float(config.get("label_smoothing", 0.0)))
            loss.backward()
            opt.step()
            _ = loss.item()
        if sched:
            sched.step()
        model.eval()
        with torch.no_grad():
            for loader in evals:
                ys, ps = [], []
                for xb, yb in loader:
                    ps.append(model(xb.to(device)).argmax(1).cpu())
                    ys.append(yb)
                y, p = torch.cat(ys).numpy(), torch.cat(ps).numpy()
                precision_recall_fscore_support(y, p, average="macro", zero_division=0)
                f1_score(y, p, average="macro", zero_division=0)
    return (time.perf_counter() - t0) / epochs
