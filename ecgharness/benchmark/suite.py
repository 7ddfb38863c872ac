"""Suites: which datasets and models to benchmark, and how, parsed from YAML.

A suite file (``ecgharness/benchmark/suites/<name>.yaml`` or any path)::

    name: quick
    datasets: [mitbih_sample]            # or {name: mitbih, config: {split: intrapatient}}
    models: [cnn_lstm, resnet_se]        # "all", or {name: cnn_lstm, space: {lr: 1.0e-3}}
    search: {num_samples: 4, max_concurrent_trials: 2, grace_period: 1, reduction_factor: 2, seed: 0}
    training: {max_epochs: 4, patience: 3}
    final: {seeds: [0, 1, 2]}
    resources: {cpus_per_trial: 1, gpus_per_trial: 0}   # or {workers_per_trial: 2, gpus_per_worker: 1}
    imports: [my_package.my_models]      # modules that register extra models or datasets
    spaces:                              # overrides of packaged spaces, whenever that model runs
      xresnet1d101: {width: 16}
"""

from __future__ import annotations

import dataclasses
import importlib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Literal, Mapping

import yaml

from ecgharness.training.config import TrainConfig
from ecgharness.config import from_mapping, to_dict
from ecgharness.errors import ConfigError


@dataclass(frozen=True)
class DatasetEntry:
    """A dataset of a suite.

    Attributes:
        name: Registered dataset name.
        config: Options of the dataset's config.
        max_lost_share: Stop the run when a larger share of the dataset's records is quarantined.
    """

    name: str
    config: dict[str, Any] = field(default_factory=dict)
    max_lost_share: float = 0.05

    def __post_init__(self) -> None:
        if not 0 <= self.max_lost_share <= 1:
            raise ValueError(f"max_lost_share must be in [0, 1], got {self.max_lost_share}")


@dataclass(frozen=True)
class ModelEntry:
    name: str
    space: dict[str, Any] = field(default_factory=dict)  # overrides of the model's search space


@dataclass(frozen=True)
class SearchConfig:
    """Ray Tune search options.

    Attributes:
        num_samples: Trials per (dataset, model) pair.
        max_concurrent_trials: Trials running at once per pair (0: as many as resources allow).
        grace_period: ASHA: epochs every trial runs before it can be stopped.
        reduction_factor: ASHA: keep the best 1/reduction_factor at each rung.
        seed: Seeds the Optuna sampler.
        enabled: False runs one trial per pair with the fixed entries of its space only (the
            published settings of a benchmark), everything else at its default.
        time_budget_s: Seconds each pair may search, from its first trial; when they run out the
            pair's running trials finish their epoch, none starts, and its best trial so far goes
            to final evaluation (None: no limit).
    """

    num_samples: int = 4
    max_concurrent_trials: int = 2
    grace_period: int = 1
    reduction_factor: int = 2
    seed: int = 0
    enabled: bool = True
    time_budget_s: float | None = None

    def __post_init__(self) -> None:
        if self.time_budget_s is not None and self.time_budget_s <= 0:
            raise ValueError(f"time_budget_s must be positive seconds (or left out), got {self.time_budget_s}")
        if self.num_samples < 1:
            raise ValueError(f"num_samples must be at least 1, got {self.num_samples}")
        if self.reduction_factor < 2:
            raise ValueError(f"reduction_factor must be at least 2, got {self.reduction_factor}")
        if self.grace_period < 1:
            raise ValueError(f"grace_period must be at least 1, got {self.grace_period}")


@dataclass(frozen=True)
class FinalConfig:
    """Final evaluation: the best configuration retrained once per seed, tested once each.

    Attributes:
        seeds: One retrain per seed.
        train_on: ``train`` (validation keeps choosing the best epoch) or ``train+val``: retrain
            on the training and validation splits together for the number of epochs the best
            trial needed on validation, and test the last epoch's weights (de Chazal et al.
            trained on all of DS1).
    """

    seeds: tuple[int, ...] = (0, 1, 2)
    train_on: Literal["train", "train+val"] = "train"

    def __post_init__(self) -> None:
        if not self.seeds:
            raise ValueError("final.seeds needs at least one seed")


