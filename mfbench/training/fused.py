"""Horizontally fused training: a group of trials whose networks have the same shapes, trained
as one model (Wang et al., "Horizontally Fused Training Array", MLSys 2021).

Why: a digits CNN is bound by per-operation overhead (dispatch, kernel set-up, optimizer
steps), not by arithmetic. ``M`` members fused into one set of kernels pay that overhead once:
a convolution becomes one grouped convolution (``groups=M``) over ``(B, M*C, H, W)``, a batch
norm one batch norm over ``M*C`` channels (its statistics stay per member and per channel), the
head one batched matrix product, and the optimizer step a handful of element-wise operations
over one flat parameter vector with a learning rate, weight decay and momentum per element.

What each member keeps, exactly as ``train.py`` draws it: initialization (its lone model is
built under its own seed and copied in), data order, augmentation and dropout draws (one
generator per member and purpose), learning-rate schedule, optimizer kind and state, batch-norm
statistics, divergence (a member whose training loss is not finite ends after that epoch,
recorded ``diverged``, and the others go on) and end (a 1-epoch schedule stops after epoch 1
while a 27-epoch one goes on: a finished member is dropped from the stacked tensors, so it
costs nothing afterwards). In float64 on the CPU a member's per-epoch metrics equal those of
the same trial trained alone to about 1e-15 relative (tests/test_fused.py).

Limits: k-fold datasets are trained lone (``collect`` falls back); on CUDA the dropout draws
differ from a lone trial's (the fused kernel there has no generator argument).
"""

from __future__ import annotations

import math
import platform
import resource
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from mfbench.training.data import Dataset
from mfbench.training.models import CNN, BasicBlock, InceptionModule, build_model, count_flops, count_params
from mfbench.training.records import EpochRecord, TrialResult
from mfbench.training.space import config_id, to_config
from mfbench.training.train import (
    _make_optimizer,
    _on_device,
    default_amp,
    derive_seed,
    device_name,
    macro_prf,
    resolve_device,
)

#: hyperparameters that decide a network's shapes and a step's batch: members must share them
SHAPE_KEYS = (
    "architecture",
    "resnet_blocks",
    "vgg_convs",
    "inception_modules",
    "width",
    "kernel_size",
    "activation",
    "batch_norm",
    "batch_size",
)

#: torch's defaults, which train.py's optimizers use
ADAM_BETAS, ADAM_EPS = (0.9, 0.999), 1e-8
RMSPROP_ALPHA, RMSPROP_EPS = 0.99, 1e-8

ELEMENTWISE = (nn.Identity, nn.ReLU, nn.Tanh, nn.Sigmoid, nn.GELU, nn.MaxPool2d)


def fuse_key(config: Mapping[str, Any]) -> tuple:
    """Trials with equal keys can be trained as one fused model."""
    return tuple((k, config.get(k)) for k in SHAPE_KEYS) + (
        ("augmented", config.get("augmentation", "none") != "none"),
    )


@dataclass(frozen=True)
class Member:
    config: dict
    seed: int
    schedule_epochs: int
    epochs: int = 0  # 0: all of the schedule


# --------------------------------------------------------------------------------------
# Stacked parameters
# --------------------------------------------------------------------------------------


class _Stack:
    """Every member's parameters in one flat leaf vector (param by param, member-major inside a
    param, so a member's block of a conv weight reshapes to a grouped-conv weight for free);
    ``torch.split`` gives the views in one op and its backward is one ``cat``."""

    def __init__(self, models: Sequence[nn.Module]):
        self.template = models[0]
        self.names = [n for n, _ in self.template.named_parameters()]
        self.shapes = [tuple(p.shape) for _, p in self.template.named_parameters()]
        self.m = len(models)
        per = [dict(m.named_parameters()) for m in models]
        with torch.no_grad():
            flat = torch.cat([torch.stack([d[n].detach() for d in per]).reshape(-1) for n in self.names])
        self.flat = flat.requires_grad_(True)
        self.buffers = {
            n: torch.stack([dict(m.named_buffers())[n].detach().clone() for m in models])
            for n, b in self.template.named_buffers()
            if b.is_floating_point()
        }
        self.prefix = {mod: name for name, mod in self.template.named_modules()}

    def sizes(self) -> list[int]:
        return [self.m * math.prod(s) for s in self.shapes]

    def views(self) -> dict[str, torch.Tensor]:
        return {n: v.view(self.m, *s) for n, s, v in zip(self.names, self.shapes, torch.split(self.flat, self.sizes()))}

    def member_index(self) -> torch.Tensor:
        """(P,) the member each element of ``flat`` belongs to."""
        dev = self.flat.device
        return torch.cat([torch.arange(self.m, device=dev).repeat_interleave(math.prod(s)) for s in self.shapes])

    def keep(self, keep: torch.Tensor) -> torch.Tensor:
        """Drop members; returns the element mask of what stays (for optimizer state)."""
        mask = torch.isin(self.member_index(), keep)
        with torch.no_grad():
            self.flat = self.flat.detach()[mask].clone().requires_grad_(True)
        self.buffers = {n: b[keep].clone() for n, b in self.buffers.items()}
        self.m = len(keep)
        return mask


