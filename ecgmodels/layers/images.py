"""Gramian Angular Fields and Markov Transition Fields, batched in torch on any device.

A signal batch ``(batch, leads, samples)`` becomes images ``(batch, kinds * leads, size, size)``:
one image per lead and kind, kind-major (all GASF leads, then all GADF leads, then MTF).
Nothing is written to disk; images are made from each batch on the trial's device.

The definitions follow Wang & Oates, "Imaging Time-Series to Improve Classification and
Imputation" (IJCAI 2015), and match ``pyts.image`` (GramianAngularField with
``sample_range=(-1, 1)``, MarkovTransitionField with quantile bins), which the tests use as the
numerical reference:

* piecewise aggregate approximation (PAA) shortens a series of ``T`` samples to ``size`` means
  over non-overlapping windows whose bounds are ``floor(linspace(0, T, size + 1))``;
* GAF: each PAA series is min-max scaled to [-1, 1] (``cos phi``); GASF = cos(phi_i + phi_j),
  GADF = sin(phi_i - phi_j);
* MTF: the full-resolution series is cut into ``n_bins`` quantile bins (equal quantiles merged),
  the first-order transition matrix ``W`` between bins is counted and row-normalised, and
  pixel ``(j, k)`` is the mean of ``W[bin(r), bin(c)]`` over samples ``r`` of window ``j`` and
  ``c`` of window ``k``. With ``O`` the one-hot bin matrix and ``P`` the window-averaging
  matrix, that is ``(P O) W (P O)^T``: three small matrix products instead of a pixel loop.

Per-series quantities (PAA, scaling, quantiles) are computed in float64, so the images agree
with the float64 reference to about 1e-7 even for float32 input; the images themselves are
returned in the input's dtype.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

IMAGE_KINDS = ("gasf", "gadf", "mtf")


def window_bounds(length: int, size: int) -> np.ndarray:
    """Start/end sample of each of ``size`` non-overlapping PAA windows over ``length`` samples."""
    length = int(length)  # a traced size (export) becomes the constant it is: signals have a fixed length
    if not 1 <= size <= length:
        raise ValueError(f"image size {size} must be between 1 and the signal length ({length} samples); "
                         f"choose image_size <= {length}")
    return np.linspace(0, length, size + 1).astype(np.int64)


def _compute_dtype(x: torch.Tensor) -> torch.dtype:
    """Per-series arithmetic: float64 (float32 on MPS, which has no float64)."""
    return torch.float32 if x.device.type == "mps" else torch.float64


def _output_dtype(x: torch.Tensor) -> torch.dtype:
    """Images come out in the signal's floating dtype (float32 for integer signals)."""
    return x.dtype if x.dtype.is_floating_point else torch.float32


def paa(x: torch.Tensor, size: int) -> torch.Tensor:
    """Piecewise aggregate approximation along the last axis: ``(..., T)`` -> ``(..., size)``.

    Window sums come from differences of the cumulative sum: O(T) per series on any device.
    """
    length = x.shape[-1]
    if length == size:
        return x
    bounds = torch.as_tensor(window_bounds(length, size), device=x.device)
    csum = torch.nn.functional.pad(x.cumsum(dim=-1), (1, 0))
    sums = csum.index_select(-1, bounds[1:]) - csum.index_select(-1, bounds[:-1])
    return sums / (bounds[1:] - bounds[:-1]).to(x.dtype)


