"""Baselines of the PTB-XL benchmark after Wang et al.: ``fcn_wang``, ``resnet1d_wang``, and the
recurrent baseline ``lstm_bidir``.

Wang Z, Yan W, Oates T. Time series classification from scratch with deep neural
networks: a strong baseline. IJCNN 2017 (FCN: three conv blocks of 128/256/128 filters
with kernels 8/5/3; ResNet: residual blocks). Their 1-D ECG configurations and the
concat-pooling head follow Strodthoff N, Wagner P, Schaeffter T, Samek W. Deep learning
for ECG analysis: benchmarks and insights from PTB-XL. IEEE JBHI 25(5), 2021
(``resnet1d_wang``: stem kernel 7, three basic blocks of 128 filters with kernels 5 and 3;
``lstm_bidir``: two-layer bidirectional LSTM of 256 units).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ecgmodels.base import ECGModel, InputKind
from ecgmodels.factory import register_model
from ecgmodels.layers import ConcatPool1d, ConvBNReLU1d, fastai_head


class _Block(nn.Module):
    """Basic residual block with two convolutions of kernel sizes ``k1`` and ``k2``."""

    def __init__(self, in_ch: int, out_ch: int, k1: int, k2: int) -> None:
        super().__init__()
        self.conv1 = ConvBNReLU1d(in_ch, out_ch, k1)
        self.conv2 = nn.Sequential(nn.Conv1d(out_ch, out_ch, k2, padding=k2 // 2, bias=False), nn.BatchNorm1d(out_ch))
        self.short = nn.Identity() if in_ch == out_ch else nn.Sequential(
            nn.Conv1d(in_ch, out_ch, 1, bias=False), nn.BatchNorm1d(out_ch))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.conv2(self.conv1(x)) + self.short(x))


class ResNet1dWang(ECGModel):
    input_kind = InputKind.SIGNAL

    def __init__(self, num_classes: int, in_channels: int = 12, planes: int = 128, blocks: int = 3,
                 kernel_size: int = 5, head_hidden: int = 128, dropout: float = 0.5) -> None:
        super().__init__()
        self.stem = ConvBNReLU1d(in_channels, planes, 7)
        self.blocks = nn.Sequential(*[_Block(planes, planes, kernel_size, 3) for _ in range(blocks)])
        self.pool = ConcatPool1d()
        self.num_features = 2 * planes
        self.head = fastai_head(self.num_features, num_classes, head_hidden, dropout)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(self.blocks(self.stem(x)))

    def forward_head(self, z: torch.Tensor) -> torch.Tensor:
        return self.head(z)


class FCNWang(ECGModel):
    input_kind = InputKind.SIGNAL

    def __init__(self, num_classes: int, in_channels: int = 12, width: int = 128,
                 head_hidden: int = 128, dropout: float = 0.5) -> None:
        super().__init__()
        self.body = nn.Sequential(ConvBNReLU1d(in_channels, width, 7), ConvBNReLU1d(width, 2 * width, 5),
                                  ConvBNReLU1d(2 * width, width, 3))
        self.pool = ConcatPool1d()
        self.num_features = 2 * width
        self.head = fastai_head(self.num_features, num_classes, head_hidden, dropout)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(self.body(x))

    def forward_head(self, z: torch.Tensor) -> torch.Tensor:
        return self.head(z)


class LSTMBidir(ECGModel):
    """Two-layer bidirectional LSTM; outputs pooled by concatenated mean, max and last step."""

    input_kind = InputKind.SIGNAL

    def __init__(self, num_classes: int, in_channels: int = 12, hidden: int = 256, layers: int = 2,
                 head_hidden: int = 128, dropout: float = 0.5) -> None:
        super().__init__()
        self.lstm = nn.LSTM(in_channels, hidden, num_layers=layers, batch_first=True, bidirectional=True)
        self.num_features = 3 * 2 * hidden
        self.head = fastai_head(self.num_features, num_classes, head_hidden, dropout)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        seq, _ = self.lstm(x.transpose(1, 2))
        return torch.cat([seq.mean(dim=1), seq.amax(dim=1), seq[:, -1]], dim=1)

    def forward_head(self, z: torch.Tensor) -> torch.Tensor:
        return self.head(z)


@register_model
def resnet1d_wang(*, num_classes: int, in_channels: int = 12, **hparams: Any) -> ResNet1dWang:
    """ResNet of Wang et al. as configured in the PTB-XL benchmark."""
    return ResNet1dWang(num_classes, in_channels, **hparams)


@register_model
def fcn_wang(*, num_classes: int, in_channels: int = 12, **hparams: Any) -> FCNWang:
    """Fully convolutional network of Wang et al. (128/256/128 filters) with concat pooling."""
    return FCNWang(num_classes, in_channels, **hparams)


@register_model
def lstm_bidir(*, num_classes: int, in_channels: int = 12, **hparams: Any) -> LSTMBidir:
    """Two-layer bidirectional LSTM baseline of the PTB-XL benchmark."""
    return LSTMBidir(num_classes, in_channels, **hparams)
