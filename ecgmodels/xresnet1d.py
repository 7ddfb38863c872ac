"""xresnet1d: the "bag of tricks" ResNet-D adapted to 1-D signals.

He T, Zhang Z, Zhang H, et al. Bag of tricks for image classification with
convolutional neural networks. CVPR 2019 (three-convolution stem, average-pool
shortcut downsampling, zero-initialised last BatchNorm of each residual branch), with
bottleneck blocks (expansion 4) and the layer counts of ResNet-50 (3, 4, 6, 3) and
ResNet-101 (3, 4, 23, 3). Kernel size 5 and the concat-pooling head follow the PTB-XL
benchmark (Strodthoff et al., IEEE JBHI 2021).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ecgmodels.base import ECGModel, InputKind
from ecgmodels.factory import register_model
from ecgmodels.layers import ConcatPool1d, ConvBNReLU1d, fastai_head


class Bottleneck1d(nn.Module):
    expansion = 4

    def __init__(self, in_ch: int, planes: int, stride: int, kernel_size: int) -> None:
        super().__init__()
        out = planes * self.expansion
        self.branch = nn.Sequential(
            ConvBNReLU1d(in_ch, planes, 1),
            ConvBNReLU1d(planes, planes, kernel_size, stride=stride),
            nn.Conv1d(planes, out, 1, bias=False),
            nn.BatchNorm1d(out),
        )
        nn.init.zeros_(self.branch[-1].weight)  # each block starts as the identity
        short: list[nn.Module] = []
        if stride > 1:
            short.append(nn.AvgPool1d(stride, ceil_mode=True))
        if in_ch != out:
            short += [nn.Conv1d(in_ch, out, 1, bias=False), nn.BatchNorm1d(out)]
        self.short = nn.Sequential(*short)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.branch(x) + self.short(x))


class XResNet1d(ECGModel):
    input_kind = InputKind.SIGNAL

    def __init__(self, num_classes: int, in_channels: int = 12, layers: tuple[int, ...] = (3, 4, 6, 3),
                 width: int = 64, kernel_size: int = 5, head_hidden: int = 128, dropout: float = 0.5) -> None:
        super().__init__()
        self.stem = nn.Sequential(
            ConvBNReLU1d(in_channels, 32, kernel_size, stride=2), ConvBNReLU1d(32, 32, kernel_size),
            ConvBNReLU1d(32, width, kernel_size), nn.MaxPool1d(3, stride=2, padding=1),
        )
        blocks: list[nn.Module] = []
        ch = width
        for i, n in enumerate(layers):
            planes = width * 2**i  # 64, 128, 256, 512 as in ResNet; outputs are 4x wider
            for j in range(n):
                blocks.append(Bottleneck1d(ch, planes, 2 if (i > 0 and j == 0) else 1, kernel_size))
                ch = planes * Bottleneck1d.expansion
        self.body = nn.Sequential(*blocks)
        self.pool = ConcatPool1d()
        self.num_features = 2 * ch
        self.head = fastai_head(self.num_features, num_classes, head_hidden, dropout)

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
