"""Many pair searches in one Tune experiment: a searcher that keeps one seeded Optuna study per
(dataset, model) pair, a scheduler that keeps one set of ASHA brackets per pair, and the time
budgets that end a pair's search early.

Every trial's config carries its pair under :data:`PAIR_KEY`; the searcher writes it, the
scheduler and the trainable read it. A pair's study only ever hears of its own trials and a
pair's ASHA only compares a trial with its own siblings, so the pairs are as independent as
if each had its own experiment, while sharing one cluster.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable

from ray.tune.schedulers import ASHAScheduler, TrialScheduler
from ray.tune.search import Searcher
from ray.tune.search.optuna import OptunaSearch

from ecgharness.benchmark.observers import Pair
from ecgharness.search_spaces import SearchSpace

PAIR_KEY = "_pair"  # config entry naming a trial's pair (``dataset/model``); never a hyperparameter
METRIC, MODE, TIME_ATTR = "best_score", "max", "epoch"


def pair_of(config: dict[str, Any]) -> str:
    """The pair key (``dataset/model``) of a trial's config."""
    return config[PAIR_KEY]


def hyperparameters(config: dict[str, Any]) -> dict[str, Any]:
    """A trial's config without the pair entry: what the model and the loop receive."""
    return {k: v for k, v in config.items() if k != PAIR_KEY}


@dataclass(frozen=True)
class PairSearch:
    """How one pair is searched inside the shared experiment.

    Attributes:
        pair: The (dataset, model) pair.
        space: Its search space (fixed entries are copied into every trial).
        num_samples: Trials of the pair (1 when nothing is searched).
        max_concurrent: Trials of the pair running or waiting at once (0: no limit).
        seed: Seeds the pair's Optuna sampler.
        grace_period, reduction_factor, max_epochs: The pair's ASHA brackets.
        headline: The dataset's headline metric (what ``best_score`` measures).
        time_budget_s: Seconds the pair may search, counted from its first trial (None: no limit).
    """

    pair: Pair
    space: SearchSpace
    num_samples: int
    max_concurrent: int
    seed: int
    grace_period: int
    reduction_factor: int
    max_epochs: int
    headline: str = ""
    time_budget_s: float | None = None

    @property
    def key(self) -> str:
        return self.pair.label

    @property
    def trials(self) -> int:
        return self.num_samples if self.space.searched else 1


