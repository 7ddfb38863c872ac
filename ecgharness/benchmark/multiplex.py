"""Many pair searches in one Tune experiment: a searcher that keeps one seeded Optuna study per
(dataset, model) pair, a scheduler that keeps one set of ASHA brackets per pair, and the time
budgets that end a pair's search early.

Every trial's config carries its pair under :data:`PAIR_KEY`; the searcher writes it, the
scheduler and the trainable read it. A pair's study only ever hears of its own trials and a
pair's ASHA only compares a trial with its own siblings, so the pairs are as independent as
if each had its own experiment, while sharing one cluster.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any, Callable

from ray.tune.schedulers import ASHAScheduler, TrialScheduler
from ray.tune.search import Searcher
from ray.tune.search.optuna import OptunaSearch

from ecgharness.benchmark.observers import Pair
from ecgharness.search_spaces import SearchSpace

PAIR_KEY = "_pair"  # config entry naming a trial's pair (``dataset/model``); never a hyperparameter
TRIAL_KEY = "_trial"  # config entry naming the trial for good: the Tune id it was first suggested with
METRIC, MODE, TIME_ATTR = "best_score", "max", "epoch"
FAILED = "failed"  # result entry of a trial whose training raised: its reason (it is never retried)
RESTORED = "restored"  # result entry: the epochs a trial's checkpoint held when it went on from it
RESUMED_FROM = "resumed_from"  # result entry: the epoch of the checkpoint the trial went on from (0: none)


def pair_of(config: dict[str, Any]) -> str:
    """The pair key (``dataset/model``) of a trial's config."""
    return config[PAIR_KEY]


def trial_of(config: dict[str, Any]) -> str:
    """The trial's lasting id: the same in a resumed run, where Tune gives it a new one."""
    return config[TRIAL_KEY]


def hyperparameters(config: dict[str, Any]) -> dict[str, Any]:
    """A trial's config without the schedule's entries: what the model and the loop receive."""
    return {k: v for k, v in config.items() if k not in (PAIR_KEY, TRIAL_KEY)}


