"""Squeeze-and-excitation for 1-D feature maps (Hu et al., CVPR 2018)."""

from __future__ import annotations

import torch
from torch import nn


class SqueezeExcite1d(nn.Module):
    """Rescales channels by weights learned from their global average."""

    def __init__(self, channels: int, reduction: int = 8) -> None:
        super().__init__()
        hidden = max(channels // reduction, 4)
        self.fc = nn.Sequential(
            nn.Linear(channels, hidden),
            nn.ReLU(inplace=True),
            nn.Linear(hidden, channels),
            nn.Sigmoid(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.fc(x.mean(dim=-1))
        return x * w.unsqueeze(-1)
