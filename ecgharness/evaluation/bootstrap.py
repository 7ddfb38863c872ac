"""Bootstrap intervals and the paired bootstrap test on a fixed test set.

The resamples of a dataset's test set are drawn once (:func:`resample_indices`, seeded),
stored with the report (the report writer saves them as ``bootstrap/<dataset>.npy``) and
shared by every model of that dataset: each model is scored on the same resampled test
sets, so the difference between two models is a paired comparison and anyone can
recompute an interval from the stored predictions and indices.

A resample is evaluated without materialising it: the metric is computed with each
example weighted by how often the resample drew it (:class:`~ecgharness.evaluation.metrics.HeadlineMetric`),
a few resamples at a time to bound memory.
"""

from __future__ import annotations

import logging
import math
from typing import Any, Iterator, Sequence

import numpy as np

from ecgharness.evaluation.metrics import HeadlineMetric

_CHUNK_ELEMENTS = 1 << 22  # resamples x examples held as weights at once (32 MiB of float64)

log = logging.getLogger(__name__)


def _indicators(labels: np.ndarray) -> np.ndarray:
    """(n, k) float32 0/1 positives per class from (n,) class indices or (n, k) indicators."""
    labels = np.asarray(labels)
    if labels.ndim == 1:
        integral = labels.dtype.kind in "iu" or (labels.dtype.kind == "f" and np.array_equal(labels, np.round(labels)))
        if labels.size == 0 or not integral or labels.min() < 0:
            raise ValueError("labels must be non-empty (n,) class indices >= 0 or (n, k) 0/1 indicators")
        classes = labels.astype(np.int64)
        return np.eye(int(classes.max()) + 1, dtype=np.float32)[classes]
    if labels.ndim != 2 or labels.shape[0] == 0 or not np.isin(labels, (0, 1)).all():
        raise ValueError("labels must be non-empty (n,) class indices or (n, k) 0/1 indicators, "
                         f"got shape {labels.shape}")
    return labels.astype(np.float32)


def _weights(indices: np.ndarray, n: int) -> np.ndarray:
    """(B, n) float64: how often each resample drew each example."""
    b = len(indices)
    flat = (indices.astype(np.int64) + n * np.arange(b, dtype=np.int64)[:, None]).ravel()
    return np.bincount(flat, minlength=b * n).reshape(b, n).astype(np.float64)


