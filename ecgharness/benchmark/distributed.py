"""Multi-worker trials: a search trial or a final retrain trained by several processes at once
with Ray Train's ``TorchTrainer`` (DDP), for ``resources: {workers_per_trial: N}`` with N > 1.

A search trial stays a Ray Tune function trainable (:func:`distributed_pair_trial`), as Ray
Train V2 has it: the function builds a ``TorchTrainer`` whose N workers each run the harness's
one training loop (:func:`ecgharness.training.loop.train_model`) on their shard of every
global batch (:mod:`ecgharness.training.parallel`), and ``TuneReportCallback`` forwards worker
0's report of each epoch to Tune, so ASHA, the searcher and the run's records see the same
rows as from a one-worker trial. The function itself only waits for its workers: it reserves
one byte of memory and no CPU (:data:`COORDINATOR`), so a machine whose CPUs the workers take
up whole still runs the trial; the workers reserve ``cpus_per_worker`` and ``gpus_per_worker``
each in Ray Train's own placement group. A final retrain is a Ray task that does the same
and hands worker 0's outcome back through a queue.

Workers talk over gloo on CPUs and over NCCL when each has a whole GPU (NCCL cannot put two
ranks on one GPU, so workers with a fraction of a GPU use gloo).
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ecgharness.benchmark.multiplex import hyperparameters, pair_of
from ecgharness.benchmark.ray_session import SharedDataset
from ecgharness.benchmark.suite import ResourcesConfig, import_modules
from ecgharness.benchmark.trials import FinalResult, TrialSpec, where

# Off until a stopped trial frees its workers: when Tune stops a multi-worker trial (ASHA, also at
# max_t), its Ray Train workers' placement group stays reserved on a Ray without the dashboard and
# the next trial waits for workers forever; the sweeper below does not yet prevent it.
ENABLED = False

# Tune resources of the function that coordinates a trial's workers: Tune needs a non-empty
# bundle, and a CPU fraction would leave a machine one sliver short of the workers' whole CPUs.
COORDINATOR = {"cpu": 0, "memory": 1}


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


class _Sweeper:
    """Removes a trial's Ray Train placement group once the process coordinating it is gone.

    Tune ends a stopped trial (ASHA, a time budget) by ending its process, which takes Ray
    Train's controller and workers with it but not their placement group: Ray Train's own
    cleaner asks Ray's state API, which needs the dashboard, and without one the group keeps
    the workers' CPUs for good and the next trial waits forever. This detached actor pings
    the coordinator instead and removes the group when the ping fails.
    """

    def __init__(self, coordinator: Any) -> None:
        import threading

        self.coordinator, self.groups = coordinator, []
        threading.Thread(target=self._watch, daemon=True).start()

    def add(self, group: Any) -> None:
        self.groups.append(group)

    def _watch(self) -> None:
        import time

        import ray
        from ray.util.placement_group import remove_placement_group

        while True:
            try:
                ray.get(self.coordinator.__ray_ready__.remote(), timeout=30)
            except ray.exceptions.RayActorError:
                break
            except ray.exceptions.GetTimeoutError:
                pass
            time.sleep(1.0)
        for group in self.groups:
            try:
                remove_placement_group(group)
            except Exception:  # already removed by Ray Train
                pass
        ray.actor.exit_actor()


def _sweeper() -> Any:
    """A :class:`_Sweeper` watching this process (the coordinator of a trial)."""
    import ray

    me = ray.get_runtime_context().current_actor
    return ray.remote(_Sweeper).options(num_cpus=0, lifetime="detached").remote(me)


@dataclass(frozen=True)
class _Job:
    """What every worker of one trial or final retrain receives."""

    config: dict[str, Any]
    data: SharedDataset
    spec: TrialSpec
    workers: Workers
    seed: int
    results: Any = None  # final retrains: the queue worker 0 puts its FinalResult into
    sweeper: Any = None  # search trials: removes the workers' placement group if the trial is stopped


def _worker(loop_config: dict[str, Any]) -> None:
    """Ray Train's per-worker function: this rank's share of the trial's training."""
    import ray.train
    import torch

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
    if job.sweeper is not None and shard.rank == 0:
        from ray.util import get_current_placement_group

        ray.get(job.sweeper.add.remote(get_current_placement_group()))
    data = job.data.get()
    if job.results is None:  # a search trial: every rank reports (Ray Train waits for all), Tune hears rank 0
        if "test" in data.splits:
            raise RuntimeError("search trials must not receive the test split")
        place = {**where(), "device": str(device), "workers": shard.world_size}

        def report(row: dict[str, Any]) -> None:
            ray.train.report({**row, **place})

        train_model(data, job.spec.model, job.config, job.spec.training, seed=job.seed, device=device,
                    report=report, shard=shard)
        return
    # a final retrain: only rank 0 scores the test split (after the last collective) and answers
    outcome = train_model(data, job.spec.model, job.config, job.spec.training, seed=job.seed, device=device,
                          evaluate_test=shard.rank == 0, shard=shard)
    if shard.rank == 0:
        job.results.put(FinalResult(seed=job.seed, outcome=outcome, device=str(device), pid=os.getpid(), **where()))


