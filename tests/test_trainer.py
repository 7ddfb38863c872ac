"""The training loop, in process, on synthetic data."""

from __future__ import annotations

import pytest
import torch

from ecgharness.training.config import TrainConfig
from ecgharness.training.loop import TrainingDiverged, class_weights, train_model
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


def test_multilabel_with_metadata_thresholds_from_validation(tmp_path) -> None:
    """A metadata model on a multi-label task: BCE, macro-AUROC headline, thresholds chosen on val."""
    import numpy as np

    from ecgharness.datasets.base import PreparedDataset, Split

    rng = np.random.default_rng(0)

    def split(n):
        y = (rng.random((n, 3)) < 0.4).astype(np.float32)
        x = rng.normal(0, 1, (n, 2, 64)).astype(np.float32)
        x[:, 0, :16] += 2 * y[:, :1]  # label 0 visible in the signal
        meta = rng.normal(0, 1, (n, 4)).astype(np.float32)
        meta[:, 0] += 2 * y[:, 1]  # label 1 visible in the metadata only
        return Split(x, y, meta)

    ds = PreparedDataset(name="toy", config={}, class_names=("a", "b", "c"), headline="macro_auroc",
                         splits={"train": split(240), "val": split(80), "test": split(80)}, cache_key="x",
                         task="multilabel", meta_names=("m0", "m1", "m2", "m3"))
    out = train_model(ds, "resnet_se_bigru_meta", {"lr": 3e-3, "batch_size": 32, "base_channels": 8,
                                                   "stages": 2, "gru_hidden": 8, "meta_hidden": 8},
                      TrainConfig(max_epochs=8, patience=8), evaluate_test=True)
    assert out.test_scores.shape == (80, 3) and ((out.test_scores >= 0) & (out.test_scores <= 1)).all()
    assert out.test_metrics["auroc/b"] > 0.75  # learned from the metadata branch
    assert out.test_metrics["auroc/a"] > 0.75  # learned from the signal branch
    assert len(out.thresholds) == 3
    assert out.test_metrics["threshold/a"] == pytest.approx(out.thresholds[0])
    with pytest.raises(ValueError, match="takes metadata but dataset 'synthetic' has none"):
        train_model(load_dataset("synthetic", {"n_per_class": 10}, use_cache=False), "resnet_se_bigru_meta",
                    {}, TrainConfig(max_epochs=1))


@pytest.mark.parametrize("model, hparams", [
    ("alexnet", {"images": "gasf+mtf", "image_size": 32, "width": 8}),
    ("joint_fusion", {"images": "gadf", "image_size": 24, "image_width": 8, "signal_channels": 8}),
])
def test_image_models_train_on_images_made_from_the_signal(synthetic, model, hparams) -> None:
    out = train_model(synthetic, model, {"lr": 3e-3, "batch_size": 16, **hparams},
                      TrainConfig(max_epochs=8, patience=8), seed=0, evaluate_test=True)
    assert all(torch.isfinite(torch.tensor(r["train_loss"])) for r in out.history)
    assert out.test_scores.shape == (len(synthetic.splits["test"]), 3)
    assert out.test_metrics["accuracy"] > 0.6  # three balanced classes: chance is 1/3