class Budgets:
    """The clocks of a schedule: one per pair (from its first trial) and one for the suite."""

    def __init__(self, searches: list[PairSearch], suite_s: float | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._limit = {s.key: s.time_budget_s for s in searches}
        self.suite_s, self.clock = suite_s, clock
        self._start = clock()
        self._pair_start: dict[str, float] = {}
        self.cut_reason: dict[str, str] = {}  # pair -> why its search was cut, once it was
        self.stopped: set[str] = set()  # trials stopped because their pair ran out of time

    def pair_started(self, key: str) -> None:
        self._pair_start.setdefault(key, self.clock())

    def cut(self, key: str) -> bool:
        """True once the pair's or the suite's budget has run out (remembered with its reason)."""
        if key in self.cut_reason:
            return True
        now, limit = self.clock(), self._limit.get(key)
        if self.suite_s is not None and now - self._start >= self.suite_s:
            self.cut_reason[key] = f"the suite's time budget ({self.suite_s:g} s) ran out"
        elif limit is not None and key in self._pair_start and now - self._pair_start[key] >= limit:
            self.cut_reason[key] = f"the pair's time budget ({limit:g} s) ran out"
        return key in self.cut_reason


class PairSearcher(Searcher):
    """One Optuna study per pair behind Tune's searcher interface.

    A new trial goes to the pair with the fewest trials in flight that still has trials to
    start (its budget not spent, below its concurrency limit), so a free slot always serves
    a pair that has work.

    Args:
        searches: The pairs, in suite order.
        budgets: Their clocks.
        storage: Optuna storage holding every pair's study (one study per pair key); None
            keeps them in memory.
    """

    def __init__(self, searches: list[PairSearch], budgets: Budgets, storage: Any = None) -> None:
        super().__init__(metric=METRIC, mode=MODE)
        self.searches = {s.key: s for s in searches}
        self.budgets = budgets
        self.studies = {s.key: OptunaSearch(OptunaSearch.convert_search_space(
            {k: p.to_tune() for k, p in s.space.params.items() if p.kind != "fixed"}), metric=METRIC, mode=MODE,
            seed=s.seed, study_name=s.key, storage=storage) for s in searches if s.space.searched}
        self.suggested = {s.key: 0 for s in searches}
        self.live: dict[str, set[str]] = {s.key: set() for s in searches}
        self.owner: dict[str, str] = {}  # trial id -> pair key

    def set_search_properties(self, metric: str | None, mode: str | None, config: dict, **spec: Any) -> bool:
        return True  # every pair's study was set up with its own space

    def has_work(self, key: str) -> bool:
        """The pair still has trials to start."""
        return self.suggested[key] < self.searches[key].trials and not self.budgets.cut(key)

    def exhausted(self, key: str) -> bool:
        """The pair will start no more trials."""
        return not self.has_work(key)

    def _next_pair(self) -> str | None:
        ready = [k for k, s in self.searches.items() if self.has_work(k)
                 and (not s.max_concurrent or len(self.live[k]) < s.max_concurrent)]
        return min(ready, key=lambda k: (len(self.live[k]), self.suggested[k]), default=None)

    def suggest(self, trial_id: str) -> dict | None:
        key = self._next_pair()
        if key is None:
            return Searcher.FINISHED if all(self.exhausted(k) for k in self.searches) else None
        space = self.searches[key].space
        fixed = {k: p.args[0] for k, p in space.params.items() if p.kind == "fixed"}
        sampled = self.studies[key].suggest(trial_id) if key in self.studies else {}
        self.suggested[key] += 1
        self.live[key].add(trial_id)
        self.owner[trial_id] = key
        return {**fixed, **sampled, PAIR_KEY: key}

    def on_trial_result(self, trial_id: str, result: dict) -> None:
        study = self.studies.get(self.owner.get(trial_id, ""))
        if study is not None and METRIC in result:
            study.on_trial_result(trial_id, result)

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        key = self.owner.get(trial_id)
        if key is None:
            return
        self.live[key].discard(trial_id)
        if key in self.studies:
            self.studies[key].on_trial_complete(trial_id, result, error)


class PairASHA(TrialScheduler):
    """One :class:`ASHAScheduler` per pair; a trial is only ever compared with its own pair's.

    Trials of a pair whose budget ran out stop at their next report (the epoch in flight
    finishes) and its trials not yet started are stopped before they start.
    """

    def __init__(self, searches: list[PairSearch], budgets: Budgets) -> None:
        super().__init__()
        self.budgets = budgets
        self.brackets = {s.key: ASHAScheduler(
            time_attr=TIME_ATTR, metric=METRIC, mode=MODE, max_t=s.max_epochs,
            grace_period=min(s.grace_period, s.max_epochs), reduction_factor=s.reduction_factor) for s in searches}

    def _asha(self, trial: Any) -> ASHAScheduler:
        return self.brackets[pair_of(trial.config)]

    def set_search_properties(self, metric: str | None, mode: str | None, **spec: Any) -> bool:
        return True

    def on_trial_add(self, tune_controller: Any, trial: Any) -> None:
        self._asha(trial).on_trial_add(tune_controller, trial)

    def on_trial_error(self, tune_controller: Any, trial: Any) -> None:
        self._asha(trial).on_trial_error(tune_controller, trial)

    def on_trial_result(self, tune_controller: Any, trial: Any, result: dict) -> str:
        key = pair_of(trial.config)
        self.budgets.pair_started(key)
        action = self._asha(trial).on_trial_result(tune_controller, trial, result)
        if action == TrialScheduler.CONTINUE and self.budgets.cut(key):  # CONTINUE: below max_t
            self.budgets.stopped.add(trial.trial_id)
            return TrialScheduler.STOP
        return action

    def on_trial_complete(self, tune_controller: Any, trial: Any, result: dict) -> None:
        self._asha(trial).on_trial_complete(tune_controller, trial, result)

    def on_trial_remove(self, tune_controller: Any, trial: Any) -> None:
        self._asha(trial).on_trial_remove(tune_controller, trial)

    def choose_trial_to_run(self, tune_controller: Any) -> Any:
        from ray.tune.experiment import Trial

        for trial in tune_controller.get_trials():
            if trial.status != Trial.PENDING:
                continue
            if self.budgets.cut(pair_of(trial.config)):
                tune_controller.stop_trial(trial)  # never started: it costs no epoch
                continue
            return trial
        return None

    def debug_string(self) -> str:
        return f"ASHA per pair ({len(self.brackets)} pairs)"