def _fit(job: _Job, name: str, callbacks: list) -> None:
    """Train ``job`` on its workers; a worker's own exception is raised as it is (a diverged
    loss, a crashing model), so the trial's recorded reason names it."""
    from ray.train import FailureConfig, RunConfig, TrainingFailedError
    from ray.train.torch import TorchTrainer

    trainer = TorchTrainer(
        _worker, train_loop_config={"job": job}, torch_config=job.workers.backend(),
        scaling_config=job.workers.scaling(),
        run_config=RunConfig(name=name, storage_path=job.workers.storage, callbacks=callbacks,
                             failure_config=FailureConfig(max_failures=0)),
    )
    try:
        trainer.fit()
    except TrainingFailedError as exc:
        failures = getattr(exc, "worker_failures", None) or {}
        if failures:
            raise failures[min(failures)] from None
        raise


def distributed_pair_trial(config: dict[str, Any], data: dict[str, SharedDataset], specs: dict[str, TrialSpec],
                           workers: Workers) -> None:
    """Ray Tune function trainable of a multi-worker schedule: the pair named in ``config``
    trained by ``workers``, each epoch of worker 0 reported to Tune."""
    from ray import tune
    from ray.tune.integration.ray_train import TuneReportCallback

    key = pair_of(config)
    spec = specs[key]
    import ray

    sweeper = _sweeper()
    job = _Job(hyperparameters(config), data[key], spec, workers, spec.seed, sweeper=sweeper)
    try:
        _fit(job, f"train-{tune.get_context().get_trial_id()}", [TuneReportCallback()])
    finally:
        ray.kill(sweeper)


def trainable(data: dict[str, SharedDataset], specs: dict[str, TrialSpec], resources: ResourcesConfig,
              storage: str) -> Any:
    """The schedule's Tune trainable when each trial has several workers."""
    from ray import tune

    workers = Workers.of(resources, storage)
    return tune.with_resources(tune.with_parameters(distributed_pair_trial, data=data, specs=specs, workers=workers),
                               COORDINATOR)


def distributed_final(config: dict[str, Any], data: SharedDataset, spec: TrialSpec, seed: int,
                      workers: Workers, name: str) -> FinalResult:
    """Ray task: retrain ``config`` with ``seed`` on ``workers`` and score the test split once."""
    from ray.util.queue import Queue

    results = Queue(1, actor_options={"num_cpus": 0})
    try:
        _fit(_Job(config, data, dataclasses.replace(spec, threads=max(1, int(workers.cpus))), workers, seed,
                  results), name, [])
        return results.get(timeout=60)
    finally:
        results.shutdown()


def final_task() -> Any:
    """The Ray remote function of multi-worker final retrains (reserving nothing itself)."""
    import ray

    return ray.remote(distributed_final).options(num_cpus=0, max_retries=0)
