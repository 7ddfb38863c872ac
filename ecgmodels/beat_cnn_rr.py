"""A small beat classifier for inter-patient MIT-BIH: a three-layer CNN over the beat
window, fused with an MLP over the beat's RR-interval features.

Inter-patient S (supraventricular) detection rests on timing: an atrial premature beat
looks much like a normal one but comes early, so the RR intervals carry most of the
signal (de Chazal et al., IEEE TBME 51(7), 2004, fed RR features to a linear
discriminant). The convolutional branch stays deliberately narrow, so that it describes
the QRS-T morphology without learning the training patients by heart; with the
dataset's ``record_template`` channel it sees each beat beside its record's median beat.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ecgmodels.base import ECGModel, InputKind
from ecgmodels.factory import register_model
from ecgmodels.layers import ConvBNReLU1d


class BeatCNNRR(ECGModel):
    input_kind = InputKind.SIGNAL_META

    def __init__(self, num_classes: int, in_channels: int = 1, meta_features: int = 9, width: int = 16,
                 kernel_size: int = 7, meta_hidden: int = 32, dropout: float = 0.3) -> None:
        super().__init__()
        self.signal = nn.Sequential(
            ConvBNReLU1d(in_channels, width, kernel_size), nn.MaxPool1d(2),
            ConvBNReLU1d(width, 2 * width, kernel_size), nn.MaxPool1d(2),
            ConvBNReLU1d(2 * width, 2 * width, kernel_size), nn.AdaptiveAvgPool1d(1), nn.Flatten(),
        )
        self.meta = nn.Sequential(nn.Linear(meta_features, meta_hidden), nn.ReLU(inplace=True))
        self.num_features = 2 * width + meta_hidden
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(self.num_features, num_classes))

    def forward_features(self, x: torch.Tensor, meta: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        return torch.cat([self.signal(x), self.meta(meta)], dim=1)

    def forward_head(self, z: torch.Tensor) -> torch.Tensor:
        return self.head(z)

    def forward(self, x: torch.Tensor, meta: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        return self.forward_head(self.forward_features(x, meta))


@register_model
def beat_cnn_rr(*, num_classes: int, in_channels: int = 1, meta_features: int = 9, **hparams: Any) -> BeatCNNRR:
    """Narrow three-layer beat CNN fused with an RR-interval MLP (inter-patient beats)."""
    return BeatCNNRR(num_classes, in_channels, meta_features, **hparams)
