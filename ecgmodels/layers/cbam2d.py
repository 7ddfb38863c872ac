"""Attention for 2-D feature maps: channel, spatial and both (CBAM; Woo et al., ECCV 2018)."""

from __future__ import annotations

import torch
from torch import nn

ATTENTION_KINDS = ("none", "channel", "spatial", "cbam")


class ChannelAttention2d(nn.Module):
    """Channel weights from a shared MLP over global average and max pooling (CBAM's first half)."""

    def __init__(self, channels: int, reduction: int = 8) -> None:
        super().__init__()
        hidden = max(channels // reduction, 4)
        self.mlp = nn.Sequential(nn.Linear(channels, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = torch.sigmoid(self.mlp(x.mean(dim=(2, 3))) + self.mlp(x.amax(dim=(2, 3))))
        return x * w[:, :, None, None]


class SpatialAttention2d(nn.Module):
    """Per-pixel weights from the channel-wise mean and max maps (CBAM's second half)."""

    def __init__(self, kernel_size: int = 7) -> None:
        super().__init__()
        self.conv = nn.Conv2d(2, 1, kernel_size, padding=kernel_size // 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = torch.cat([x.mean(dim=1, keepdim=True), x.amax(dim=1, keepdim=True)], dim=1)
        return x * torch.sigmoid(self.conv(pooled))


def attention2d(kind: str, channels: int) -> nn.Module:
    """The attention block named ``kind`` (one of ATTENTION_KINDS)."""
    if kind not in ATTENTION_KINDS:
        raise ValueError(f"unknown attention {kind!r}; valid: {', '.join(ATTENTION_KINDS)}")
    if kind == "channel":
        return ChannelAttention2d(channels)
    if kind == "spatial":
        return SpatialAttention2d()
    if kind == "cbam":
        return nn.Sequential(ChannelAttention2d(channels), SpatialAttention2d())
    return nn.Identity()
