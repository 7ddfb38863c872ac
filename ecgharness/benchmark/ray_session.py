"""Ray for one run: start or join a cluster with its logs in the run folder, share the
prepared datasets through the object store, and keep Ray's own logs when done."""

from __future__ import annotations

import logging
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ecgharness.benchmark.observers import ClusterInfo
from ecgharness.datasets.base import PreparedDataset, Split

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SharedDataset:
    """A prepared dataset in the Ray object store, put there once and read by every trial."""

    ref: Any  # ray.ObjectRef

    @classmethod
    def put(cls, dataset: PreparedDataset, keep_test: bool) -> "SharedDataset":
        import ray

        return cls(ray.put(materialise(dataset, keep_test)))

    def get(self) -> PreparedDataset:
        import ray

        return ray.get(self.ref)


def materialise(ds: PreparedDataset, keep_test: bool) -> PreparedDataset:
    """In-memory copy (not memory-mapped) to hand to the Ray object store; without the test
    split unless ``keep_test`` (search trials never receive it)."""
    src = ds if keep_test else ds.without_test()
    splits = {k: Split(np.ascontiguousarray(v.x), np.asarray(v.y), None if v.meta is None else np.asarray(v.meta))
              for k, v in src.splits.items()}
    return PreparedDataset(**{**src.__dict__, "splits": splits})


def _redirect_ray_logs(handler: logging.Handler) -> None:
    for name in ("ray", "ray.tune", "ray.train", "ray.data"):
        logger = logging.getLogger(name)
        for h in list(logger.handlers):
            logger.removeHandler(h)
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False


def start_ray(address: str | None, num_cpus: int | None, logs: Path) -> ClusterInfo:
    """Start a local Ray (``address`` None) or join the cluster at ``address``, with Ray's
    console output kept in ``logs``.

    Without an address a new local instance is started even when ``ray start`` left a cluster
    on this machine or ``RAY_ADDRESS`` names one: Ray would join those on its own, and a run
    must never land on a cluster by accident.
    """
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    os.environ.setdefault("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", "0")
    os.environ.setdefault("RAY_DEDUP_LOGS", "0")
    import optuna
    import ray

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    logs.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(logs / "driver.log")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    _redirect_ray_logs(handler)
    if ray.is_initialized():  # this process already holds a Ray (say, a test's): use it as it is
        return cluster_info(local=False, owned=False)
    env_address = os.environ.pop("RAY_ADDRESS", None) if address is None else None
    try:
        ray.init(
            address=address or "local",
            num_cpus=num_cpus if address is None else None,
            include_dashboard=False,
            log_to_driver=False,
            configure_logging=False,
        )
    finally:
        if env_address is not None:
            os.environ["RAY_ADDRESS"] = env_address
    _redirect_ray_logs(handler)  # ray.init replaces the handlers of its loggers
    return cluster_info(local=address is None, owned=True)


def cluster_info(local: bool, owned: bool) -> ClusterInfo:
    """Address, live nodes and total resources of the Ray this process is connected to."""
    import ray

    nodes = sum(1 for n in ray.nodes() if n.get("Alive"))
    address = ray.get_runtime_context().gcs_address
    return ClusterInfo(address, local, nodes, dict(ray.cluster_resources()), owned)


def trial_slots(cluster: ClusterInfo, cpus_per_trial: float, gpus_per_trial: float, workers: int = 1) -> int:
    """How many trials of the given size the cluster runs at once: a trial of ``workers``
    workers takes ``workers`` x (``cpus_per_trial`` CPUs, ``gpus_per_trial`` GPUs)."""
    slots = int(cluster.resources.get("CPU", 0) / (workers * cpus_per_trial) + 1e-9)
    if gpus_per_trial:
        slots = min(slots, int(cluster.resources.get("GPU", 0) / (workers * gpus_per_trial) + 1e-9))
    return max(1, slots)


def stop_ray(cluster: ClusterInfo | None, logs: Path) -> None:
    """Copy Ray's session logs into ``logs`` and shut Ray down, if this run started or joined it."""
    if cluster is None or not cluster.owned:
        return
    try:
        import ray

        session = Path(ray._private.worker._global_node.get_session_dir_path())  # noqa: SLF001
        if (session / "logs").is_dir():
            shutil.copytree(session / "logs", logs / "ray", dirs_exist_ok=True)
    except Exception as exc:  # logs are a convenience; never fail a finished run over them
        log.debug("could not copy Ray logs: %s", exc)
    import ray

    ray.shutdown()
