"""What runs inside Ray: the search trial and the final-evaluation task.

Both receive the prepared dataset from the Ray object store (never re-read from
disk); search trials get a copy without the test split, so test data cannot leak
into model selection.
"""

from __future__ import annotations

import os
from typing import Any

from ecgharness.benchmark.suite import import_modules
from ecgharness.datasets.base import PreparedDataset

# Keys of a trial's config that carry fixed settings rather than searched values.
MODEL_KEY = "_model"
TRAINING_KEY = "_training"
THREADS_KEY = "_threads"
IMPORTS_KEY = "_imports"
SEED_KEY = "_seed"
RESERVED = (MODEL_KEY, TRAINING_KEY, THREADS_KEY, IMPORTS_KEY, SEED_KEY)


def hyperparameters(config: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in config.items() if k not in RESERVED}


def error_reason(error: BaseException | None) -> str:
    """One line naming the original exception of a failed trial or task."""
    if error is None:
        return ""
    cause = getattr(error, "cause", None) or error
    text = f"{type(cause).__name__}: {cause}".strip()
    return text.splitlines()[0][:300]


def _setup(config: dict[str, Any]) -> tuple[Any, Any]:
    import ray
    import torch

    from ecgharness.benchmark.trainer import TrainConfig, pick_device

    torch.set_num_threads(max(1, int(config.get(THREADS_KEY, 1))))
    import_modules(config.get(IMPORTS_KEY, ()))
    gpu_ids = ray.get_gpu_ids() if ray.is_initialized() else []
    return TrainConfig(**config[TRAINING_KEY]), pick_device(bool(gpu_ids))


def search_trial(config: dict[str, Any], data: PreparedDataset) -> None:
    """Ray Tune function trainable: train on train, report validation metrics every epoch."""
    from ray import tune

    from ecgharness.benchmark.trainer import train_model

    train_config, device = _setup(config)
    if "test" in data.splits:
        raise RuntimeError("search trials must not receive the test split")
    train_model(
        data,
        config[MODEL_KEY],
        hyperparameters(config),
        train_config,
        seed=int(config.get(SEED_KEY, 0)),
        device=device,
        report=tune.report,
    )


def final_run(config: dict[str, Any], data: PreparedDataset, seed: int) -> dict[str, Any]:
    """Retrain the chosen configuration with ``seed`` and score the test split once."""
    from ecgharness.benchmark.trainer import train_model

    train_config, device = _setup(config)
    outcome = train_model(
        data, config[MODEL_KEY], hyperparameters(config), train_config,
        seed=seed, device=device, evaluate_test=True,
    )
    return {
        "seed": seed,
        "history": outcome.history,
        "best_epoch": outcome.best_epoch,
        "val_metrics": outcome.val_metrics,
        "test_metrics": outcome.test_metrics,
        "test_scores": outcome.test_scores,
        "test_labels": outcome.test_labels,
        "params": outcome.params,
        "train_time_s": outcome.train_time_s,
        "throughput": outcome.throughput,
        "device": str(device),
        "thresholds": outcome.extra.get("thresholds"),
        "pid": os.getpid(),
    }
