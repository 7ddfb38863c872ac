"""Multi-worker trials: a search trial or a final retrain trained by several processes at once
with Ray Train's ``TorchTrainer`` (DDP), for ``resources: {workers_per_trial: N}`` with N > 1.

A search trial stays a Ray Tune function trainable (:func:`distributed_pair_trial`), as Ray
Train V2 has it: the function builds a ``TorchTrainer`` whose N workers each run the harness's
one training loop (:func:`ecgharness.training.loop.train_model`) on their share of every
global batch (:mod:`ecgharness.training.parallel`), and ``TuneReportCallback`` forwards worker
0's report of each epoch to Tune, so ASHA, the searcher and the run's records see the same
rows as from a one-worker trial. The function itself only waits for its workers: it reserves
one byte of memory and no CPU (:data:`COORDINATOR`), so a machine whose CPUs the workers take
up whole still runs the trial; the workers reserve ``cpus_per_worker`` and ``gpus_per_worker``
each in Ray Train's own placement group. A final retrain is a Ray task that does the same
and hands worker 0's outcome back through a queue.

When Tune stops a trial (ASHA, the last epoch, a time budget) it ends the trial's process,
which takes Ray Train's controller and workers with it but not their placement group (Ray
Train's own cleaner asks Ray's state API, which a Ray without the dashboard does not have),
and the next trial would wait for its workers for ever. So worker 0 reports its placement
group with every epoch (:data:`WORKERS_GROUP`) and the schedule removes it as soon as the
trial ends, fails or restarts (:func:`release`).

Rank 0 checkpoints the trial after every epoch (DDP keeps every rank's weights and optimiser
equal to rank 0's), so a trial restarted after a lost worker, or in a resumed run, goes on
from its last epoch on every rank. A worker whose own training raises (a diverged loss, a
crashing model) makes the trial fail with that reason, never retried; a worker that is lost
(its process or node died) makes the trial restart, as one-worker trials do.

Workers talk over gloo on CPUs and over NCCL when each has a whole GPU (NCCL cannot put two
ranks on one GPU, so workers with a fraction of a GPU use gloo).
"""

from __future__ import annotations

import dataclasses
import os
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ecgharness.benchmark.checkpoints import CheckpointFile
from ecgharness.benchmark.multiplex import FAILED, METRIC, hyperparameters, pair_of, trial_of
from ecgharness.benchmark.ray_session import SharedDataset
from ecgharness.benchmark.suite import ResourcesConfig, import_modules
from ecgharness.benchmark.trials import EpochReports, FinalResult, TrialSpec, failure_reason, where

# Tune resources of the function that coordinates a trial's workers: Tune needs a non-empty
# bundle, and a CPU fraction would leave a machine one sliver short of the workers' whole CPUs.
COORDINATOR = {"cpu": 0, "memory": 1}

WORKERS_GROUP = "workers_group"  # result entry: the hex id of the placement group of a trial's workers


class WorkersLost(RuntimeError):
    """A worker of a multi-worker trial or retrain was lost (its process or node died): retried."""


@dataclass(frozen=True)
class Workers:
    """The workers of one multi-worker trial.

    Attributes:
        count: Workers (DDP ranks).
        cpus: CPUs of each (its torch threads).
        gpus: GPUs of each (a fraction shares a GPU with other workers or trials).
        storage: Where Ray Train keeps each run's state (the run's Tune storage; None: Ray's default).
    """

    count: int
    cpus: float
    gpus: float
    storage: str | None = None

    @classmethod
    def of(cls, resources: ResourcesConfig, storage: str | None) -> "Workers":
        """The workers ``resources`` give each trial; Ray Train state under ``storage`` (path or URI)."""
        if storage and "://" not in storage:
            storage = str(Path(storage).resolve())
        return cls(resources.workers_per_trial, resources.worker_cpus, resources.worker_gpus, storage or None)

    def scaling(self) -> Any:
        from ray.train import ScalingConfig

        per_worker = {"CPU": self.cpus, **({"GPU": self.gpus} if self.gpus else {})}
        return ScalingConfig(num_workers=self.count, use_gpu=self.gpus > 0, resources_per_worker=per_worker)

    def backend(self) -> Any:
        from ray.train.torch import TorchConfig

        return TorchConfig(backend="nccl" if self.gpus >= 1 else "gloo")


def release(result: dict[str, Any] | None) -> None:
    """Remove the workers' placement group that a trial's last ``result`` names (a one-worker
    trial's names none). Removing one that Ray Train removed already does nothing."""
    group = (result or {}).get(WORKERS_GROUP)
    if not group:
        return
    from ray._raylet import PlacementGroupID
    from ray.util.placement_group import PlacementGroup, placement_group_table, remove_placement_group

    handle = PlacementGroup(PlacementGroupID.from_hex(group))
    if placement_group_table(handle).get("state", "REMOVED") != "REMOVED":
        remove_placement_group(handle)


@dataclass(frozen=True)
class _Job:
    """What every worker of one trial or final retrain receives."""

    config: dict[str, Any]
    data: SharedDataset
    spec: TrialSpec
    workers: Workers
    seed: int
    checkpoints: CheckpointFile | None = None  # the trial's: rank 0 saves it, every rank goes on from it
    results: Any = None  # final retrains: the queue worker 0 puts its FinalResult into


