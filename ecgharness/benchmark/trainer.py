"""The one training loop every trial and every final evaluation runs.

Whole splits live as tensors on the trial's device and mini-batches are drawn by
indexing them with a shuffled permutation, so the hot loop has no per-sample
Python and no DataLoader workers. AdamW, class-weighted cross-entropy, gradient
clipping and early stopping on the validation headline metric.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import functools
import logging
import math
import random
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Literal

import numpy as np
import torch
from torch import nn

from ecgharness.benchmark import techniques
from ecgharness.benchmark.metrics import choose_thresholds, classification_metrics, multilabel_metrics
from ecgharness.benchmark.pipeline import InputFn, input_fn
from ecgharness.datasets.base import PreparedDataset, Split
from ecgharness.search_spaces import SearchSpace
from ecgmodels import InputKind, create_model, model_info

log = logging.getLogger(__name__)

DEFAULT_TRAINING = {"lr": 1e-3, "batch_size": 128, "weight_decay": 1e-4}


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite."""


@dataclass(frozen=True)
class TrainConfig:
    """Options of the training loop shared by all trials of a suite.

    The techniques (loss to scheduler) can also be searched: a search space may hold any
    of them as a key, overriding the suite's value for that trial.

    Attributes:
        max_epochs: Upper bound on epochs (ASHA may stop a trial earlier).
        patience: Epochs without validation improvement before stopping.
        grad_clip: Max gradient norm.
        eval_batch_size: Batch size for validation and test passes.
        loss: ``cross_entropy`` (BCE-with-logits for multi-label tasks) or ``focal``.
        focal_gamma: Focusing parameter of the focal loss.
        class_weighted: Weight the single-label loss by w_c = N / (K * n_c).
        sampler: ``shuffle`` (each example once per epoch) or ``weighted`` (class-balanced draws).
        augment_noise: Std of Gaussian noise added to training signals (0: off).
        augment_scale: Training signals scaled by U(1 - s, 1 + s) (0: off).
        augment_shift: Circular time shift of up to this many samples (0: off).
        scheduler: ``none``, ``plateau`` (ReduceLROnPlateau on the validation metric) or ``cosine``.
        precision: ``fp32``, or ``bf16`` autocast (used on CUDA only).
    """

    max_epochs: int = 10
    patience: int = 5
    grad_clip: float = 1.0
    eval_batch_size: int = 1024
    loss: Literal["cross_entropy", "focal"] = "cross_entropy"
    focal_gamma: float = 2.0
    class_weighted: bool = True
    sampler: Literal["shuffle", "weighted"] = "shuffle"
    augment_noise: float = 0.0
    augment_scale: float = 0.0
    augment_shift: int = 0
    scheduler: Literal["none", "plateau", "cosine"] = "none"
    precision: Literal["fp32", "bf16"] = "fp32"

    def __post_init__(self) -> None:
        if self.max_epochs < 1:
            raise ValueError(f"max_epochs must be at least 1, got {self.max_epochs}")
        if self.patience < 1:
            raise ValueError(f"patience must be at least 1, got {self.patience}")
        if self.augment_noise < 0 or not 0 <= self.augment_scale < 1 or self.augment_shift < 0:
            raise ValueError("augment_noise >= 0, 0 <= augment_scale < 1 and augment_shift >= 0 are required")


@dataclass
class TrainOutcome:
    """What one training run produced."""

    history: list[dict[str, float]]
    best_epoch: int
    best_score: float
    val_metrics: dict[str, float]
    params: int
    train_time_s: float
    throughput: float  # training examples per second
    test_metrics: dict[str, float] | None = None
    test_scores: np.ndarray | None = None
    test_labels: np.ndarray | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def pick_device(use_gpu: bool) -> torch.device:
    if use_gpu and torch.cuda.is_available():
        return torch.device("cuda")
    return torch.device("cpu")


def class_weights(y: torch.Tensor, num_classes: int) -> torch.Tensor:
    """w_c = N / (K * n_c) for the classes present; absent classes get weight 0."""
    counts = torch.bincount(y, minlength=num_classes).float()
    present = counts > 0
    weights = torch.zeros(num_classes, device=y.device)
    weights[present] = len(y) / (present.sum() * counts[present])
    return weights


