"""The report's metric table, headline metrics and bootstrap against scikit-learn on fixed predictions."""

from __future__ import annotations

import re

import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    confusion_matrix,
    f1_score,
    precision_recall_fscore_support,
    roc_auc_score,
)

from ecgharness.evaluation.bootstrap import (
    bootstrap_distribution,
    confidence_interval,
    paired_test,
    resample_indices,
)
from ecgharness.evaluation.metrics import (
    COLUMNS,
    HEADLINE_METRICS,
    aami_table,
    binarize,
    headline,
    per_class_table,
)

AAMI = ("N", "S", "V", "F", "Q")


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _multiclass(n: int = 400, seed: int = 0, skill: float = 1.5) -> tuple[np.ndarray, np.ndarray]:
    """5 classes; class 4 ("Q") never occurs in the labels but is sometimes predicted."""
    rng = np.random.default_rng(seed)
    y = rng.choice(4, size=n, p=[0.55, 0.2, 0.15, 0.1])
    logits = rng.normal(size=(n, 5))
    logits[np.arange(n), y] += skill
    logits[:, 4] -= 0.8
    return y, _softmax(logits)


def _multilabel(n: int = 400, seed: int = 1) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """4 labels; label 2 has no positives, label 3 is never predicted at its threshold."""
    rng = np.random.default_rng(seed)
    y = (rng.random((n, 4)) < [0.4, 0.2, 0.0, 0.1]).astype(np.float32)
    scores = np.clip(0.35 * y + 0.65 * rng.random((n, 4)), 0, 1)
    thresholds = np.array([0.45, 0.6, 0.5, 1.01])
    return y, scores, thresholds


def _quiet(fn, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*args, **kwargs)


def _sklearn_table(y_true: np.ndarray, y_pred: np.ndarray, scores: np.ndarray) -> dict[str, np.ndarray]:
    """Per-class reference values from scikit-learn on (n, k) indicator arrays."""
    k = y_true.shape[1]
    prec, rec, f1, support = precision_recall_fscore_support(y_true, y_pred, zero_division=np.nan)
    # specificity and NPV are recall and precision of the negative class
    spec = [_quiet(precision_recall_fscore_support, ~y_true[:, c], ~y_pred[:, c], average="binary",
                   zero_division=np.nan)[1] for c in range(k)]
    npv = [_quiet(precision_recall_fscore_support, ~y_true[:, c], ~y_pred[:, c], average="binary",
                  zero_division=np.nan)[0] for c in range(k)]
    counts = np.array([confusion_matrix(y_true[:, c], y_pred[:, c], labels=[False, True]).ravel()
                       for c in range(k)])  # tn, fp, fn, tp
    auroc = np.array([roc_auc_score(y_true[:, c], scores[:, c]) if y_true[:, c].any() else np.nan
                      for c in range(k)])
    auprc = np.array([average_precision_score(y_true[:, c], scores[:, c]) if y_true[:, c].any() else np.nan
                      for c in range(k)])
    return {"tn": counts[:, 0], "fp": counts[:, 1], "fn": counts[:, 2], "tp": counts[:, 3], "support": support,
            "precision": prec, "sensitivity": rec, "f1": f1, "specificity": np.array(spec, dtype=float),
            "npv": np.array(npv, dtype=float), "accuracy": (y_true == y_pred).mean(axis=0),
            "auroc": auroc, "auprc": auprc}


