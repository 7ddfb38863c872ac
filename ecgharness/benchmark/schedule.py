"""The one schedule of a suite: every (dataset, model) search in a single Ray Tune experiment.

Ray Tune runs one experiment per driver process (several ``Tuner`` s in one process are not
supported), so the pairs share one experiment: :class:`~ecgharness.benchmark.multiplex.PairSearcher`
gives each new trial to a pair that has work and asks that pair's own Optuna study for its
hyperparameters; :class:`~ecgharness.benchmark.multiplex.PairASHA` stops a trial against its own
pair's siblings only. When a pair's last trial has ended, its rows are written and its final
seeds are handed to ``on_searched`` at once, while the other pairs keep searching: a free slot
goes to whichever pair, search or final, has work.
"""

from __future__ import annotations

import os
from typing import Any, Callable

from ray import tune
from ray.tune import Callback
from ray.tune.progress_reporter import TrialProgressCallback

from ecgharness.benchmark.multiplex import (Budgets, PairASHA, PairSearch, PairSearcher, hyperparameters, pair_of,
                                            trial_of)
from ecgharness.benchmark.distributed import release
from ecgharness.benchmark.lifeline import StopFlag
from ecgharness.benchmark.observers import BestTrial, Observers, Pair, SearchPlan
from ecgharness.benchmark.ray_session import SharedDataset
from ecgharness.benchmark.search import PairTrials, trial_error
from ecgharness.benchmark.trials import TrialSpec, search_trial
from ecgharness.leaderboard.store import BUDGET_STATUS, RunWriter

_ENDED = ("TERMINATED", "ERROR")


def pair_trial(config: dict[str, Any], data: dict[str, SharedDataset], specs: dict[str, TrialSpec],
               checkpoints: str | None = None) -> None:
    """Ray Tune function trainable of the schedule: the search trial of the pair named in
    ``config``, checkpointed after every epoch under ``checkpoints`` (a folder or URI)."""
    from ecgharness.benchmark.checkpoints import CheckpointFile

    key = pair_of(config)
    saved = None if checkpoints is None else CheckpointFile(checkpoints, trial_of(config))
    search_trial(hyperparameters(config), data[key], specs[key], saved)


class _Quiet(TrialProgressCallback):
    """Takes the place of the progress printer Tune adds otherwise (which prints a line for each
    trial a time budget stops before it starts): the run's observers report progress."""

    def _print(self, msg: str) -> None:
        pass


