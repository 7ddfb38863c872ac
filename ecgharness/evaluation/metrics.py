"""The one implementation of every metric: per class, macro, micro and the headlines.

The training loop's validation scores, the test metrics stored in ``final_metrics.csv``,
the leaderboard and the report all come from this module (:func:`summary_metrics` for the
flat per-run dictionary, :func:`per_class_table` and :class:`HeadlineMetric` for the report
and its bootstrap), so one number never has two codes.

Every metric is one-vs-rest from the binarised predictions (:func:`binarize`): argmax of
the softmax scores for multiclass, ``scores >= thresholds`` for multi-label (thresholds
chosen on validation, stored with the predictions). A metric whose denominator is zero is
undefined and reported as NaN, as scikit-learn does with ``zero_division=np.nan``: a class
without positives in the labels has no sensitivity, AUROC or AUPRC; a class never
predicted has no precision. Macro averages skip undefined values.

Macro averages run over the *scored* classes: all of them unless ``scored`` names a subset
(the MIT-BIH inter-patient protocol averages N, S, V and F and only reports Q); accuracy and
the per-class rows always cover every class. ``forgive`` names (true, predicted) class pairs
that are not errors (AAMI EC57: an F beat classified as V): such an example counts neither
for its true class nor for the predicted one.

Counts are computed as weighted sums over the examples and AUROC/AUPRC from one sort of
each score column, so any weighting of the examples — in particular a bootstrap resample,
whose weights are how often each example was drawn — costs a matrix product and a few
cumulative sums (:class:`HeadlineMetric`), never a re-sort or a Python loop over examples.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

TASKS = ("multiclass", "multilabel")
HEADLINE_METRICS = (
    "macro_f1", "macro_auroc", "accuracy", "macro_sensitivity", "macro_precision", "macro_auprc", "micro_f1",
)
COUNT_COLUMNS = ("tp", "fp", "fn", "tn", "support")
RATE_COLUMNS = ("sensitivity", "specificity", "precision", "npv", "f1", "accuracy", "auroc", "auprc")
COLUMNS = COUNT_COLUMNS + RATE_COLUMNS
AAMI_CLASSES = ("N", "S", "V", "F", "Q")


def scored_columns(k: int, scored: Sequence[int] | None) -> np.ndarray:
    """Column indices the macro averages run over: ``scored``, or all ``k`` classes."""
    columns = np.arange(k) if scored is None else np.asarray(sorted(set(int(c) for c in scored)), dtype=np.int64)
    if columns.size == 0 or columns.min() < 0 or columns.max() >= k:
        raise ValueError(f"scored classes must be indices in [0, {k}), got {scored}")
    return columns


# ------------------------------------------------------------------ inputs

def _checked(
    labels: np.ndarray, scores: np.ndarray, task: str, thresholds: np.ndarray | None,
    forgive: Sequence[tuple[int, int]] = (),
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(y_true, y_pred, scores) as (n, k) bool, bool, float64, after checking shapes and values."""
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}; valid tasks: {', '.join(TASKS)}")
    scores = np.asarray(scores, dtype=np.float64)
    labels = np.asarray(labels)
    if scores.ndim != 2 or scores.shape[0] == 0 or scores.shape[1] < 2:
        raise ValueError(f"scores must have shape (examples, classes) with at least one example and two "
                         f"classes, got {scores.shape}")
    if not np.isfinite(scores).all():
        raise ValueError(f"scores hold {int((~np.isfinite(scores)).sum())} NaN/inf values; "
                         "a diverged model has no meaningful metrics — rerun or drop it")
    n, k = scores.shape
    if task == "multiclass":
        if thresholds is not None:
            raise ValueError("thresholds apply to multi-label predictions only; multiclass predictions "
                             "take the argmax of the scores (pass thresholds=None)")
        if labels.shape != (n,):
            raise ValueError(f"multiclass labels must have shape ({n},) to match scores {scores.shape}, "
                             f"got {labels.shape}")
        integral = labels.dtype.kind in "iu" or (labels.dtype.kind == "f" and np.array_equal(labels, np.round(labels)))
        if not integral:
            raise ValueError(f"multiclass labels must be integer class indices, got dtype {labels.dtype}")
        classes = labels.astype(np.int64)
        if classes.min() < 0 or classes.max() >= k:
            raise ValueError(f"multiclass labels must lie in [0, {k}) for {k} score columns, "
                             f"got values in [{classes.min()}, {classes.max()}]")
        eye = np.eye(k, dtype=bool)
        y_true, y_pred = eye[classes], eye[scores.argmax(axis=1)]
        for true, predicted in forgive:  # e.g. AAMI EC57: F beats called V are not errors
            rows = y_true[:, true] & y_pred[:, predicted]
            y_true[rows, true] = y_pred[rows, predicted] = False
        return y_true, y_pred, scores
    if labels.shape != (n, k):
        raise ValueError(f"multi-label labels must have shape {scores.shape} like the scores, got {labels.shape}")
    if not np.isin(labels, (0, 1)).all():
        raise ValueError("multi-label labels must be 0/1 indicators")
    cut = np.full(k, 0.5) if thresholds is None else np.asarray(thresholds, dtype=np.float64)
    if cut.shape != (k,):
        raise ValueError(f"thresholds must have shape ({k},), one per class, got {cut.shape}")
    return labels.astype(bool), scores >= cut[None, :], scores


