"""Spatial (temporal) attention for 1-D maps, the second half of CBAM (Woo et al., ECCV 2018)."""

from __future__ import annotations

import torch
from torch import nn


class SpatialAttention1d(nn.Module):
    """Weights each time step from the channel-wise mean and max at that step."""

    def __init__(self, kernel_size: int = 7) -> None:
        super().__init__()
        self.conv = nn.Conv1d(2, 1, kernel_size, padding=kernel_size // 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = torch.cat([x.mean(dim=1, keepdim=True), x.amax(dim=1, keepdim=True)], dim=1)
        return x * torch.sigmoid(self.conv(pooled))
