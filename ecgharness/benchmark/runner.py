"""Run a suite: prepare the data, search every (dataset, model) pair with Ray Tune, retrain
the winners with several seeds, test each once, and write the results store.

Read top-down, :func:`run_suite` is the whole story: prepare -> schedule (search and final,
every pair at once) -> store.
The runner prints nothing itself: every step is an event for the run's observers (the
console and, with ``--wandb``, Weights & Biases, plugged in by the command line).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Iterable

from ecgharness.benchmark import provenance
from ecgharness.benchmark.checkpoints import checkpoints_root, join_uri
from ecgharness.benchmark.checkpoints import clear as clear_checkpoints
from ecgharness.benchmark.final import evaluate_floors
from ecgharness.benchmark.lifeline import (ClusterLost, ClusterWatch, RunStopped, StopFlag, exit_lost,
                                           stop_on_signals)
from ecgharness.benchmark.observers import ClusterInfo, Observers, Pair, RunInfo, RunObserver
from ecgharness.benchmark.progress import ProgressTracker
from ecgharness.benchmark.ray_session import SharedDataset, start_ray, stop_ray, trial_slots
from ecgharness.benchmark.suite import ModelEntry, Suite, parse_suite
from ecgharness.benchmark.trials import TrialSpec
from ecgharness.datasets.base import PreparedDataset, load_dataset
from ecgharness.errors import ConfigError
from ecgharness.leaderboard.journal import JOURNAL_FILE, Journal, read_journal, sessions
from ecgharness.leaderboard.store import FailureRecord, RunWriter, write_status
from ecgharness.search_spaces import space_for
from ecgharness.training.inputs import compatible


@dataclass(frozen=True)
class RunOptions:
    """Where a run reads and writes, and which Ray cluster it uses.

    Attributes:
        results_dir: Root of the results store.
        data_root: Raw data root (default ``$ECGHARNESS_DATA`` or ``./data``).
        cache_dir: Prepared-array cache (default ``$ECGHARNESS_CACHE`` or ``~/.cache/ecgharness``).
        address: Ray cluster address (``auto`` or ``ray://host:10001``); default starts Ray locally.
        storage: Tune experiment storage (a path or URI such as ``s3://bucket/ecg``).
        run_id: Folder name of the run (default: a timestamp).
        num_cpus: CPUs of a locally started Ray (default: all).
        max_lost_share: Largest share of quarantined records a dataset may lose before the
            run stops (overrides the suite's per-dataset ``max_lost_share``).
        time_budget_s: Seconds the whole suite may search (then every pair's best trial so far
            goes to final evaluation); None: no limit.
        cluster_timeout_s: Seconds the cluster's head may not answer before the run ends (then
            within another ``cluster_timeout_s / 2`` at most, resumable).
    """

    results_dir: Path = Path("results")
    data_root: str | None = None
    cache_dir: str | None = None
    address: str | None = None
    storage: str | None = None
    run_id: str | None = None
    num_cpus: int | None = None
    max_lost_share: float | None = None  # overrides each dataset entry's
    time_budget_s: float | None = None
    cluster_timeout_s: float = 60.0


@dataclass(frozen=True)
class _Plan:
    """The pairs a suite will run and those it skips (with the reason)."""

    pairs: tuple[tuple[Pair, ModelEntry], ...]
    skipped: tuple[tuple[Pair, str], ...]


def prepare_datasets(suite: Suite, options: RunOptions, observers: Observers) -> dict[str, PreparedDataset]:
    """Load (or build and cache) every dataset of the suite."""
    datasets = {}
    for entry in suite.datasets:
        start = time.perf_counter()
        lost = options.max_lost_share if options.max_lost_share is not None else entry.max_lost_share
        datasets[entry.name] = load_dataset(entry.name, entry.config, root=options.data_root,
                                            cache_dir=options.cache_dir, max_lost_share=lost)
        observers.dataset_prepared(datasets[entry.name], time.perf_counter() - start)
    return datasets


def plan_pairs(suite: Suite, datasets: dict[str, PreparedDataset]) -> _Plan:
    """Every (dataset, model) pair of the suite; pairs whose inputs do not fit are skipped."""
    pairs, skipped = [], []
    for name, ds in datasets.items():
        for entry in suite.models:
            reason = compatible(entry.name, ds)
            (skipped.append((Pair(name, entry.name), reason)) if reason else pairs.append((Pair(name, entry.name), entry)))
    return _Plan(tuple(pairs), tuple(skipped))


def _provenance(suite: Suite, run_id: str, datasets: dict[str, PreparedDataset]) -> dict:
    return provenance.collect({
        "suite": suite.name,
        "run_id": run_id,
        "datasets": {n: {"cache_key": d.cache_key, "config": d.config, "notes": d.notes,
                         "class_counts": {s: d.class_counts(s) for s in d.splits},
                         "quarantined": d.quarantined} for n, d in datasets.items()},
    })


def search_data(pairs: Iterable[Pair], datasets: dict[str, PreparedDataset]) -> dict[str, SharedDataset]:
    """One object-store copy per dataset of ``pairs``, without its test split, for their search trials."""
    names = dict.fromkeys(pair.dataset for pair in pairs)
    return {name: SharedDataset.put(datasets[name], keep_test=False) for name in names}


def pair_searches(suite: Suite, plan: _Plan, datasets: dict[str, PreparedDataset]) -> list:
    """How each pair of the plan is searched: its space, trials, ASHA brackets and budget."""
    from ecgharness.benchmark.multiplex import PairSearch
    from ecgharness.search_spaces import space_for

    out, s = [], suite.search
    for pair, entry in plan.pairs:
        space = space_for(entry.name, entry.space, f"suite models[{entry.name}].space")
        if not s.enabled:
            space = space.fixed_only()
        out.append(PairSearch(pair, space, s.num_samples, s.max_concurrent_trials, s.seed, s.grace_period,
                              s.reduction_factor, suite.training.max_epochs, datasets[pair.dataset].headline,
                              s.time_budget_s))
    return out


def search_and_evaluate(suite: Suite, searches: list, datasets: dict[str, PreparedDataset],
                        storage: str, writer: RunWriter, observers: Observers, progress: ProgressTracker,
                        time_budget_s: float | None, slots: int, resume: _Resume, stopping: StopFlag,
                        session: int = 0) -> None:
    """Search every pair and retrain each pair's winner, all in one schedule: a pair's final
    seeds start as soon as its own search ends, while the other pairs go on searching.

    A resumed run (``resume``) searches only the pairs whose search had not ended, and
    retrains only the seeds not yet scored. Setting ``stopping`` ends both, resumable."""
    from ray import tune

    from ecgharness.benchmark import distributed
    from ecgharness.benchmark.final import FinalRuns
    from ecgharness.benchmark.multiplex import Budgets
    from ecgharness.benchmark.observers import BestTrial
    from ecgharness.benchmark.schedule import pair_trial, run_schedule

    multi_worker = suite.resources.workers_per_trial > 1
    checkpoints = checkpoints_root(storage)
    retries = suite.resources.max_failures
    finals = FinalRuns(suite, datasets, writer, observers, checkpoints, resume.finals_done, retries, storage)
    planned = len(searches) * len(suite.final.seeds)
    for s in searches:  # pairs whose search had ended: their seeds not yet scored go first
        log = resume.logs.get(s.key)
        if log is not None and log.searched and log.best is not None:
            finals.submit(s.pair, BestTrial(**log.best), planned)
    left = [s for s in searches if not (s.key in resume.logs and resume.logs[s.key].searched)]
    if left:
        shared = search_data((s.pair for s in left), datasets)
        threads = max(1, int(suite.resources.cpus_per_trial))
        specs = {s.key: TrialSpec(model=s.pair.model, training=suite.training, threads=threads,
                                  imports=tuple(suite.imports), seed=suite.search.seed) for s in left}
        data = {s.key: shared[s.pair.dataset] for s in left}
        if multi_worker:  # Ray Train workers inside each trial
            trainable = distributed.trainable(data, specs, suite.resources, storage, checkpoints)
        else:
            resources = {"cpu": suite.resources.cpus_per_trial, "gpu": suite.resources.gpus_per_trial}
            trainable = tune.with_resources(
                tune.with_parameters(pair_trial, data=data, specs=specs, checkpoints=checkpoints), resources)

        def tick() -> None:
            finals.collect(timeout=0)
            progress.tick()

        budgets = Budgets(left, time_budget_s, spent={k: log.seconds for k, log in resume.logs.items()},
                          suite_spent=resume.suite_seconds)
        run_schedule(left, trainable, storage=storage, name="search" if not session else f"search-{session}",
                     writer=writer, observers=observers, budgets=budgets,
                     on_searched=lambda p, b: finals.submit(p, b, planned), slots=slots, tick=tick,
                     logs=resume.logs, journal=writer.journal, stopping=stopping, max_failures=retries,
                     multi_worker=multi_worker)
    while finals.pending and not stopping.is_set():
        finals.collect(timeout=1.0)
        progress.tick()
    if stopping.is_set():
        finals.cancel()


@dataclass(frozen=True)
class _Resume:
    """What a stopped run had done: its journal's events folded per pair, the final seeds it
    had scored, and the time its sessions searched (empty for a new run)."""

    logs: dict = field(default_factory=dict)
    finals_done: frozenset = frozenset()
    suite_seconds: float = 0.0

    @classmethod
    def of(cls, events: list[dict], writer: RunWriter) -> "_Resume":
        from ecgharness.benchmark.replay import replay, suite_seconds

        done = frozenset((r["dataset"], r["model"], int(r["seed"])) for r in writer.final_runs
                         if r.get("kind") == "model")
        return cls(replay(events), done, suite_seconds(events))


def run_suite(suite: Suite, options: RunOptions = RunOptions(),
              observers: Iterable[RunObserver] = ()) -> Path:
    """Run ``suite`` end to end, reporting to ``observers``, and return the run folder.

    Raises:
        RunStopped: Ctrl-C or SIGTERM stopped the run; ``resume_suite`` goes on with it.
        ClusterLost: The Ray cluster went away; ``resume_suite`` goes on with it on a new one.
    """
    run_id = options.run_id or datetime.now().strftime("%Y%m%d-%H%M%S")
    run_dir = (Path(options.results_dir) / suite.name / run_id).resolve()
    if run_dir.exists():
        raise FileExistsError(f"run folder {run_dir} already exists; choose another --run-id, or go on with "
                              f"that run: bench run --resume {run_dir}")
    return _execute(suite, run_dir, options, list(observers), None)


def resume_suite(run_dir: Path, options: RunOptions = RunOptions(),
                 observers: Iterable[RunObserver] = ()) -> Path:
    """Go on with the run in ``run_dir`` that was stopped, killed or lost its cluster: trials
    that ended are kept as they are, unfinished ones go on from their checkpoints, each
    pair's search goes on from what it had learned, and scored final seeds are not retrained.
    The suite is the one the run started with (its ``suite.yaml``)."""
    import yaml

    run_dir = Path(run_dir).resolve()
    events = read_journal(run_dir)
    if not (run_dir / "suite.yaml").exists() or not events:
        raise FileNotFoundError(f"{run_dir} is not a run that can be resumed: it has no suite.yaml and "
                                f"{JOURNAL_FILE} (runs are resumable from this version on); start a new run")
    if any(e["kind"] == "finished" for e in events):
        raise FileExistsError(f"run {run_dir} has finished; there is nothing to resume (see bench leaderboard)")
    suite = parse_suite(yaml.safe_load((run_dir / "suite.yaml").read_text()), str(run_dir / "suite.yaml"))
    return _execute(suite, run_dir, options, list(observers), events)


def _check_same_data(run_dir: Path, datasets: dict[str, PreparedDataset]) -> None:
    import json

    started = json.loads((run_dir / "provenance.json").read_text()).get("datasets", {})
    for name, ds in datasets.items():
        key = started.get(name, {}).get("cache_key")
        if key is not None and key != ds.cache_key:
            raise ConfigError(f"dataset {name!r} is not the data run {run_dir.name} started with (prepared "
                              f"{key}, now {ds.cache_key}); resume with the same data and cache, or start a new run")


def _execute(suite: Suite, run_dir: Path, options: RunOptions, listeners: list[RunObserver],
             events: list[dict] | None) -> Path:
    """The body of a new (``events`` None) or resumed run."""
    observers = Observers(listeners)
    try:
        observers.suite_started(suite)
        datasets = prepare_datasets(suite, options, observers)
        plan = plan_pairs(suite, datasets)
        for pair, reason in plan.skipped:
            observers.pair_skipped(pair, reason)
        if events is not None:
            _check_same_data(run_dir, datasets)
    except BaseException:
        observers.run_finished(None)
        raise
    session = sessions(events or [])
    if events is None:
        writer = RunWriter(run_dir, suite.name)
        writer.create(suite.to_dict(), _provenance(suite, run_dir.name, datasets))  # only once the data is ready
        writer.journal = Journal(run_dir, session)
        for pair, reason in plan.skipped:
            writer.add_failure(FailureRecord(pair.dataset, pair.model, "compatibility", reason))
    else:
        writer = RunWriter.reopen(run_dir, suite.name, events, Journal(run_dir, session))
    recorded = next((e.get("storage") for e in events or [] if e["kind"] == "session"), None)
    storage = options.storage and join_uri(options.storage, suite.name, run_dir.name)
    storage = storage or recorded or str(run_dir / "tune")
    writer.journal.write("session", storage=storage, address=options.address or "local")
    resume = _Resume.of(events or [], writer)
    info = RunInfo(suite.name, run_dir.name, run_dir)
    cluster: ClusterInfo | None = None
    progress, state = None, "stopped"
    stopping = StopFlag()
    try:
        observers.run_started(info)
        evaluate_floors(datasets, writer, observers, done={(r["dataset"], r["model"]) for r in writer.final_runs
                                                           if r.get("kind") == "floor"})
        cluster = start_ray(options.address, options.num_cpus, run_dir / "logs")
        observers.ray_started(cluster)
        res = suite.resources
        searches = pair_searches(suite, plan, datasets)
        slots = trial_slots(cluster, res.worker_cpus, res.worker_gpus, res.workers_per_trial)
        progress = ProgressTracker(suite.name, run_dir.name, {s.pair: s.trials for s in searches},
                                   len(suite.final.seeds), slots, emit=observers.progress,
                                   write=lambda snap: write_status(run_dir, snap.to_dict()))
        _take_up(progress, searches, resume)
        lost: list[str] = []

        def on_lost(message: str) -> None:
            lost.append(message)
            stopping.set()

        watch = ClusterWatch(cluster.address, on_lost, lost_after_s=options.cluster_timeout_s,
                             every_s=min(5.0, options.cluster_timeout_s / 4), grace_s=options.cluster_timeout_s / 2,
                             hard_exit=lambda m: exit_lost(str(ClusterLost(m, run_dir))))
        with stop_on_signals(stopping) as received, watch:
            search_and_evaluate(suite, searches, datasets, storage, writer, Observers([*listeners, progress]),
                                progress, options.time_budget_s, slots, resume, stopping, session)
        if lost:
            raise ClusterLost(lost[0], run_dir)
        if stopping.is_set():
            raise RunStopped(run_dir, received.get("signal", "a stop request"))
        state = "finished"
        writer.journal.write("finished")
        clear_checkpoints(checkpoints_root(storage))
    finally:
        writer.save()  # whatever finished is kept, even when the run is interrupted
        try:
            if progress is not None:
                progress.close(state)
            observers.run_finished(info)  # e.g. W&B finishes its open runs
        finally:
            writer.journal.close()
            stop_ray(cluster, run_dir / "logs")
    return run_dir


def _take_up(progress: ProgressTracker, searches: list, resume: _Resume) -> None:
    for s in searches:
        log = resume.logs.get(s.key)
        if log is not None:
            done = sum(1 for d, m, _ in resume.finals_done if (d, m) == (s.pair.dataset, s.pair.model))
            best = None if log.best is None else log.best.get("score")
            progress.take_up(s.pair, len(log.ended), log.searched, best, done)

