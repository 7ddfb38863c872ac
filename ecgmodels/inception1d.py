"""Inception1d: the InceptionTime network for time series, in the PTB-XL benchmark configuration.

Ismail Fawaz H, Lucas B, Forestier G, et al. InceptionTime: finding AlexNet for time
series classification. Data Min Knowl Disc 34, 1936-1962 (2020): inception modules of a
bottleneck convolution, three parallel convolutions of decreasing kernel size and a
max-pool branch, with a residual shortcut every three modules. Strodthoff et al. (IEEE
JBHI 2021) use depth 6, 32 filters and kernel sizes 39/19/9 with a concat-pooling head.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ecgmodels.base import ECGModel, InputKind
from ecgmodels.factory import register_model
from ecgmodels.layers import ConcatPool1d, fastai_head


class InceptionModule(nn.Module):
    def __init__(self, in_ch: int, filters: int, kernel_size: int, bottleneck: int) -> None:
        super().__init__()
        kernels = [kernel_size // (2**i) for i in range(3)]
        kernels = [k if k % 2 else k - 1 for k in kernels]
        self.bottleneck = nn.Conv1d(in_ch, bottleneck, 1, bias=False) if bottleneck else nn.Identity()
        mid = bottleneck or in_ch
        self.convs = nn.ModuleList(nn.Conv1d(mid, filters, k, padding=k // 2, bias=False) for k in kernels)
        self.pool = nn.Sequential(nn.MaxPool1d(3, stride=1, padding=1), nn.Conv1d(in_ch, filters, 1, bias=False))
        self.bn = nn.BatchNorm1d(4 * filters)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b = self.bottleneck(x)
        out = torch.cat([conv(b) for conv in self.convs] + [self.pool(x)], dim=1)
        return torch.relu(self.bn(out))


class Inception1d(ECGModel):
    input_kind = InputKind.SIGNAL

    def __init__(self, num_classes: int, in_channels: int = 12, depth: int = 6, filters: int = 32,
                 kernel_size: int = 39, bottleneck: int = 32, head_hidden: int = 128, dropout: float = 0.5) -> None:
        super().__init__()
        self.modules_ = nn.ModuleList()
        self.shortcuts = nn.ModuleList()
        ch, res_ch = in_channels, in_channels
        for d in range(depth):
            self.modules_.append(InceptionModule(ch, filters, kernel_size, bottleneck if ch > 1 else 0))
            ch = 4 * filters
            if d % 3 == 2:
                self.shortcuts.append(nn.Sequential(nn.Conv1d(res_ch, ch, 1, bias=False), nn.BatchNorm1d(ch)))
                res_ch = ch
        self.pool = ConcatPool1d()
        self.num_features = 2 * ch
        self.head = fastai_head(self.num_features, num_classes, head_hidden, dropout)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        residual = x
        for d, module in enumerate(self.modules_):
            x = module(x)
            if d % 3 == 2:
                x = torch.relu(x + self.shortcuts[d // 3](residual))
                residual = x
        return self.pool(x)

    def forward_head(self, z: torch.Tensor) -> torch.Tensor:
        return self.head(z)


@register_model
def inception1d(*, num_classes: int, in_channels: int = 12, **hparams: Any) -> Inception1d:
    """InceptionTime (depth 6, kernels 39/19/9) with a concat-pooling head."""
    return Inception1d(num_classes, in_channels, **hparams)
