"""Floors beside every leaderboard: what a dataset gives without deep learning.

Two baselines are fitted on the training split of each dataset of a run and scored once on
its test split, like the final runs: ``floor_majority`` (every example gets the training
split's class frequencies as scores, so the majority class is always predicted) and
``floor_linear`` (a class-weighted logistic regression with scikit-learn on per-lead summary
statistics of the signal and, where the dataset carries them, its metadata: the RR-interval
features of MIT-BIH beats, the patient metadata of Chapman). Multi-label tasks fit one
regression per class and choose its decision threshold on the validation split. A deep
model below these rows has learnt less than the data offers for free.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from ecgharness.datasets.base import PreparedDataset, Split
from ecgharness.evaluation.thresholds import choose_thresholds

FLOORS = ("floor_majority", "floor_linear")


@dataclass
class Floor:
    """One fitted floor's test predictions."""

    model: str
    scores: np.ndarray
    thresholds: list[float] | None
    params: int
    train_time_s: float
    throughput: float


_CHUNK = 4096  # examples summarised at once, so a large split is never copied whole


def features(split: Split) -> np.ndarray:
    """Per lead: mean, standard deviation, minimum, maximum, 5th and 95th percentiles; then
    the metadata, if any."""
    rows = []
    for start in range(0, len(split.x), _CHUNK):
        x = np.asarray(split.x[start:start + _CHUNK])
        rows.append(np.concatenate([x.mean(axis=2, dtype=np.float64), x.std(axis=2, dtype=np.float64),
                                    x.min(axis=2), x.max(axis=2), *np.percentile(x, [5, 95], axis=2)], axis=1))
    parts = [np.concatenate(rows).astype(np.float64)]
    if split.meta is not None:
        parts.append(np.asarray(split.meta, dtype=np.float64))
    return np.concatenate(parts, axis=1)


def majority(ds: PreparedDataset) -> Floor:
    y = np.asarray(ds.splits["train"].y)
    prior = y.mean(axis=0) if ds.multilabel else np.bincount(y, minlength=ds.num_classes) / len(y)
    n = len(ds.splits["test"].y)
    thresholds = choose_thresholds(np.asarray(ds.splits["val"].y), np.tile(prior, (len(ds.splits["val"].y), 1))) \
        if ds.multilabel else None
    return Floor("floor_majority", np.tile(prior, (n, 1)), None if thresholds is None else thresholds.tolist(),
                 ds.num_classes, 0.0, float("nan"))


def linear(ds: PreparedDataset) -> Floor:
    """Standardised summary features, class-weighted logistic regression (one per class if multi-label)."""
    import torch
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    from ecgharness.training.loop import class_weights

    start = time.perf_counter()
    train, y = features(ds.splits["train"]), np.asarray(ds.splits["train"].y)
    scaler = StandardScaler().fit(train)
    fitted = []
    if ds.multilabel:
        for c in range(ds.num_classes):
            target = (y[:, c] > 0.5).astype(int)
            fitted.append(None if target.min() == target.max() else
                          LogisticRegression(max_iter=2000, class_weight="balanced").fit(scaler.transform(train), target))
    else:
        weights = class_weights(torch.from_numpy(y), ds.num_classes, ds.scored).numpy()  # the loop's weights
        fitted.append(LogisticRegression(max_iter=2000).fit(scaler.transform(train), y, sample_weight=weights[y]))
    took = time.perf_counter() - start

    def predict(split: Split) -> np.ndarray:
        z = scaler.transform(features(split))
        out = np.zeros((len(z), ds.num_classes))
        if ds.multilabel:
            for c, model in enumerate(fitted):
                out[:, c] = model.predict_proba(z)[:, 1] if model is not None else y[0, c]
        else:
            out[:, fitted[0].classes_] = fitted[0].predict_proba(z)
        return out

    thresholds = choose_thresholds(np.asarray(ds.splits["val"].y), predict(ds.splits["val"])) if ds.multilabel else None
    params = sum(m.coef_.size + m.intercept_.size for m in fitted if m is not None)
    return Floor("floor_linear", predict(ds.splits["test"]), None if thresholds is None else thresholds.tolist(),
                 int(params), took, len(y) / took if took > 0 else float("nan"))


def fit_floors(ds: PreparedDataset) -> list[Floor]:
    """Both floors of ``ds``, fitted on its training split (validation only for thresholds)."""
    return [majority(ds), linear(ds)]
