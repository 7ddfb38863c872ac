"""The one training loop every trial and every final evaluation runs.

Whole splits live as tensors on the trial's device and mini-batches are drawn by
indexing them with a shuffled permutation, so the hot loop has no per-sample
Python and no DataLoader workers. AdamW, class-weighted cross-entropy, gradient
clipping and early stopping on the validation headline metric. Metrics come from
:mod:`ecgharness.evaluation.metrics`, the same code the leaderboard and the report use.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import math
import random
import time
import warnings
from dataclasses import dataclass
from typing import Any, Callable, Mapping

import numpy as np
import torch
from torch import nn

from ecgharness.datasets.base import PreparedDataset, Split
from ecgharness.evaluation.metrics import summary_metrics
from ecgharness.evaluation.thresholds import choose_thresholds
from ecgharness.training import noise, parallel, state, techniques, views
from ecgharness.training.config import TrainConfig, TrialSettings, split_hyperparameters
from ecgharness.training.inputs import InputFn, check_compatible, input_fn
from ecgmodels import InputKind, create_model, model_info

log = logging.getLogger(__name__)


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite."""


@dataclass
class TrainOutcome:
    """What one training run produced.

    ``test_*`` and ``thresholds`` are set only when the run scored the test split;
    ``thresholds`` (multi-label tasks) were chosen on validation.
    """

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
    thresholds: list[float] | None = None
    weights: dict[str, np.ndarray] | None = None  # the tested weights (state dict as arrays)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def pick_device(use_gpu: bool) -> torch.device:
    if use_gpu and torch.cuda.is_available():
        return torch.device("cuda")
    return torch.device("cpu")


def class_weights(y: torch.Tensor, num_classes: int, scored: tuple[int, ...] | None = None) -> torch.Tensor:
    """w_c = N / (K * n_c) for the classes present; absent classes get weight 0.

    With ``scored``, only those classes are rebalanced (N and K over their examples); the
    others keep weight 1, as in an unweighted loss.
    """
    counts = torch.bincount(y, minlength=num_classes).float()
    present = counts > 0
    weights = torch.zeros(num_classes, device=y.device)
    if scored is not None:
        rebalanced = torch.zeros(num_classes, dtype=torch.bool, device=y.device)
        rebalanced[list(scored)] = True
        weights[present & ~rebalanced] = 1.0
        present = present & rebalanced
    weights[present] = counts[present].sum() / (present.sum() * counts[present])
    return weights


