"""Confidence, calibration and confused pairs (evaluation/calibration.py) against hand computations
and scikit-learn."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ecgharness.evaluation import calibration as cal


def test_ece_matches_a_hand_computation() -> None:
    confidence = np.array([0.95, 0.95, 0.85, 0.65, 0.65, 0.35])
    correct = np.array([1, 0, 1, 1, 0, 0], dtype=bool)
    # bins (0.9, 1]: 2 decisions, accuracy 0.5, confidence 0.95 -> gap 0.45
    #      (0.8, 0.9]: 1, accuracy 1, confidence 0.85 -> 0.15
    #      (0.6, 0.7]: 2, accuracy 0.5, confidence 0.65 -> 0.15
    #      (0.3, 0.4]: 1, accuracy 0, confidence 0.35 -> 0.35
    # ECE = (2 * 0.45 + 0.15 + 2 * 0.15 + 0.35) / 6 = 1.7 / 6
    assert cal.expected_calibration_error(confidence, correct, bins=10) == pytest.approx(1.7 / 6, abs=1e-12)
    r = cal.reliability(np.array([0.5, 0.0, 1.0]), np.array([1, 1, 0]), bins=10)
    assert r.count[4] == 1 and r.count[0] == 1 and r.count[9] == 1  # right-closed bins: 0.5 in (0.4, 0.5]
    perfect = cal.reliability(np.full(10, 0.8), np.r_[np.ones(8), np.zeros(2)].astype(bool), bins=10)
    assert perfect.ece == pytest.approx(0.0, abs=1e-12)


def test_reliability_bins_agree_with_scikit_learn_on_realistic_predictions() -> None:
    from sklearn.calibration import calibration_curve

    rng = np.random.default_rng(0)
    labels = rng.integers(0, 4, 2000)
    logits = rng.normal(size=(2000, 4))
    logits[np.arange(2000), labels] += 1.5
    scores = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    d = cal.decisions(labels, scores)
    np.testing.assert_array_equal(d.confidence, scores.max(axis=1))
    r = cal.reliability(d.confidence, d.correct, bins=10)
    prob_true, prob_pred = calibration_curve(d.correct.astype(int), d.confidence, n_bins=10, strategy="uniform")
    full = r.count > 0
    np.testing.assert_allclose(r.accuracy[full], prob_true, atol=1e-12)
    np.testing.assert_allclose(r.confidence[full], prob_pred, atol=1e-12)


def test_multilabel_decisions_use_the_thresholds() -> None:
    labels = np.array([[1, 0], [0, 1], [1, 1]])
    scores = np.array([[0.7, 0.2], [0.4, 0.3], [0.2, 0.9]])
    d = cal.decisions(labels, scores, thresholds=np.array([0.5, 0.25]))
    # decisions: (1, 0) (0, 1) (0, 1) against the truth (1, 0) (0, 1) (1, 1)
    np.testing.assert_array_equal(d.correct, [True, True, True, True, False, True])
    np.testing.assert_allclose(d.confidence, [0.7, 0.8, 0.6, 0.3, 0.8, 0.9])
    np.testing.assert_array_equal(d.true_class, [0, 1, 0, 1, 0, 1])


def test_confused_pairs_and_low_confidence_against_hand_counts() -> None:
    from ecgharness.evaluation.metrics import confusion_matrix

    names = ("N", "S", "V")
    truth = np.array(list("NNNNSSSVVVNS"))
    pred = np.array(list("NSSVNNNVVNNS"))
    idx = {c: i for i, c in enumerate(names)}
    t, p = np.array([idx[c] for c in truth]), np.array([idx[c] for c in pred])
    pairs = cal.confused_pairs(confusion_matrix(t, p, 3), names, top=3)
    counts = pd.crosstab(truth, pred)  # independent count of the same cells
    assert pairs == [("S", "N", 3), ("N", "S", 2)] + [("N", "V", 1)]
    assert [counts.loc[a, b] for a, b, _ in pairs] == [n for *_, n in pairs]
    d = cal.Decisions(np.array([0.3, 0.9, 0.55, 0.7]), np.array([False, True, True, True]), np.zeros(4, int))
    low = cal.low_confidence(d, 0.6)
    assert (low.share, low.accuracy_low, low.accuracy_rest, low.count_low) == (0.5, 0.5, 1.0, 2)
