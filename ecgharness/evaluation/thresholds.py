"""Per-class decision thresholds of multi-label tasks, chosen on validation predictions."""

from __future__ import annotations

import numpy as np


def choose_thresholds(y_true: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """Per-class decision thresholds maximising F1 on the given (validation) predictions.

    Candidates are the distinct scores of each class plus 0.5; a class without
    positives keeps 0.5. Never call this on test predictions.
    """
    thresholds = np.full(scores.shape[1], 0.5)
    for c in range(scores.shape[1]):
        positives = y_true[:, c] > 0.5
        if not positives.any():
            continue
        candidates = np.unique(np.concatenate([scores[:, c], [0.5]]))
        pred = scores[:, c][None, :] >= candidates[:, None]  # (candidates, N)
        tp = (pred & positives).sum(axis=1)
        f1 = 2 * tp / (pred.sum(axis=1) + positives.sum())
        thresholds[c] = float(candidates[int(np.argmax(f1))])
    return thresholds
