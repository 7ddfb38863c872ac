"""Building blocks shared by several architectures, one small file each."""

from ecgmodels.layers.conv import ConvBNReLU1d
from ecgmodels.layers.positional import SinusoidalPositionalEncoding
from ecgmodels.layers.residual import ResidualBlock1d
from ecgmodels.layers.se import SqueezeExcite1d
from ecgmodels.layers.spatial_attention import SpatialAttention1d

__all__ = [
    "ConvBNReLU1d",
    "ResidualBlock1d",
    "SinusoidalPositionalEncoding",
    "SpatialAttention1d",
    "SqueezeExcite1d",
]
