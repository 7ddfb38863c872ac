"""What runs inside Ray: the search trial and the final-evaluation task.

Both receive the prepared dataset from the Ray object store (never re-read from
disk); search trials get a copy without the test split, so test data cannot leak
into model selection. The fixed settings of a pair travel as one :class:`TrialSpec`;
a trial's Tune config holds only the sampled hyperparameters.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Callable

from ecgharness.benchmark.ray_session import SharedDataset
from ecgharness.benchmark.suite import import_modules
from ecgharness.datasets.base import PreparedDataset
from ecgharness.training.config import TrainConfig
from ecgharness.training.loop import TrainOutcome


@dataclass(frozen=True)
class TrialSpec:
    """What every trial and final run of one (dataset, model) pair shares.

    Attributes:
        model: Registered model name.
        training: The suite's loop options.
        threads: Torch threads per trial (the trial's CPUs).
        imports: Modules to import first (models or datasets registered by the suite).
        seed: Seed of search trials (final runs bring their own).
    """

    model: str
    training: TrainConfig
    threads: int = 1
    imports: tuple[str, ...] = ()
    seed: int = 0


@dataclass
class FinalResult:
    """What one final retrain sends back to the driver."""

    seed: int
    outcome: TrainOutcome
    device: str
    pid: int
    node_id: str = ""
    node_ip: str = ""


def error_reason(error: BaseException | None) -> str:
    """One line naming the original exception of a failed trial or task."""
    if error is None:
        return ""
    cause = getattr(error, "cause", None) or error
    text = f"{type(cause).__name__}: {cause}".strip()
    return text.splitlines()[0][:300]


def where() -> dict[str, str]:
    """The Ray node this worker runs on: ``node_id`` and ``node_ip`` (empty outside Ray)."""
    import ray

    if not ray.is_initialized():
        return {"node_id": "", "node_ip": ""}
    return {"node_id": ray.get_runtime_context().get_node_id(), "node_ip": ray.util.get_node_ip_address()}


def _setup(spec: TrialSpec) -> Any:
    """Threads, the suite's imports and the device of this worker."""
    import ray
    import torch

    from ecgharness.training.loop import pick_device

    torch.set_num_threads(max(1, spec.threads))
    import_modules(spec.imports)
    gpu_ids = ray.get_gpu_ids() if ray.is_initialized() else []
    return pick_device(bool(gpu_ids))


def failure_reason(error: BaseException, spec: TrialSpec, config: dict[str, Any]) -> str:
    """One line saying why a trial's training raised; out-of-memory names the batch size and the fix."""
    import torch

    if isinstance(error, torch.cuda.OutOfMemoryError) or "out of memory" in str(error).lower():
        batch = config.get("batch_size", "the default")
        return (f"{type(error).__name__}: {spec.model} ran out of device memory with batch_size {batch}; lower "
                "batch_size in the model's space (or the suite's spaces), or give each trial a whole GPU "
                "(resources.gpus_per_trial: 1)")
    return error_reason(error)


class EpochReports:
    """What a search trial reports each epoch: the loop's row, where the trial runs, and, for a
    trial with ``checkpoints`` (a :class:`~ecgharness.benchmark.checkpoints.CheckpointFile`),
    the epoch it went on from and, with its first report, the epochs its checkpoint held.

    Args:
        send: Reports one row (``ray.tune.report``, or ``ray.train.report`` on Ray Train workers).
        place: Where the trial runs (node, device), reported with every row.
        checkpoints: The trial's checkpoint, or None.
    """

    def __init__(self, send: Callable[[dict[str, Any]], None], place: dict[str, Any], checkpoints: Any = None) -> None:
        self.send, self.place, self.checkpoints = send, place, checkpoints
        self.reported = False

    def __call__(self, row: dict[str, Any]) -> None:
        from ecgharness.benchmark.multiplex import RESTORED, RESUMED_FROM

        saved = self.checkpoints
        extra = {} if saved is None else {RESUMED_FROM: saved.restored_epoch}
        if saved is not None and not self.reported:
            extra[RESTORED] = saved.restored_history
        self.reported = True
        self.send({**row, **self.place, **extra})

    def ended_before(self) -> None:
        """A trial whose checkpoint held its last epoch trained none: report that epoch again,
        so the run hears that the trial has ended."""
        from ecgharness.benchmark.multiplex import RESTORED, RESUMED_FROM

        saved = self.checkpoints
        if not self.reported and saved is not None and saved.restored_history:
            self.send({**saved.restored_history[-1], **self.place, RESTORED: saved.restored_history,
                       RESUMED_FROM: saved.restored_epoch})


def search_trial(config: dict[str, Any], data: SharedDataset, spec: TrialSpec, checkpoints: Any = None) -> None:
    """Ray Tune function trainable: train on train, report validation metrics every epoch
    (with the node and device the trial runs on).

    ``config`` holds the sampled hyperparameters only; ``data`` is the dataset without its
    test split, put into the object store once for all pairs of the dataset. With
    ``checkpoints`` (a :class:`~ecgharness.benchmark.checkpoints.CheckpointFile`) the trial
    saves its state after every epoch and, started again, goes on from there; its first
    report then carries the epochs the checkpoint held. A trial whose training raises
    reports why (under ``failed``) and ends: it is recorded failed and never retried.
    """
    from ray import tune

    from ecgharness.benchmark.multiplex import FAILED, METRIC
    from ecgharness.training.loop import train_model

    device = _setup(spec)
    data = data.get()
    if "test" in data.splits:
        raise RuntimeError("search trials must not receive the test split")
    place = {**where(), "device": str(device)}  # reported with every epoch, stored in the trial's record
    report = EpochReports(tune.report, place, checkpoints)
    try:
        train_model(data, spec.model, config, spec.training, seed=spec.seed, device=device, report=report,
                    checkpoints=checkpoints)
    except Exception as exc:  # noqa: BLE001 - recorded as the trial's failure; a lost worker never gets here
        tune.report({FAILED: failure_reason(exc, spec, config), METRIC: float("nan"), **place})
        return
    report.ended_before()


def final_run(config: dict[str, Any], data: PreparedDataset, spec: TrialSpec, seed: int,
              checkpoints: Any = None) -> FinalResult:
    """Retrain the chosen configuration with ``seed`` and score the test split once (going on
    from the retrain's checkpoint, if ``checkpoints`` holds one)."""
    from ecgharness.training.loop import train_model

    device = _setup(spec)
    outcome = train_model(data, spec.model, config, spec.training, seed=seed, device=device, evaluate_test=True,
                          checkpoints=checkpoints)
    return FinalResult(seed=seed, outcome=outcome, device=str(device), pid=os.getpid(), **where())