def _forward(st: _Stack, x: torch.Tensor, training: bool, masks: torch.Tensor | None) -> torch.Tensor:
    """The template model's forward, run for all members at once on ``(B, M*C, H, W)``;
    returns logits ``(M, B, K)``."""
    P = st.views()
    m = st.m

    def run(mod: nn.Module, x: torch.Tensor) -> torch.Tensor:
        if isinstance(mod, nn.Sequential):
            for child in mod:
                x = run(child, x)
            return x
        if isinstance(mod, nn.Conv2d):
            p = st.prefix[mod]
            w = P[p + ".weight"]
            w = w.reshape(m * w.shape[1], *w.shape[2:])
            b = P.get(p + ".bias")
            return F.conv2d(x, w, None if b is None else b.reshape(-1), mod.stride, mod.padding, mod.dilation, m)
        if isinstance(mod, nn.BatchNorm2d):
            p = st.prefix[mod]
            return F.batch_norm(
                x,
                st.buffers[p + ".running_mean"].view(-1),
                st.buffers[p + ".running_var"].view(-1),
                P[p + ".weight"].reshape(-1),
                P[p + ".bias"].reshape(-1),
                training,
                mod.momentum,
                mod.eps,
            )
        if isinstance(mod, ELEMENTWISE):
            return mod(x)
        if isinstance(mod, BasicBlock):
            return mod.act(run(mod.bn2, run(mod.conv2, run(mod.conv1, x))) + run(mod.short, x))
        if isinstance(mod, InceptionModule):  # concatenate each member's branches, member by member
            parts = [run(br, x) for br in (mod.b1, mod.b2, mod.b3, mod.b4)]
            b, _, h, w = parts[0].shape
            if parts[0].is_contiguous():
                return torch.cat([q.view(b, m, -1, h, w) for q in parts], dim=2).view(b, -1, h, w)
            nhwc = [q.permute(0, 2, 3, 1).reshape(b, h, w, m, -1) for q in parts]  # channels_last: a view
            return torch.cat(nhwc, dim=4).view(b, h, w, -1).permute(0, 3, 1, 2)
        raise TypeError(f"the fused trainer cannot run a {type(mod).__name__}")

    tmpl = st.template
    assert isinstance(tmpl, CNN)
    h = run(tmpl.features, x).mean(dim=(2, 3))  # (B, M*C)
    h = h.view(h.shape[0], m, -1).transpose(0, 1)  # (M, B, C)
    if masks is not None:
        h = h * masks
    w, b = P["fc.weight"], P["fc.bias"]  # (M, K, C), (M, K)
    return torch.baddbmm(b.unsqueeze(1), h, w.transpose(1, 2))


# --------------------------------------------------------------------------------------
# Batched optimizers
# --------------------------------------------------------------------------------------


