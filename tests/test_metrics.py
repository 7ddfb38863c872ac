"""Metrics against scikit-learn on fixed predictions."""

from __future__ import annotations

import math

import numpy as np
from sklearn.metrics import accuracy_score, f1_score, precision_score, recall_score, roc_auc_score

from ecgharness.evaluation.metrics import classification_metrics, confusion_matrix


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


def test_summary_agrees_with_the_report_table_and_headlines() -> None:
    """The flat summary (validation, final_metrics.csv) and the report's table are one computation."""
    from ecgharness.evaluation.metrics import headline, per_class_table, summary_metrics

    rng = np.random.default_rng(2)
    y = rng.integers(0, 3, 400)  # F never occurs but is sometimes predicted: its F1 is 0, not undefined
    scores = _scores(rng, y, 4, skill=0.8)
    assert (scores.argmax(1) == 3).any()
    names = ("N", "S", "V", "F")
    flat = summary_metrics(y, scores, names, "multiclass")
    assert math.isclose(flat["macro_f1"], f1_score(y, scores.argmax(1), average="macro"))
    table = per_class_table(y, scores, names, "multiclass")
    for metric in ("macro_f1", "macro_auroc", "accuracy"):
        assert flat[metric] == headline(y, scores, "multiclass", metric)
    assert flat["macro_f1"] == table.loc["macro", "f1"] and flat["macro_auroc"] == table.loc["macro", "auroc"]
    for name in names:
        np.testing.assert_array_equal([flat[f"sensitivity/{name}"], flat[f"ppv/{name}"], flat[f"support/{name}"]],
                                      table.loc[name, ["sensitivity", "precision", "support"]].astype(float))
    assert math.isnan(flat["sensitivity/F"]) and flat["f1/F"] == 0.0

    truth = (rng.random((300, 3)) < 0.3).astype(np.float32)
    probs = np.clip(truth * 0.4 + rng.random((300, 3)) * 0.6, 0, 1)
    cut = np.array([0.4, 0.5, 0.6])
    flat = summary_metrics(truth, probs, ("a", "b", "c"), "multilabel", cut)
    table = per_class_table(truth, probs, ("a", "b", "c"), "multilabel", cut)
    assert flat["accuracy"] == headline(truth, probs, "multilabel", "accuracy", cut)
    assert flat["macro_f1"] == table.loc["macro", "f1"] and flat["threshold/c"] == 0.6
    assert math.isclose(flat["macro_auroc"], roc_auc_score(truth, probs, average="macro"))