def device_tensor(array: Any, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """``array`` as a tensor of ``dtype`` on ``device`` without a host copy where it can be avoided.

    A contiguous array of the right dtype (a split as the Ray object store hands it over,
    read-only) becomes a tensor sharing its memory, moved to a GPU in one transfer; other
    arrays are converted once. The training loop never writes into these tensors (batches
    are gathered copies and augmentation returns new tensors), so a read-only source stays
    as it was.
    """
    np_dtype = torch.empty((), dtype=dtype).numpy().dtype
    host = np.ascontiguousarray(array, dtype=np_dtype)
    with warnings.catch_warnings():  # read-only object-store memory: only ever read (see above)
        warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
        tensor = torch.from_numpy(host)
    return tensor if device.type == "cpu" else tensor.to(device)


@dataclass
class _OnDevice:
    """A split as tensors on the training device (on the CPU: views of the split's arrays)."""

    x: torch.Tensor
    y: torch.Tensor
    meta: torch.Tensor | None

    @classmethod
    def of(cls, split: Split, device: torch.device, multilabel: bool) -> "_OnDevice":
        y_type = torch.float32 if multilabel else torch.long
        meta = None if split.meta is None else device_tensor(split.meta, torch.float32, device)
        return cls(device_tensor(split.x, torch.float32, device), device_tensor(split.y, y_type, device), meta)

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
    """The flat metric dictionary of predictions on one split of ``dataset``."""
    return summary_metrics(y, scores, dataset.class_names, dataset.task, thresholds, dataset.scored, dataset.forgive)


@dataclass
class _Run:
    """Everything one training run holds between epochs."""

    dataset: PreparedDataset
    settings: TrialSettings
    model: nn.Module
    inputs: InputFn
    autocast: Callable[[], Any]
    train: _OnDevice
    val: _OnDevice
    loss_fn: nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: Any
    sample_weights: torch.Tensor | None
    generator: torch.Generator
    device: torch.device
    crop: int = 0  # training window in samples (0: whole examples)
    tta: tuple[int, int] | None = None  # (window, stride) in samples for validation and test
    artefacts: tuple[str, ...] = ()  # noise kinds of the training augmentation
    seed: int = 0
    shard: parallel.Shard = parallel.Shard()  # this process's rank of a data-parallel trial
    net: nn.Module | None = None  # what trains: the model, or its DDP wrapper on several ranks

    @property
    def loop(self) -> TrainConfig:
        return self.settings.loop

    def predict(self, data: _OnDevice) -> tuple[torch.Tensor, np.ndarray]:
        """(logits for the loss, probabilities) of every example of ``data``; with test-time
        windows, one probability per example: the max (or mean) over its windows, and the
        windows' mean logits for the loss."""
        batch = self.loop.eval_batch_size
        if self.tta is None:
            logits = predict_logits(self.model, data, batch, self.inputs, self.autocast)
            return logits, to_scores(logits, self.dataset.multilabel)
        windows = techniques.sliding_windows(data.x, *self.tta)  # (n, w, leads, length)
        n, w = windows.shape[:2]
        meta = None if data.meta is None else data.meta.repeat_interleave(w, dim=0)
        flat = _OnDevice(windows.reshape(n * w, *windows.shape[2:]), data.y, meta)
        logits = predict_logits(self.model, flat, batch, self.inputs, self.autocast).reshape(n, w, -1)
        scores = techniques.aggregate_windows(logits, self.dataset.multilabel, self.loop.tta_aggregate)
        return logits.mean(dim=1), scores.cpu().numpy()

    def val_scores(self) -> tuple[torch.Tensor, np.ndarray]:
        return self.predict(self.val)


def _artefacts(dataset: PreparedDataset, loop: TrainConfig) -> tuple[str, ...]:
    kinds = noise.parse_artefacts(loop.augment_artefacts)
    if kinds and not dataset.sampling_rate:
        raise ValueError(f"augment_artefacts needs the sampling rate, which dataset {dataset.name!r} does not record; "
                         "set augment_artefacts to none")
    for kind in kinds:
        noise.check_kind(kind, dataset.sampling_rate)
    return kinds


def model_kwargs(dataset: PreparedDataset, model_name: str, settings: TrialSettings) -> dict[str, Any]:
    """Every keyword argument of ``create_model(model_name, ...)`` for ``dataset``."""
    kwargs = {"num_classes": dataset.num_classes, "in_channels": dataset.in_channels, **settings.model}
    if model_info(model_name).input_kind == InputKind.SIGNAL_META:
        check_compatible(model_name, dataset)
        kwargs["meta_features"] = len(dataset.meta_names)
    return kwargs


def _build(dataset: PreparedDataset, model_name: str, settings: TrialSettings, seed: int,
           device: torch.device, shard: parallel.Shard = parallel.Shard()) -> _Run:
    """Model, data on the device, loss, optimiser and schedule, in a seeded order."""
    model = create_model(model_name, **model_kwargs(dataset, model_name, settings)).to(device)
    if shard.rank:  # DDP starts every rank from rank 0's weights; dropout differs per rank
        torch.manual_seed(parallel.rank_seed(seed, shard.rank))
    inputs = input_fn(model, device)
    loop, multilabel = settings.loop, dataset.multilabel
    use_bf16 = loop.precision == "bf16" and device.type == "cuda"
    autocast = functools.partial(torch.autocast, device_type=device.type, dtype=torch.bfloat16, enabled=use_bf16)
    train = _OnDevice.of(dataset.splits["train"], device, multilabel)
    val = _OnDevice.of(dataset.splits["val"], device, multilabel)
    weights = (class_weights(train.y, dataset.num_classes, dataset.scored)
               if loop.class_weighted and not multilabel else None)
    optimizer = torch.optim.AdamW(model.parameters(), lr=settings.optimiser.lr,
                                  weight_decay=settings.optimiser.weight_decay)
    steps = math.ceil(len(train.y) / settings.optimiser.batch_size)
    crop, tta = techniques.windows(dataset.name, dataset.sampling_rate, loop)
    return _Run(
        dataset=dataset, settings=settings, model=model, inputs=inputs, autocast=autocast, train=train, val=val,
        loss_fn=techniques.make_loss(loop, weights, multilabel).to(device), optimizer=optimizer,
        scheduler=techniques.make_scheduler(loop.scheduler, optimizer, loop.max_epochs, steps),
        sample_weights=(techniques.balanced_sample_weights(train.y, dataset.num_classes)
                        if loop.sampler == "weighted" else None),
        generator=torch.Generator(device="cpu").manual_seed(parallel.rank_seed(seed, shard.rank)), device=device,
        crop=crop, tta=tta, artefacts=_artefacts(dataset, loop), seed=seed, shard=shard,
        net=parallel.wrap(model, device, shard),
    )


def _train_epoch(run: _Run, epoch: int = 1) -> tuple[float, int]:
    """One pass over the training split: (mean loss, examples seen); on several ranks, this
    rank's share of every global batch (:mod:`ecgharness.training.parallel`)."""
    run.model.train()
    loop, batch_size, n, shard = run.loop, run.settings.optimiser.batch_size, len(run.train.y), run.shard
    drawn = parallel.epoch_generator(run.seed, epoch) if shard.distributed else run.generator
    order = techniques.epoch_order(n, drawn, run.sample_weights).to(run.device)
    total, steps, seen = torch.zeros((), device=run.device), 0, 0
    weights = getattr(run.loss_fn, "weight", None)  # class weights normalise a weighted loss
    for batch in parallel.global_batches(order, batch_size, shard, run.train.y, weights):
        idx = batch.idx
        x, meta = run.train.batch(idx)
        if run.crop:
            x = techniques.random_crop(x, run.crop, run.generator)
        x = techniques.augment(x, loop.augment_noise, loop.augment_scale, loop.augment_shift, run.generator)
        if run.artefacts:
            x = noise.augment_artefacts(x, run.artefacts, loop.augment_artefact_snr_db, loop.augment_artefact_share,
                                        run.dataset.sampling_rate, run.generator,
                                        noise.restandardises(run.dataset.config))
        with run.autocast():
            logits = run.net(*run.inputs(x, meta))
        loss = run.loss_fn(logits.float(), run.train.y[idx])
        run.optimizer.zero_grad(set_to_none=True)
        # DDP averages the ranks' gradients: scaled so the average is the global batch's gradient
        (loss * (batch.weight * shard.world_size) if shard.distributed else loss).backward()
        if loop.grad_clip > 0:
            nn.utils.clip_grad_norm_(run.model.parameters(), loop.grad_clip)
        run.optimizer.step()
        if isinstance(run.scheduler, torch.optim.lr_scheduler.OneCycleLR):
            run.scheduler.step()
        total += loss.detach() * batch.weight
        steps += 1
        seen += batch.size
    return float(shard.total(total)) / max(steps, 1), seen


def _validate(run: _Run) -> tuple[dict[str, float], float, float]:
    """(validation metrics, validation loss, headline score; -inf when undefined)."""
    logits, scores = run.val_scores()
    metrics = evaluate(run.dataset, run.val.y.cpu().numpy(), scores)
    with torch.no_grad():
        val_loss = float(run.loss_fn(logits, run.val.y))
    score = run.shard.agree(metrics[run.dataset.headline], run.device)  # every rank decides as rank 0
    return metrics, val_loss, score if math.isfinite(score) else -math.inf


def _step_scheduler(run: _Run, score: float) -> None:
    if isinstance(run.scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
        run.scheduler.step(score if math.isfinite(score) else 0.0)
    elif run.scheduler is not None and not isinstance(run.scheduler, torch.optim.lr_scheduler.OneCycleLR):
        run.scheduler.step()


def _score_test(run: _Run, outcome: TrainOutcome) -> None:
    """Score the test split once with the current weights; thresholds come from validation."""
    thresholds = None
    if run.dataset.multilabel:  # decision thresholds come from validation, never from test
        thresholds = choose_thresholds(run.val.y.cpu().numpy(), run.val_scores()[1])
        outcome.thresholds = thresholds.tolist()
    test = _OnDevice.of(run.dataset.splits["test"], run.device, run.dataset.multilabel)
    outcome.test_scores = run.predict(test)[1]
    outcome.test_labels = test.y.cpu().numpy()
    outcome.test_metrics = evaluate(run.dataset, outcome.test_labels, outcome.test_scores, thresholds)


def train_model(
    dataset: PreparedDataset,
    model_name: str,
    config: Mapping[str, Any],
    train_config: TrainConfig,
    *,
    seed: int = 0,
    device: torch.device | None = None,
    report: Callable[[dict[str, float]], None] | None = None,
    evaluate_test: bool = False,
    checkpoints: state.Checkpoints | None = None,
    shard: parallel.Shard | None = None,
) -> TrainOutcome:
    """Train ``model_name`` with hyperparameters ``config`` on ``dataset``.

    Args:
        dataset: Prepared data; only ``train`` and ``val`` are used unless ``evaluate_test``.
        model_name: Registered model name.
        config: A trial's flat hyperparameters: optimiser (lr, batch_size, weight_decay),
            searched techniques, and the model's (see :func:`split_hyperparameters`).
        train_config: Loop options of the suite.
        seed: Seeds weights initialisation and batch order.
        device: Where to train (default CPU).
        report: Called once per epoch with the epoch's metrics (Ray Tune's ``report``).
        evaluate_test: After training, restore the best-validation weights and score the
            test split once; the outcome then keeps those weights (``weights``).
        checkpoints: Where the run saves its state after every epoch; a run that finds a
            checkpoint there goes on from its epoch, as if it had never stopped. Of a
            data-parallel trial, rank 0 saves and every rank goes on from rank 0's.
        shard: This process's rank of a data-parallel trial (None: one process trains alone).

    Raises:
        TrainingDiverged: the loss became NaN or infinite.
    """
    device = device or torch.device("cpu")
    seed_everything(seed)
    settings = split_hyperparameters(train_config, config)
    dataset = views.trial_view(dataset, settings.loop.beat_context_s, settings.loop.use_metadata)
    run = _build(dataset, model_name, settings, seed, device, shard or parallel.Shard())
    saved = checkpoints.load() if checkpoints is not None else None
    progress = state.LoopState() if saved is None else \
        state.restore(saved, run.model, run.optimizer, run.scheduler, run.generator)
    if saved is not None and run.shard.rank:  # rank 0's checkpoint: this rank's own draws from its own seed
        parallel.reseed(run.generator, seed, run.shard.rank, progress.epoch)
    while progress.epoch < run.loop.max_epochs and (not progress.history or progress.stale < run.loop.patience):
        epoch = progress.epoch + 1
        start = time.perf_counter()
        train_loss, epoch_seen = _train_epoch(run, epoch)
        progress.seen += epoch_seen
        progress.train_time += time.perf_counter() - start
        if not math.isfinite(train_loss):
            raise TrainingDiverged(f"training loss became {train_loss} in epoch {epoch}")
        val_metrics, val_loss, score = _validate(run)
        _step_scheduler(run, score)
        progress.improved(score, epoch, val_metrics, run.model)
        row = {"epoch": epoch, "train_loss": train_loss, "val_loss": val_loss, "score": score,
               "best_score": progress.best_score, "lr": run.optimizer.param_groups[0]["lr"],
               **{f"val_{k}": v for k, v in val_metrics.items() if "/" not in k},
               "early_stopped": progress.stale >= run.loop.patience}
        progress.history.append(row)
        progress.epoch = epoch
        # saved (by rank 0) before the epoch is reported: what was reported can be resumed
        if checkpoints is not None and not run.shard.rank:
            checkpoints.save(state.snapshot(progress, run.model, run.optimizer, run.scheduler, run.generator))
        if report is not None:
            report(dict(row))
    outcome = TrainOutcome(history=progress.history, best_epoch=progress.best_epoch, best_score=progress.best_score,
                           val_metrics=progress.best_val, params=sum(p.numel() for p in run.model.parameters()),
                           train_time_s=progress.train_time,
                           throughput=progress.seen / progress.train_time if progress.train_time > 0 else math.nan)
    if evaluate_test:
        if progress.best_state is not None and run.loop.select == "best":
            run.model.load_state_dict(progress.best_state)
        _score_test(run, outcome)
        outcome.weights = {k: np.ascontiguousarray(v.detach().cpu().numpy()) for k, v in run.model.state_dict().items()}
    return outcome
