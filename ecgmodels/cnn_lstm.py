"""CNN-LSTM beat/rhythm classifier.

Three convolution blocks (64 k5, 128 k3, 128 k3; each BatchNorm, ReLU, max-pool)
extract local morphology; a bidirectional LSTM reads the resulting sequence; the
concatenated final states of both directions (2 x hidden) are the embedding; the
head is FC(2*hidden -> fc_hidden) + dropout -> classes. The layout follows the
CNN-LSTM hybrids common in the arrhythmia literature (e.g. Oh et al., Comput Biol
Med 2018).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ecgmodels.base import ECGModel, InputKind
from ecgmodels.factory import register_model
from ecgmodels.layers import ConvBNReLU1d


class CNNLSTM(ECGModel):
    input_kind = InputKind.SIGNAL

    def __init__(
        self,
        num_classes: int,
        in_channels: int = 1,
        conv_width: int = 64,
        lstm_hidden: int = 64,
        fc_hidden: int = 64,
        dropout: float = 0.3,
    ) -> None:
        super().__init__()
        widths = (conv_width, 2 * conv_width, 2 * conv_width)
        kernels = (5, 3, 3)
        blocks: list[nn.Module] = []
        ch = in_channels
        for width, k in zip(widths, kernels):
            blocks += [ConvBNReLU1d(ch, width, k), nn.MaxPool1d(2, ceil_mode=True)]
            ch = width
        self.encoder = nn.Sequential(*blocks)
        self.lstm = nn.LSTM(ch, lstm_hidden, batch_first=True, bidirectional=True)
        self.num_features = 2 * lstm_hidden
        self.head = nn.Sequential(
            nn.Linear(self.num_features, fc_hidden),
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),
            nn.Linear(fc_hidden, num_classes),
        )

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        seq = self.encoder(x).transpose(1, 2)  # (batch, time, channels)
        _, (h_n, _) = self.lstm(seq)
        return torch.cat([h_n[-2], h_n[-1]], dim=1)

    def forward_head(self, z: torch.Tensor) -> torch.Tensor:
        return self.head(z)


@register_model
def cnn_lstm(*, num_classes: int, in_channels: int = 1, **hparams: Any) -> CNNLSTM:
    """CNN-LSTM: 3 conv blocks -> BiLSTM -> FC head."""
    return CNNLSTM(num_classes, in_channels, **hparams)
