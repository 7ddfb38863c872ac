"""Recurrent family: GRU, BiGRU, LSTM, BiLSTM (optionally with attention pooling) and a
convolutional front-end + RNN (``cnn1d_rnn``).

The plain recurrent models read the signal sample by sample after an optional strided
convolution that shortens long recordings (``downsample``); the sequence is pooled by
additive self-attention (Lin et al., ICLR 2017) or by taking the last state. ``cnn1d_rnn``
puts two convolution blocks before the RNN and attention pooling after it, the
CNN-RNN-attention pattern common in arrhythmia classification (e.g. Yao et al., Inf
Fusion 2020, "Multi-class arrhythmia detection from 12-lead varied-length ECG using
attention-based time-incremental convolutional neural network").
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ecgmodels.base import ECGModel, InputKind
from ecgmodels.factory import register_model
from ecgmodels.layers import AttentionPool1d, ConvBNReLU1d


class RecurrentClassifier(ECGModel):
    """Optional conv front-end -> (Bi)GRU/LSTM -> attention or last-state pooling -> linear head."""

    input_kind = InputKind.SIGNAL

    def __init__(
        self,
        num_classes: int,
        in_channels: int = 1,
        cell: str = "gru",
        bidirectional: bool = False,
        hidden: int = 64,
        layers: int = 1,
        attention: bool = True,
        downsample: int = 2,
        conv_blocks: int = 0,
        conv_channels: int = 32,
        dropout: float = 0.2,
    ) -> None:
        super().__init__()
        front: list[nn.Module] = []
        ch = in_channels
        for _ in range(conv_blocks):
            front += [ConvBNReLU1d(ch, conv_channels, 5), nn.MaxPool1d(2, ceil_mode=True)]
            ch = conv_channels
        if downsample > 1:
            front.append(nn.Conv1d(ch, max(ch, 8), downsample, stride=downsample))
            ch = max(ch, 8)
        self.front = nn.Sequential(*front)
        rnn = nn.GRU if cell == "gru" else nn.LSTM
        self.rnn = rnn(ch, hidden, num_layers=layers, batch_first=True, bidirectional=bidirectional,
                       dropout=dropout if layers > 1 else 0.0)
        self.num_features = hidden * (2 if bidirectional else 1)
        self.pool = AttentionPool1d(self.num_features) if attention else None
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(self.num_features, num_classes))

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        seq, _ = self.rnn(self.front(x).transpose(1, 2))
        if self.pool is not None:
            return self.pool(seq)
        if self.rnn.bidirectional:  # last step of the forward pass, first step of the backward pass
            half = self.num_features // 2
            return torch.cat([seq[:, -1, :half], seq[:, 0, half:]], dim=1)
        return seq[:, -1]

    def forward_head(self, z: torch.Tensor) -> torch.Tensor:
        return self.head(z)


def _rnn(cell: str, bidirectional: bool, num_classes: int, in_channels: int, **hp: Any) -> RecurrentClassifier:
    return RecurrentClassifier(num_classes, in_channels, cell=cell, bidirectional=bidirectional, **hp)


@register_model(fixed=("cell", "bidirectional"))
def gru(*, num_classes: int, in_channels: int = 1, **hparams: Any) -> RecurrentClassifier:
    """GRU with optional self-attention pooling."""
    return _rnn("gru", False, num_classes, in_channels, **hparams)


@register_model(fixed=("cell", "bidirectional"))
def bigru(*, num_classes: int, in_channels: int = 1, **hparams: Any) -> RecurrentClassifier:
    """Bidirectional GRU with optional self-attention pooling."""
    return _rnn("gru", True, num_classes, in_channels, **hparams)


@register_model(fixed=("cell", "bidirectional"))
def lstm(*, num_classes: int, in_channels: int = 1, **hparams: Any) -> RecurrentClassifier:
    """LSTM with optional self-attention pooling."""
    return _rnn("lstm", False, num_classes, in_channels, **hparams)


@register_model(fixed=("cell", "bidirectional"))
def bilstm(*, num_classes: int, in_channels: int = 1, **hparams: Any) -> RecurrentClassifier:
    """Bidirectional LSTM with optional self-attention pooling."""
    return _rnn("lstm", True, num_classes, in_channels, **hparams)


@register_model
def cnn1d_rnn(*, num_classes: int, in_channels: int = 1, conv_blocks: int = 2, **hparams: Any) -> RecurrentClassifier:
    """Conv front-end -> BiGRU -> attention pooling -> FC."""
    hparams.setdefault("bidirectional", True)
    hparams.setdefault("downsample", 1)
    return RecurrentClassifier(num_classes, in_channels, conv_blocks=conv_blocks, **hparams)