def _check_against_sklearn(table: pd.DataFrame, y_true: np.ndarray, y_pred: np.ndarray,
                           scores: np.ndarray, names: list[str]) -> None:
    ref = _sklearn_table(y_true, y_pred, scores)
    assert list(table.columns) == list(COLUMNS)
    assert list(table.index) == [*names, "macro", "micro"]
    for col, expected in ref.items():
        np.testing.assert_allclose(table.loc[names, col].to_numpy(float), expected, rtol=1e-12, err_msg=col)
        if col in ("tp", "fp", "fn", "tn", "support"):
            assert table.loc["macro", col] == table.loc["micro", col] == expected.sum()
        else:
            np.testing.assert_allclose(table.loc["macro", col], np.nanmean(expected), rtol=1e-12, err_msg=col)
    for average in ("macro", "micro"):
        prec, rec, f1, _ = precision_recall_fscore_support(y_true, y_pred, average=average, zero_division=np.nan)
        np.testing.assert_allclose(table.loc[average, ["precision", "sensitivity", "f1"]].to_numpy(float),
                                   [prec, rec, f1], rtol=1e-12)
    assert np.isclose(table.loc["micro", "auroc"], roc_auc_score(y_true, scores, average="micro"))
    assert np.isclose(table.loc["micro", "auprc"], average_precision_score(y_true, scores, average="micro"))
    flat_true, flat_pred = y_true.ravel(), y_pred.ravel()
    assert np.isclose(table.loc["micro", "accuracy"], accuracy_score(flat_true, flat_pred))
    assert np.isclose(table.loc["micro", "specificity"], (~flat_true & ~flat_pred).sum() / (~flat_true).sum())


def test_multiclass_table_matches_sklearn_and_absent_class_is_undefined() -> None:
    y, scores = _multiclass()
    names = list(AAMI)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an absent class must not leak a warning
        table = per_class_table(y, scores, names, "multiclass")
    y_true, y_pred = binarize(y, scores, "multiclass")
    np.testing.assert_array_equal(y_pred.argmax(1), scores.argmax(1))
    assert y_pred[:, 4].any() and not y_true[:, 4].any()
    _check_against_sklearn(table, y_true, y_pred, scores, names)
    assert table.loc["Q", ["sensitivity", "auroc", "auprc"]].isna().all()
    assert table.loc["Q", "precision"] == 0 and table.loc["Q", "f1"] == 0
    pred = scores.argmax(1)
    assert np.isclose(table.loc["macro", "f1"],
                      f1_score(y, pred, labels=range(5), average="macro", zero_division=np.nan))
    accuracy = accuracy_score(y, pred)
    for col in ("sensitivity", "precision", "f1"):  # multiclass micro averages are the accuracy
        assert np.isclose(table.loc["micro", col], accuracy)
    # macro AUROC averages the classes that have positives, one-vs-rest on the stored scores
    assert np.isclose(table.loc["macro", "auroc"], np.mean([roc_auc_score(y == c, scores[:, c]) for c in range(4)]))


