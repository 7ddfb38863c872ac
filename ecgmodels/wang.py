"""Baselines of the PTB-XL benchmark (Strodthoff et al. 2021) with the reference's structure:
``fcn_wang``, ``resnet1d_wang``, and the recurrent baselines ``lstm_ptbxl`` and ``lstm_bidir``.

Wang Z, Yan W, Oates T. Time series classification from scratch with deep neural
networks: a strong baseline. IJCNN 2017 (FCN: three conv blocks of 128/256/128 filters
with kernels 8/5/3; ResNet: residual blocks). Their 1-D ECG configurations, the
concat-pooling head (one hidden layer of 128, dropout 0.5) and the kaiming-normal
initialisation follow Strodthoff N, Wagner P, Schaeffter T, Samek W. Deep learning for ECG
analysis: benchmarks and insights from PTB-XL. IEEE JBHI 25(5), 2021, and its reference code
(helme/ecg_ptbxl_benchmarking): ``resnet1d_wang`` has a stem of kernel 7 (stride 1, no
pooling) and three basic blocks of 128 filters with kernels 5 and 3, the second and third of
stride 2 with a 1x1 convolution + BatchNorm shortcut; the LSTMs have two layers of 256 units
and pool their outputs by mean, max and last step. Parameters are created in the
reference's order, so its trained weights load in order.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ecgmodels.base import ECGModel, InputKind
from ecgmodels.factory import register_model
from ecgmodels.layers import ConcatPool1d, fastai_head, kaiming_init


def _conv_bn(in_ch: int, out_ch: int, kernel_size: int, stride: int = 1) -> list[nn.Module]:
    """Conv1d (no bias, padding (k - 1) // 2 as in the reference) and BatchNorm."""
    return [nn.Conv1d(in_ch, out_ch, kernel_size, stride=stride, padding=(kernel_size - 1) // 2, bias=False),
            nn.BatchNorm1d(out_ch)]


class BasicBlock1d(nn.Module):
    """conv(k1, stride) -> BN -> ReLU -> conv(k2) -> BN, plus the (downsampled) input, -> ReLU."""

    def __init__(self, in_ch: int, out_ch: int, stride: int, k1: int, k2: int) -> None:
        super().__init__()
        self.conv1, self.bn1 = _conv_bn(in_ch, out_ch, k1, stride)
        self.conv2, self.bn2 = _conv_bn(out_ch, out_ch, k2)
        self.downsample = (nn.Sequential(*_conv_bn(in_ch, out_ch, 1, stride))
                           if stride != 1 or in_ch != out_ch else None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.bn2(self.conv2(torch.relu(self.bn1(self.conv1(x)))))
        return torch.relu(out + (x if self.downsample is None else self.downsample(x)))


class ResNet1dWang(ECGModel):
    input_kind = InputKind.SIGNAL

    def __init__(self, num_classes: int, in_channels: int = 12, planes: int = 128, blocks: int = 3,
                 kernel_size: int = 5, head_hidden: int = 128, dropout: float = 0.5) -> None:
        super().__init__()
        self.stem = nn.Sequential(*_conv_bn(in_channels, planes, 7), nn.ReLU(inplace=True))
        self.blocks = nn.Sequential(*[BasicBlock1d(planes, planes, 1 if i == 0 else 2, kernel_size, 3)
                                      for i in range(blocks)])
        self.pool = ConcatPool1d()
        self.num_features = 2 * planes
        self.head = fastai_head(self.num_features, num_classes, head_hidden, dropout)
        kaiming_init(self)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(self.blocks(self.stem(x)))

    def forward_head(self, z: torch.Tensor) -> torch.Tensor:
        return self.head(z)


class FCNWang(ECGModel):
    input_kind = InputKind.SIGNAL

    def __init__(self, num_classes: int, in_channels: int = 12, width: int = 128,
                 head_hidden: int = 128, dropout: float = 0.5) -> None:
        super().__init__()
        self.body = nn.Sequential(*[
            nn.Sequential(*_conv_bn(i, o, k), nn.ReLU(inplace=True))
            for i, o, k in ((in_channels, width, 8), (width, 2 * width, 5), (2 * width, width, 3))])
        self.pool = ConcatPool1d()
        self.num_features = 2 * width
        self.head = fastai_head(self.num_features, num_classes, head_hidden, dropout)
        kaiming_init(self)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(self.body(x))

    def forward_head(self, z: torch.Tensor) -> torch.Tensor:
        return self.head(z)


class BenchmarkLSTM(ECGModel):
    """LSTM of the PTB-XL benchmark; outputs pooled by concatenated mean, max and last step
    (for a bidirectional LSTM the last step of each direction: the forward direction's final
    step and the backward direction's first)."""

    input_kind = InputKind.SIGNAL

    def __init__(self, num_classes: int, in_channels: int = 12, hidden: int = 256, layers: int = 2,
                 bidirectional: bool = False, head_hidden: int = 128, dropout: float = 0.5) -> None:
        super().__init__()
        self.hidden = hidden
        self.bidirectional = bidirectional
        self.lstm = nn.LSTM(in_channels, hidden, num_layers=layers, batch_first=True, bidirectional=bidirectional)
        self.num_features = 3 * hidden * (2 if bidirectional else 1)
        self.head = fastai_head(self.num_features, num_classes, head_hidden, dropout)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        seq, _ = self.lstm(x.transpose(1, 2))
        last = seq[:, -1]
        if self.bidirectional:
            last = torch.cat([seq[:, -1, : self.hidden], seq[:, 0, self.hidden :]], dim=1)
        return torch.cat([seq.mean(dim=1), seq.amax(dim=1), last], dim=1)

    def forward_head(self, z: torch.Tensor) -> torch.Tensor:
        return self.head(z)


@register_model
def resnet1d_wang(*, num_classes: int, in_channels: int = 12, **hparams: Any) -> ResNet1dWang:
    """ResNet of Wang et al. as configured in the PTB-XL benchmark."""
    return ResNet1dWang(num_classes, in_channels, **hparams)


@register_model
def fcn_wang(*, num_classes: int, in_channels: int = 12, **hparams: Any) -> FCNWang:
    """Fully convolutional network of Wang et al. (128/256/128 filters, kernels 8/5/3) with concat pooling."""
    return FCNWang(num_classes, in_channels, **hparams)


@register_model(fixed=("bidirectional",))
def lstm_ptbxl(*, num_classes: int, in_channels: int = 12, **hparams: Any) -> BenchmarkLSTM:
    """Two-layer unidirectional LSTM of 256 units: the PTB-XL benchmark's ``lstm``."""
    return BenchmarkLSTM(num_classes, in_channels, bidirectional=False, **hparams)


@register_model(fixed=("bidirectional",))
def lstm_bidir(*, num_classes: int, in_channels: int = 12, **hparams: Any) -> BenchmarkLSTM:
    """Two-layer bidirectional LSTM baseline of the PTB-XL benchmark."""
    return BenchmarkLSTM(num_classes, in_channels, bidirectional=True, **hparams)