def _worker(loop_config: dict[str, Any]) -> None:
    """Ray Train's per-worker function: this rank's share of the trial's training."""
    import ray.train
    import torch
    from ray.util import get_current_placement_group

    from ecgharness.training.loop import train_model
    from ecgharness.training.parallel import Shard

    job: _Job = loop_config["job"]
    context = ray.train.get_context()
    shard = Shard(context.get_world_rank(), context.get_world_size())
    torch.set_num_threads(max(1, int(job.workers.cpus)))
    import_modules(job.spec.imports)
    device = torch.device("cpu")
    if job.workers.gpus and torch.cuda.is_available():
        import ray.train.torch

        device = ray.train.torch.get_device()
    label = f"{shard.world_size} x {device.type}"  # the trial's devices, as trials.csv and final_runs.csv show them
    data = job.data.get()
    if job.results is None:  # a search trial: every rank reports (Ray Train waits for all), Tune hears rank 0
        if "test" in data.splits:
            raise RuntimeError("search trials must not receive the test split")
        group = get_current_placement_group()
        place = {**where(), "device": label, WORKERS_GROUP: group.id.hex() if group else ""}
        report = EpochReports(ray.train.report, place, job.checkpoints)
        train_model(data, job.spec.model, job.config, job.spec.training, seed=job.seed, device=device,
                    report=report, checkpoints=job.checkpoints, shard=shard)
        report.ended_before()
        return
    # a final retrain: only rank 0 scores the test split (after the last collective) and answers
    outcome = train_model(data, job.spec.model, job.config, job.spec.training, seed=job.seed, device=device,
                          evaluate_test=shard.rank == 0, checkpoints=job.checkpoints, shard=shard)
    if shard.rank == 0:
        job.results.put(FinalResult(seed=job.seed, outcome=outcome, device=label, pid=os.getpid(), **where()))


def _lost(error: BaseException) -> bool:
    """Whether ``error`` says a worker's process or node died (not that its training raised):
    Ray Train reports a worker that stopped answering as a failed health check."""
    from ray import exceptions
    from ray.train.v2._internal.exceptions import WorkerHealthCheckFailedError, WorkerHealthCheckTimeoutError

    lost = (exceptions.RayActorError, exceptions.WorkerCrashedError, exceptions.NodeDiedError,
            exceptions.ActorUnavailableError, WorkerHealthCheckFailedError, WorkerHealthCheckTimeoutError)
    while error is not None:
        if isinstance(error, lost):
            return True
        error = error.__cause__
    return False


def _fit(job: _Job, name: str, callbacks: list) -> None:
    """Train ``job`` on its workers. A worker's own exception is raised as it is (the trial's
    recorded reason names it); a lost worker raises :class:`WorkersLost`."""
    from ray.train import FailureConfig, RunConfig, WorkerGroupError
    from ray.train.torch import TorchTrainer

    trainer = TorchTrainer(
        _worker, train_loop_config={"job": job}, torch_config=job.workers.backend(),
        scaling_config=job.workers.scaling(),
        run_config=RunConfig(name=name, storage_path=job.workers.storage, callbacks=callbacks,
                             failure_config=FailureConfig(max_failures=0)),
    )
    try:
        trainer.fit()
    except WorkerGroupError as exc:
        failures = exc.worker_failures or {}
        if any(_lost(e) for e in failures.values()):
            raise WorkersLost(f"a worker of {name} was lost: {exc}") from None
        if failures:
            first = failures[min(failures)]
            raise (first.__cause__ or first) from None  # the worker's own exception, unwrapped
        raise


def distributed_pair_trial(config: dict[str, Any], data: dict[str, SharedDataset], specs: dict[str, TrialSpec],
                           workers: Workers, checkpoints: str | None = None) -> None:
    """Ray Tune function trainable of a multi-worker schedule: the pair named in ``config``
    trained by ``workers`` (checkpointed under ``checkpoints``), each epoch of worker 0
    reported to Tune. A trial whose training raises reports why and ends (never retried); a
    lost worker raises, and Tune restarts the trial from its checkpoints."""
    from ray import tune
    from ray.tune.integration.ray_train import TuneReportCallback

    key = pair_of(config)
    spec, params = specs[key], hyperparameters(config)
    saved = None if checkpoints is None else CheckpointFile(checkpoints, trial_of(config))
    job = _Job(params, data[key], spec, workers, spec.seed, saved)
    try:
        _fit(job, f"train-{trial_of(config)}-{uuid.uuid4().hex[:8]}", [TuneReportCallback()])
    except WorkersLost:
        raise
    except Exception as exc:  # noqa: BLE001 - recorded as the trial's failure
        tune.report({FAILED: failure_reason(exc, spec, params), METRIC: float("nan"), **where()})


def trainable(data: dict[str, SharedDataset], specs: dict[str, TrialSpec], resources: ResourcesConfig,
              storage: str, checkpoints: str | None = None) -> Any:
    """The schedule's Tune trainable when each trial has several workers."""
    from ray import tune

    workers = Workers.of(resources, storage)
    return tune.with_resources(
        tune.with_parameters(distributed_pair_trial, data=data, specs=specs, workers=workers, checkpoints=checkpoints),
        COORDINATOR)


def distributed_final(config: dict[str, Any], data: SharedDataset, spec: TrialSpec, seed: int,
                      workers: Workers, name: str, checkpoints: CheckpointFile | None = None) -> FinalResult:
    """Ray task: retrain ``config`` with ``seed`` on ``workers`` and score the test split once."""
    from ray.util.queue import Queue

    results = Queue(1, actor_options={"num_cpus": 0})
    try:
        _fit(_Job(config, data, dataclasses.replace(spec, threads=max(1, int(workers.cpus))), workers, seed,
                  checkpoints, results), name, [])
        return results.get(timeout=60)
    finally:
        results.shutdown()


def final_task(retries: int = 0) -> Any:
    """The Ray remote function of multi-worker final retrains (reserving nothing itself),
    retried up to ``retries`` times when a worker is lost."""
    import ray

    return ray.remote(distributed_final).options(num_cpus=0, max_retries=retries, retry_exceptions=[WorkersLost])
