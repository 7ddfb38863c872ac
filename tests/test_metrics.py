"""Metrics against scikit-learn on fixed predictions."""

from __future__ import annotations

import math

import numpy as np
from sklearn.metrics import accuracy_score, f1_score, precision_score, recall_score, roc_auc_score

from ecgharness.benchmark.metrics import classification_metrics, confusion_matrix


def _scores(rng, y, k, skill=1.5):
    s = rng.normal(size=(len(y), k))
    s[np.arange(len(y)), y] += skill
    return np.exp(s) / np.exp(s).sum(axis=1, keepdims=True)


def test_matches_sklearn() -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 4, 500)
    scores = _scores(rng, y, 4)
    pred = scores.argmax(1)
    m = classification_metrics(y, scores, ("a", "b", "c", "d"))
    assert math.isclose(m["accuracy"], accuracy_score(y, pred))
    assert math.isclose(m["macro_f1"], f1_score(y, pred, average="macro"))
    assert math.isclose(m["macro_auroc"], roc_auc_score(y, scores, multi_class="ovr", average="macro"))
    for i, name in enumerate("abcd"):
        assert math.isclose(m[f"sensitivity/{name}"], recall_score(y, pred, labels=[i], average="macro"))
        assert math.isclose(m[f"ppv/{name}"], precision_score(y, pred, labels=[i], average="macro"))
    np.testing.assert_array_equal(confusion_matrix(y, pred, 4).sum(1), np.bincount(y, minlength=4))


def test_class_without_examples_is_undefined_not_zero() -> None:
    rng = np.random.default_rng(1)
    y = rng.integers(0, 3, 300)  # class 3 never occurs
    scores = _scores(rng, y, 4)
    scores[:, 3] = 0.0
    m = classification_metrics(y, scores, ("N", "S", "V", "Q"))
    assert math.isnan(m["f1/Q"]) and math.isnan(m["sensitivity/Q"]) and math.isnan(m["auroc/Q"])
    assert math.isclose(m["macro_f1"], f1_score(y, scores.argmax(1), average="macro"))