@dataclass(frozen=True)
class ResourcesConfig:
    """What each trial and final retrain reserves on the cluster.

    Attributes:
        cpus_per_trial: CPUs of a one-worker trial (its torch threads).
        gpus_per_trial: GPUs of a one-worker trial; a fraction packs several trials on one GPU.
        max_failures: Restarts of a trial whose worker or node is lost, each from its last
            checkpoint (a trial whose training raises is recorded failed and never restarted).
        workers_per_trial: Processes training each trial together (DDP through Ray Train); 1
            trains in the trial's own process, as without Ray Train.
        cpus_per_worker: CPUs of each worker of a multi-worker trial (default: cpus_per_trial).
        gpus_per_worker: GPUs of each worker of a multi-worker trial (default: gpus_per_trial).
    """

    cpus_per_trial: float = 1.0
    gpus_per_trial: float = 0.0
    max_failures: int = 2
    workers_per_trial: int = 1
    cpus_per_worker: float | None = None
    gpus_per_worker: float | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.max_failures, int) or self.max_failures < 0:
            raise ValueError(f"max_failures must be a whole number >= 0, got {self.max_failures!r}")
        if self.cpus_per_trial <= 0:
            raise ValueError(f"cpus_per_trial must be positive, got {self.cpus_per_trial}")
        if self.gpus_per_trial < 0:
            raise ValueError(f"gpus_per_trial must be >= 0, got {self.gpus_per_trial}")
        if self.gpus_per_trial > 1 and self.gpus_per_trial != int(self.gpus_per_trial):
            raise ValueError(f"gpus_per_trial above 1 must be whole, got {self.gpus_per_trial}")
        if isinstance(self.workers_per_trial, bool) or not isinstance(self.workers_per_trial, int) \
                or self.workers_per_trial < 1:
            raise ValueError(f"workers_per_trial must be a whole number >= 1, got {self.workers_per_trial!r}")
        if self.workers_per_trial == 1 and (self.cpus_per_worker is not None or self.gpus_per_worker is not None):
            raise ValueError("cpus_per_worker and gpus_per_worker apply to multi-worker trials: set workers_per_trial "
                             "above 1, or give a one-worker trial's resources as cpus_per_trial and gpus_per_trial")
        if self.cpus_per_worker is not None and self.cpus_per_worker <= 0:
            raise ValueError(f"cpus_per_worker must be positive, got {self.cpus_per_worker}")
        if self.gpus_per_worker is not None and self.gpus_per_worker < 0:
            raise ValueError(f"gpus_per_worker must be >= 0, got {self.gpus_per_worker}")
        if self.workers_per_trial > 1 and self.worker_gpus > 1:
            raise ValueError(f"each worker trains on one device, so a worker takes at most 1 GPU (got "
                             f"{self.worker_gpus:g}); set gpus_per_worker: 1 and raise workers_per_trial instead")

    @property
    def worker_cpus(self) -> float:
        """CPUs of one worker (the trial's, with one worker)."""
        return self.cpus_per_trial if self.cpus_per_worker is None else self.cpus_per_worker

    @property
    def worker_gpus(self) -> float:
        """GPUs of one worker (the trial's, with one worker)."""
        return self.gpus_per_trial if self.gpus_per_worker is None else self.gpus_per_worker


@dataclass(frozen=True)
class Suite:
    name: str
    datasets: tuple[DatasetEntry, ...]
    models: tuple[ModelEntry, ...]
    description: str = ""
    search: SearchConfig = field(default_factory=SearchConfig)
    training: TrainConfig = field(default_factory=TrainConfig)
    final: FinalConfig = field(default_factory=FinalConfig)
    resources: ResourcesConfig = field(default_factory=ResourcesConfig)
    imports: tuple[str, ...] = ()
    spaces: dict[str, dict[str, Any]] = field(default_factory=dict)  # model -> space overrides

    def to_dict(self) -> dict[str, Any]:
        return to_dict(self)


_SECTIONS = {"search": SearchConfig, "training": TrainConfig, "final": FinalConfig, "resources": ResourcesConfig}
_TOP_KEYS = ("name", "description", "datasets", "models", "spaces", *_SECTIONS, "imports")


def suites_dir() -> Path:
    return Path(str(resources.files("ecgharness.benchmark") / "suites"))


def list_suites() -> list[str]:
    return sorted(p.stem for p in suites_dir().glob("*.yaml"))


def _entries(raw: Any, cls: type, key: str, where: str) -> tuple:
    if raw is None:
        raise ConfigError(f"{where}: '{key}' is required")
    if isinstance(raw, str):
        raw = [raw]
    if not isinstance(raw, list):
        raise ConfigError(f"{where}: '{key}' must be a list, got {raw!r}")
    out = []
    for i, item in enumerate(raw):
        if isinstance(item, str):
            item = {"name": item}
        out.append(from_mapping(cls, item, f"{where}: {key}[{i}]"))
    return tuple(out)


