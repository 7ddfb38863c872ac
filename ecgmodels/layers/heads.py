"""Classifier heads shared by several families."""

from __future__ import annotations

import torch
from torch import nn


class ConcatPool1d(nn.Module):
    """Concatenated global average and max pooling of a (batch, channels, time) map."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([x.mean(dim=-1), x.amax(dim=-1)], dim=1)


def fastai_head(in_features: int, num_classes: int, hidden: int | None = 128, dropout: float = 0.5) -> nn.Sequential:
    """BatchNorm -> Dropout -> Linear(-> ReLU -> BatchNorm -> Dropout -> Linear): the head of the
    PTB-XL benchmark models (Strodthoff et al. 2021, after fastai's ``create_head``)."""
    if hidden is None:
        return nn.Sequential(nn.BatchNorm1d(in_features), nn.Dropout(dropout), nn.Linear(in_features, num_classes))
    return nn.Sequential(
        nn.BatchNorm1d(in_features), nn.Dropout(dropout / 2), nn.Linear(in_features, hidden), nn.ReLU(inplace=True),
        nn.BatchNorm1d(hidden), nn.Dropout(dropout), nn.Linear(hidden, num_classes),
    )
