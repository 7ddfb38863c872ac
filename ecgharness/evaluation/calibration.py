"""Confidence and calibration of predictions: what the report's error analysis shows.

A *decision* is the predicted class of a single-label example (its confidence: the predicted
class's probability) or, for multi-label tasks, each (example, class) decision against the
class's threshold (its confidence: p for a positive decision, 1 - p for a negative one).

Expected calibration error after Guo C, Pleiss G, Sun Y, Weinberger KQ, "On calibration of
modern neural networks", ICML 2017: decisions are put in equal-width confidence bins
(right-closed: (0.1, 0.2], ...; the first bin also holds 0), and
ECE = sum over bins of (bin size / n) * |accuracy in the bin - mean confidence in the bin|.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Decisions:
    """Flat decisions of one set of predictions.

    Attributes:
        confidence: Confidence of each decision, in [0, 1].
        correct: Whether the decision was right.
        true_class: Class index of each decision's reference (the true class for single-label
            tasks; the decision's class for multi-label ones).
    """

    confidence: np.ndarray
    correct: np.ndarray
    true_class: np.ndarray


def decisions(labels: np.ndarray, scores: np.ndarray, thresholds: np.ndarray | None = None) -> Decisions:
    """The :class:`Decisions` of ``scores`` (n, classes) against ``labels`` (n,) or (n, classes)."""
    scores = np.asarray(scores, dtype=float)
    labels = np.asarray(labels)
    if labels.ndim == 1:
        predicted = scores.argmax(axis=1)
        return Decisions(scores.max(axis=1), predicted == labels, labels.astype(int))
    cut = np.full(scores.shape[1], 0.5) if thresholds is None else np.asarray(thresholds, dtype=float)
    positive = scores >= cut
    confidence = np.where(positive, scores, 1 - scores)
    classes = np.broadcast_to(np.arange(scores.shape[1]), scores.shape)
    return Decisions(confidence.ravel(), (positive == (labels > 0.5)).ravel(), classes.ravel())


@dataclass(frozen=True)
class Reliability:
    """Per confidence bin: edges (bins + 1), decisions, accuracy and mean confidence (NaN when empty)."""

    edges: np.ndarray
    count: np.ndarray
    accuracy: np.ndarray
    confidence: np.ndarray

    @property
    def ece(self) -> float:
        """Expected calibration error over the non-empty bins."""
        full = self.count > 0
        if not full.any():
            return float("nan")
        gap = np.abs(self.accuracy[full] - self.confidence[full])
        return float((self.count[full] * gap).sum() / self.count.sum())


def reliability(confidence: np.ndarray, correct: np.ndarray, bins: int = 10) -> Reliability:
    """Equal-width, right-closed confidence bins over [0, 1]."""
    confidence = np.asarray(confidence, dtype=float)
    correct = np.asarray(correct, dtype=float)
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.searchsorted(edges[1:-1], confidence, side="left"), 0, bins - 1)
    count = np.bincount(which, minlength=bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        accuracy = np.bincount(which, weights=correct, minlength=bins) / count
        mean_conf = np.bincount(which, weights=confidence, minlength=bins) / count
    return Reliability(edges, count, accuracy, mean_conf)


def expected_calibration_error(confidence: np.ndarray, correct: np.ndarray, bins: int = 10) -> float:
    return reliability(confidence, correct, bins).ece


@dataclass(frozen=True)
class LowConfidence:
    """Decisions below a confidence threshold against the rest."""

    threshold: float
    share: float  # of all decisions
    accuracy_low: float  # NaN when there are none
    accuracy_rest: float
    count_low: int
    count_rest: int


def low_confidence(d: Decisions, threshold: float) -> LowConfidence:
    low = d.confidence < threshold
    n = len(d.confidence)

    def acc(mask: np.ndarray) -> float:
        return float(d.correct[mask].mean()) if mask.any() else float("nan")

    return LowConfidence(threshold, float(low.mean()) if n else float("nan"), acc(low), acc(~low),
                         int(low.sum()), int((~low).sum()))


def confused_pairs(confusion: np.ndarray, class_names: tuple[str, ...], top: int = 5) -> list[tuple[str, str, int]]:
    """The ``top`` off-diagonal cells of a confusion matrix (rows true, columns predicted),
    largest first, as (true class, predicted class, count); empty cells are left out."""
    counts = np.asarray(confusion).copy()
    np.fill_diagonal(counts, 0)
    order = np.argsort(-counts, axis=None, kind="stable")  # ties in row order
    pairs = []
    for flat in order[:top]:
        i, j = np.unravel_index(flat, counts.shape)
        if counts[i, j] > 0:
            pairs.append((class_names[i], class_names[j], int(counts[i, j])))
    return pairs