@dataclass
class _OnDevice:
    """A split as tensors on the training device."""

    x: torch.Tensor
    y: torch.Tensor
    meta: torch.Tensor | None

    @classmethod
    def of(cls, split: Split, device: torch.device, multilabel: bool) -> "_OnDevice":
        y_type = torch.float32 if multilabel else torch.long
        meta = None if split.meta is None else torch.tensor(np.asarray(split.meta), dtype=torch.float32,
                                                             device=device)
        return cls(torch.tensor(np.asarray(split.x), dtype=torch.float32, device=device),
                   torch.tensor(np.asarray(split.y), dtype=y_type, device=device), meta)

    def batch(self, idx: torch.Tensor | slice) -> tuple[torch.Tensor, torch.Tensor | None]:
        return self.x[idx], None if self.meta is None else self.meta[idx]


@torch.no_grad()
def predict_logits(model: nn.Module, data: _OnDevice, batch_size: int, inputs: InputFn,
                   autocast: Any = contextlib.nullcontext) -> torch.Tensor:
    model.eval()
    out = []
    for i in range(0, len(data.x), batch_size):
        with autocast():
            out.append(model(*inputs(*data.batch(slice(i, i + batch_size)))).float())
    return torch.cat(out)


def to_scores(logits: torch.Tensor, multilabel: bool) -> np.ndarray:
    """Probabilities: sigmoid per class (multi-label) or softmax over classes."""
    probs = torch.sigmoid(logits) if multilabel else torch.softmax(logits, dim=1)
    return probs.cpu().numpy()


def evaluate(dataset: PreparedDataset, y: np.ndarray, scores: np.ndarray,
             thresholds: np.ndarray | None = None) -> dict[str, float]:
    if dataset.multilabel:
        return multilabel_metrics(y, scores, dataset.class_names, thresholds)
    return classification_metrics(y, scores, dataset.class_names)


