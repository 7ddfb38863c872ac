"""Training techniques of the field as tensor functions: focal loss, class-balanced
sampling, on-device augmentation and learning-rate schedules.

All act on whole batches on the trial's device; none loops over examples.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ecgharness.training.config import TrainConfig


class FocalLoss(nn.Module):
    """Focal loss (Lin et al., "Focal loss for dense object detection", ICCV 2017).

    FL = -alpha_t (1 - p_t)^gamma log p_t, computed from log-probabilities (log_softmax or
    the BCE-with-logits terms), never from probabilities, so it stays finite for very
    confident logits.

    Args:
        gamma: Focusing parameter; 0 gives (weighted) cross-entropy.
        weight: Optional per-class weights alpha (single-label tasks).
        multilabel: Sigmoid per class instead of softmax over classes.
    """

    def __init__(self, gamma: float = 2.0, weight: torch.Tensor | None = None, multilabel: bool = False) -> None:
        super().__init__()
        self.gamma = gamma
        self.multilabel = multilabel
        self.register_buffer("weight", weight if weight is not None else None)

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if self.multilabel:
            log_pt = -F.binary_cross_entropy_with_logits(logits, target, reduction="none")
            return (-(1 - log_pt.exp()).pow(self.gamma) * log_pt).mean()
        log_p = F.log_softmax(logits.float(), dim=1)
        log_pt = log_p.gather(1, target[:, None]).squeeze(1)
        loss = -(1 - log_pt.exp()).pow(self.gamma) * log_pt
        if self.weight is not None:
            w = self.weight[target]
            return (w * loss).sum() / w.sum().clamp_min(1e-12)
        return loss.mean()


def balanced_sample_weights(y: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Per-example weights 1 / n_class (single-label) so every class is drawn equally often.

    For multi-label targets an example weighs the mean of 1 / n_c over its positive classes
    (examples without a positive class get the mean weight).
    """
    if y.ndim == 1:
        counts = torch.bincount(y, minlength=num_classes).float()
        return 1.0 / counts.clamp_min(1)[y]
    counts = y.sum(dim=0).clamp_min(1)
    per = (y / counts).sum(dim=1) / y.sum(dim=1).clamp_min(1)
    return torch.where(y.sum(dim=1) > 0, per, per[per > 0].mean() if (per > 0).any() else torch.ones_like(per))


def epoch_order(n: int, generator: torch.Generator, weights: torch.Tensor | None) -> torch.Tensor:
    """Indices for one epoch: a permutation, or n weighted draws with replacement."""
    if weights is None:
        return torch.randperm(n, generator=generator)
    return torch.multinomial(weights.cpu(), n, replacement=True, generator=generator)


def augment(x: torch.Tensor, noise: float, scale: float, shift: int, generator: torch.Generator) -> torch.Tensor:
    """Gaussian noise (std ``noise``), amplitude scaling by U(1-scale, 1+scale) per example,
    and a circular time shift of up to ``shift`` samples per example."""
    if not (noise or scale or shift):
        return x
    b, _, length = x.shape

    def rand(*shape: int) -> torch.Tensor:
        return torch.rand(*shape, generator=generator).to(x.device, x.dtype)

    if scale:
        x = x * (1 + scale * (2 * rand(b, 1, 1) - 1))
    if shift:
        offsets = (rand(b) * (2 * shift + 1)).long() - shift
        idx = (torch.arange(length, device=x.device)[None, :] - offsets[:, None]) % length
        x = x.gather(2, idx[:, None, :].expand(-1, x.shape[1], -1))
    if noise:
        x = x + noise * torch.randn(x.shape, generator=generator).to(x.device, x.dtype)
    return x


def random_crop(x: torch.Tensor, length: int, generator: torch.Generator) -> torch.Tensor:
    """A random window of ``length`` samples from each example (the whole signal if shorter)."""
    b, c, total = x.shape
    if length <= 0 or length >= total:
        return x
    starts = (torch.rand(b, generator=generator) * (total - length + 1)).long().clamp_max(total - length)
    idx = starts.to(x.device)[:, None] + torch.arange(length, device=x.device)[None, :]
    return x.gather(2, idx[:, None, :].expand(-1, c, -1))


def sliding_windows(x: torch.Tensor, length: int, stride: int) -> torch.Tensor:
    """(batch, windows, leads, length) windows of ``length`` samples every ``stride`` samples;
    the last window ends at the signal's end, so every sample is seen."""
    total = x.shape[-1]
    if length >= total:
        return x[:, None]
    starts = list(range(0, total - length + 1, max(1, stride)))
    if starts[-1] != total - length:
        starts.append(total - length)
    return torch.stack([x[..., s:s + length] for s in starts], dim=1)


def zscore(x: torch.Tensor) -> torch.Tensor:
    """``x`` standardised along its last axis (per example and lead), as z-scoring datasets do."""
    return (x - x.mean(dim=-1, keepdim=True)) / x.std(dim=-1, unbiased=False, keepdim=True).clamp_min(1e-6)


def aggregate_windows(logits: torch.Tensor, multilabel: bool, how: str) -> torch.Tensor:
    """One probability vector per example from its windows' logits (examples, windows, classes):
    the ``max`` or ``mean`` of the windows' sigmoid (multi-label) or softmax probabilities,
    renormalised to sum to 1 for single-label tasks."""
    probs = torch.sigmoid(logits) if multilabel else torch.softmax(logits, dim=-1)
    scores = probs.amax(dim=1) if how == "max" else probs.mean(dim=1)
    return scores if multilabel else scores / scores.sum(dim=1, keepdim=True)


def make_scheduler(kind: str, optimizer: torch.optim.Optimizer, max_epochs: int, steps_per_epoch: int = 1):
    """``plateau`` (halve the rate after 2 epochs without validation gain), ``cosine``,
    ``onecycle`` (one-cycle policy over all training steps, peaking at the optimiser's
    learning rate; stepped per batch, as in the PTB-XL benchmark) or ``none``."""
    if kind == "onecycle":
        lr = optimizer.param_groups[0]["lr"]
        return torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=lr, total_steps=max_epochs * steps_per_epoch + 1)
    if kind == "plateau":
        return torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, mode="max", factor=0.5, patience=2)
    if kind == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max_epochs)
    return None


def make_loss(loop: TrainConfig, weights: torch.Tensor | None, multilabel: bool) -> nn.Module:
    """The loop's loss: focal, BCE-with-logits (multi-label) or (class-weighted) cross-entropy."""
    if loop.loss == "focal":
        return FocalLoss(loop.focal_gamma, weights, multilabel)
    if multilabel:
        return nn.BCEWithLogitsLoss()
    return nn.CrossEntropyLoss(weight=weights)


def _samples(dataset: str, sampling_rate: float | None, seconds: float, what: str) -> int:
    if seconds <= 0:
        return 0
    if not sampling_rate:
        raise ValueError(f"{what} is given in seconds but dataset {dataset!r} does not record its sampling "
                         "rate; set it to 0")
    return max(1, round(seconds * sampling_rate))


def windows(dataset: str, sampling_rate: float | None, loop: TrainConfig) -> tuple[int, tuple[int, int] | None]:
    """Training crop and test-time (window, stride), in samples, of ``dataset`` at ``sampling_rate``."""
    crop = _samples(dataset, sampling_rate, loop.crop_s, "crop_s")
    window = _samples(dataset, sampling_rate, loop.tta_window_s, "tta_window_s")
    stride = _samples(dataset, sampling_rate, loop.tta_stride_s, "tta_stride_s") or max(1, window // 2)
    return crop, ((window, stride) if window else None)
