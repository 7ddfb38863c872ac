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


def start_ray(address: str | None, num_cpus: int | None, logs: Path) -> bool:
    """Start or join Ray with its console output kept in ``logs``; True if we started it."""
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
    if ray.is_initialized():
        return False
    ray.init(
        address=address,
        num_cpus=num_cpus if address is None else None,
        include_dashboard=False,
        log_to_driver=False,
        configure_logging=False,
    )
    _redirect_ray_logs(handler)  # ray.init replaces the handlers of its loggers
    return True


def stop_ray(started: bool, logs: Path) -> None:
    """Copy Ray's session logs into ``logs`` and shut Ray down, if this run started it."""
    if not started:
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
