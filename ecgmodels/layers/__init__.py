"""Building blocks shared by several architectures, one small file each."""

from ecgmodels.layers.attention_pool import AttentionPool1d
from ecgmodels.layers.conv import ConvBNReLU1d
from ecgmodels.layers.heads import ConcatPool1d, fastai_head, kaiming_init
from ecgmodels.layers.positional import SinusoidalPositionalEncoding
from ecgmodels.layers.residual import ResidualBlock1d
from ecgmodels.layers.se import SqueezeExcite1d
from ecgmodels.layers.spatial_attention import SpatialAttention1d

__all__ = [
    "AttentionPool1d",
    "ConcatPool1d",
    "fastai_head",
    "kaiming_init",
    "ConvBNReLU1d",
    "ResidualBlock1d",
    "SinusoidalPositionalEncoding",
    "SpatialAttention1d",
    "SqueezeExcite1d",
]