def test_multilabel_table_matches_sklearn_with_thresholds() -> None:
    y, scores, thresholds = _multilabel()
    names = ["NORM", "MI", "STTC", "CD"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        table = per_class_table(y, scores, names, "multilabel", thresholds)
    y_true, y_pred = binarize(y, scores, "multilabel", thresholds)
    np.testing.assert_array_equal(y_pred, scores >= thresholds)
    _check_against_sklearn(table, y_true, y_pred, scores, names)
    assert table.loc["STTC", ["sensitivity", "auroc", "auprc"]].isna().all()  # no positives...
    assert table.loc["STTC", "f1"] == 0 and table.loc["STTC", "fp"] > 0  # ...but false alarms: F1 0, as sklearn
    assert np.isnan(table.loc["CD", "precision"]) and table.loc["CD", "f1"] == 0  # never predicted
    default = per_class_table(y, scores, names, "multilabel")
    np.testing.assert_array_equal(default["tp"].to_numpy()[:4], ((scores >= 0.5) & (y > 0)).sum(0))


@pytest.mark.parametrize("task", ["multiclass", "multilabel"])
def test_headline_equals_table(task: str) -> None:
    if task == "multiclass":
        y, scores = _multiclass(seed=3)
        thresholds, names = None, list(AAMI)
        exact = accuracy_score(y, scores.argmax(1))
    else:
        y, scores, thresholds = _multilabel(seed=4)
        names = ["a", "b", "c", "d"]
        exact = accuracy_score(y, scores >= thresholds)  # subset accuracy
    table = per_class_table(y, scores, names, task, thresholds)
    expected = {
        "macro_f1": table.loc["macro", "f1"], "macro_auroc": table.loc["macro", "auroc"],
        "macro_sensitivity": table.loc["macro", "sensitivity"], "macro_precision": table.loc["macro", "precision"],
        "macro_auprc": table.loc["macro", "auprc"], "micro_f1": table.loc["micro", "f1"], "accuracy": exact,
    }
    assert set(expected) == set(HEADLINE_METRICS)
    for metric, value in expected.items():
        assert headline(y, scores, task, metric, thresholds) == pytest.approx(value, rel=1e-12), metric


def test_tied_scores_match_sklearn() -> None:
    rng = np.random.default_rng(5)
    y = rng.integers(0, 3, 500)
    logits = rng.normal(size=(500, 3))
    logits[np.arange(500), y] += 1.0
    scores = np.round(_softmax(logits), 1)  # a handful of distinct values: ties everywhere
    table = per_class_table(y, scores, ["a", "b", "c"], "multiclass")
    onehot = np.eye(3)[y]
    np.testing.assert_allclose(table["auroc"].to_numpy()[:3], roc_auc_score(onehot, scores, average=None))
    np.testing.assert_allclose(table["auprc"].to_numpy()[:3], average_precision_score(onehot, scores, average=None))
    assert headline(y, scores, "multiclass", "macro_auroc") == pytest.approx(
        roc_auc_score(onehot, scores, average="macro"), rel=1e-12)
    assert table.loc["micro", "auroc"] == pytest.approx(roc_auc_score(onehot, scores, average="micro"))


def test_aami_table() -> None:
    # 10 N (8 right, 2 called S), 4 S (3 right, 1 called N), 6 V (all right); F and Q absent
    y = np.array([0] * 10 + [1] * 4 + [2] * 6)
    pred = np.array([0] * 8 + [1] * 2 + [1] * 3 + [0] + [2] * 6)
    scores = np.eye(5)[pred] * 0.9 + 0.02
    table = per_class_table(y, scores, AAMI, "multiclass")
    aami = aami_table(table)
    assert list(aami.index) == [*AAMI, "accuracy"] and list(aami.columns) == ["Se", "+P", "F1"]
    assert aami.loc["N"].tolist() == pytest.approx([80.0, 100 * 8 / 9, 100 * 16 / 19])  # F1 = 2TP / (2TP + FP + FN)
    assert aami.loc["S"].tolist() == pytest.approx([75.0, 60.0, 100 * 6 / 9])
    assert aami.loc["V"].tolist() == pytest.approx([100.0, 100.0, 100.0])
    assert np.isnan(aami.loc["F", "Se"]) and np.isnan(aami.loc["F", "+P"])
    assert aami.loc["accuracy", "Se"] == pytest.approx(100 * 17 / 20) and np.isnan(aami.loc["accuracy", "+P"])
    other = per_class_table(y, scores[:, :3] / scores[:, :3].sum(1, keepdims=True), ["N", "Other", "V"],
                            "multiclass")
    assert list(aami_table(other).index) == ["N", "V", "accuracy"]
    with pytest.raises(ValueError, match="no AAMI classes"):
        aami_table(per_class_table(y, scores, list("abcde"), "multiclass"))


def test_bad_input_is_named() -> None:
    y, scores = _multiclass(n=50)
    with pytest.raises(ValueError, match="unknown headline metric 'f2'.*macro_f1"):
        headline(y, scores, "multiclass", "f2")
    with pytest.raises(ValueError, match="unknown task"):
        headline(y, scores, "binary", "macro_f1")
    with pytest.raises(ValueError, match="multi-label predictions only"):
        per_class_table(y, scores, AAMI, "multiclass", thresholds=np.full(5, 0.5))
    with pytest.raises(ValueError, match=r"shape \(4,\)"):
        ym, sm, _ = _multilabel(n=50)
        headline(ym, sm, "multilabel", "macro_f1", thresholds=np.full(3, 0.5))
    with pytest.raises(ValueError, match="4 class names for 5"):
        per_class_table(y, scores, AAMI[:4], "multiclass")


# ------------------------------------------------------------------ bootstrap

def test_resamples_are_seeded_and_intervals_reproducible() -> None:
    y, scores = _multiclass(n=300)
    a, b = resample_indices(y, 200, seed=7), resample_indices(y, 200, seed=7)
    assert a.dtype == np.int32 and a.shape == (200, 300)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, resample_indices(y, 200, seed=8))
    ci_a = confidence_interval(bootstrap_distribution(y, scores, "multiclass", "macro_f1", a))
    ci_b = confidence_interval(bootstrap_distribution(y, scores, "multiclass", "macro_f1", b))
    assert ci_a == ci_b


