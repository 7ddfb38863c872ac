"""The search of one (dataset, model) pair: Optuna samples, ASHA stops, Tune runs the trials.

Each pair gets its own Tune experiment (``<dataset>__<model>`` in the storage), its own
seeded Optuna study and its own ASHA brackets, so a weak model is stopped against its own
siblings only. A Tune callback turns trial events into observer events and keeps each
trial's reported epochs for ``trial_history.csv``.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

from ray import tune
from ray.tune import Callback

from ecgharness.benchmark.observers import BestTrial, Observers, Pair, SearchDone, SearchPlan, TrialEnd, TrialInfo
from ecgharness.benchmark.ray_session import SharedDataset
from ecgharness.benchmark.suite import Suite
from ecgharness.benchmark.trials import TrialSpec, error_reason, search_trial
from ecgharness.leaderboard.store import FailureRecord, RunWriter, TrialRecord
from ecgharness.search_spaces import SearchSpace

_HISTORY_KEYS = ("epoch", "train_loss", "val_loss", "score", "best_score", "early_stopped")


def _trial_error(trial: Any) -> BaseException | None:
    """The exception Tune stored for a failed trial (read from the trial's local folder)."""
    import cloudpickle

    try:
        with open(trial.pickled_error_file, "rb") as f:
            return cloudpickle.load(f)
    except (OSError, TypeError, ValueError, EOFError):
        return None


class _TrialEvents(Callback):
    """Tune's trial events of one pair as observer events; keeps the reported epochs."""

    def __init__(self, pair: Pair, spec: TrialSpec, max_epochs: int, observers: Observers) -> None:
        self.pair, self.spec, self.max_epochs, self.observers = pair, spec, max_epochs, observers
        self.history: list[dict[str, Any]] = []
        self.last: dict[str, dict[str, Any]] = {}
        self.started: dict[str, float] = {}

    def _info(self, trial: Any) -> TrialInfo:
        return TrialInfo(self.pair, trial.trial_id, dict(trial.config), self.spec.seed, self.max_epochs)

    def best_epoch(self, trial_id: str) -> int:
        """The first epoch at which the trial reached its best validation score."""
        rows = [r for r in self.history if r["trial_id"] == trial_id]
        best = max((r["score"] for r in rows), default=None)
        return next((int(r["epoch"]) for r in rows if r["score"] == best), 0)

    def stop_reason(self, trial_id: str) -> str:
        last = self.last.get(trial_id)
        if not last:
            return "no epoch reported"
        if last.get("early_stopped"):
            return "early stopping (patience)"
        if int(last.get("epoch", 0)) < self.max_epochs:
            return "stopped by ASHA"
        return "completed"

    def _ended(self, trial: Any, status: str, reason: str = "") -> None:
        last = self.last.get(trial.trial_id, {})
        took = time.time() - self.started.get(trial.trial_id, time.time())
        self.observers.trial_ended(TrialEnd(self._info(trial), status, int(last.get("epoch", 0)),
                                            float(last.get("best_score", math.nan)), took, reason))

    def on_trial_start(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self.started[trial.trial_id] = time.time()
        self.observers.trial_started(self._info(trial))

    def on_trial_result(self, iteration: int, trials: list, trial: Any, result: dict, **info: Any) -> None:
        row = {k: v for k, v in result.items() if k in _HISTORY_KEYS or k.startswith("val_")}
        row["trial_id"] = trial.trial_id
        self.history.append(row)
        self.last[trial.trial_id] = row
        self.observers.trial_reported(self._info(trial), dict(result))

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._ended(trial, self.stop_reason(trial.trial_id))

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._ended(trial, "failed", error_reason(_trial_error(trial)))


def _tuner(suite: Suite, pair: Pair, space: SearchSpace, trainable: Any, storage: str,
           events: _TrialEvents) -> tuple[tune.Tuner, SearchPlan]:
    """The Tune experiment of one pair: seeded Optuna over its space, ASHA on epochs."""
    from ray.tune.schedulers import ASHAScheduler
    from ray.tune.search.optuna import OptunaSearch

    max_t = suite.training.max_epochs
    grace = min(suite.search.grace_period, max_t)
    scheduler = ASHAScheduler(time_attr="epoch", metric="best_score", mode="max", max_t=max_t,
                              grace_period=grace, reduction_factor=suite.search.reduction_factor)
    num_samples, searcher = suite.search.num_samples, None
    if space.searched:
        searcher = OptunaSearch(metric="best_score", mode="max", seed=suite.search.seed)
    else:  # nothing to search: one trial of the fixed configuration
        num_samples = 1
    tuner = tune.Tuner(
        trainable,
        param_space=space.to_tune(),
        tune_config=tune.TuneConfig(search_alg=searcher, scheduler=scheduler, num_samples=num_samples,
                                    max_concurrent_trials=suite.search.max_concurrent_trials or None),
        run_config=tune.RunConfig(name=f"{pair.dataset}__{pair.model}", storage_path=storage, verbose=0,
                                  callbacks=[events], failure_config=tune.FailureConfig(max_failures=0)),
    )
    plan = SearchPlan(pair, num_samples, tuple(space.searched), grace, suite.search.reduction_factor, max_t)
    return tuner, plan


def search_pair(suite: Suite, pair: Pair, space: SearchSpace, data: SharedDataset, headline: str,
                storage: str, writer: RunWriter, observers: Observers) -> BestTrial | None:
    """Search one pair, record its trials and return its best trial (None if all failed)."""
    spec = TrialSpec(model=pair.model, training=suite.training, threads=max(1, int(suite.resources.cpus_per_trial)),
                     imports=tuple(suite.imports), seed=suite.search.seed)
    resources = {"cpu": suite.resources.cpus_per_trial, "gpu": suite.resources.gpus_per_trial}
    trainable = tune.with_resources(tune.with_parameters(search_trial, data=data, spec=spec), resources)
    events = _TrialEvents(pair, spec, suite.training.max_epochs, observers)
    tuner, plan = _tuner(suite, pair, space, trainable, storage, events)
    observers.search_started(plan)
    start = time.perf_counter()
    grid = tuner.fit()
    took = time.perf_counter() - start
    writer.add_history(pair.dataset, pair.model, events.history)
    best, reasons = None, set()
    for result in grid:
        metrics = result.metrics or {}
        trial_id = metrics.get("trial_id") or Path(result.path).name
        score = metrics.get("best_score", math.nan)
        record = TrialRecord(
            dataset=pair.dataset, model=pair.model, trial_id=trial_id,
            status="failed" if result.error else events.stop_reason(trial_id), epochs=metrics.get("epoch", 0),
            best_val_score=score, headline=headline, reason=error_reason(result.error), config=dict(result.config or {}))
        writer.add_trial(record)
        reasons |= {record.reason} - {""}
        if not result.error and isinstance(score, float) and math.isfinite(score):
            if best is None or score > best.score:
                best = BestTrial(score, record.config, trial_id, events.best_epoch(trial_id))
    reason = "" if best else "every trial failed: " + "; ".join(sorted(reasons))
    if best is None:
        writer.add_failure(FailureRecord(pair.dataset, pair.model, "search", reason))
    observers.search_finished(SearchDone(pair, headline, took, best, reason))
    writer.save()
    return best
