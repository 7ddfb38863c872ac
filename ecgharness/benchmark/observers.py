"""What a run tells the world: a small observer protocol.

The runner reports each step of a suite to a list of :class:`RunObserver` objects and
knows nothing about who listens. The console (:mod:`ecgharness.tracking.console`) and
Weights & Biases (:mod:`ecgharness.tracking.wandb`) are two observers, plugged in by the
command line; a third (say, MLflow) is one subclass that overrides the events it cares
about. Every event is called in the driver process, in order, and reaches every observer; an
error raised by an observer is raised again, once all of them have had the event.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from ecgharness.datasets.base import PreparedDataset
from ecgharness.leaderboard.store import FinalRecord


@dataclass(frozen=True)
class Pair:
    """One (dataset, model) pair of a suite."""

    dataset: str
    model: str

    @property
    def label(self) -> str:
        return f"{self.dataset}/{self.model}"


@dataclass(frozen=True)
class RunInfo:
    """The run folder has been created: where it is and what it runs."""

    suite: str
    run_id: str
    run_dir: Path


@dataclass(frozen=True)
class ClusterInfo:
    """The Ray the run uses: a local instance it started (``local``) or the cluster it joined
    at ``address``; ``owned`` when the run connected itself (and disconnects at its end)."""

    address: str
    local: bool
    nodes: int
    resources: dict[str, float]
    owned: bool = True

    def describe(self) -> str:
        """``N node(s), x CPU, y GPU`` and the other resources of note."""
        res = self.resources
        text = f"{self.nodes} node(s), {res.get('CPU', 0):g} CPU, {res.get('GPU', 0):g} GPU"
        memory = res.get("memory")
        return text + (f", {memory / 2**30:.1f} GiB memory" if memory else "")


@dataclass(frozen=True)
class SearchPlan:
    """The search of one pair is about to start."""

    pair: Pair
    num_samples: int
    searched: tuple[str, ...]
    grace_period: int
    reduction_factor: int
    max_epochs: int


@dataclass(frozen=True)
class TrialInfo:
    """One search trial: its pair, Tune's id, its hyperparameters and its seed."""

    pair: Pair
    trial_id: str
    config: dict[str, Any]
    seed: int
    max_epochs: int


@dataclass(frozen=True)
class TrialEnd:
    """How a trial ended: ``completed``, ``stopped by ASHA``, ``early stopping (patience)``,
    ``no epoch reported`` or ``failed`` (with ``reason``)."""

    trial: TrialInfo
    status: str
    epochs: int
    best_score: float
    seconds: float
    reason: str = ""


@dataclass(frozen=True)
class BestTrial:
    """The trial of a pair with the best validation score, reached after ``epochs`` epochs."""

    score: float
    config: dict[str, Any]
    trial_id: str
    epochs: int = 0


@dataclass(frozen=True)
class SearchDone:
    """The search of one pair has ended; ``best`` is None when every trial failed;
    ``budget_cut`` says why a time budget ended it early, if one did."""

    pair: Pair
    headline: str
    seconds: float
    best: BestTrial | None
    reason: str = ""
    budget_cut: str = ""


@dataclass(frozen=True)
class FinalDone:
    """One final retrain ended: ``record`` when it succeeded, else ``reason``."""

    pair: Pair
    seed: int
    config: dict[str, Any]
    record: FinalRecord | None = None
    history: list[dict[str, float]] = field(default_factory=list)
    val_metrics: dict[str, float] = field(default_factory=dict)
    reason: str = ""


class RunObserver:
    """Receives the events of a run; override the ones you need (all do nothing here)."""

    def suite_started(self, suite: Any) -> None: ...

    def dataset_prepared(self, dataset: PreparedDataset, seconds: float) -> None: ...

    def pair_skipped(self, pair: Pair, reason: str) -> None: ...

    def run_started(self, run: RunInfo) -> None: ...

    def ray_started(self, cluster: ClusterInfo) -> None:
        """Ray is up: a local instance this run started, or the cluster it joined."""

    def search_started(self, plan: SearchPlan) -> None: ...

    def trial_started(self, trial: TrialInfo) -> None: ...

    def trial_reported(self, trial: TrialInfo, metrics: dict[str, Any]) -> None: ...

    def trial_ended(self, end: TrialEnd) -> None: ...

    def search_finished(self, done: SearchDone) -> None: ...

    def floor_finished(self, record: FinalRecord) -> None:
        """A floor (non-deep baseline) of a dataset was fitted and scored on its test split."""

    def final_started(self, runs: int, seeds: tuple[int, ...]) -> None: ...

    def final_finished(self, done: FinalDone) -> None: ...

    def progress(self, status: Any) -> None:
        """Counts of the whole suite (an :class:`ecgharness.benchmark.progress.SuiteProgress`)."""

    def run_finished(self, run: RunInfo | None) -> None:
        """Always called, also when the run stopped with an error (``run`` None before the folder existed)."""


EVENTS = tuple(name for name in vars(RunObserver) if not name.startswith("_"))


class Observers:
    """Several observers as one: each event goes to each observer, in order."""

    def __init__(self, observers: Iterable[RunObserver] = ()) -> None:
        self._observers = list(observers)

    def __getattr__(self, name: str) -> Any:
        if name not in EVENTS:
            raise AttributeError(f"{name!r} is not a run event; events: {', '.join(EVENTS)}")

        def broadcast(*args: Any, **kwargs: Any) -> None:
            failure = None
            for observer in self._observers:  # every observer hears the event, even if one fails
                try:
                    getattr(observer, name)(*args, **kwargs)
                except BaseException as exc:  # re-raised once all were told
                    failure = failure or exc
            if failure is not None:
                raise failure

        return broadcast
