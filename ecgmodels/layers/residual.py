"""Basic 1-D residual block (He et al., CVPR 2016) with optional SE and channel dropout."""

from __future__ import annotations

import torch
from torch import nn

from ecgmodels.layers.se import SqueezeExcite1d


class ResidualBlock1d(nn.Module):
    """Two convolutions with a shortcut; the shortcut projects when shape changes.

    Args:
        in_ch: Input channels.
        out_ch: Output channels.
        kernel_size: Odd kernel size of both convolutions.
        stride: Stride of the first convolution (downsampling).
        se: Apply squeeze-and-excitation to the residual branch.
        spatial_dropout: Probability of dropping whole channels (``nn.Dropout1d``).
    """

    def __init__(
        self,
        in_ch: int,
        out_ch: int,
        kernel_size: int = 7,
        stride: int = 1,
        se: bool = False,
        spatial_dropout: float = 0.0,
    ) -> None:
        super().__init__()
        pad = kernel_size // 2
        self.conv1 = nn.Conv1d(in_ch, out_ch, kernel_size, stride=stride, padding=pad, bias=False)
        self.bn1 = nn.BatchNorm1d(out_ch)
        self.conv2 = nn.Conv1d(out_ch, out_ch, kernel_size, padding=pad, bias=False)
        self.bn2 = nn.BatchNorm1d(out_ch)
        self.se = SqueezeExcite1d(out_ch) if se else nn.Identity()
        self.drop = nn.Dropout1d(spatial_dropout) if spatial_dropout > 0 else nn.Identity()
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or in_ch != out_ch:
            self.shortcut = nn.Sequential(
                nn.Conv1d(in_ch, out_ch, 1, stride=stride, bias=False), nn.BatchNorm1d(out_ch)
            )
        self.act = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.act(self.bn1(self.conv1(x)))
        out = self.drop(out)
        out = self.se(self.bn2(self.conv2(out)))
        return self.act(out + self.shortcut(x))