def train_model(
    dataset: PreparedDataset,
    model_name: str,
    config: dict[str, Any],
    train_config: TrainConfig,
    *,
    seed: int = 0,
    device: torch.device | None = None,
    report: Callable[[dict[str, float]], None] | None = None,
    evaluate_test: bool = False,
) -> TrainOutcome:
    """Train ``model_name`` with hyperparameters ``config`` on ``dataset``.

    Args:
        dataset: Prepared data; only ``train`` and ``val`` are used unless ``evaluate_test``.
        model_name: Registered model name.
        config: Training hyperparameters (lr, batch_size, weight_decay) and model hyperparameters.
        train_config: Loop options.
        seed: Seeds weights initialisation and batch order.
        device: Where to train (default CPU).
        report: Called once per epoch with the epoch's metrics (Ray Tune's ``report``).
        evaluate_test: After training, restore the best-validation weights and score the
            test split once.

    Raises:
        TrainingDiverged: the loss became NaN or infinite.
    """
    device = device or torch.device("cpu")
    seed_everything(seed)
    train_hp, model_hp = SearchSpace.split_config(config)
    train_hp = {**DEFAULT_TRAINING, **train_hp}
    tc = dataclasses.replace(train_config, **{k: v for k, v in train_hp.items()
                                              if k in {f.name for f in dataclasses.fields(TrainConfig)}})
    if model_info(model_name).input_kind == InputKind.SIGNAL_META:
        if not dataset.has_meta:
            raise ValueError(f"model {model_name!r} takes metadata but dataset {dataset.name!r} has none")
        model_hp["meta_features"] = len(dataset.meta_names)
    model = create_model(
        model_name, num_classes=dataset.num_classes, in_channels=dataset.in_channels, **model_hp
    ).to(device)
    params = sum(p.numel() for p in model.parameters())
    inputs = input_fn(model, device)
    use_bf16 = tc.precision == "bf16" and device.type == "cuda"
    autocast = functools.partial(torch.autocast, device_type=device.type, dtype=torch.bfloat16, enabled=use_bf16)
    multilabel = dataset.multilabel
    train = _OnDevice.of(dataset.splits["train"], device, multilabel)
    val = _OnDevice.of(dataset.splits["val"], device, multilabel)
    y_val_np = val.y.cpu().numpy()
    weights = class_weights(train.y, dataset.num_classes) if tc.class_weighted and not multilabel else None
    if tc.loss == "focal":
        loss_fn: nn.Module = techniques.FocalLoss(tc.focal_gamma, weights, multilabel).to(device)
    elif multilabel:
        loss_fn = nn.BCEWithLogitsLoss()
    else:
        loss_fn = nn.CrossEntropyLoss(weight=weights)
    optimizer = torch.optim.AdamW(model.parameters(), lr=float(train_hp["lr"]),
                                  weight_decay=float(train_hp["weight_decay"]))
    scheduler = techniques.make_scheduler(tc.scheduler, optimizer, tc.max_epochs)
    sample_weights = (techniques.balanced_sample_weights(train.y, dataset.num_classes)
                      if tc.sampler == "weighted" else None)
    batch_size = int(train_hp["batch_size"])
    generator = torch.Generator(device="cpu").manual_seed(seed)
    n = len(train.y)

    history: list[dict[str, float]] = []
    best_score, best_epoch, best_state, best_val = -math.inf, 0, None, {}
    train_time, seen, stale = 0.0, 0, 0
    for epoch in range(1, tc.max_epochs + 1):
        model.train()
        start = time.perf_counter()
        order = techniques.epoch_order(n, generator, sample_weights).to(device)
        total, steps = torch.zeros((), device=device), 0
        for i in range(0, n, batch_size):
            idx = order[i : i + batch_size]
            if len(idx) < 2:  # BatchNorm cannot train on a single example
                continue
            x, meta = train.batch(idx)
            x = techniques.augment(x, tc.augment_noise, tc.augment_scale, tc.augment_shift, generator)
            with autocast():
                logits = model(*inputs(x, meta))
            loss = loss_fn(logits.float(), train.y[idx])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), tc.grad_clip)
            optimizer.step()
            total += loss.detach()
            steps += 1
            seen += len(idx)
        train_loss = float(total) / max(steps, 1)
        train_time += time.perf_counter() - start
        if not math.isfinite(train_loss):
            raise TrainingDiverged(f"training loss became {train_loss} in epoch {epoch}")

        val_logits = predict_logits(model, val, tc.eval_batch_size, inputs, autocast)
        val_metrics = evaluate(dataset, y_val_np, to_scores(val_logits, multilabel))
        with torch.no_grad():
            val_loss = float(loss_fn(val_logits, val.y))
        score = val_metrics[dataset.headline]
        if not math.isfinite(score):
            score = -math.inf
        if isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
            scheduler.step(score if math.isfinite(score) else 0.0)
        elif scheduler is not None:
            scheduler.step()
        if score > best_score:
            best_score, best_epoch, best_val, stale = score, epoch, val_metrics, 0
            best_state = copy.deepcopy(model.state_dict())
        else:
            stale += 1
        row = {
            "epoch": epoch,
            "train_loss": train_loss,
            "val_loss": val_loss,
            "score": score,
            "best_score": best_score,
            "lr": optimizer.param_groups[0]["lr"],
            **{f"val_{k}": v for k, v in val_metrics.items() if "/" not in k},
            "early_stopped": stale >= tc.patience,
        }
        history.append(row)
        if report is not None:
            report(dict(row))
        if stale >= tc.patience:
            break

    outcome = TrainOutcome(
        history=history,
        best_epoch=best_epoch,
        best_score=best_score,
        val_metrics=best_val,
        params=params,
        train_time_s=train_time,
        throughput=seen / train_time if train_time > 0 else math.nan,
    )
    if evaluate_test:
        if best_state is not None:
            model.load_state_dict(best_state)
        thresholds = None
        if multilabel:  # decision thresholds come from validation, never from test
            val_scores = to_scores(predict_logits(model, val, tc.eval_batch_size, inputs, autocast), True)
            thresholds = choose_thresholds(y_val_np, val_scores)
            outcome.extra["thresholds"] = thresholds.tolist()
        test = _OnDevice.of(dataset.splits["test"], device, multilabel)
        outcome.test_scores = to_scores(predict_logits(model, test, tc.eval_batch_size, inputs, autocast),
                                        multilabel)
        outcome.test_labels = test.y.cpu().numpy()
        outcome.test_metrics = evaluate(dataset, outcome.test_labels, outcome.test_scores, thresholds)
    return outcome