class _Optim:
    """SGD (with or without momentum), Adam and RMSprop as torch's foreach implementations
    compute them, for every member at once on the flat vector: learning rate, weight decay and
    momentum are per-element tensors (one value per member, gathered by member index)."""

    def __init__(self, configs: Sequence[Mapping[str, Any]], st: _Stack):
        self.kinds = [c["optimizer"] for c in configs]
        for k in self.kinds:
            if k not in ("sgd", "adam", "rmsprop"):
                raise ValueError(f"unknown optimizer {k!r}")
        dev, dt = st.flat.device, st.flat.dtype
        self.wd = torch.tensor([float(c.get("weight_decay", 0.0)) for c in configs], device=dev, dtype=dt)
        self.mom = torch.tensor(
            [float(c.get("momentum", 0.0)) if c["optimizer"] != "adam" else 0.0 for c in configs], device=dev, dtype=dt
        )
        self.kind_id = torch.tensor([("sgd", "adam", "rmsprop").index(k) for k in self.kinds], device=dev)
        self.state: dict[str, torch.Tensor] = {}
        self.steps = 0
        self._index(st)

    def _index(self, st: _Stack) -> None:
        idx = st.member_index()
        self.idx = idx
        self.wd_e = self.wd[idx]
        self.mom_e = self.mom[idx]
        present = sorted(set(self.kind_id.tolist()))
        self.masks = {k: (self.kind_id[idx] == k) if len(present) > 1 else None for k in present}
        self.any_wd = bool((self.wd != 0).any())

    def keep(self, keep: torch.Tensor, elem_mask: torch.Tensor, st: _Stack) -> None:
        self.wd, self.mom, self.kind_id = self.wd[keep], self.mom[keep], self.kind_id[keep]
        self.kinds = [self.kinds[i] for i in keep.tolist()]
        self.state = {k: v[elem_mask].clone() for k, v in self.state.items()}
        self._index(st)

    @torch.no_grad()
    def step(self, p: torch.Tensor, g: torch.Tensor, lr: torch.Tensor) -> None:
        lr_e = lr[self.idx]
        if self.any_wd:
            g = torch.addcmul(g, self.wd_e, p)
        self.steps += 1
        new = None
        for k, mask in self.masks.items():
            upd = (self._sgd, self._adam, self._rmsprop)[k](p, g, lr_e)
            new = upd if mask is None else (torch.where(mask, upd, p) if new is None else torch.where(mask, upd, new))
        p.copy_(new)

    def _sgd(self, p: torch.Tensor, g: torch.Tensor, lr_e: torch.Tensor) -> torch.Tensor:
        buf = self.state.get("sgd_buf")
        buf = g.clone() if buf is None else buf.mul_(self.mom_e).add_(g)
        self.state["sgd_buf"] = buf
        return torch.addcmul(p, lr_e, buf, value=-1)

    def _adam(self, p: torch.Tensor, g: torch.Tensor, lr_e: torch.Tensor) -> torch.Tensor:
        b1, b2 = ADAM_BETAS
        m = self.state.setdefault("adam_m", torch.zeros_like(p))
        v = self.state.setdefault("adam_v", torch.zeros_like(p))
        m.lerp_(g, 1 - b1)
        v.mul_(b2).addcmul_(g, g, value=1 - b2)
        bc1 = 1 - b1**self.steps
        bc2_sqrt = (1 - b2**self.steps) ** 0.5
        denom = (v.sqrt() / bc2_sqrt).add_(ADAM_EPS)
        return torch.addcdiv(p, m * lr_e, denom, value=-1 / bc1)

    def _rmsprop(self, p: torch.Tensor, g: torch.Tensor, lr_e: torch.Tensor) -> torch.Tensor:
        sq = self.state.setdefault("rms_sq", torch.zeros_like(p))
        sq.mul_(RMSPROP_ALPHA).addcmul_(g, g, value=1 - RMSPROP_ALPHA)
        avg = sq.sqrt().add_(RMSPROP_EPS)
        buf = self.state.setdefault("rms_buf", torch.zeros_like(p))
        buf.mul_(self.mom_e).addcdiv_(g, avg)
        return torch.addcmul(p, lr_e, buf, value=-1)


# --------------------------------------------------------------------------------------
# Data: per-member order, augmentation and dropout draws
# --------------------------------------------------------------------------------------


