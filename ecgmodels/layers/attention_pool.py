"""Additive self-attention pooling over time (Bahdanau et al., ICLR 2015; as used for
sequence classification by Lin et al., "A structured self-attentive sentence embedding", ICLR 2017)."""

from __future__ import annotations

import torch
from torch import nn


class AttentionPool1d(nn.Module):
    """Weighted mean of a (batch, time, features) sequence, weights learned per time step."""

    def __init__(self, features: int, hidden: int = 64) -> None:
        super().__init__()
        self.score = nn.Sequential(nn.Linear(features, hidden), nn.Tanh(), nn.Linear(hidden, 1))

    def forward(self, seq: torch.Tensor) -> torch.Tensor:
        weights = torch.softmax(self.score(seq), dim=1)  # (batch, time, 1)
        return (weights * seq).sum(dim=1)