class _Events(Callback):
    """Tune's trial events, routed to each pair's :class:`PairTrials` under the trials' lasting
    ids; ends each pair's search as soon as its last trial has ended. While the run is being
    stopped, trials that end are not recorded: they go on in the resumed run."""

    def __init__(self, pairs: dict[str, PairTrials], searcher: PairSearcher, budgets: Budgets, writer: RunWriter,
                 on_searched: Callable[[Pair, BestTrial | None], None], tick: Callable[[], None],
                 stopping: StopFlag) -> None:
        self.pairs, self.searcher, self.budgets, self.writer = pairs, searcher, budgets, writer
        self.on_searched, self.tick, self.stopping = on_searched, tick, stopping
        self.finished: list[str] = []

    def on_trial_start(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        key = pair_of(trial.config)
        self.budgets.pair_started(key)
        self.pairs[key].start(trial_of(trial.config), hyperparameters(trial.config))

    def on_trial_result(self, iteration: int, trials: list, trial: Any, result: dict, **info: Any) -> None:
        self.pairs[pair_of(trial.config)].report(trial_of(trial.config), result)

    def on_trial_recover(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        release(trial.last_result)  # a multi-worker trial gives its workers back at once
        self.pairs[pair_of(trial.config)].retried(trial_of(trial.config))

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        release(trial.last_result)
        if not self.stopping.is_set():
            lasting = trial_of(trial.config)
            self.pairs[pair_of(trial.config)].end(lasting, budget=lasting in self.budgets.stopped)

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        release(trial.last_result)
        if not self.stopping.is_set():
            self.pairs[pair_of(trial.config)].end(trial_of(trial.config), trial_error(trial), failed=True)

    def on_step_end(self, iteration: int, trials: list, **info: Any) -> None:
        if not self.stopping.is_set():
            self.finish_ready(trials)
        self.tick()

    def finish_ready(self, trials: list) -> None:
        """End the search of every pair that will start no trial and has none left running."""
        busy = {pair_of(t.config) for t in trials if t.status not in _ENDED}
        for key, pair in self.pairs.items():
            if key not in self.finished and key not in busy and self.searcher.exhausted(key):
                self.finish(key)

    def finish(self, key: str) -> None:
        self.finished.append(key)
        trials = self.pairs[key]
        lost = self.searcher.suggested[key] < self.searcher.searches[key].trials or \
            any(r.status == BUDGET_STATUS for r in trials.records)
        best = trials.finish(self.writer, self.budgets.cut_reason.get(key, "") if lost else "")
        self.on_searched(trials.pair, best)


class _StopAll(tune.Stopper):
    """Stops the whole experiment once the run is asked to stop (Ctrl-C, SIGTERM)."""

    def __init__(self, stopping: StopFlag) -> None:
        self.stopping = stopping

    def __call__(self, trial_id: str, result: dict) -> bool:
        return False

    def stop_all(self) -> bool:
        return self.stopping.is_set()


def run_schedule(searches: list[PairSearch], trainable: Any, *, storage: str, name: str, writer: RunWriter,
                 observers: Observers, budgets: Budgets, on_searched: Callable[[Pair, BestTrial | None], None],
                 slots: int, tick: Callable[[], None] = lambda: None, study_storage: Any = None,
                 logs: dict[str, Any] | None = None, journal: Any = None, stopping: StopFlag | None = None,
                 max_failures: int = 0, multi_worker: bool = False) -> list[str]:
    """Search every pair of ``searches`` in one Tune experiment; the pair keys in the order
    their searches ended.

    Args:
        searches: The pairs and how each is searched.
        trainable: The Tune trainable (with its resources) that runs a trial of any pair.
        storage: Tune's experiment storage (path or URI); the experiment is ``name`` in it.
        writer: The run's results store; each pair's trials are written when its search ends.
        observers: Receive every trial and search event.
        budgets: The pairs' and the suite's time budgets.
        on_searched: Called with each pair and its best trial (None if none) when its search ends.
        slots: Trials the cluster runs at once; as many may wait for their worker to start (Tune's
            default for a custom searcher is one, which starts workers one after another).
        tick: Called on every step of Tune's loop (progress, collecting final runs).
        study_storage: Optuna storage for the pairs' studies (None: in memory).
        logs: A stopped run's search, per pair, to go on from (see :mod:`ecgharness.benchmark.replay`).
        journal: The run's journal: every suggestion, start, epoch, restart and end goes into it.
        stopping: Set it to stop the experiment; running trials stop and stay unfinished.
        max_failures: Restarts of a trial whose worker or node was lost (from its last checkpoint).
        multi_worker: Trials train on Ray Train workers (:mod:`ecgharness.benchmark.distributed`):
            Tune starts at most ``slots`` of them (each reserves almost nothing itself, so Tune's
            own resource count would start them all), each in a new process; each trial's
            workers are given back as soon as it ends or restarts.
    """
    logs = logs or {}
    stopping = stopping or StopFlag()
    pairs = {s.key: PairTrials(s.pair, s.max_epochs, observers, s.seed, s.headline, journal) for s in searches}
    for key, log in logs.items():
        if key in pairs:
            pairs[key].restore(log)
    searcher = PairSearcher(searches, budgets, study_storage, logs, journal, stopping)
    events = _Events(pairs, searcher, budgets, writer, on_searched, tick, stopping)
    for s in searches:
        grace = min(s.grace_period, s.max_epochs)
        observers.search_started(SearchPlan(s.pair, s.trials, tuple(s.space.searched), grace, s.reduction_factor,
                                            s.max_epochs))
    left = sum(s.trials - len(logs[s.key].ended) if s.key in logs else s.trials for s in searches)
    tuner = tune.Tuner(
        trainable,
        param_space={},
        tune_config=tune.TuneConfig(search_alg=searcher, scheduler=PairASHA(searches, budgets, logs),
                                    num_samples=max(1, left),
                                    max_concurrent_trials=slots if multi_worker else None,
                                    # a new worker process per trial leaves its slot idle
                                    reuse_actors=not multi_worker),
        run_config=tune.RunConfig(name=name, storage_path=storage, verbose=0, callbacks=[events, _Quiet()],
                                  stop=_StopAll(stopping), failure_config=tune.FailureConfig(max_failures=max_failures)),
    )
    before = os.environ.get("TUNE_MAX_PENDING_TRIALS_PG")
    os.environ["TUNE_MAX_PENDING_TRIALS_PG"] = before or str(max(1, slots))
    try:
        if left > 0:
            tuner.fit()
    finally:
        if before is None:
            os.environ.pop("TUNE_MAX_PENDING_TRIALS_PG")
    if stopping.is_set():
        return events.finished
    for key in pairs:  # pairs whose last trial ended on Tune's final step
        if key not in events.finished:
            events.finish(key)
    return events.finished
