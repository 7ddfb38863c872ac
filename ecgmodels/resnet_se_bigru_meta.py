"""Hybrid multimodal model: residual SE CNN -> BiGRU -> pooling, fused with a metadata MLP.

The signal branch is the staged residual trunk of ``resnet_se`` (squeeze-and-excitation
in each block, spatial attention between stages) followed by a two-layer
bidirectional GRU over the downsampled sequence and mean+max temporal pooling. A
small MLP embeds the patient metadata (age, sex, rates, intervals, axes). The two
embeddings are concatenated (late fusion) before the classifier. This is the
CNN-RNN-with-demographics design used for 12-lead rhythm classification, e.g. on
the Chapman-Shaoxing data (Zheng et al., Sci Data 2020) and in the PhysioNet/CinC
2020 challenge entries that fed age and sex beside the signal.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ecgmodels.base import ECGModel, InputKind
from ecgmodels.factory import register_model
from ecgmodels.resnet_se import ResNetSETrunk


class ResNetSEBiGRUMeta(ECGModel):
    input_kind = InputKind.SIGNAL_META

    def __init__(
        self,
        num_classes: int,
        in_channels: int = 12,
        meta_features: int = 13,
        base_channels: int = 32,
        stages: int = 3,
        kernel_size: int = 7,
        gru_hidden: int = 64,
        meta_hidden: int = 32,
        dropout: float = 0.3,
    ) -> None:
        super().__init__()
        self.trunk = ResNetSETrunk(in_channels, base_channels, stages, 1, kernel_size)
        self.gru = nn.GRU(self.trunk.out_channels, gru_hidden, num_layers=2, batch_first=True,
                          bidirectional=True, dropout=dropout)
        self.meta = nn.Sequential(
            nn.Linear(meta_features, meta_hidden), nn.ReLU(inplace=True), nn.Dropout(dropout),
            nn.Linear(meta_hidden, meta_hidden), nn.ReLU(inplace=True),
        )
        self.num_features = 4 * gru_hidden + meta_hidden
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(self.num_features, num_classes))

    def forward_features(self, x: torch.Tensor, meta: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        seq, _ = self.gru(self.trunk(x).transpose(1, 2))
        signal = torch.cat([seq.mean(dim=1), seq.amax(dim=1)], dim=1)
        return torch.cat([signal, self.meta(meta)], dim=1)

    def forward_head(self, z: torch.Tensor) -> torch.Tensor:
        return self.head(z)

    def forward(self, x: torch.Tensor, meta: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        return self.forward_head(self.forward_features(x, meta))


@register_model
def resnet_se_bigru_meta(
    *, num_classes: int, in_channels: int = 12, meta_features: int = 13, **hparams: Any
) -> ResNetSEBiGRUMeta:
    """Residual SE CNN -> 2-layer BiGRU, fused with a patient-metadata MLP."""
    return ResNetSEBiGRUMeta(num_classes, in_channels, meta_features, **hparams)
