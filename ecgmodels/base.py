"""What every model of the zoo shares: the input it declares and the feature/head split."""

from __future__ import annotations

from enum import Enum

import torch
from torch import nn


class InputKind(str, Enum):
    """The input a model consumes; the harness builds the data pipeline from it."""

    SIGNAL = "signal"  # (batch, leads, samples)
    SIGNAL_META = "signal+meta"  # signal plus a (batch, features) metadata vector
    IMAGE = "image"  # (batch, channels, height, width)
    SIGNAL_IMAGE = "signal+image"


class ECGModel(nn.Module):
    """Base class: ``forward(x) == forward_head(forward_features(x))``.

    Subclasses set ``input_kind`` and ``num_features`` (the embedding width that
    ``forward_features`` returns), so fusion models and head swaps treat every
    architecture alike.
    """

    input_kind: InputKind = InputKind.SIGNAL
    num_features: int

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward_head(self, z: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))
