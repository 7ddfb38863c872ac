"""The rows a run folder stores, as typed records: a search trial, a final run (or a floor)
and a failure. :class:`~ecgharness.leaderboard.store.RunWriter` writes them and
:func:`~ecgharness.leaderboard.store.read_run` reads the folder back."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

WEIGHTS_DIR = "weights"


def prediction_name(dataset: str, model: str, seed: int) -> str:
    """File name of a final run's test predictions inside ``predictions/``."""
    return f"{dataset}__{model}__seed{seed}.npz"


def weights_name(dataset: str, model: str, seed: int) -> str:
    """File name of a final run's weights inside ``weights/`` (the JSON has the same stem)."""
    return f"{dataset}__{model}__seed{seed}.safetensors"

@dataclass(frozen=True)
class TrialRecord:
    """One search trial as ``trials.csv`` stores it."""

    dataset: str
    model: str
    trial_id: str
    status: str
    epochs: int
    best_val_score: float
    headline: str
    reason: str
    config: dict[str, Any]
    node_id: str = ""  # the Ray node, its IP and the torch device the trial trained on
    node_ip: str = ""
    device: str = ""
    retries: int = 0  # restarts after its worker or node was lost (each from its last checkpoint)

    def row(self) -> dict[str, Any]:
        return {**self.__dict__, "config": config_json(self.config)}


@dataclass(frozen=True)
class FinalRecord:
    """One final retrain (a configuration x a seed) scored on the test split.

    ``scores``/``labels`` are the test predictions; ``thresholds`` the validation
    thresholds of a multi-label task (None otherwise); ``metrics`` the test metrics.
    """

    dataset: str
    model: str
    seed: int
    config: dict[str, Any]
    task: str
    headline: str
    class_names: tuple[str, ...]
    metrics: dict[str, float]
    scores: np.ndarray
    labels: np.ndarray
    thresholds: list[float] | None
    params: int
    train_time_s: float
    throughput: float
    epochs: int
    best_epoch: int
    device: str
    val_score: float = math.nan
    kind: str = "model"  # or "floor": a non-deep baseline fitted by the harness
    weights: dict[str, np.ndarray] | None = None  # the tested state dict (models only)
    bundle: dict[str, Any] | None = None  # what loading the weights needs (JSON-ready)
    node_id: str = ""  # the Ray node and its IP the retrain ran on (empty for floors)
    node_ip: str = ""

    def run_row(self) -> dict[str, Any]:
        """The row of ``final_runs.csv``."""
        return {
            "dataset": self.dataset, "model": self.model, "seed": self.seed, "params": self.params,
            "train_time_s": self.train_time_s, "throughput": self.throughput, "epochs": self.epochs,
            "best_epoch": self.best_epoch, "device": self.device, "node_id": self.node_id,
            "node_ip": self.node_ip, "test_examples": len(self.labels),
            "headline": self.headline, "val_score": self.val_score, "task": self.task,
            "thresholds": "" if self.thresholds is None else json.dumps(
                dict(zip(self.class_names, np.round(self.thresholds, 6).tolist()))),
            "config": config_json(self.config), "kind": self.kind,
            "weights": "" if self.weights is None else
            str(Path(WEIGHTS_DIR) / weights_name(self.dataset, self.model, self.seed)),
        }


@dataclass(frozen=True)
class FailureRecord:
    """A pair or a final seed that produced no result, and why."""

    dataset: str
    model: str
    stage: str
    reason: str


def config_json(config: dict[str, Any]) -> str:
    return json.dumps(config, sort_keys=True, default=str)
