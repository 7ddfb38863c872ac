"""Statistics fitted on the training split only, and their application to any split or record.

Preparation fits them once and records them in the dataset's ``notes["fitted"]`` (plain
lists, JSON-ready), so a kept model can apply exactly the same transformation to a new
record. Both sides go through the ``apply_*`` functions here.
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np


def fit_lead_stats(x_train: np.ndarray) -> dict[str, list[float]]:
    """Per-lead mean and divisor (std, floored at 1e-6) of training signals (N, leads, samples)."""
    mean = x_train.mean(axis=(0, 2))
    std = np.maximum(x_train.std(axis=(0, 2)), 1e-6)
    return {"signal_mean": mean.tolist(), "signal_std": std.tolist()}


def apply_lead_stats(x: np.ndarray, stats: Mapping[str, Any]) -> np.ndarray:
    """``x`` (..., leads, samples) z-scored per lead with :func:`fit_lead_stats`' numbers, float32."""
    mean = np.asarray(stats["signal_mean"], dtype=np.float32)[:, None]
    std = np.asarray(stats["signal_std"], dtype=np.float32)[:, None]
    if x.shape[-2] != len(mean):
        raise ValueError(f"signals have {x.shape[-2]} leads but the statistics were fitted on {len(mean)}")
    return ((x - mean) / std).astype(np.float32)


def fit_meta_stats(meta_train: np.ndarray, impute: bool = False) -> dict[str, list[float]]:
    """Mean and divisor (std, 1 where it is 0) of training metadata (N, features); with
    ``impute``, also the medians that replace missing values first."""
    stats: dict[str, list[float]] = {}
    if impute:
        medians = np.nanmedian(meta_train, axis=0)
        medians = np.where(np.isfinite(medians), medians, 0.0)
        meta_train = np.where(np.isfinite(meta_train), meta_train, medians)
        stats["meta_median"] = medians.tolist()
    mean, std = meta_train.mean(axis=0), meta_train.std(axis=0)
    return {**stats, "meta_mean": mean.tolist(), "meta_std": np.where(std > 0, std, 1.0).tolist()}


def apply_meta_stats(meta: np.ndarray, stats: Mapping[str, Any]) -> np.ndarray:
    """Metadata imputed (when medians were fitted) and standardised with :func:`fit_meta_stats`' numbers."""
    dtype = meta.dtype if meta.dtype.kind == "f" else np.float64
    if len(stats["meta_mean"]) != meta.shape[-1]:
        raise ValueError(f"metadata has {meta.shape[-1]} features but the statistics were fitted on "
                         f"{len(stats['meta_mean'])}")
    if "meta_median" in stats:
        meta = np.where(np.isfinite(meta), meta, np.asarray(stats["meta_median"], dtype=dtype))
    mean = np.asarray(stats["meta_mean"], dtype=dtype)
    std = np.asarray(stats["meta_std"], dtype=dtype)
    return ((meta - mean) / std).astype(np.float32)
