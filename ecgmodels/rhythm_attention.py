"""CNN-Transformer ("rhythm attention") classifier.

A convolutional stem and 1-D residual blocks with spatial (channel) dropout
shorten the signal into a sequence of local features; a linear projection to
``d_model``, sinusoidal positional encoding and a multi-head self-attention
encoder (Vaswani et al., NeurIPS 2017) relate distant parts of the recording;
concatenated global average and max pooling give the embedding. This follows the
convolution-then-attention designs used for ECG rhythm classification (e.g. Yan
et al., "Fusing Transformer Model with Temporal Features for ECG Heartbeat
Classification", BIBM 2019; Natarajan et al., CinC 2020).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ecgmodels.base import ECGModel, InputKind
from ecgmodels.factory import register_model
from ecgmodels.layers import ConvBNReLU1d, ResidualBlock1d, SinusoidalPositionalEncoding


class RhythmAttention(ECGModel):
    input_kind = InputKind.SIGNAL

    def __init__(
        self,
        num_classes: int,
        in_channels: int = 1,
        channels: int = 64,
        res_blocks: int = 3,
        d_model: int = 64,
        heads: int = 4,
        layers: int = 2,
        dropout: float = 0.2,
        spatial_dropout: float = 0.1,
    ) -> None:
        super().__init__()
        if d_model % heads:
            raise ValueError(f"d_model={d_model} must be divisible by heads={heads}")
        self.stem = ConvBNReLU1d(in_channels, channels, 7)
        self.blocks = nn.Sequential(
            *[
                ResidualBlock1d(channels, channels, 7, stride=2, spatial_dropout=spatial_dropout)
                for _ in range(res_blocks)
            ]
        )
        self.project = nn.Linear(channels, d_model)
        self.position = SinusoidalPositionalEncoding(d_model)
        layer = nn.TransformerEncoderLayer(
            d_model, heads, dim_feedforward=2 * d_model, dropout=dropout, batch_first=True
        )
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.num_features = 2 * d_model
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(self.num_features, num_classes))

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        seq = self.blocks(self.stem(x)).transpose(1, 2)
        seq = self.encoder(self.position(self.project(seq)))
        return torch.cat([seq.mean(dim=1), seq.amax(dim=1)], dim=1)

    def forward_head(self, z: torch.Tensor) -> torch.Tensor:
        return self.head(z)


@register_model
def rhythm_attention(*, num_classes: int, in_channels: int = 1, **hparams: Any) -> RhythmAttention:
    """CNN-Transformer: residual 1-D CNN -> self-attention encoder -> avg+max pooling."""
    return RhythmAttention(num_classes, in_channels, **hparams)
