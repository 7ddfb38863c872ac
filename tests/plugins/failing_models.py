"""Models that fail on purpose, registered through a suite's ``imports`` (tests only)."""

from __future__ import annotations

import torch
from torch import nn

from ecgmodels import ECGModel, InputKind, register_model


class _Tiny(ECGModel):
    input_kind = InputKind.SIGNAL

    def __init__(self, num_classes: int, in_channels: int, mode: str) -> None:
        super().__init__()
        self.mode = mode
        self.conv = nn.Conv1d(in_channels, 4, 3, padding=1)
        self.num_features = 4
        self.head = nn.Linear(4, num_classes)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        if self.mode == "crash":
            raise RuntimeError("deliberate failure in forward")
        return self.conv(x).mean(dim=-1)

    def forward_head(self, z: torch.Tensor) -> torch.Tensor:
        out = self.head(z)
        return out * float("nan") if self.mode == "nan" and self.training else out


@register_model
def nan_model(*, num_classes: int, in_channels: int = 1, dropout: float = 0.0) -> _Tiny:
    """Produces NaN logits while training."""
    return _Tiny(num_classes, in_channels, "nan")


@register_model
def crash_model(*, num_classes: int, in_channels: int = 1, dropout: float = 0.0) -> _Tiny:
    """Raises in forward."""
    return _Tiny(num_classes, in_channels, "crash")


class _DiesOnce(_Tiny):
    """Rank 1 of a multi-worker trial ends its process after ``ECG_DIE_AFTER`` training
    batches, once per ``ECG_DIE_MARKER`` file (as if its node were lost)."""

    def __init__(self, num_classes: int, in_channels: int) -> None:
        super().__init__(num_classes, in_channels, "dies")
        self.batches = 0

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        import os
        from pathlib import Path

        if self.training and torch.distributed.is_initialized() and torch.distributed.get_rank() == 1:
            self.batches += 1
            marker = Path(os.environ["ECG_DIE_MARKER"])
            if self.batches > int(os.environ["ECG_DIE_AFTER"]) and not marker.exists():
                marker.write_text("died")
                os._exit(1)
        return super().forward_features(x)


@register_model
def dies_once_model(*, num_classes: int, in_channels: int = 1, dropout: float = 0.0) -> _DiesOnce:
    """Its rank 1 process dies once, mid-training."""
    return _DiesOnce(num_classes, in_channels)