def _scaled_angles(x: torch.Tensor, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """cos and sin of the polar angle of each PAA value, in float64 (or float32 on MPS)."""
    v = paa(x.to(_compute_dtype(x)), size)
    lo, hi = torch.aminmax(v, dim=-1, keepdim=True)
    span = hi - lo
    scale = 2.0 / torch.where(span == 0, torch.ones_like(span), span)  # a flat series maps to -1
    cos = v * scale + (-1.0 - lo * scale)
    sin = torch.sqrt(torch.clamp(1.0 - cos * cos, 0.0, 1.0))
    return cos, sin


def gramian_angular_field(x: torch.Tensor, size: int, method: str = "summation",
                          out: torch.Tensor | None = None) -> torch.Tensor:
    """GASF (``method="summation"``) or GADF (``"difference"``) of every series in ``x``.

    ``x``: ``(..., T)``; returns ``(..., size, size)`` in ``x``'s dtype, written into ``out`` if given.
    """
    if method not in ("summation", "difference"):
        raise ValueError(f"method={method!r}: use 'summation' or 'difference'")
    return _field_from_angles(*_scaled_angles(x, size), method, _output_dtype(x), out)


def _field_from_angles(cos: torch.Tensor, sin: torch.Tensor, method: str, dtype: torch.dtype,
                       out: torch.Tensor | None = None) -> torch.Tensor:
    """GASF or GADF from the polar angles of the PAA series (see :func:`_scaled_angles`)."""
    cos, sin = cos.to(dtype), sin.to(dtype)
    if method == "summation":  # cos(a + b) = cos a cos b - sin a sin b
        first, second = (cos, cos), (sin, sin)
    else:  # sin(a - b) = sin a cos b - cos a sin b
        first, second = (sin, cos), (cos, sin)
    # one output buffer updated in place: much faster on CPU than two broadcast products and a difference
    out = torch.mul(first[0].unsqueeze(-1), first[1].unsqueeze(-2), out=out)
    return out.addcmul_(second[0].unsqueeze(-1), second[1].unsqueeze(-2), value=-1)


def _lerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Linear interpolation in the same two forms as numpy's percentile, so edges agree bit for bit."""
    diff = b - a
    return torch.where(t >= 0.5, b - diff * (1 - t), a + diff * t)


def quantile_edges(x: torch.Tensor, n_bins: int) -> torch.Tensor:
    """The ``n_bins - 1`` inner quantile edges of every series (numpy's 'linear' percentile).

    Returned in float64 (float32 on MPS) whatever ``x``'s dtype: the series is sorted in its own
    dtype, and only the few order statistics needed are widened, which is exact.
    """
    length = int(x.shape[-1])
    quantiles = np.linspace(0, 100, n_bins + 1)[1:-1] / 100
    virtual = (length - 1) * quantiles
    below = np.floor(virtual).astype(np.int64)
    above = np.minimum(below + 1, length - 1)
    ordered = x.sort(dim=-1).values
    dtype = _compute_dtype(x)
    low = ordered[..., torch.as_tensor(below, device=x.device)].to(dtype)
    high = ordered[..., torch.as_tensor(above, device=x.device)].to(dtype)
    t = torch.as_tensor(virtual - below, dtype=dtype, device=x.device)
    return _lerp(low, high, t)


def quantile_bins(x: torch.Tensor, n_bins: int = 8) -> torch.Tensor:
    """Bin index (0 .. n_bins-1) of every sample by the quantiles of its own series.

    Equal consecutive edges are merged, so a series with many repeated values uses fewer bins
    (the same rule as ``pyts.preprocessing.KBinsDiscretizer(strategy="quantile")``).
    """
    if n_bins < 2:
        raise ValueError(f"n_bins={n_bins}: use at least 2 bins")
    edges = quantile_edges(x, n_bins)
    keep = torch.ones_like(edges, dtype=torch.bool)
    keep[..., :-1] = (edges[..., 1:] - edges[..., :-1]).abs() > 1e-8
    # A merged edge moves to -inf, where every sample is above it; subtracting their number
    # leaves, for each sample, the count of kept edges below it (numpy's side='left').
    merged = (~keep).sum(dim=-1, keepdim=True)
    edges = torch.where(keep, edges, torch.full_like(edges, -torch.inf)).sort(dim=-1).values
    values = x.to(edges.dtype).contiguous()
    return torch.searchsorted(edges.contiguous(), values) - merged


def _pair_counts(index: torch.Tensor, cells: int, dtype: torch.dtype) -> torch.Tensor:
    """Histogram of ``index`` (..., N) over ``cells`` values, per series."""
    counts = torch.zeros(*index.shape[:-1], cells, dtype=dtype, device=index.device)
    return counts.scatter_add_(-1, index, torch.ones_like(index, dtype=dtype))


def markov_transition_matrix(bins: torch.Tensor, n_bins: int) -> torch.Tensor:
    """Row-normalised first-order transition counts between bins: ``(..., T)`` -> ``(..., Q, Q)``.

    A bin that is never left (or never visited) keeps a row of zeros.
    """
    transitions = bins[..., :-1] * n_bins + bins[..., 1:]
    counts = _pair_counts(transitions, n_bins * n_bins, _compute_dtype(bins)).unflatten(-1, (n_bins, n_bins))
    totals = counts.sum(dim=-1, keepdim=True)
    return counts / torch.where(totals == 0, torch.ones_like(totals), totals)


def markov_transition_field(x: torch.Tensor, size: int, n_bins: int = 8,
                            out: torch.Tensor | None = None) -> torch.Tensor:
    """Aggregated MTF of every series in ``x``: ``(..., T)`` -> ``(..., size, size)``."""
    length = int(x.shape[-1])
    bins = quantile_bins(x, n_bins)
    transitions = markov_transition_matrix(bins, n_bins)
    dtype = _output_dtype(x)
    # occupancy[j, q]: the share of window j's samples that fall in bin q
    bounds = window_bounds(length, size)
    widths = np.diff(bounds)
    window = torch.as_tensor(np.repeat(np.arange(size), widths), device=x.device)
    occupancy = _pair_counts(window * n_bins + bins, size * n_bins, dtype).unflatten(-1, (size, n_bins))
    occupancy = occupancy / torch.as_tensor(widths, dtype=dtype, device=x.device).unsqueeze(-1)
    field = (occupancy @ transitions.to(dtype)) @ occupancy.transpose(-1, -2)
    if out is None:
        return field
    return out.copy_(field)


class SignalToImage(nn.Module):
    """``(batch, leads, samples)`` -> ``(batch, len(kinds) * leads, size, size)`` GAF/MTF images.

    Runs under ``no_grad`` and outside autocast: it is input preparation, not part of the model.
    """

    def __init__(self, kinds: tuple[str, ...] = ("gasf",), image_size: int = 64, n_bins: int = 8) -> None:
        super().__init__()
        bad = [k for k in kinds if k not in IMAGE_KINDS]
        if not kinds or bad:
            raise ValueError(f"image kinds {kinds!r}: use one or more of {', '.join(IMAGE_KINDS)}")
        self.kinds = tuple(kinds)
        self.image_size = int(image_size)
        self.n_bins = int(n_bins)

    def extra_repr(self) -> str:
        return f"kinds={'+'.join(self.kinds)}, image_size={self.image_size}, n_bins={self.n_bins}"

    @torch.no_grad()
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 3:
            raise ValueError(f"expected a signal batch (batch, leads, samples), got shape {tuple(x.shape)}")
        window_bounds(x.shape[-1], self.image_size)  # clear error for a too-large image size
        batch, leads = x.shape[:2]
        size = self.image_size
        dtype = _output_dtype(x)
        images = torch.empty(batch, len(self.kinds) * leads, size, size, dtype=dtype, device=x.device)
        with torch.autocast(device_type=x.device.type, enabled=False):
            angles = _scaled_angles(x, size) if {"gasf", "gadf"} & set(self.kinds) else None  # shared by both
            for i, kind in enumerate(self.kinds):
                block = images[:, i * leads : (i + 1) * leads]
                if kind == "mtf":
                    markov_transition_field(x, size, self.n_bins, out=block)
                else:
                    _field_from_angles(*angles, "summation" if kind == "gasf" else "difference", dtype, out=block)
        return images