class _Named:
    """Stands for a trial under its lasting id where ASHA needs only the id."""

    def __init__(self, trial_id: str) -> None:
        self.trial_id = trial_id


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
                 clock: Callable[[], float] = time.monotonic, spent: dict[str, float] | None = None,
                 suite_spent: float = 0.0) -> None:
        self._limit = {s.key: s.time_budget_s for s in searches}
        self.suite_s, self.clock = suite_s, clock
        self._start = clock() - suite_spent  # a resumed run counts the time its earlier sessions searched
        self._spent = dict(spent or {})
        self._pair_start: dict[str, float] = {}
        self.cut_reason: dict[str, str] = {}  # pair -> why its search was cut, once it was
        self.stopped: set[str] = set()  # trials stopped because their pair ran out of time

    def pair_started(self, key: str) -> None:
        self._pair_start.setdefault(key, self.clock() - self._spent.get(key, 0.0))

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
    a pair that has work. A resumed run's unfinished trials are suggested again first, with
    their hyperparameters and lasting ids, so they go on from their checkpoints.

    Args:
        searches: The pairs, in suite order.
        budgets: Their clocks.
        storage: Optuna storage holding every pair's study (one study per pair key); None
            keeps them in memory.
        logs: What a stopped run had done, per pair (see :mod:`ecgharness.benchmark.replay`).
        journal: Where each suggestion is recorded as it is made.
        stopping: Set when the run is being stopped: trials ending then are not told to the studies.
    """

    def __init__(self, searches: list[PairSearch], budgets: Budgets, storage: Any = None,
                 logs: dict[str, Any] | None = None, journal: Any = None, stopping: Any = None) -> None:
        super().__init__(metric=METRIC, mode=MODE)
        logs = logs or {}
        self.searches = {s.key: s for s in searches}
        self.budgets, self.journal, self.stopping = budgets, journal, stopping
        self.studies = {s.key: OptunaSearch(OptunaSearch.convert_search_space(
            {k: p.to_tune() for k, p in s.space.params.items() if p.kind != "fixed"}), metric=METRIC, mode=MODE,
            seed=s.seed + len(logs[s.key].suggested) if s.key in logs else s.seed,  # no repeat of earlier draws
            study_name=s.key, storage=storage) for s in searches if s.space.searched}
        self.suggested = {s.key: 0 for s in searches}
        self.live: dict[str, set[str]] = {s.key: set() for s in searches}
        self.owner: dict[str, str] = {}  # Tune trial id -> pair key
        self.again: dict[str, list[tuple[str, dict]]] = {s.key: [] for s in searches}  # resumed, to suggest first
        self.replayed: dict[str, dict[str, Any]] = {}  # Tune id of a resumed trial -> its sampled values
        for key, log in logs.items():
            if key in self.searches:
                self._replay(key, log)

    def _replay(self, key: str, log: Any) -> None:
        self.suggested[key] = len(log.suggested)
        self.again[key] = log.unfinished
        study = self.studies.get(key)
        for trial, record in log.ended.items():
            if study is not None:
                sampled = {k: v for k, v in log.suggested.get(trial, {}).items() if k in study._space}
                failed = record["status"] == "failed" or not _finite(record["best_val_score"])
                study.add_evaluated_point(sampled, None if failed else float(record["best_val_score"]), error=failed)

    def set_search_properties(self, metric: str | None, mode: str | None, config: dict, **spec: Any) -> bool:
        return True  # every pair's study was set up with its own space

    def has_work(self, key: str) -> bool:
        """The pair still has trials to start."""
        if self.stopping is not None and self.stopping.is_set():
            return False
        return (bool(self.again[key]) or self.suggested[key] < self.searches[key].trials) \
            and not self.budgets.cut(key)

    def exhausted(self, key: str) -> bool:
        """The pair will start no more trials."""
        return not self.has_work(key)

    def _next_pair(self) -> str | None:
        ready = [k for k, s in self.searches.items() if self.has_work(k)
                 and (not s.max_concurrent or len(self.live[k]) < s.max_concurrent)]
        return min(ready, key=lambda k: (not self.again[k], len(self.live[k]), self.suggested[k]), default=None)

    def suggest(self, trial_id: str) -> dict | None:
        key = self._next_pair()
        if key is None:
            return Searcher.FINISHED if all(self.exhausted(k) for k in self.searches) else None
        self.live[key].add(trial_id)
        self.owner[trial_id] = key
        if self.again[key]:  # a trial of the stopped run goes on under its own id
            lasting, config = self.again[key].pop(0)
            self.replayed[trial_id] = config
            return {**config, PAIR_KEY: key, TRIAL_KEY: lasting}
        space = self.searches[key].space
        fixed = {k: p.args[0] for k, p in space.params.items() if p.kind == "fixed"}
        sampled = self.studies[key].suggest(trial_id) if key in self.studies else {}
        self.suggested[key] += 1
        config = {**fixed, **sampled}
        if self.journal is not None:
            self.journal.write("suggest", pair=key, trial=trial_id, config=config)
        return {**config, PAIR_KEY: key, TRIAL_KEY: trial_id}

    def on_trial_result(self, trial_id: str, result: dict) -> None:
        study = self.studies.get(self.owner.get(trial_id, ""))
        if study is not None and METRIC in result and not result.get(FAILED) and trial_id not in self.replayed:
            study.on_trial_result(trial_id, result)

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        key = self.owner.get(trial_id)
        if key is None:
            return
        self.live[key].discard(trial_id)
        study = self.studies.get(key)
        if study is None or (self.stopping is not None and self.stopping.is_set()):
            return  # a trial the stop interrupted goes on in the resumed run
        error = error or bool(result and result.get(FAILED))
        if trial_id in self.replayed:
            sampled = {k: v for k, v in self.replayed[trial_id].items() if k in study._space}
            score = (result or {}).get(METRIC)
            ok = not error and _finite(score)
            study.add_evaluated_point(sampled, float(score) if ok else None, error=not ok)
        else:
            study.on_trial_complete(trial_id, result, error)


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value)


class PairASHA(TrialScheduler):
    """One :class:`ASHAScheduler` per pair; a trial is only ever compared with its own pair's.

    Trials are known to ASHA by their lasting ids, and a resumed run's brackets are given
    every result the stopped run had recorded first (Ray does not restore a scheduler's state,
    ray-project/ray#30838), so a resumed trial meets the same rungs it would have met.
    Trials of a pair whose budget ran out stop at their next report (the epoch in flight
    finishes) and its trials not yet started are stopped before they start. A trial that
    reports its training failed is stopped at once.
    """

    def __init__(self, searches: list[PairSearch], budgets: Budgets, logs: dict[str, Any] | None = None) -> None:
        super().__init__()
        self.budgets = budgets
        self.brackets = {s.key: ASHAScheduler(
            time_attr=TIME_ATTR, metric=METRIC, mode=MODE, max_t=s.max_epochs,
            grace_period=min(s.grace_period, s.max_epochs), reduction_factor=s.reduction_factor) for s in searches}
        for key, log in (logs or {}).items():
            if key in self.brackets:
                self._replay(self.brackets[key], log.results)

    @staticmethod
    def _replay(asha: ASHAScheduler, results: list[tuple[str, dict]]) -> None:
        for trial_id, row in results:
            asha._trial_info.setdefault(trial_id, asha._brackets[0])
            if METRIC in row and TIME_ATTR in row:
                asha._trial_info[trial_id].on_result(_Named(trial_id), row[TIME_ATTR], asha._metric_op * row[METRIC])

    def _asha(self, trial: Any) -> ASHAScheduler:
        return self.brackets[pair_of(trial.config)]

    def set_search_properties(self, metric: str | None, mode: str | None, **spec: Any) -> bool:
        return True

    def on_trial_add(self, tune_controller: Any, trial: Any) -> None:
        self._asha(trial).on_trial_add(tune_controller, _Named(trial_of(trial.config)))

    def on_trial_error(self, tune_controller: Any, trial: Any) -> None:
        self._asha(trial).on_trial_error(tune_controller, _Named(trial_of(trial.config)))

    def on_trial_result(self, tune_controller: Any, trial: Any, result: dict) -> str:
        key = pair_of(trial.config)
        self.budgets.pair_started(key)
        if result.get(FAILED):
            return TrialScheduler.STOP
        action = self._asha(trial).on_trial_result(tune_controller, _Named(trial_of(trial.config)), result)
        if action == TrialScheduler.CONTINUE and self.budgets.cut(key):  # CONTINUE: below max_t
            self.budgets.stopped.add(trial_of(trial.config))
            return TrialScheduler.STOP
        return action

    def on_trial_complete(self, tune_controller: Any, trial: Any, result: dict) -> None:
        if not (result or {}).get(FAILED):
            self._asha(trial).on_trial_complete(tune_controller, _Named(trial_of(trial.config)), result)

    def on_trial_remove(self, tune_controller: Any, trial: Any) -> None:
        self._asha(trial)._trial_info.pop(trial_of(trial.config), None)

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
