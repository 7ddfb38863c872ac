"""Options of the training loop, and which of them a search space may tune.

A trial's hyperparameters come in one flat mapping (what the search space sampled). Those
named like a field of :class:`Optimiser` set the optimiser, those named like a searchable
field of :class:`TrainConfig` override the suite's value for that trial, and the rest go to
the model's builder: :func:`split_hyperparameters`. :data:`TRAINING_KEYS` is derived from
the fields, so a new technique is one field here.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Literal, Mapping

_SEARCHABLE = {"searchable": True}
# Noise kinds of :mod:`ecgharness.training.noise` (training augmentation and the robustness report).
ARTEFACT_KINDS = ("baseline_wander", "muscle", "electrode_motion", "powerline")


def parse_artefacts(value: str) -> tuple[str, ...]:
    """``none`` -> (), ``all`` -> every kind, ``muscle,powerline`` -> those kinds (order kept)."""
    text = str(value).strip()
    if text in ("", "none"):
        return ()
    if text == "all":
        return ARTEFACT_KINDS
    kinds = tuple(k.strip() for k in text.split(",") if k.strip())
    unknown = [k for k in kinds if k not in ARTEFACT_KINDS]
    if unknown:
        raise ValueError(f"augment_artefacts: unknown noise kind(s) {unknown}; use none, all, or a comma-separated "
                         f"list of {', '.join(ARTEFACT_KINDS)}")
    return kinds


@dataclass(frozen=True)
class Optimiser:
    """AdamW and the batch size: always searchable, never part of a suite's ``training``.

    Attributes:
        lr: Learning rate.
        batch_size: Training mini-batch size.
        weight_decay: AdamW's decoupled weight decay.
    """

    lr: float = 1e-3
    batch_size: int = 128
    weight_decay: float = 1e-4


@dataclass(frozen=True)
class TrainConfig:
    """Options of the training loop shared by all trials of a suite.

    The techniques (loss to scheduler) can also be searched: a search space may hold any
    of them as a key, overriding the suite's value for that trial.

    Attributes:
        max_epochs: Upper bound on epochs (ASHA may stop a trial earlier).
        patience: Epochs without validation improvement before stopping.
        grad_clip: Max gradient norm (0: no clipping).
        eval_batch_size: Batch size for validation and test passes.
        loss: ``cross_entropy`` (BCE-with-logits for multi-label tasks) or ``focal``.
        focal_gamma: Focusing parameter of the focal loss.
        class_weighted: Weight the single-label loss by w_c = N / (K * n_c).
        sampler: ``shuffle`` (each example once per epoch) or ``weighted`` (class-balanced draws).
        augment_noise: Std of Gaussian noise added to training signals (0: off).
        augment_scale: Training signals scaled by U(1 - s, 1 + s) (0: off).
        augment_shift: Circular time shift of up to this many samples (0: off).
        augment_artefacts: Realistic ECG noise on training signals (:mod:`ecgharness.training.noise`):
            ``none``, ``all``, or a comma-separated list of ``baseline_wander``, ``muscle``,
            ``electrode_motion``, ``powerline``.
        augment_artefact_snr_db: Lowest SNR of that noise; each noisy example gets an SNR drawn
            uniformly between it and 24 dB.
        augment_artefact_share: Share of the training examples of each batch that get noise.
        scheduler: ``none``, ``plateau`` (ReduceLROnPlateau on the validation metric), ``cosine``
            or ``onecycle`` (per batch, peaking at the trial's learning rate).
        crop_s: Train on a random window of this many seconds of each example (0: whole).
        tta_window_s: Validate and test on sliding windows of this many seconds, aggregated per
            example (0: the whole example at once).
        tta_stride_s: Step between those windows (0: half a window).
        tta_aggregate: ``max`` or ``mean`` of the windows' probabilities.
        beat_context_s: Seconds of neighbouring signal on each side of a beat window, cut out
            of the dataset's wider preparation (its ``context_s``); None: the window as prepared.
            See :mod:`ecgharness.training.views`.
        use_metadata: False hides the per-example metadata (RR features, patient data) from
            signal + metadata models by setting it to zero, its standardised training mean.
        precision: ``fp32``, or ``bf16`` autocast (used on CUDA only).
        select: Weights that score the test split: ``best`` (the best validation epoch's) or
            ``last`` (the final epoch's, as the PTB-XL benchmark and a train+val retrain do).
    """

    max_epochs: int = 10
    patience: int = 5
    grad_clip: float = 1.0
    eval_batch_size: int = 1024
    loss: Literal["cross_entropy", "focal"] = field(default="cross_entropy", metadata=_SEARCHABLE)
    focal_gamma: float = field(default=2.0, metadata=_SEARCHABLE)
    class_weighted: bool = field(default=True, metadata=_SEARCHABLE)
    sampler: Literal["shuffle", "weighted"] = field(default="shuffle", metadata=_SEARCHABLE)
    augment_noise: float = field(default=0.0, metadata=_SEARCHABLE)
    augment_scale: float = field(default=0.0, metadata=_SEARCHABLE)
    augment_shift: int = field(default=0, metadata=_SEARCHABLE)
    augment_artefacts: str = field(default="none", metadata=_SEARCHABLE)
    augment_artefact_snr_db: float = field(default=6.0, metadata=_SEARCHABLE)
    augment_artefact_share: float = field(default=0.5, metadata=_SEARCHABLE)
    scheduler: Literal["none", "plateau", "cosine", "onecycle"] = field(default="none", metadata=_SEARCHABLE)
    crop_s: float = field(default=0.0, metadata=_SEARCHABLE)
    tta_window_s: float = field(default=0.0, metadata=_SEARCHABLE)
    tta_stride_s: float = field(default=0.0, metadata=_SEARCHABLE)
    tta_aggregate: Literal["max", "mean"] = field(default="max", metadata=_SEARCHABLE)
    beat_context_s: float | None = field(default=None, metadata=_SEARCHABLE)
    use_metadata: bool = field(default=True, metadata=_SEARCHABLE)
    precision: Literal["fp32", "bf16"] = "fp32"
    select: Literal["best", "last"] = "best"

    def __post_init__(self) -> None:
        if self.max_epochs < 1:
            raise ValueError(f"max_epochs must be at least 1, got {self.max_epochs}")
        if self.patience < 1:
            raise ValueError(f"patience must be at least 1, got {self.patience}")
        if min(self.crop_s, self.tta_window_s, self.tta_stride_s, 0 if self.beat_context_s is None
               else self.beat_context_s) < 0:
            raise ValueError("crop_s, tta_window_s, tta_stride_s and beat_context_s must be >= 0 seconds")
        if self.augment_noise < 0 or not 0 <= self.augment_scale < 1 or self.augment_shift < 0:
            raise ValueError("augment_noise >= 0, 0 <= augment_scale < 1 and augment_shift >= 0 are required")
        parse_artefacts(self.augment_artefacts)
        if not 0 <= self.augment_artefact_share <= 1:
            raise ValueError(f"augment_artefact_share must be in [0, 1], got {self.augment_artefact_share}")


OPTIMISER_KEYS = tuple(f.name for f in dataclasses.fields(Optimiser))
TECHNIQUE_KEYS = tuple(f.name for f in dataclasses.fields(TrainConfig) if f.metadata.get("searchable"))
# Training hyperparameters a search space may hold (anything else belongs to the model).
TRAINING_KEYS = OPTIMISER_KEYS + TECHNIQUE_KEYS


@dataclass(frozen=True)
class TrialSettings:
    """What one training run uses, resolved from the suite's loop options and a trial's values.

    Attributes:
        loop: The suite's :class:`TrainConfig` with the trial's searched techniques applied.
        optimiser: Learning rate, batch size and weight decay of the trial.
        model: Hyperparameters of the model's builder.
    """

    loop: TrainConfig
    optimiser: Optimiser
    model: dict[str, Any]


def split_hyperparameters(train_config: TrainConfig, hyperparameters: Mapping[str, Any]) -> TrialSettings:
    """A trial's flat hyperparameters as optimiser, loop options and model hyperparameters."""
    optimiser = {k: v for k, v in hyperparameters.items() if k in OPTIMISER_KEYS}
    techniques = {k: v for k, v in hyperparameters.items() if k in TECHNIQUE_KEYS}
    model = {k: v for k, v in hyperparameters.items() if k not in TRAINING_KEYS}
    defaults = Optimiser()
    return TrialSettings(
        loop=dataclasses.replace(train_config, **techniques),
        optimiser=Optimiser(lr=float(optimiser.get("lr", defaults.lr)),
                            batch_size=int(optimiser.get("batch_size", defaults.batch_size)),
                            weight_decay=float(optimiser.get("weight_decay", defaults.weight_decay))),
        model=model,
    )
