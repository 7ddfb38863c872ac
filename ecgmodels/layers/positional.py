"""Fixed sinusoidal positional encoding (Vaswani et al., NeurIPS 2017), any sequence length."""

from __future__ import annotations

import math

import torch
from torch import nn


class SinusoidalPositionalEncoding(nn.Module):
    """Adds sin/cos position codes to a (batch, time, d_model) sequence."""

    def __init__(self, d_model: int) -> None:
        super().__init__()
        self.d_model = d_model
        inv_freq = torch.exp(torch.arange(0, d_model, 2).float() * (-math.log(10000.0) / d_model))
        self.register_buffer("inv_freq", inv_freq, persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pos = torch.arange(x.shape[1], device=x.device, dtype=self.inv_freq.dtype)
        angles = pos[:, None] * self.inv_freq[None, :]
        pe = torch.zeros(x.shape[1], self.d_model, device=x.device, dtype=x.dtype)
        pe[:, 0::2] = torch.sin(angles).to(x.dtype)
        pe[:, 1::2] = torch.cos(angles[:, : self.d_model // 2]).to(x.dtype)
        return x + pe.unsqueeze(0)
