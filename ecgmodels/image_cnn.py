"""2-D CNNs on Gramian Angular Field and Markov Transition Field images of the signal.

The harness turns each lead into ``images`` (GASF, GADF and/or MTF; Wang Z, Oates T,
"Imaging time-series to improve classification and imputation", IJCAI 2015) of
``image_size`` x ``image_size`` pixels on the trial's device and stacks them as channels.
The classifiers are AlexNet (Krizhevsky et al., NeurIPS 2012), VGG-11 with BatchNorm
(Simonyan and Zisserman, ICLR 2015) and ResNet-18 (He et al., CVPR 2016), narrowed for
small images (3x3 stems, no early striding) and with an optional channel, spatial or CBAM
attention block (Woo et al., ECCV 2018) after each stage; ``width`` scales every layer.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ecgmodels.base import ECGModel, InputKind
from ecgmodels.factory import register_model
from ecgmodels.layers.cbam2d import attention2d
from ecgmodels.layers.images import IMAGE_KINDS


def parse_images(images: str) -> tuple[str, ...]:
    """``"gasf+mtf"`` -> ("gasf", "mtf"), validated."""
    kinds = tuple(k.strip() for k in images.split("+") if k.strip())
    bad = [k for k in kinds if k not in IMAGE_KINDS]
    if not kinds or bad:
        raise ValueError(f"images={images!r}: use one or more of {', '.join(IMAGE_KINDS)} joined by '+'")
    return kinds


def conv_bn(in_ch: int, out_ch: int, k: int = 3, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(in_ch, out_ch, k, stride=stride, padding=k // 2, bias=False),
                         nn.BatchNorm2d(out_ch), nn.ReLU(inplace=True))


class ImageClassifier(ECGModel):
    """Shared plumbing: image declaration, feature stack of ``arch``, pooling, dropout + linear head."""

    input_kind = InputKind.IMAGE

    def __init__(self, num_classes: int, in_channels: int, arch: str, images: str, image_size: int,
                 width: int, attention: str, dropout: float, hidden: int = 0) -> None:
        super().__init__()
        self.image_kinds = parse_images(images)
        self.image_size = image_size
        self.features, out_ch = _FEATURES[arch](in_channels * len(self.image_kinds), width, attention)
        self.num_features = out_ch
        layers: list[nn.Module] = [nn.Dropout(dropout)]
        if hidden:
            layers += [nn.Linear(out_ch, hidden), nn.ReLU(inplace=True), nn.Dropout(dropout)]
        layers.append(nn.Linear(hidden or out_ch, num_classes))
        self.head = nn.Sequential(*layers)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x).mean(dim=(2, 3))

    def forward_head(self, z: torch.Tensor) -> torch.Tensor:
        return self.head(z)


def _alexnet_features(in_ch: int, w: int, attention: str) -> tuple[nn.Sequential, int]:
    c = [w, 3 * w, 6 * w, 4 * w, 4 * w]
    layers = [conv_bn(in_ch, c[0], 5), nn.MaxPool2d(2), attention2d(attention, c[0]),
              conv_bn(c[0], c[1], 5), nn.MaxPool2d(2), attention2d(attention, c[1]),
              conv_bn(c[1], c[2]), conv_bn(c[2], c[3]), conv_bn(c[3], c[4]), nn.MaxPool2d(2),
              attention2d(attention, c[4])]
    return nn.Sequential(*layers), c[4]


def _vgg11_features(in_ch: int, w: int, attention: str) -> tuple[nn.Sequential, int]:
    plan = [[w], [2 * w], [4 * w, 4 * w], [8 * w, 8 * w], [8 * w, 8 * w]]
    layers: list[nn.Module] = []
    ch = in_ch
    for stage in plan:
        for out in stage:
            layers.append(conv_bn(ch, out))
            ch = out
        layers += [nn.MaxPool2d(2, ceil_mode=True), attention2d(attention, ch)]
    return nn.Sequential(*layers), ch


class BasicBlock2d(nn.Module):
    def __init__(self, in_ch: int, out_ch: int, stride: int) -> None:
        super().__init__()
        self.body = nn.Sequential(conv_bn(in_ch, out_ch, 3, stride),
                                  nn.Conv2d(out_ch, out_ch, 3, padding=1, bias=False), nn.BatchNorm2d(out_ch))
        self.short = nn.Identity() if stride == 1 and in_ch == out_ch else nn.Sequential(
            nn.Conv2d(in_ch, out_ch, 1, stride=stride, bias=False), nn.BatchNorm2d(out_ch))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.body(x) + self.short(x))


def _resnet18_features(in_ch: int, w: int, attention: str) -> tuple[nn.Sequential, int]:
    layers: list[nn.Module] = [conv_bn(in_ch, w)]
    ch = w
    for i in range(4):
        out = w * 2**i
        layers += [BasicBlock2d(ch, out, 1 if i == 0 else 2), BasicBlock2d(out, out, 1), attention2d(attention, out)]
        ch = out
    return nn.Sequential(*layers), ch


_FEATURES = {"alexnet": _alexnet_features, "vgg": _vgg11_features, "resnet18": _resnet18_features}


class AlexNet2d(ImageClassifier):
    def __init__(self, num_classes: int, in_channels: int = 1, images: str = "gasf", image_size: int = 64,
                 width: int = 32, attention: str = "none", dropout: float = 0.5, hidden: int = 256) -> None:
        super().__init__(num_classes, in_channels, "alexnet", images, image_size, width, attention, dropout, hidden)


class VGG2d(ImageClassifier):
    def __init__(self, num_classes: int, in_channels: int = 1, images: str = "gasf", image_size: int = 64,
                 width: int = 16, attention: str = "none", dropout: float = 0.5, hidden: int = 256) -> None:
        super().__init__(num_classes, in_channels, "vgg", images, image_size, width, attention, dropout, hidden)


class ResNet18_2d(ImageClassifier):
    def __init__(self, num_classes: int, in_channels: int = 1, images: str = "gasf", image_size: int = 64,
                 width: int = 32, attention: str = "none", dropout: float = 0.2) -> None:
        super().__init__(num_classes, in_channels, "resnet18", images, image_size, width, attention, dropout)


@register_model
def alexnet(*, num_classes: int, in_channels: int = 1, **hparams: Any) -> AlexNet2d:
    """AlexNet on GAF/MTF images, optional channel/spatial/CBAM attention."""
    return AlexNet2d(num_classes, in_channels, **hparams)


@register_model
def vgg(*, num_classes: int, in_channels: int = 1, **hparams: Any) -> VGG2d:
    """VGG-11 (BatchNorm) on GAF/MTF images, optional channel/spatial/CBAM attention."""
    return VGG2d(num_classes, in_channels, **hparams)


@register_model
def resnet18(*, num_classes: int, in_channels: int = 1, **hparams: Any) -> ResNet18_2d:
    """ResNet-18 (2-D) on GAF/MTF images, optional channel/spatial/CBAM attention."""
    return ResNet18_2d(num_classes, in_channels, **hparams)
