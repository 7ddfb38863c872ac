"""Joint fusion of a signal encoder and an image encoder.

The signal goes through the residual SE trunk of ``resnet_se`` (global average pooled);
its GAF/MTF images go through a small ResNet-style 2-D encoder; the two embeddings are
concatenated and classified by an MLP. Fusing the raw-signal and image views follows the
multimodal designs compared in Ahmad Z, Tabassum A, Guan L, Khan NM, "ECG heartbeat
classification using multimodal fusion", IEEE Access 9 (2021).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ecgmodels.base import ECGModel, InputKind
from ecgmodels.factory import register_model
from ecgmodels.image_cnn import conv_bn, parse_images
from ecgmodels.resnet_se import ResNetSETrunk


class JointFusion(ECGModel):
    input_kind = InputKind.SIGNAL_IMAGE

    def __init__(self, num_classes: int, in_channels: int = 1, images: str = "gasf", image_size: int = 64,
                 signal_channels: int = 32, image_width: int = 32, fusion_hidden: int = 128,
                 dropout: float = 0.3) -> None:
        super().__init__()
        self.image_kinds = parse_images(images)
        self.image_size = image_size
        self.signal = ResNetSETrunk(in_channels, signal_channels, 3, 1, 7)
        w = image_width
        self.image = nn.Sequential(
            conv_bn(in_channels * len(self.image_kinds), w), nn.MaxPool2d(2),
            conv_bn(w, 2 * w), nn.MaxPool2d(2), conv_bn(2 * w, 4 * w),
        )
        self.num_features = self.signal.out_channels + 4 * w
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(self.num_features, fusion_hidden),
                                  nn.ReLU(inplace=True), nn.Dropout(dropout), nn.Linear(fusion_hidden, num_classes))

    def forward_features(self, x: torch.Tensor, images: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        return torch.cat([self.signal(x).mean(dim=-1), self.image(images).mean(dim=(2, 3))], dim=1)

    def forward_head(self, z: torch.Tensor) -> torch.Tensor:
        return self.head(z)

    def forward(self, x: torch.Tensor, images: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        return self.forward_head(self.forward_features(x, images))


@register_model
def joint_fusion(*, num_classes: int, in_channels: int = 1, **hparams: Any) -> JointFusion:
    """Signal encoder + GAF/MTF image encoder, concatenated embeddings -> MLP."""
    return JointFusion(num_classes, in_channels, **hparams)