@pytest.mark.parametrize("task,metric", [("multiclass", m) for m in HEADLINE_METRICS]
                         + [("multilabel", "macro_auroc"), ("multilabel", "accuracy"), ("multilabel", "micro_f1")])
def test_distribution_is_the_metric_of_each_resample_and_covers_the_estimate(task: str, metric: str) -> None:
    if task == "multiclass":
        y, scores = _multiclass(n=300, seed=9)
        thresholds = None
    else:
        y, scores, thresholds = _multilabel(n=300, seed=9)
        y[:3, 2] = 1  # every label has positives, so each resample's macro AUROC is over the same labels
    indices = resample_indices(y, 300, seed=1)
    dist = bootstrap_distribution(y, scores, task, metric, indices, thresholds)
    assert dist.shape == (300,)
    for i in (0, 1, 299):  # weights-based evaluation equals evaluating the materialised resample
        assert dist[i] == pytest.approx(headline(y[indices[i]], scores[indices[i]], task, metric, thresholds),
                                        rel=1e-12)
    low, high = confidence_interval(dist)
    assert low < headline(y, scores, task, metric, thresholds) < high
    assert high - low < 0.25


def test_resamples_keep_every_class_with_positives() -> None:
    y = np.zeros(30, dtype=np.int64)
    y[[4, 17]] = 2  # two positives among 30: a plain draw misses both about 13% of the time
    y[20:25] = 1
    rng = np.random.default_rng(3)
    plain = rng.integers(0, 30, size=(500, 30))
    assert not np.isin(plain, [4, 17]).any(axis=1).all()  # the rule has something to do
    indices = resample_indices(y, 500, seed=3)
    assert np.isin(indices, [4, 17]).any(axis=1).all()
    assert ((y[indices] == 1).any(axis=1)).all()
    multilabel = np.zeros((30, 3), dtype=np.float32)
    multilabel[[4, 17], 1] = 1
    multilabel[:, 0] = 1  # class 2 has no positives at all: nothing to keep
    indices = resample_indices(multilabel, 500, seed=3)
    assert multilabel[indices][:, :, 1].any(axis=1).all()


def test_impossible_resampling_keeps_the_resample_and_warns(caplog) -> None:
    y = np.arange(12)  # twelve classes with one example each: almost no resample holds them all
    with caplog.at_level("WARNING", logger="ecgharness.evaluation.bootstrap"):
        indices = resample_indices(y, 20, seed=0, max_redraws=5)
    assert indices.shape == (20, 12)
    assert re.search(r"\d+ of 20 resamples still lack a positive of class index \d+ \(1 positive\(s\) among 12",
                     caplog.text)
    scores = np.eye(12)[y]
    values = bootstrap_distribution(y, scores, "multiclass", "macro_f1", indices)
    assert np.isfinite(values).all() and (values == 1).all()  # perfect on every class each resample holds


def test_paired_test_self_and_clearly_better() -> None:
    y, good = _multiclass(n=400, seed=11, skill=3.0)
    _, noise = _multiclass(n=400, seed=12, skill=0.0)
    indices = resample_indices(y, 500, seed=0)
    same = paired_test(y, good, good, "multiclass", "macro_f1", indices)
    assert same["difference"] == 0 and same["p_value"] == 1
    assert same["ci_low"] == same["ci_high"] == 0 and same["n_resamples"] == 500
    better = paired_test(y, good, noise, "multiclass", "macro_auroc", indices)
    assert better["difference"] == pytest.approx(
        headline(y, good, "multiclass", "macro_auroc") - headline(y, noise, "multiclass", "macro_auroc"))
    assert better["difference"] > 0 and better["ci_low"] > 0
    assert better["p_value"] < 0.05 and better["p_value"] == pytest.approx(2 / 501)
    worse = paired_test(y, noise, good, "multiclass", "macro_auroc", indices)
    assert worse["difference"] == pytest.approx(-better["difference"]) and worse["p_value"] == better["p_value"]
