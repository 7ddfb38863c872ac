"""The training loop, in process, on synthetic data."""

from __future__ import annotations

import pytest
import torch

from ecgharness.benchmark.trainer import TrainConfig, TrainingDiverged, class_weights, train_model
from ecgharness.datasets import load_dataset


@pytest.fixture(scope="module")
def synthetic():
    return load_dataset("synthetic", {"n_per_class": 60, "length": 96, "noise": 0.3}, use_cache=False)


def test_learns_the_synthetic_task_and_scores_test_once(synthetic) -> None:
    reports = []
    out = train_model(synthetic, "cnn_lstm", {"lr": 3e-3, "batch_size": 32, "conv_width": 16, "lstm_hidden": 16},
                      TrainConfig(max_epochs=6, patience=6), seed=0, report=reports.append, evaluate_test=True)
    assert [r["epoch"] for r in reports] == list(range(1, 7))
    assert out.best_score == max(r["score"] for r in reports)
    assert out.test_metrics["accuracy"] > 0.8
    assert out.test_scores.shape == (len(synthetic.splits["test"]), 3)


def test_same_seed_same_result_on_cpu(synthetic) -> None:
    cfg = {"lr": 1e-3, "batch_size": 32, "base_channels": 8, "stages": 2}
    a = train_model(synthetic, "resnet_se", cfg, TrainConfig(max_epochs=2), seed=3)
    b = train_model(synthetic, "resnet_se", cfg, TrainConfig(max_epochs=2), seed=3)
    assert [r["train_loss"] for r in a.history] == [r["train_loss"] for r in b.history]


def test_patience_stops_early(synthetic) -> None:
    out = train_model(synthetic, "cnn_lstm", {"lr": 1e-7, "conv_width": 8, "lstm_hidden": 8},
                      TrainConfig(max_epochs=10, patience=2), seed=0)
    assert out.history[-1]["early_stopped"] and len(out.history) < 10


def test_nan_loss_raises(synthetic) -> None:
    bad = load_dataset("synthetic", {"n_per_class": 20}, use_cache=False)
    bad.splits["train"].x[3, 0, 5] = float("nan")
    with pytest.raises(TrainingDiverged, match="training loss became nan in epoch 1"):
        train_model(bad, "cnn_lstm", {"conv_width": 8, "lstm_hidden": 8}, TrainConfig(max_epochs=2))


def test_class_weights_follow_n_over_k_nc() -> None:
    y = torch.tensor([0] * 6 + [1] * 3 + [2] * 1)
    torch.testing.assert_close(class_weights(y, 4), torch.tensor([10 / 18, 10 / 9, 10 / 3, 0.0]))
