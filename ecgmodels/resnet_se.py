"""Residual 1-D CNN with squeeze-and-excitation and spatial attention ("pure CNN").

Stages of residual blocks (He et al., CVPR 2016) whose residual branches carry
squeeze-and-excitation (Hu et al., CVPR 2018); each stage after the first halves
the time axis and a spatial-attention gate (Woo et al., ECCV 2018) sits between
stages; global average pooling gives the embedding. It is the convolutional
trunk of the hybrid ``resnet_se_bigru_meta`` model, on its own.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ecgmodels.base import ECGModel, InputKind
from ecgmodels.factory import register_model
from ecgmodels.layers import ConvBNReLU1d, ResidualBlock1d, SpatialAttention1d


class ResNetSETrunk(nn.Module):
    """The staged residual SE trunk, shared with the hybrid models."""

    def __init__(
        self, in_channels: int, base_channels: int, stages: int, blocks_per_stage: int, kernel_size: int
    ) -> None:
        super().__init__()
        self.stem = ConvBNReLU1d(in_channels, base_channels, kernel_size)
        layers: list[nn.Module] = []
        ch = base_channels
        for stage in range(stages):
            out = base_channels * 2**stage
            for block in range(blocks_per_stage):
                stride = 2 if stage > 0 and block == 0 else 1
                layers.append(ResidualBlock1d(ch, out, kernel_size, stride=stride, se=True))
                ch = out
            if stage < stages - 1:
                layers.append(SpatialAttention1d())
        self.body = nn.Sequential(*layers)
        self.out_channels = ch

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(self.stem(x))


class ResNetSE(ECGModel):
    input_kind = InputKind.SIGNAL

    def __init__(
        self,
        num_classes: int,
        in_channels: int = 1,
        base_channels: int = 32,
        stages: int = 3,
        blocks_per_stage: int = 1,
        kernel_size: int = 7,
        dropout: float = 0.2,
    ) -> None:
        super().__init__()
        if kernel_size % 2 == 0:
            raise ValueError(f"kernel_size={kernel_size} must be odd")
        self.trunk = ResNetSETrunk(in_channels, base_channels, stages, blocks_per_stage, kernel_size)
        self.num_features = self.trunk.out_channels
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(self.num_features, num_classes))

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.trunk(x).mean(dim=-1)

    def forward_head(self, z: torch.Tensor) -> torch.Tensor:
        return self.head(z)


@register_model
def resnet_se(*, num_classes: int, in_channels: int = 1, **hparams: Any) -> ResNetSE:
    """Residual 1-D CNN with squeeze-and-excitation and spatial attention."""
    return ResNetSE(num_classes, in_channels, **hparams)
