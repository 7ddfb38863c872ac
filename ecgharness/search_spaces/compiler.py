"""Parse YAML search spaces into validated :class:`SearchSpace` objects and compile them."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Mapping

import yaml

from ecgharness.config import from_mapping
from ecgharness.errors import ConfigError
from ecgharness.training.config import OPTIMISER_KEYS, TRAINING_KEYS, TrainConfig
from ecgmodels import list_models, model_info

DISTRIBUTIONS = ("loguniform", "uniform", "choice", "randint")
_SCALAR = (int, float, str, bool, type(None))


@dataclass(frozen=True)
class Param:
    """One searched or fixed value: ``kind`` in DISTRIBUTIONS or ``fixed``."""

    kind: str
    args: tuple[Any, ...]

    def to_tune(self) -> Any:
        from ray import tune

        if self.kind == "fixed":
            return self.args[0]
        if self.kind == "loguniform":
            return tune.loguniform(*self.args)
        if self.kind == "uniform":
            return tune.uniform(*self.args)
        if self.kind == "randint":
            return tune.randint(self.args[0], self.args[1] + 1)  # tune's upper bound is exclusive
        return tune.choice(list(self.args))

    def sample(self, rng: random.Random) -> Any:
        if self.kind == "fixed":
            return self.args[0]
        if self.kind == "loguniform":
            lo, hi = self.args
            return math.exp(rng.uniform(math.log(lo), math.log(hi)))
        if self.kind == "uniform":
            return rng.uniform(*self.args)
        if self.kind == "randint":
            return rng.randint(*self.args)
        return rng.choice(self.args)


@dataclass(frozen=True)
class SearchSpace:
    """A validated search space for one model."""

    model: str
    params: dict[str, Param] = field(default_factory=dict)
    source: str = ""

    def to_tune(self) -> dict[str, Any]:
        return {k: p.to_tune() for k, p in self.params.items()}

    @property
    def searched(self) -> list[str]:
        """Names of the entries that are sampled rather than fixed."""
        return [k for k, p in self.params.items() if p.kind != "fixed"]

    def sample(self, seed: int = 0) -> dict[str, Any]:
        rng = random.Random(seed)
        return {k: p.sample(rng) for k, p in self.params.items()}

    def fixed_only(self) -> "SearchSpace":
        """The fixed entries alone: every searched one falls back to the model's or the loop's default."""
        return SearchSpace(self.model, {k: p for k, p in self.params.items() if p.kind == "fixed"},
                           f"{self.source} (fixed entries only)")

    def merged(self, overrides: Mapping[str, Any], where: str) -> "SearchSpace":
        """This space with some entries replaced (for example by a suite)."""
        extra = parse_space(self.model, overrides, where)
        return SearchSpace(self.model, {**self.params, **extra.params}, f"{self.source} + {where}")


def _parse_param(key: str, value: Any, where: str) -> Param:
    if isinstance(value, _SCALAR):
        return Param("fixed", (value,))
    if not isinstance(value, Mapping) or len(value) != 1:
        raise ConfigError(
            f"{where}: {key}: expected a plain value or one of "
            f"{{{', '.join(d + ': ...' for d in DISTRIBUTIONS)}}}, got {value!r}"
        )
    (kind, args), = value.items()
    if kind not in DISTRIBUTIONS:
        raise ConfigError(f"{where}: {key}: unknown distribution {kind!r}; valid: {', '.join(DISTRIBUTIONS)}")
    if not isinstance(args, (list, tuple)):
        raise ConfigError(f"{where}: {key}: {kind} takes a list, got {args!r}")
    if kind == "choice":
        if not args:
            raise ConfigError(f"{where}: {key}: choice needs at least one value")
        bad = [a for a in args if not isinstance(a, _SCALAR)]
        if bad:
            raise ConfigError(f"{where}: {key}: choice values must be numbers, strings or booleans, got {bad}")
        return Param(kind, tuple(args))
    if len(args) != 2 or not all(isinstance(a, (int, float)) and not isinstance(a, bool) for a in args):
        raise ConfigError(f"{where}: {key}: {kind} takes [low, high] numbers, got {args!r}")
    low, high = args
    if not low < high:
        raise ConfigError(f"{where}: {key}: {kind} needs low < high, got [{low}, {high}]")
    if kind == "loguniform" and low <= 0:
        raise ConfigError(f"{where}: {key}: loguniform needs low > 0, got {low}")
    if kind == "randint":
        if not (isinstance(low, int) and isinstance(high, int)):
            raise ConfigError(f"{where}: {key}: randint takes integer bounds, got [{low}, {high}]")
        return Param(kind, (low, high))
    return Param(kind, (float(low), float(high)))


def parse_space(model: str, entries: Mapping[str, Any] | None, where: str) -> SearchSpace:
    """Validate ``entries`` for ``model``: keys, distributions and their arguments."""
    if model not in list_models():
        raise ConfigError(f"{where}: unknown model {model!r}; valid models: {', '.join(list_models())}")
    if entries is None:
        entries = {}
    if not isinstance(entries, Mapping):
        raise ConfigError(f"{where}: space must be a mapping of name: distribution, got {entries!r}")
    valid = list(TRAINING_KEYS) + list(model_info(model).hyperparameters)
    params = {}
    for key, value in entries.items():
        if key not in valid:
            raise ConfigError(
                f"{where}: {key!r} is neither a training hyperparameter nor one of model "
                f"{model!r}'s; valid keys: {', '.join(valid)}"
            )
        params[key] = _parse_param(key, value, where)
        if key in TRAINING_KEYS:
            _check_training_values(key, params[key], where)
    return SearchSpace(model, params, where)


def _check_training_values(key: str, param: Param, where: str) -> None:
    """Every value a training technique can take must be valid for the training loop."""
    if key in OPTIMISER_KEYS:
        return
    samples = param.args if param.kind in ("fixed", "choice") else (param.sample(random.Random(0)),)
    for value in samples:
        from_mapping(TrainConfig, {key: value}, f"{where}: {key}")


def search_space_files() -> list[Path]:
    folder = resources.files("ecgharness.search_spaces")
    return sorted(Path(str(p)) for p in folder.iterdir() if p.name.endswith(".yaml"))


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: invalid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping with keys 'models' and 'space'")
    unknown = sorted(set(data) - {"models", "space", "description"})
    if unknown:
        raise ConfigError(f"{path}: unknown key {', '.join(map(repr, unknown))}; valid keys: models, space, description")
    return data


def load_search_space(model: str, path: str | Path | None = None) -> SearchSpace:
    """The search space of ``model``: from ``path``, else the packaged YAML listing the model."""
    files = [Path(path)] if path else search_space_files()
    for file in files:
        data = _read_yaml(file)
        models = data.get("models") or []
        if isinstance(models, str):
            models = [models]
        if model in models:
            return parse_space(model, data.get("space"), str(file.name))
    if model not in list_models():
        raise ConfigError(f"unknown model {model!r}; valid models: {', '.join(list_models())}")
    raise ConfigError(f"no search space lists model {model!r}; add it to a YAML file in {files[0].parent} "
                      "or give the model a 'space' in the suite")


def space_for(model: str, overrides: Mapping[str, Any] | None, where: str) -> SearchSpace:
    """A suite entry's space: the packaged one with ``overrides`` on top.

    A model registered outside the package (a suite's ``imports``) may have no packaged
    space; then the suite's ``space`` is the whole space.
    """
    if model in list_models() and not any(
        model in (_read_yaml(f).get("models") or []) for f in search_space_files()
    ):
        return parse_space(model, overrides or {}, where)
    return load_search_space(model).merged(overrides or {}, where)
