"""ResNet-, VGG- and Inception-style CNNs built from a configuration.

The number of stages follows the input resolution (two for 8x8 and 16x16 inputs, three for
28x28 and 32x32), the width doubles at every stage, and the head pools with a mean over H, W
(``AdaptiveAvgPool2d`` has a nondeterministic backward on CUDA).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid, "gelu": nn.GELU}


def n_stages_for(resolution: int) -> int:
    return 2 if resolution <= 16 else 3


class _Ctx:
    def __init__(self, config: Mapping[str, Any]):
        self.k = int(config.get("kernel_size", 3))
        self.act = ACTIVATIONS[config.get("activation", "relu")]
        self.bn = bool(config.get("batch_norm", True))

    def conv_bn_act(self, cin: int, cout: int, k: int | None = None, stride: int = 1) -> nn.Sequential:
        k = k or self.k
        return nn.Sequential(
            nn.Conv2d(cin, cout, k, stride=stride, padding=k // 2, bias=not self.bn),
            nn.BatchNorm2d(cout) if self.bn else nn.Identity(),
            self.act(),
        )


class BasicBlock(nn.Module):
    def __init__(self, ctx: _Ctx, cin: int, cout: int, stride: int):
        super().__init__()
        k = ctx.k
        self.conv1 = ctx.conv_bn_act(cin, cout, stride=stride)
        self.conv2 = nn.Conv2d(cout, cout, k, padding=k // 2, bias=not ctx.bn)
        self.bn2 = nn.BatchNorm2d(cout) if ctx.bn else nn.Identity()
        self.short = nn.Identity()
        if stride != 1 or cin != cout:
            self.short = nn.Sequential(
                nn.Conv2d(cin, cout, 1, stride=stride, bias=not ctx.bn),
                nn.BatchNorm2d(cout) if ctx.bn else nn.Identity(),
            )
        self.act = ctx.act()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.bn2(self.conv2(self.conv1(x))) + self.short(x))


class InceptionModule(nn.Module):
    """Four branches (1x1; 1x1 -> kxk; 1x1 -> kxk -> kxk; maxpool -> 1x1), concatenated."""

    def __init__(self, ctx: _Ctx, cin: int, cout: int):
        super().__init__()
        b = max(cout // 4, 1)
        last = cout - 3 * b
        self.b1 = ctx.conv_bn_act(cin, b, k=1)
        self.b2 = nn.Sequential(ctx.conv_bn_act(cin, b, k=1), ctx.conv_bn_act(b, b))
        self.b3 = nn.Sequential(ctx.conv_bn_act(cin, b, k=1), ctx.conv_bn_act(b, b), ctx.conv_bn_act(b, b))
        self.b4 = nn.Sequential(nn.MaxPool2d(3, stride=1, padding=1), ctx.conv_bn_act(cin, last, k=1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.b1(x), self.b2(x), self.b3(x), self.b4(x)], dim=1)


class CNN(nn.Module):
    def __init__(self, features: nn.Module, channels: int, n_classes: int, dropout: float):
        super().__init__()
        self.features = features
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.fc = nn.Linear(channels, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.features(x).mean(dim=(2, 3))
        return self.fc(self.dropout(h))


def build_model(config: Mapping[str, Any], in_channels: int, resolution: int, n_classes: int) -> CNN:
    ctx = _Ctx(config)
    arch = config["architecture"]
    width = int(config["width"])
    stages = n_stages_for(resolution)
    layers: list[nn.Module] = [ctx.conv_bn_act(in_channels, width)]
    cin = width
    for s in range(stages):
        cout = width * 2**s
        if arch == "resnet":
            for b in range(int(config["resnet_blocks"])):
                layers.append(BasicBlock(ctx, cin, cout, stride=2 if (s > 0 and b == 0) else 1))
                cin = cout
        elif arch == "vgg":
            if s > 0:
                layers.append(nn.MaxPool2d(2))
            for _ in range(int(config["vgg_convs"])):
                layers.append(ctx.conv_bn_act(cin, cout))
                cin = cout
        elif arch == "inception":
            if s > 0:
                layers.append(nn.MaxPool2d(2))
            for _ in range(int(config["inception_modules"])):
                layers.append(InceptionModule(ctx, cin, cout))
                cin = cout
        else:
            raise ValueError(f"unknown architecture {arch!r}")
    return CNN(nn.Sequential(*layers), cin, n_classes, float(config.get("dropout", 0.0)))


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def count_flops(model: nn.Module, input_shape: tuple[int, int, int]) -> int:
    """FLOPs of one forward pass of one sample (2 x multiply-accumulates of convs and linears)."""
    total = 0

    def conv_hook(mod: nn.Conv2d, inp: Any, out: torch.Tensor) -> None:
        nonlocal total
        k = mod.kernel_size[0] * mod.kernel_size[1] * (mod.in_channels // mod.groups)
        total += 2 * k * out.numel()

    def lin_hook(mod: nn.Linear, inp: Any, out: torch.Tensor) -> None:
        nonlocal total
        total += 2 * mod.in_features * out.numel()

    handles = []
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            handles.append(m.register_forward_hook(conv_hook))
        elif isinstance(m, nn.Linear):
            handles.append(m.register_forward_hook(lin_hook))
    was_training = model.training
    model.eval()
    try:
        dev = next(model.parameters()).device
        with torch.no_grad():
            model(torch.zeros(1, *input_shape, device=dev))
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    return int(total)