def fused_augment(x: torch.Tensor, kind: str, gens: Sequence[torch.Generator | None]) -> torch.Tensor:
    """``train.augment`` for ``(M, B, C, H, W)`` with one generator per member (None: this
    member is not augmented): the same draws, in the same order, one gather for all."""
    mm, b, c, h, w = x.shape
    dev = x.device
    shift = kind in ("shift", "shift-flip", "crop", "crop-flip")
    flip = kind in ("shift-flip", "crop-flip")
    pad = max(1, h // 8)
    dys, dxs, flips = [], [], []
    for g in gens:
        if g is None:
            dys.append(torch.full((b,), pad, device=dev, dtype=torch.long))
            dxs.append(dys[-1])
            flips.append(torch.zeros(b, dtype=torch.bool, device=dev))
            continue
        if shift:
            dys.append(torch.randint(0, 2 * pad + 1, (b,), generator=g, device=dev))
            dxs.append(torch.randint(0, 2 * pad + 1, (b,), generator=g, device=dev))
        if flip:
            flips.append(torch.rand(b, generator=g, device=dev) < 0.5)
    x = x.reshape(mm * b, c, h, w)
    if shift:
        dy, dx = torch.cat(dys), torch.cat(dxs)
        xp = F.pad(x, (pad, pad, pad, pad))
        rows = (torch.arange(h, device=dev)[None, :] + dy[:, None])[:, None, :, None]
        cols = (torch.arange(w, device=dev)[None, :] + dx[:, None])[:, None, None, :]
        bi = torch.arange(mm * b, device=dev)[:, None, None, None]
        ci = torch.arange(c, device=dev)[None, :, None, None]
        x = xp[bi, ci, rows, cols]
    if flip:
        fl = torch.cat(flips)
        x = torch.where(fl[:, None, None, None], x.flip(-1), x)
    return x.view(mm, b, c, h, w)


def _dropout_masks(
    p: Sequence[float], gens: Sequence[torch.Generator], shape: tuple[int, int], like: torch.Tensor
) -> torch.Tensor | None:
    """``(M, B, C)`` masks drawn as torch's CPU dropout draws them (``bernoulli_(1 - p)`` then
    ``/ (1 - p)``) from each member's own dropout generator; ones for members without dropout."""
    if not any(q > 0 for q in p):
        return None
    out = []
    for q, g in zip(p, gens):
        if q > 0:
            out.append(
                torch.empty(shape, dtype=like.dtype, device=like.device).bernoulli_(1 - q, generator=g).div_(1 - q)
            )
        else:
            out.append(torch.ones(shape, dtype=like.dtype, device=like.device))
    return torch.stack(out)


def _loss(logits: torch.Tensor, y: torch.Tensor, smoothing: torch.Tensor | None) -> torch.Tensor:
    """Per-member mean cross-entropy ``(M,)``, with per-member label smoothing as torch computes it."""
    mm, b, k = logits.shape
    flat, yf = logits.reshape(mm * b, k), y.reshape(-1)
    if smoothing is None:
        return F.cross_entropy(flat, yf, reduction="none").view(mm, b).mean(1)
    logp = F.log_softmax(flat, dim=-1)
    nll = -logp.gather(1, yf[:, None]).view(mm, b).mean(1)
    smooth = -logp.sum(-1).view(mm, b).mean(1)
    return (1 - smoothing) * nll + smoothing / k * smooth


# --------------------------------------------------------------------------------------
# The group
# --------------------------------------------------------------------------------------


def train_group(
    members: Sequence[Member],
    dataset: Dataset,
    device: str = "cpu",
    amp: bool | None = None,
    channels_last: bool = True,
) -> list[TrialResult]:
    """Train ``members`` (same ``fuse_key``) as one fused model; one ``TrialResult`` per member,
    in order, with per-epoch records and confusion matrices as ``train.train_trial`` gives them.
    Never raises for a problem of the trials: each result says ``failed`` with the reason.

    ``channels_last``: run the grouped convolutions on NHWC activations. oneDNN's grouped
    convolution on NCHW costs 1.4-2.8x the member convolutions it replaces for the narrow
    digits nets, on NHWC 0.65-1.3x (2-core CPU, scripts/bench_fused.py)."""
    cfgs = [to_config(m.config) for m in members]
    results = [
        TrialResult(
            config=c,
            config_id=config_id(c),
            seed=int(m.seed),
            schedule_epochs=int(m.schedule_epochs),
            torch_version=torch.__version__,
        )
        for c, m in zip(cfgs, members)
    ]
    for r in results:
        r.host, r.started, r.trainer = platform.node(), time.time(), "fused"
    try:
        if dataset.folds:
            raise ValueError("the fused trainer does not train k-fold datasets")
        if len({fuse_key(c) for c in cfgs}) != 1:
            raise ValueError("a fused group needs members with the same network shapes and batch size")
        dev = resolve_device(device)
        for r in results:
            r.device, r.cuda_version = device_name(dev), torch.version.cuda or ""
        if dev.type == "cuda":
            torch.cuda.reset_peak_memory_stats(dev)
        _train(cfgs, members, results, dataset, dev, amp, channels_last)
    except Exception as exc:  # noqa: BLE001  (one group's failure never stops the caller)
        for r in results:
            if r.finished == 0.0:
                r.status, r.reason, r.epochs = "failed", f"{type(exc).__name__}: {exc}"[:500], []
                r.val_confusion = r.test_confusion = None
                r.finished = time.time()
    return results


def _train(
    cfgs: list[dict],
    members: Sequence[Member],
    results: list[TrialResult],
    ds: Dataset,
    dev: torch.device,
    amp: bool | None,
    channels_last: bool,
) -> None:
    t = _on_device(ds, dev)
    k = ds.n_classes
    c, h, w = ds.shape
    cuda = dev.type == "cuda"
    amp = cuda and (default_amp(ds.shape) if amp is None else amp)
    dtype = torch.get_default_dtype()
    sp = ds.split
    idx = {
        n: torch.from_numpy(np.asarray(a, dtype=np.int64)).to(dev)
        for n, a in (("train", sp.train), ("val", sp.val), ("test", sp.test))
    }
    x_tr, y_tr = t["x"][idx["train"]], t["y"][idx["train"]]
    evals = [(t["x"][idx[n]], t["y"][idx[n]]) for n in ("val", "test")]

    models = []
    for cfg, mem in zip(cfgs, members):
        with torch.random.fork_rng(devices=[dev] if cuda else []):
            torch.manual_seed(derive_seed(mem.seed, "init"))
            models.append(build_model(cfg, c, h, k).to(dev))
        _make_optimizer(cfg, models[-1].parameters())  # refuses an unknown optimizer as train.py does
    for r, mdl in zip(results, models):
        r.n_params, r.flops = count_params(mdl), count_flops(mdl, ds.shape)
    st = _Stack(models)
    opt = _Optim(cfgs, st)

    n = len(x_tr)
    bs = min(int(cfgs[0]["batch_size"]), n)
    spe = n // bs + (1 if n % bs >= 2 else 0)  # as train.py: a last batch of 1 breaks batch norm
    sched = [int(m.schedule_epochs) for m in members]
    ends = [int(m.epochs or m.schedule_epochs) for m in members]
    base = [float(cf["learning_rate"]) for cf in cfgs]
    cosine = [cf.get("lr_schedule", "constant") == "cosine" for cf in cfgs]

    def lr_at(i: int, step: int) -> float:
        total = sched[i] * spe
        return base[i] * 0.5 * (1 + math.cos(math.pi * step / total)) if cosine[i] else base[i]

    active = list(range(len(members)))  # original member indices, in stack order
    g_shuffle = [torch.Generator(device=dev).manual_seed(derive_seed(m.seed, "shuffle")) for m in members]
    g_aug = [
        torch.Generator(device=dev).manual_seed(derive_seed(m.seed, "augment"))
        if cf.get("augmentation", "none") != "none"
        else None
        for cf, m in zip(cfgs, members)
    ]
    # train.py draws dropout from the global generator seeded per trial: one generator each here
    g_drop = [torch.Generator(device=dev).manual_seed(derive_seed(m.seed, "dropout")) for m in members]
    drop_p = [float(cf.get("dropout", 0.0)) for cf in cfgs]
    smooth_all = [float(cf.get("label_smoothing", 0.0)) for cf in cfgs]
    mean, std = t["mean"].to(dtype), t["std"].to(dtype)
    mean5, std5 = mean.unsqueeze(0), std.unsqueeze(0)

    step = 0
    for epoch in range(1, max(ends) + 1):
        mm = len(active)
        t0 = time.perf_counter()
        epoch_lr = [lr_at(i, step) for i in active]
        perms = torch.stack([torch.randperm(n, generator=g_shuffle[i], device=dev) for i in active])
        smoothing = (
            torch.tensor([smooth_all[i] for i in active], device=dev, dtype=dtype)
            if any(smooth_all[i] for i in active)
            else None
        )
        loss_sum = torch.zeros(mm, device=dev, dtype=dtype)
        correct = torch.zeros(mm, device=dev, dtype=torch.long)
        seen = 0
        aug_gens = [g_aug[i] for i in active]
        any_aug = any(g is not None for g in aug_gens)
        dgens, dps = [g_drop[i] for i in active], [drop_p[i] for i in active]
        const_lr = all(not cosine[i] for i in active)
        lr_t = torch.tensor([base[i] for i in active], device=dev, dtype=dtype)
        for s in range(spe):
            bidx = perms[:, s * bs : (s + 1) * bs]
            b = bidx.shape[1]
            xb, yb = x_tr[bidx], y_tr[bidx]  # (M, b, C, H, W), (M, b)
            if any_aug:
                xb = fused_augment(xb, ds.augmentation, aug_gens)
            if not const_lr:
                lr_t = torch.tensor([lr_at(i, step) for i in active], device=dev, dtype=dtype)
            xf = ((xb.to(dtype) / 255.0 - mean5) / std5).transpose(0, 1).reshape(b, mm * c, h, w)
            if channels_last:
                xf = xf.contiguous(memory_format=torch.channels_last)
            masks = _dropout_masks(dps, dgens, (b, st.template.fc.in_features), xf)
            with torch.autocast("cuda", dtype=torch.bfloat16, enabled=amp):
                out = _forward(st, xf, True, masks)
            out = out.float() if amp else out
            loss = _loss(out, yb, smoothing)
            st.flat.grad = None
            loss.sum().backward()
            opt.step(st.flat.data, st.flat.grad, lr_t)
            loss_sum += loss.detach() * b
            correct += (out.detach().argmax(-1) == yb).sum(1)
            seen += b
            step += 1
        if cuda:
            torch.cuda.synchronize(dev)
        t1 = time.perf_counter()
        ev = [_evaluate(st, xe, ye, mean, std, k, amp, channels_last) for xe, ye in evals]
        train_loss = (loss_sum / seen).tolist()
        train_acc = [float(v) / seen for v in correct.tolist()]
        t2 = time.perf_counter()
        done = []
        for j, i in enumerate(active):
            cm_va, cm_te = ev[0][1][j], ev[1][1][j]
            p, r, f1 = macro_prf(cm_va)
            _, _, tf1 = macro_prf(cm_te)
            rec = EpochRecord(
                epoch=epoch,
                train_loss=train_loss[j],
                train_acc=train_acc[j],
                val_loss=ev[0][0][j],
                val_acc=float(np.trace(cm_va) / cm_va.sum()),
                val_precision=p,
                val_recall=r,
                val_f1=f1,
                test_loss=ev[1][0][j],
                test_acc=float(np.trace(cm_te) / cm_te.sum()),
                test_f1=tf1,
                lr=epoch_lr[j],
                train_seconds=(t1 - t0) / mm,
                eval_seconds=(t2 - t1) / mm,
            )
            res = results[i]
            res.epochs.append(rec)
            res.val_confusion, res.test_confusion = cm_va.astype(int).tolist(), cm_te.astype(int).tolist()
            if not math.isfinite(train_loss[j]):
                res.status, res.reason = "diverged", f"non-finite training loss at epoch {epoch}"
                done.append(j)
            elif epoch >= ends[i]:
                done.append(j)
        for j in done:
            _finish(results[active[j]], dev)
        if done and len(done) < len(active):
            keep = torch.tensor([j for j in range(len(active)) if j not in done], device=dev)
            opt.keep(keep, st.keep(keep), st)
        active = [i for j, i in enumerate(active) if j not in done]
        if not active:
            break


def _finish(res: TrialResult, dev: torch.device) -> None:
    if dev.type == "cuda":
        res.peak_memory_bytes = int(torch.cuda.max_memory_allocated(dev))
    else:  # process-wide on the CPU: ru_maxrss is in KiB on Linux
        res.peak_memory_bytes = int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024
    res.finished = time.time()


@torch.no_grad()
def _evaluate(
    st: _Stack,
    x: torch.Tensor,
    y: torch.Tensor,
    mean: torch.Tensor,
    std: torch.Tensor,
    k: int,
    amp: bool,
    channels_last: bool,
) -> tuple[list[float], list[np.ndarray]]:
    """Loss and confusion matrix of every member on the same images (chunks of 2048, as train.py)."""
    mm = st.m
    outs = []
    for i in range(0, len(x), 2048):
        xf = (x[i : i + 2048].to(mean.dtype) / 255.0 - mean) / std
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=amp):
            xf = xf.repeat(1, mm, 1, 1)
            o = _forward(st, xf.contiguous(memory_format=torch.channels_last) if channels_last else xf, False, None)
        outs.append(o.float() if amp else o)
    out = torch.cat(outs, dim=1)  # (M, N, K)
    nn_ = out.shape[1]
    loss = F.cross_entropy(out.reshape(mm * nn_, k), y.repeat(mm), reduction="none").view(mm, nn_).mean(1)
    pred = out.argmax(-1)
    code = torch.arange(mm, device=x.device)[:, None] * k * k + y[None, :] * k + pred
    cms = torch.bincount(code.reshape(-1), minlength=mm * k * k).view(mm, k, k).cpu().numpy()
    return loss.tolist(), list(cms)
