"""Ways to run M members' convolutions at once, side by side in one run (forward + backward).

Why: convolutions are about 79 % of a fused epoch on the CPU (``bench_fused.py --profile``),
and oneDNN's grouped convolution is not always cheaper than the member convolutions it
replaces. This times, per layer shape of the fused groups ``bench_fused.py`` trains (every
convolution of the Sobol design's configurations, with ``--members`` members), the variants:

- ``grouped-cl``: one grouped convolution over ``(B, M*C, H, W)``, channels_last (what
  ``fused.py`` runs on the CPU);
- ``grouped-nchw``: the same on NCHW;
- ``unfold-bmm``: ``F.unfold`` (im2col) then one ``torch.bmm`` over members,
  ``(M, B*H*W, C*k*k) @ (M, C*k*k, C_out)``;
- ``window-bmm``: member-major NHWC activations, im2col as ``Tensor.unfold`` windows (no
  transposes: the product's output is already ``(M, B, H, W, C_out)``), then one ``bmm``;
- ``loop``: one convolution per member on ``(M, B, C, H, W)`` (a Python loop), stacked.

Prints ms per variant and each variant's time relative to ``grouped-cl`` (>1: slower), then
the geometric mean over the shapes. Ratios, not absolute times, are what a shared machine
measures.

    python scripts/bench_conv_variants.py [--configs 6] [--members 3] [--threads 1] [--float64]
"""

from __future__ import annotations

import argparse
import math
import time

import torch
import torch.nn.functional as F

from mfbench.training.models import build_model
from mfbench.training.space import get_space, sample_configs


def grouped(x, w, k):  # x (B, M*C, H, W), w (M*Co, C, k, k)
    m = x.shape[1] // w.shape[1]
    return F.conv2d(x, w, None, 1, k // 2, 1, m)


def unfold_bmm(x, w, k):  # x (M, B, C, H, W), w (M, Co, C, k, k)
    m, b, c, h, wd = x.shape
    cols = F.unfold(x.reshape(m * b, c, h, wd), k, padding=k // 2)  # (M*B, C*k*k, H*W)
    cols = cols.view(m, b, c * k * k, h * wd).transpose(2, 3).reshape(m, b * h * wd, c * k * k)
    out = torch.bmm(cols, w.reshape(m, -1, c * k * k).transpose(1, 2))
    return out.view(m, b, h, wd, -1)


def window_bmm(x, w, k):  # x (M, B, H, W, C) member-major NHWC
    m, b, h, wd, c = x.shape
    p = k // 2
    cols = F.pad(x, (0, 0, p, p, p, p)).unfold(2, k, 1).unfold(3, k, 1)  # (M, B, H, W, C, k, k)
    out = torch.bmm(cols.reshape(m, b * h * wd, c * k * k), w.reshape(m, -1, c * k * k).transpose(1, 2))
    return out.view(m, b, h, wd, -1)


def loop(x, w, k):  # x (M, B, C, H, W)
    return torch.stack([F.conv2d(x[i], w[i], None, 1, k // 2) for i in range(x.shape[0])])


def layer_shapes(configs, members):
    """(M, B, C_in, C_out, k, H) of every stride-1 convolution of each configuration."""
    out = set()
    for c in configs:
        model = build_model(c, 1, 8, 10)
        h = {}

        def hook(mod, inp, o, h=h):
            if mod.stride == (1, 1):
                h[(mod.in_channels, mod.out_channels, mod.kernel_size[0], inp[0].shape[-1])] = True

        hs = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
        model(torch.zeros(2, 1, 8, 8))
        for x in hs:
            x.remove()
        for cin, cout, k, hw in h:
            out.add((members, int(c["batch_size"]), cin, cout, k, hw))
    return sorted(out)


def timed(fn, n: int) -> float:
    for _ in range(2):
        fn()
    t0 = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - t0) / n


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--configs", type=int, default=6)
    ap.add_argument("--members", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--float64", action="store_true")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    dt = torch.float64 if a.float64 else torch.float32
    configs = sample_configs(get_space("cnn"), a.configs, seed=2026, design="sobol")
    names = ("grouped-cl", "grouped-nchw", "unfold-bmm", "window-bmm", "loop")
    logs = {n: 0.0 for n in names}
    shapes = layer_shapes(configs, a.members)
    for m, b, c, co, k, hw in shapes:
        g = torch.Generator().manual_seed(0)
        x5 = torch.randn(m, b, c, hw, hw, generator=g, dtype=dt)
        w5 = torch.randn(m, co, c, k, k, generator=g, dtype=dt)
        inputs = {
            "grouped-cl": (
                x5.transpose(0, 1).reshape(b, m * c, hw, hw).contiguous(memory_format=torch.channels_last),
                w5.reshape(m * co, c, k, k),
                grouped,
            ),
            "grouped-nchw": (
                x5.transpose(0, 1).reshape(b, m * c, hw, hw).contiguous(),
                w5.reshape(m * co, c, k, k),
                grouped,
            ),
            "unfold-bmm": (x5, w5, unfold_bmm),
            "window-bmm": (x5.permute(0, 1, 3, 4, 2).contiguous(), w5, window_bmm),
            "loop": (x5, w5, loop),
        }
        ms = {}
        for n in names:
            x, w, fn = inputs[n]
            x, w = (
                x.clone().requires_grad_(c > 1),
                w.clone().requires_grad_(True),
            )  # the first layer needs no input grad

            def step(x=x, w=w, fn=fn, k=k):
                fn(x, w, k).sum().backward()

            ms[n] = timed(step, a.repeats) * 1e3
        for n in names:
            logs[n] += math.log(ms[n] / ms["grouped-cl"])
        print(
            f"M{m} B{b:>3} C{c:>2}->{co:>2} k{k} {hw}x{hw}: "
            + "  ".join(f"{n} {ms[n]:7.2f} ms ({ms[n] / ms['grouped-cl']:.2f})" for n in names),
            flush=True,
        )
    print(
        "geometric mean time relative to grouped-cl: "
        + ", ".join(f"{n} {math.exp(logs[n] / len(shapes)):.2f}" for n in names)
        + f" ({len(shapes)} shapes, {a.threads} thread(s), {dt})"
    )


if __name__ == "__main__":
    main()