def parse_suite(data: Mapping[str, Any], where: str) -> Suite:
    """Validate suite mapping ``data`` (from ``where``) into a :class:`Suite`."""
    if not isinstance(data, Mapping):
        raise ConfigError(f"{where}: a suite must be a mapping with keys {', '.join(_TOP_KEYS)}")
    unknown = sorted(set(data) - set(_TOP_KEYS))
    if unknown:
        raise ConfigError(f"{where}: unknown key {', '.join(map(repr, unknown))}; valid keys: {', '.join(_TOP_KEYS)}")
    imports = data.get("imports") or []
    if isinstance(imports, str):
        imports = [imports]
    import_modules(imports, where)
    sections = {k: from_mapping(cls, data.get(k), f"{where}: {k}") for k, cls in _SECTIONS.items()}
    suite = Suite(
        name=str(data.get("name") or Path(where).stem),
        description=str(data.get("description") or ""),
        datasets=_entries(data.get("datasets"), DatasetEntry, "datasets", where),
        models=_entries(data.get("models"), ModelEntry, "models", where),
        imports=tuple(imports),
        spaces=dict(data.get("spaces") or {}),
        **sections,
    )
    return validate(suite, where)


def import_modules(modules: list[str] | tuple[str, ...], where: str = "imports") -> None:
    for module in modules:
        try:
            importlib.import_module(module)
        except ImportError as exc:
            raise ConfigError(f"{where}: cannot import {module!r} ({exc}); is it on PYTHONPATH?") from None


def validate(suite: Suite, where: str) -> Suite:
    """Check names and configs now, before any data is read or Ray is started."""
    import ecgharness.datasets  # noqa: F401  (registers the datasets)
    from ecgharness.datasets.base import parse_config as parse_dataset_config
    from ecgharness.search_spaces import space_for
    from ecgmodels import list_models

    unknown = sorted(set(suite.spaces) - set(list_models()))
    if unknown:
        raise ConfigError(f"{where}: spaces: unknown model {', '.join(map(repr, unknown))}; "
                          f"valid models: {', '.join(list_models())}")
    models = []
    for entry in suite.models:
        if entry.name == "all":
            models += [ModelEntry(m) for m in list_models() if m not in {e.name for e in suite.models}]
        else:
            models.append(entry)
    # the suite-wide overrides of a model's space apply however the model was selected
    models = [dataclasses.replace(e, space={**suite.spaces.get(e.name, {}), **e.space}) for e in models]
    for entry in models:
        space_for(entry.name, entry.space, f"{where}: models[{entry.name}].space")
    for entry in suite.datasets:
        parse_dataset_config(entry.name, entry.config)
    return dataclasses.replace(suite, models=tuple(models))


def load_suite(name_or_path: str) -> Suite:
    """A packaged suite by name, or a suite YAML file by path."""
    path = Path(name_or_path)
    if not path.suffix:
        candidate = suites_dir() / f"{name_or_path}.yaml"
        if not candidate.exists():
            raise ConfigError(f"unknown suite {name_or_path!r}; valid suites: {', '.join(list_suites())} "
                              "(or pass the path of a suite YAML file)")
        path = candidate
    if not path.exists():
        raise ConfigError(f"suite file {path} does not exist; packaged suites: {', '.join(list_suites())}")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: invalid YAML: {exc}") from None
    return parse_suite(data, str(path))


def with_overrides(
    suite: Suite,
    *,
    models: list[str] | None = None,
    datasets: list[str] | None = None,
    num_samples: int | None = None,
    max_epochs: int | None = None,
    seeds: list[int] | None = None,
    cpus_per_trial: float | None = None,
    gpus_per_trial: float | None = None,
    max_concurrent_trials: int | None = None,
    workers_per_trial: int | None = None,
) -> Suite:
    """The suite with command-line overrides applied and validated."""
    data = suite.to_dict()
    if models:
        keep = {m["name"]: m for m in suite.to_dict()["models"]}
        data["models"] = [keep.get(m, {"name": m}) for m in models]
    if datasets:
        keep = {d["name"]: d for d in suite.to_dict()["datasets"]}
        data["datasets"] = [keep.get(d, {"name": d}) for d in datasets]
    if num_samples is not None:
        data["search"]["num_samples"] = num_samples
    if max_concurrent_trials is not None:
        data["search"]["max_concurrent_trials"] = max_concurrent_trials
    if max_epochs is not None:
        data["training"]["max_epochs"] = max_epochs
    if seeds is not None:
        data["final"]["seeds"] = seeds
    if cpus_per_trial is not None:
        data["resources"]["cpus_per_trial"] = cpus_per_trial
    if gpus_per_trial is not None:
        data["resources"]["gpus_per_trial"] = gpus_per_trial
    if workers_per_trial is not None:
        data["resources"]["workers_per_trial"] = workers_per_trial
    return parse_suite(data, f"suite {suite.name!r} with command-line overrides")
