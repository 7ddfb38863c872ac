"""Conv1d -> BatchNorm -> ReLU, the unit most 1-D ECG encoders are built from."""

from __future__ import annotations

from torch import nn


class ConvBNReLU1d(nn.Sequential):
    def __init__(self, in_ch: int, out_ch: int, kernel_size: int, stride: int = 1) -> None:
        super().__init__(
            nn.Conv1d(in_ch, out_ch, kernel_size, stride=stride, padding=kernel_size // 2, bias=False),
            nn.BatchNorm1d(out_ch),
            nn.ReLU(inplace=True),
        )