def binarize(
    labels: np.ndarray, scores: np.ndarray, task: str, thresholds: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """(y_true, y_pred) as (n, k) bool arrays.

    Multiclass: one-hot of ``labels`` and of ``argmax(scores)``; multi-label: ``labels`` and
    ``scores >= thresholds`` (0.5 for every class when ``thresholds`` is None).
    """
    y_true, y_pred, _ = _checked(labels, scores, task, thresholds)
    return y_true, y_pred


# ------------------------------------------------------------------ arithmetic

def _divide(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """num / den, NaN where den is zero (scikit-learn's zero_division=np.nan), without warnings."""
    num, den = np.broadcast_arrays(np.asarray(num, dtype=np.float64), np.asarray(den, dtype=np.float64))
    out = np.full(num.shape, np.nan)
    np.divide(num, den, out=out, where=den != 0)
    return out


def _nanmean(values: np.ndarray, axis: int = -1) -> np.ndarray:
    """Mean over ``axis`` of the defined values; NaN (without a warning) where none is."""
    defined = np.isfinite(values)
    return _divide(np.where(defined, values, 0.0).sum(axis=axis), defined.sum(axis=axis))


def _rates(tp: np.ndarray, fp: np.ndarray, fn: np.ndarray, tn: np.ndarray) -> dict[str, np.ndarray]:
    return {
        "sensitivity": _divide(tp, tp + fn),
        "specificity": _divide(tn, tn + fp),
        "precision": _divide(tp, tp + fp),
        "npv": _divide(tn, tn + fn),
        "f1": _divide(2 * tp, 2 * tp + fp + fn),
        "accuracy": _divide(tp + tn, tp + fp + fn + tn),
    }


class _Counts:
    """One-vs-rest confusion counts of fixed binarised predictions under example weights."""

    def __init__(self, y_true: np.ndarray, y_pred: np.ndarray) -> None:
        self.truth = y_true.astype(np.float64)
        self.hits = (y_true & y_pred).astype(np.float64)
        self.predicted = y_pred.astype(np.float64)

    def __call__(self, weights: np.ndarray) -> dict[str, np.ndarray]:
        """tp, fp, fn, tn, support, each (B, k), for weights (B, n)."""
        tp = weights @ self.hits
        support = weights @ self.truth
        fp = weights @ self.predicted - tp
        fn = support - tp
        tn = weights.sum(axis=1, keepdims=True) - support - fp
        return {"tp": tp, "fp": fp, "fn": fn, "tn": tn, "support": support}


class _Ranked:
    """One score column sorted once; AUROC and average precision of any weighting follow.

    Examples with equal scores form one group, so ties count as scikit-learn counts them
    (half a concordant pair for AUROC; one threshold for average precision).
    """

    def __init__(self, truth: np.ndarray, score: np.ndarray) -> None:
        self.order = np.argsort(score, kind="stable")
        ranked = score[self.order]
        self.starts = np.flatnonzero(np.r_[True, ranked[1:] != ranked[:-1]])
        self.truth = truth[self.order].astype(np.float64)

    def groups(self, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Weight of the positives and of the negatives in each tie group, ascending score, (B, G) each."""
        w = np.take(weights, self.order, axis=1)
        pos = w * self.truth
        if len(self.starts) == len(self.order):  # no ties: every example is its own group
            return pos, w - pos
        pos = np.add.reduceat(pos, self.starts, axis=1)
        return pos, np.add.reduceat(w, self.starts, axis=1) - pos


def _auroc(pos: np.ndarray, neg: np.ndarray) -> np.ndarray:
    """Mann-Whitney AUROC from tie-group weights (ascending scores); NaN without positives or negatives."""
    below_and_half_tied = np.cumsum(neg, axis=1) - 0.5 * neg
    concordant = np.einsum("bg,bg->b", pos, below_and_half_tied)
    return _divide(concordant, pos.sum(axis=1) * neg.sum(axis=1))


def _average_precision(pos: np.ndarray, neg: np.ndarray) -> np.ndarray:
    """scikit-learn's average precision, sum over thresholds of (R_i - R_{i-1}) P_i; NaN without positives."""
    pos, neg = pos[:, ::-1], neg[:, ::-1]  # thresholds from the highest score down
    tps, fps = np.cumsum(pos, axis=1), np.cumsum(neg, axis=1)
    precision = np.divide(tps, tps + fps, out=np.zeros_like(tps), where=(tps + fps) > 0)
    return _divide(np.einsum("bg,bg->b", pos, precision), pos.sum(axis=1))


# ------------------------------------------------------------------ headline metrics

class HeadlineMetric:
    """One headline metric of fixed predictions, evaluated under example weights.

    ``HeadlineMetric(...)(weights)`` with ``weights`` (B, n) — for a bootstrap resample, how
    often each example was drawn — returns the metric on each of the B weightings; it equals
    the metric computed on the resampled arrays. Only what ``metric`` needs is prepared.
    """

    def __init__(self, labels: np.ndarray, scores: np.ndarray, task: str, metric: str,
                 thresholds: np.ndarray | None = None, scored: Sequence[int] | None = None,
                 forgive: Sequence[tuple[int, int]] = ()) -> None:
        if metric not in HEADLINE_METRICS:
            raise ValueError(f"unknown headline metric {metric!r}; valid metrics: {', '.join(HEADLINE_METRICS)}")
        y_true, y_pred, scores = _checked(labels, scores, task, thresholds, forgive)
        self.metric = metric
        self.n = len(scores)
        self.scored = scored_columns(scores.shape[1], scored)
        if metric in ("macro_auroc", "macro_auprc"):
            self._ranked = [_Ranked(y_true[:, c], scores[:, c]) for c in range(scores.shape[1])]
        elif metric == "accuracy":  # exact match; for one-hot rows the same as argmax == label
            self._hit = (y_true == y_pred).all(axis=1).astype(np.float64)
        else:
            self._counts = _Counts(y_true, y_pred)

    def __call__(self, weights: np.ndarray) -> np.ndarray:
        weights = np.asarray(weights, dtype=np.float64)
        if weights.ndim != 2 or weights.shape[1] != self.n:
            raise ValueError(f"weights must have shape (resamples, {self.n}), got {weights.shape}")
        if self.metric == "accuracy":
            return _divide(weights @ self._hit, weights.sum(axis=1))
        if self.metric in ("macro_auroc", "macro_auprc"):
            area = _auroc if self.metric == "macro_auroc" else _average_precision
            per_class = np.stack([area(*ranked.groups(weights)) for ranked in self._ranked], axis=1)
            return _nanmean(per_class[:, self.scored], axis=1)
        c = self._counts(weights)
        if self.metric == "micro_f1":
            tp, fp, fn = (c[key].sum(axis=1) for key in ("tp", "fp", "fn"))
            return _divide(2 * tp, 2 * tp + fp + fn)
        rate = self.metric.removeprefix("macro_")
        return _nanmean(_rates(c["tp"], c["fp"], c["fn"], c["tn"])[rate][:, self.scored], axis=1)


def headline(labels: np.ndarray, scores: np.ndarray, task: str, metric: str,
             thresholds: np.ndarray | None = None, scored: Sequence[int] | None = None,
             forgive: Sequence[tuple[int, int]] = ()) -> float:
    """One headline metric (see ``HEADLINE_METRICS``), equal to what :func:`per_class_table` gives.

    ``accuracy`` is the exact-match accuracy: argmax equals the label (multiclass), every
    class right (multi-label). ``macro_*`` average the defined per-class values;
    ``micro_f1`` pools the counts of all classes (for multiclass it equals ``accuracy``).
    """
    metric_fn = HeadlineMetric(labels, scores, task, metric, thresholds, scored, forgive)
    return float(metric_fn(np.ones((1, metric_fn.n)))[0])


# ------------------------------------------------------------------ tables

def per_class_table(labels: np.ndarray, scores: np.ndarray, class_names: Sequence[str], task: str,
                    thresholds: np.ndarray | None = None, scored: Sequence[int] | None = None,
                    forgive: Sequence[tuple[int, int]] = ()) -> pd.DataFrame:
    """Every metric per class, plus ``macro`` and ``micro`` rows.

    Columns: ``COLUMNS`` (counts tp, fp, fn, tn, support, then rates). Per class the counts
    are one-vs-rest and ``accuracy`` is (tp + tn) / n. ``macro``: counts summed, each rate
    the unweighted mean of the defined per-class values. ``micro``: rates from the summed
    counts (for multiclass micro sensitivity = precision = F1 = accuracy), AUROC and AUPRC
    of the flattened one-vs-rest scores (scikit-learn's ``average="micro"``).
    """
    y_true, y_pred, scores = _checked(labels, scores, task, thresholds, forgive)
    n, k = scores.shape
    names = [str(c) for c in class_names]
    if len(names) != k:
        raise ValueError(f"{len(names)} class names for {k} score columns")
    if len(set(names)) != k or {"macro", "micro"} & set(names):
        raise ValueError(f"class names must be distinct and not 'macro'/'micro', got {names}")
    columns = scored_columns(k, scored)
    ones = np.ones((1, n))
    counts = {key: value[0] for key, value in _Counts(y_true, y_pred)(ones).items()}
    rates = _rates(counts["tp"], counts["fp"], counts["fn"], counts["tn"])
    groups = [_Ranked(y_true[:, c], scores[:, c]).groups(ones) for c in range(k)]
    rates["auroc"] = np.array([_auroc(*g)[0] for g in groups])
    rates["auprc"] = np.array([_average_precision(*g)[0] for g in groups])

    summed = {key: counts[key].sum() for key in COUNT_COLUMNS}
    micro = _rates(summed["tp"], summed["fp"], summed["fn"], summed["tn"])
    flat = _Ranked(y_true.ravel(), scores.ravel()).groups(np.ones((1, n * k)))
    micro["auroc"], micro["auprc"] = _auroc(*flat)[0], _average_precision(*flat)[0]

    columns = {
        key: np.r_[counts[key], summed[key], summed[key]].astype(np.int64) for key in COUNT_COLUMNS
    } | {
        rate: np.r_[rates[rate], _nanmean(rates[rate][columns]), micro[rate]] for rate in RATE_COLUMNS
    }
    return pd.DataFrame(columns, index=pd.Index([*names, "macro", "micro"], name="class"))


def aami_table(table: pd.DataFrame) -> pd.DataFrame:
    """The AAMI-style report (de Chazal et al. 2004, ANSI/AAMI EC57) of a :func:`per_class_table`.

    Rows: the AAMI classes (N, S, V, F, Q) among the table's classes, in the table's order,
    then ``accuracy``. Columns ``Se`` (sensitivity), ``+P`` (positive predictivity) and
    ``F1``, in percent; the ``accuracy`` row holds the overall (multiclass) accuracy under
    ``Se`` and NaN elsewhere.
    """
    classes = [c for c in table.index if c not in ("macro", "micro")]
    aami = [c for c in classes if c in AAMI_CLASSES]
    if not aami:
        raise ValueError(f"no AAMI classes ({', '.join(AAMI_CLASSES)}) among the table's classes {classes}")
    per_class = table.loc[classes]
    total = per_class[["tp", "fp", "fn", "tn"]].iloc[0].sum()
    accuracy = per_class["tp"].sum() / total if total else np.nan
    out = pd.DataFrame({"Se": 100 * table.loc[aami, "sensitivity"].astype(float),
                        "+P": 100 * table.loc[aami, "precision"].astype(float),
                        "F1": 100 * table.loc[aami, "f1"].astype(float)})
    out.loc["accuracy"] = [100 * accuracy, np.nan, np.nan]
    return out.rename_axis("class")


# ------------------------------------------------------------------ the flat summary of one run

def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int) -> np.ndarray:
    """Counts[true, predicted] of single-label class indices."""
    flat = np.asarray(y_true).astype(np.int64) * num_classes + np.asarray(y_pred).astype(np.int64)
    return np.bincount(flat, minlength=num_classes**2).reshape(num_classes, num_classes)


def summary_metrics(labels: np.ndarray, scores: np.ndarray, class_names: Sequence[str], task: str,
                    thresholds: np.ndarray | None = None, scored: Sequence[int] | None = None,
                    forgive: Sequence[tuple[int, int]] = ()) -> dict[str, float]:
    """The flat metric dictionary of one set of predictions (validation epoch or test run).

    Keys: ``accuracy`` (exact match), ``macro_f1``, ``macro_auroc``, then per class
    ``f1/<name>``, ``sensitivity/<name>``, ``ppv/<name>``, ``auroc/<name>``,
    ``support/<name>`` and, for multi-label tasks, ``threshold/<name>`` (0.5 unless
    ``thresholds`` are given). The values equal those of :func:`per_class_table` and
    :func:`headline`; undefined values are NaN.
    """
    y_true, y_pred, scores = _checked(labels, scores, task, thresholds, forgive)
    n, k = scores.shape
    if len(class_names) != k:
        raise ValueError(f"{len(class_names)} class names for {k} score columns")
    columns = scored_columns(k, scored)
    c = {key: value[0] for key, value in _Counts(y_true, y_pred)(np.ones((1, n))).items()}
    rates = _rates(c["tp"], c["fp"], c["fn"], c["tn"])
    auroc = np.array([_auroc(*_Ranked(y_true[:, j], scores[:, j]).groups(np.ones((1, n))))[0] for j in range(k)])
    out: dict[str, float] = {
        "accuracy": float((y_true == y_pred).all(axis=1).mean()),
        "macro_f1": float(_nanmean(rates["f1"][columns])),
        "macro_auroc": float(_nanmean(auroc[columns])),
    }
    for j, name in enumerate(class_names):
        out[f"f1/{name}"] = float(rates["f1"][j])
        out[f"sensitivity/{name}"] = float(rates["sensitivity"][j])
        out[f"ppv/{name}"] = float(rates["precision"][j])
        out[f"auroc/{name}"] = float(auroc[j])
        out[f"support/{name}"] = float(c["support"][j])
        if task == "multilabel":
            out[f"threshold/{name}"] = float(0.5 if thresholds is None else thresholds[j])
    return out


def classification_metrics(y_true: np.ndarray, scores: np.ndarray, class_names: Sequence[str]) -> dict[str, float]:
    """:func:`summary_metrics` of single-label predictions ``argmax(scores)``."""
    return summary_metrics(y_true, scores, class_names, "multiclass")


def multilabel_metrics(y_true: np.ndarray, scores: np.ndarray, class_names: Sequence[str],
                       thresholds: np.ndarray | None = None) -> dict[str, float]:
    """:func:`summary_metrics` of multi-label predictions ``scores >= thresholds`` (default 0.5)."""
    return summary_metrics(y_true, scores, class_names, "multilabel", thresholds)
