"""Classification metrics from scores, vectorised with numpy.

Per class: sensitivity (recall), positive predictive value (precision) and F1;
overall: accuracy, macro-F1 and macro-AUROC. Averages run over the classes
present in the labels or the predictions (as scikit-learn does by default), so a
class absent from a split does not count as a zero. AUROC is one-vs-rest over the
classes that have both positives and negatives in the labels.
"""

from __future__ import annotations

import math

import numpy as np


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int) -> np.ndarray:
    """Counts[true, predicted]."""
    flat = y_true.astype(np.int64) * num_classes + y_pred.astype(np.int64)
    return np.bincount(flat, minlength=num_classes**2).reshape(num_classes, num_classes)


def auroc_ovr(y_true: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """One-vs-rest AUROC per class (NaN where a class has no positives or no negatives)."""
    from sklearn.metrics import roc_auc_score

    out = np.full(scores.shape[1], np.nan)
    for c in range(scores.shape[1]):
        positives = y_true == c
        if 0 < positives.sum() < len(y_true):
            out[c] = roc_auc_score(positives, scores[:, c])
    return out


def classification_metrics(
    y_true: np.ndarray, scores: np.ndarray, class_names: tuple[str, ...] | list[str]
) -> dict[str, float]:
    """Metrics of single-label predictions ``argmax(scores)``.

    Returns a flat dict: ``accuracy``, ``macro_f1``, ``macro_auroc`` and per class
    ``f1/<name>``, ``sensitivity/<name>``, ``ppv/<name>``, ``support/<name>`` (NaN where undefined).
    """
    k = len(class_names)
    y_pred = scores.argmax(axis=1)
    cm = confusion_matrix(y_true, y_pred, k)
    tp = np.diag(cm).astype(float)
    support = cm.sum(axis=1).astype(float)
    predicted = cm.sum(axis=0).astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        sens = np.where(support > 0, tp / support, np.nan)
        ppv = np.where(predicted > 0, tp / predicted, np.nan)
        f1 = np.where(support + predicted > 0, 2 * tp / (support + predicted), np.nan)
    present = (support + predicted) > 0
    auroc = auroc_ovr(y_true, scores)
    out: dict[str, float] = {
        "accuracy": float(tp.sum() / max(len(y_true), 1)),
        "macro_f1": float(f1[present].mean()) if present.any() else math.nan,
        "macro_auroc": float(np.nanmean(auroc)) if np.isfinite(auroc).any() else math.nan,
    }
    for c, name in enumerate(class_names):
        out[f"f1/{name}"] = float(f1[c])
        out[f"sensitivity/{name}"] = float(sens[c])
        out[f"ppv/{name}"] = float(ppv[c])
        out[f"auroc/{name}"] = float(auroc[c])
        out[f"support/{name}"] = float(support[c])
    return out


def choose_thresholds(y_true: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """Per-class decision thresholds maximising F1 on the given (validation) predictions.

    Candidates are the distinct scores of each class plus 0.5; a class without
    positives keeps 0.5.
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


def multilabel_metrics(
    y_true: np.ndarray,
    scores: np.ndarray,
    class_names: tuple[str, ...] | list[str],
    thresholds: np.ndarray | None = None,
) -> dict[str, float]:
    """Metrics of multi-label predictions ``scores >= thresholds`` (default 0.5).

    ``accuracy`` is the exact-match (subset) accuracy; per-class keys as in
    :func:`classification_metrics`; ``macro_auroc`` averages the classes with both
    positives and negatives.
    """
    k = len(class_names)
    thresholds = np.full(k, 0.5) if thresholds is None else np.asarray(thresholds, dtype=float)
    truth = y_true > 0.5
    pred = scores >= thresholds[None, :]
    tp = (pred & truth).sum(axis=0).astype(float)
    support = truth.sum(axis=0).astype(float)
    predicted = pred.sum(axis=0).astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        sens = np.where(support > 0, tp / support, np.nan)
        ppv = np.where(predicted > 0, tp / predicted, np.nan)
        f1 = np.where(support + predicted > 0, 2 * tp / (support + predicted), np.nan)
    from sklearn.metrics import roc_auc_score

    auroc = np.full(k, np.nan)
    for c in range(k):
        if 0 < support[c] < len(truth):
            auroc[c] = roc_auc_score(truth[:, c], scores[:, c])
    present = (support + predicted) > 0
    out: dict[str, float] = {
        "accuracy": float((pred == truth).all(axis=1).mean()) if len(truth) else math.nan,
        "macro_f1": float(f1[present].mean()) if present.any() else math.nan,
        "macro_auroc": float(np.nanmean(auroc)) if np.isfinite(auroc).any() else math.nan,
    }
    for c, name in enumerate(class_names):
        out[f"f1/{name}"] = float(f1[c])
        out[f"sensitivity/{name}"] = float(sens[c])
        out[f"ppv/{name}"] = float(ppv[c])
        out[f"auroc/{name}"] = float(auroc[c])
        out[f"support/{name}"] = float(support[c])
        out[f"threshold/{name}"] = float(thresholds[c])
    return out
