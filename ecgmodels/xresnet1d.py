"""xresnet1d: the "bag of tricks" ResNet-D adapted to 1-D signals.

He T, Zhang Z, Zhang H, et al. Bag of tricks for image classification with
convolutional neural networks. CVPR 2019 (three-convolution stem, average-pool
shortcut downsampling, zero-initialised last BatchNorm of each residual branch), with
bottleneck blocks (expansion 4) and the layer counts of ResNet-50 (3, 4, 6, 3) and
ResNet-101 (3, 4, 23, 3). Kernel size 5, the constant stage width of 64 planes, the
concat-pooling head and the kaiming-normal initialisation follow the PTB-XL benchmark
(Strodthoff et al., IEEE JBHI 2021) and its reference code (helme/ecg_ptbxl_benchmarking).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ecgmodels.base import ECGModel, InputKind
from ecgmodels.factory import register_model
from ecgmodels.layers import ConcatPool1d, fastai_head, kaiming_init


def _conv_layer(in_ch: int, out_ch: int, kernel_size: int, stride: int = 1, act: bool = True,
                zero_bn: bool = False) -> nn.Sequential:
    """Conv1d (no bias) -> BatchNorm (weight 0 when ``zero_bn``) -> ReLU (when ``act``)."""
    bn = nn.BatchNorm1d(out_ch)
    layers: list[nn.Module] = [
        nn.Conv1d(in_ch, out_ch, kernel_size, stride=stride, padding=(kernel_size - 1) // 2, bias=False), bn]
    if act:
        layers.append(nn.ReLU(inplace=True))
    layer = nn.Sequential(*layers)
    layer.zero_bn = zero_bn  # type: ignore[attr-defined]  (read by XResNet1d's initialisation)
    return layer


class Bottleneck1d(nn.Module):
    """1x1 -> k (stride) -> 1x1 (x4) convolutions; the shortcut average-pools, then projects
    with a 1x1 convolution when the width changes (ResNet-D)."""

    expansion = 4

    def __init__(self, in_ch: int, planes: int, stride: int, kernel_size: int) -> None:
        super().__init__()
        out = planes * self.expansion
        self.branch = nn.Sequential(
            _conv_layer(in_ch, planes, 1),
            _conv_layer(planes, planes, kernel_size, stride=stride),
            _conv_layer(planes, out, 1, act=False, zero_bn=True),  # each block starts as the identity
        )
        short: list[nn.Module] = []
        if stride > 1:
            short.append(nn.AvgPool1d(2, ceil_mode=True))
        if in_ch != out:
            short.append(_conv_layer(in_ch, out, 1, act=False))
        self.short = nn.Sequential(*short)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.branch(x) + self.short(x))


class XResNet1d(ECGModel):
    """The PTB-XL benchmark's xresnet1d: every stage keeps ``width`` planes (``4 * width``
    outputs), unlike torchvision's ResNets whose widths double per stage."""

    input_kind = InputKind.SIGNAL

    def __init__(self, num_classes: int, in_channels: int = 12, layers: tuple[int, ...] = (3, 4, 6, 3),
                 width: int = 64, kernel_size: int = 5, head_hidden: int = 128, dropout: float = 0.5) -> None:
        super().__init__()
        self.stem = nn.Sequential(
            _conv_layer(in_channels, 32, kernel_size, stride=2), _conv_layer(32, 32, kernel_size),
            _conv_layer(32, 64, kernel_size), nn.MaxPool1d(3, stride=2, padding=1),
        )
        blocks: list[nn.Module] = []
        ch = 64
        for i, n in enumerate(layers):
            for j in range(n):
                blocks.append(Bottleneck1d(ch, width, 2 if (i > 0 and j == 0) else 1, kernel_size))
                ch = width * Bottleneck1d.expansion
        self.body = nn.Sequential(*blocks)
        self.pool = ConcatPool1d()
        self.num_features = 2 * ch
        self.head = fastai_head(self.num_features, num_classes, head_hidden, dropout)
        kaiming_init(self)
        for m in self.modules():  # the last BatchNorm of each residual branch starts at 0
            if getattr(m, "zero_bn", False):
                nn.init.zeros_(m[1].weight)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(self.body(self.stem(x)))

    def forward_head(self, z: torch.Tensor) -> torch.Tensor:
        return self.head(z)


@register_model(fixed=("layers",))
def xresnet1d50(*, num_classes: int, in_channels: int = 12, **hparams: Any) -> XResNet1d:
    """xresnet1d with ResNet-50 depth (3, 4, 6, 3 bottleneck blocks)."""
    return XResNet1d(num_classes, in_channels, layers=(3, 4, 6, 3), **hparams)


@register_model(fixed=("layers",))
def xresnet1d101(*, num_classes: int, in_channels: int = 12, **hparams: Any) -> XResNet1d:
    """xresnet1d with ResNet-101 depth (3, 4, 23, 3 bottleneck blocks)."""
    return XResNet1d(num_classes, in_channels, layers=(3, 4, 23, 3), **hparams)
