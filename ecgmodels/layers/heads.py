"""Classifier heads shared by several families."""

from __future__ import annotations

import torch
from torch import nn


class ConcatPool1d(nn.Module):
    """Concatenated global max and average pooling of a (batch, channels, time) map, in that
    order (fastai's ``AdaptiveConcatPool1d``, as in the PTB-XL benchmark's heads)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([x.amax(dim=-1), x.mean(dim=-1)], dim=1)


def fastai_head(in_features: int, num_classes: int, hidden: int | None = 128, dropout: float = 0.5) -> nn.Sequential:
    """BatchNorm -> Dropout -> Linear(-> ReLU -> BatchNorm -> Dropout -> Linear): the head of the
    PTB-XL benchmark models (Strodthoff et al. 2021, after fastai's ``create_head``)."""
    if hidden is None:
        return nn.Sequential(nn.BatchNorm1d(in_features), nn.Dropout(dropout), nn.Linear(in_features, num_classes))
    return nn.Sequential(
        nn.BatchNorm1d(in_features), nn.Dropout(dropout / 2), nn.Linear(in_features, hidden), nn.ReLU(inplace=True),
        nn.BatchNorm1d(hidden), nn.Dropout(dropout), nn.Linear(hidden, num_classes),
    )


def kaiming_init(module: nn.Module, bn_bias: float = 0.0) -> None:
    """Kaiming-normal weights and zero biases for every Conv1d and Linear of ``module``;
    BatchNorm weights 1 and biases ``bn_bias`` (the PTB-XL benchmark's initialisation)."""
    for m in module.modules():
        if isinstance(m, (nn.Conv1d, nn.Linear)):
            nn.init.kaiming_normal_(m.weight)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm1d):
            nn.init.ones_(m.weight)
            nn.init.constant_(m.bias, bn_bias)
