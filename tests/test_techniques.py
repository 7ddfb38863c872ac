"""Training techniques: focal loss, class-balanced sampling, augmentation, schedules."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from ecgharness.training import techniques
from ecgharness.training.config import TrainConfig
from ecgharness.training.loop import train_model
from ecgharness.datasets import load_dataset


def test_focal_loss_reduces_to_cross_entropy_and_stays_finite() -> None:
    torch.manual_seed(0)
    logits, target = torch.randn(64, 5), torch.randint(0, 5, (64,))
    w = torch.rand(5) + 0.5
    torch.testing.assert_close(techniques.FocalLoss(0.0, w)(logits, target), F.cross_entropy(logits, target, weight=w))
    assert techniques.FocalLoss(2.0)(logits, target) < F.cross_entropy(logits, target)
    huge = torch.tensor([[1e4, -1e4], [-1e4, 1e4]], requires_grad=True)
    loss = techniques.FocalLoss(2.0)(huge, torch.tensor([1, 1]))  # one confidently wrong example
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(huge.grad).all()
    multi = torch.randn(8, 3)
    y = (torch.rand(8, 3) > 0.5).float()
    torch.testing.assert_close(techniques.FocalLoss(0.0, multilabel=True)(multi, y),
                               F.binary_cross_entropy_with_logits(multi, y))


def test_weighted_sampler_balances_classes() -> None:
    y = torch.tensor([0] * 900 + [1] * 90 + [2] * 10)
    w = techniques.balanced_sample_weights(y, 3)
    draws = techniques.epoch_order(30000, torch.Generator().manual_seed(0), w)
    share = torch.bincount(y[draws], minlength=3).float() / len(draws)
    torch.testing.assert_close(share, torch.full((3,), 1 / 3), atol=0.02, rtol=0)


def test_augmentations() -> None:
    g = torch.Generator().manual_seed(0)
    x = torch.arange(20, dtype=torch.float32).repeat(4, 2, 1)  # (4, 2, 20)
    assert techniques.augment(x, 0, 0, 0, g) is x
    shifted = techniques.augment(x, 0, 0, 3, g)
    for b in range(4):  # every example is a circular shift of itself by at most 3
        assert any(torch.equal(shifted[b], torch.roll(x[b], k, dims=-1)) for k in range(-3, 4))
    scaled = techniques.augment(x + 1, 0, 0.2, 0, g)
    ratio = scaled / (x + 1)
    assert ((ratio > 0.8 - 1e-6) & (ratio < 1.2 + 1e-6)).all()
    assert torch.allclose(ratio[:, :, :1].expand_as(ratio), ratio)  # one factor per example
    noisy = techniques.augment(x, 0.1, 0, 0, g)
    assert 0.05 < (noisy - x).std() < 0.15


def test_schedules_change_the_learning_rate() -> None:
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.AdamW([p], lr=1.0)
    cosine = techniques.make_scheduler("cosine", opt, 4)
    for _ in range(4):
        opt.step()
        cosine.step()
    assert opt.param_groups[0]["lr"] < 1e-6
    assert techniques.make_scheduler("none", opt, 4) is None


@pytest.mark.parametrize("overrides", [
    {"loss": "focal", "sampler": "weighted", "scheduler": "plateau"},
    {"augment_noise": 0.05, "augment_scale": 0.1, "augment_shift": 5, "scheduler": "cosine", "precision": "bf16"},
])
def test_trainer_with_techniques_learns(overrides) -> None:
    ds = load_dataset("synthetic", {"n_per_class": 60, "length": 96, "noise": 0.3}, use_cache=False)
    out = train_model(ds, "cnn_lstm", {"lr": 3e-3, "batch_size": 32, "conv_width": 16, "lstm_hidden": 16},
                      TrainConfig(max_epochs=6, patience=6, **overrides), evaluate_test=True)
    assert out.test_metrics["accuracy"] > 0.7
    if overrides.get("scheduler") == "cosine":
        assert out.history[-1]["lr"] < out.history[0]["lr"]


def test_techniques_can_be_searched_per_trial() -> None:
    ds = load_dataset("synthetic", {"n_per_class": 20}, use_cache=False)
    out = train_model(ds, "cnn_lstm", {"scheduler": "cosine", "conv_width": 8, "lstm_hidden": 8, "lr": 1e-3},
                      TrainConfig(max_epochs=3))
    assert out.history[-1]["lr"] < 1e-3  # the trial's value overrode the suite's "none"