def _chunks(indices: np.ndarray, n: int) -> Iterator[np.ndarray]:
    step = max(1, _CHUNK_ELEMENTS // max(n, 1))
    for start in range(0, len(indices), step):
        yield _weights(indices[start:start + step], n)


def resample_indices(labels: np.ndarray, n_resamples: int = 1000, seed: int = 0,
                     max_redraws: int = 100) -> np.ndarray:
    """Bootstrap resamples of a test set: int32 (n_resamples, n) indices drawn with replacement.

    Drawn with ``numpy.random.default_rng(seed)``, so the same labels and seed give the same
    indices. A resample that leaves without positives a class that has positives in the full
    set (its sensitivity, AUROC and AUPRC would be undefined) is redrawn, each at most
    ``max_redraws`` times. Store the result with the report and pass the same indices for
    every model of the dataset, which makes comparisons between models paired.

    Args:
        labels: (n,) class indices (multiclass) or (n, k) 0/1 indicators (multi-label).
        n_resamples: Number of resamples.
        seed: Seed of the generator.
        max_redraws: Redraws allowed per resample before giving up.

    A resample that still lacks a class after ``max_redraws`` redraws (a class with one or
    two positives among many rare classes) is kept: on it that class's per-class metrics are
    undefined and the macro averages skip it. A warning says how many resamples and which
    class.
    """
    if n_resamples < 1:
        raise ValueError(f"n_resamples must be at least 1, got {n_resamples}")
    positives = _indicators(labels)
    n = len(positives)
    present = np.flatnonzero(positives.sum(axis=0) > 0)
    positives = positives[:, present]

    def lacking(rows: np.ndarray) -> np.ndarray:  # (len(rows), classes present) bool
        return np.concatenate([(w.astype(np.float32) @ positives) < 0.5 for w in _chunks(rows, n)])

    rng = np.random.default_rng(seed)
    indices = rng.integers(0, n, size=(n_resamples, n), dtype=np.int32)
    bad = np.flatnonzero(lacking(indices).any(axis=1))
    for _ in range(max_redraws):
        if bad.size == 0:
            break
        indices[bad] = rng.integers(0, n, size=(bad.size, n), dtype=np.int32)
        bad = bad[lacking(indices[bad]).any(axis=1)]
    if bad.size:
        missing = lacking(indices[bad]).sum(axis=0)
        worst = int(np.argmax(missing))
        cls, count = int(present[worst]), int(positives[:, worst].sum())
        log.warning(
            "bootstrap: %d of %d resamples still lack a positive of class index %d (%d positive(s) among %d "
            "test examples) after %d redraws; on them that class is undefined and macro averages skip it. "
            "Merge rare classes or use a larger test set for tighter intervals.",
            bad.size, n_resamples, cls, count, n, max_redraws)
    return indices


def _checked_indices(indices: np.ndarray, n: int) -> np.ndarray:
    indices = np.asarray(indices)
    if indices.ndim != 2 or indices.dtype.kind not in "iu":
        raise ValueError(f"indices must be an integer (resamples, examples) array, got {indices.dtype} "
                         f"{indices.shape}; make them with resample_indices()")
    if indices.size and (indices.min() < 0 or indices.max() >= n):
        raise ValueError(f"indices point outside the {n} test examples; they were drawn for another test set")
    return indices


def bootstrap_distribution(labels: np.ndarray, scores: np.ndarray, task: str, metric: str,
                           indices: np.ndarray, thresholds: np.ndarray | None = None,
                           scored: Sequence[int] | None = None, forgive: Sequence[tuple[int, int]] = ()) -> np.ndarray:
    """The headline ``metric`` on each resample, (n_resamples,) float64.

    ``indices`` come from :func:`resample_indices` and are shared by every model of the
    dataset (stored with the report), so distributions of two models pair up resample by
    resample. Multi-label ``thresholds`` stay fixed (chosen on validation).
    """
    metric_fn = HeadlineMetric(labels, scores, task, metric, thresholds, scored, forgive)
    indices = _checked_indices(indices, metric_fn.n)
    if len(indices) == 0:
        return np.empty(0)
    return np.concatenate([metric_fn(w) for w in _chunks(indices, metric_fn.n)])


def confidence_interval(distribution: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap interval of ``distribution`` (NaN resamples ignored; NaNs if none is left)."""
    if not 0 < level < 1:
        raise ValueError(f"level must lie in (0, 1), got {level}")
    values = np.asarray(distribution, dtype=np.float64)
    values = values[np.isfinite(values)]
    if values.size == 0:
        return math.nan, math.nan
    low, high = np.percentile(values, [50 * (1 - level), 50 * (1 + level)])
    return float(low), float(high)


def paired_test(labels: np.ndarray, scores_a: np.ndarray, scores_b: np.ndarray, task: str, metric: str,
                indices: np.ndarray, thresholds_a: np.ndarray | None = None,
                thresholds_b: np.ndarray | None = None, level: float = 0.95) -> dict[str, Any]:
    """Paired bootstrap test of model a against model b on the same resamples.

    Both models are scored on every resample of ``indices`` (shared by all models of the
    dataset and stored with the report); d_i = metric_a - metric_b on resample i. The
    two-sided p-value is

        p = min(1, 2 * min((#{d_i <= 0} + 1) / (B + 1), (#{d_i >= 0} + 1) / (B + 1)))

    over the B resamples with a defined difference: twice the smaller bootstrap tail beyond
    zero, with the +1 correction so that it is never exactly 0 (its floor is 2 / (B + 1)).
    It inverts the percentile interval: p < 1 - level about when that interval excludes 0.
    A model compared with itself gives difference 0 and p = 1.

    Returns:
        ``metric``, ``value_a``, ``value_b`` (on the full test set), ``difference``
        (value_a - value_b), ``ci_low``, ``ci_high`` (percentile interval of the
        difference at ``level``), ``level``, ``p_value``, ``n_resamples`` (resamples used).
    """
    fa = HeadlineMetric(labels, scores_a, task, metric, thresholds_a)
    fb = HeadlineMetric(labels, scores_b, task, metric, thresholds_b)
    if fa.n != fb.n:
        raise ValueError(f"scores_a has {fa.n} examples, scores_b {fb.n}; both must score the same test set")
    indices = _checked_indices(indices, fa.n)
    ones = np.ones((1, fa.n))
    value_a, value_b = float(fa(ones)[0]), float(fb(ones)[0])
    diffs = np.concatenate([fa(w) - fb(w) for w in _chunks(indices, fa.n)]) if len(indices) else np.empty(0)
    diffs = diffs[np.isfinite(diffs)]
    b = diffs.size
    low, high = confidence_interval(diffs, level)
    return {"metric": metric, "value_a": value_a, "value_b": value_b, "difference": value_a - value_b,
            "ci_low": low, "ci_high": high, "level": level, "p_value": paired_p_value(diffs), "n_resamples": b}


def paired_p_value(differences: np.ndarray) -> float:
    """Two-sided p-value from paired bootstrap differences (definition in :func:`paired_test`).

    NaN differences are dropped; with none left the p-value is NaN.
    """
    diffs = np.asarray(differences, dtype=float)
    diffs = diffs[np.isfinite(diffs)]
    if not diffs.size:
        return math.nan
    tail = min(np.count_nonzero(diffs <= 0), np.count_nonzero(diffs >= 0))
    return min(1.0, 2 * (tail + 1) / (diffs.size + 1))
