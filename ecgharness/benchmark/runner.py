"""Run a suite: prepare the data, search every (dataset, model) pair with Ray Tune, retrain
the winners with several seeds, test each once, and write the results store.

Read top-down, :func:`run_suite` is the whole story: prepare -> schedule (search and final,
every pair at once) -> store.
The runner prints nothing itself: every step is an event for the run's observers (the
console and, with ``--wandb``, Weights & Biases, plugged in by the command line).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Iterable

from ecgharness.benchmark import provenance
from ecgharness.benchmark.final import evaluate_floors
from ecgharness.benchmark.observers import ClusterInfo, Observers, Pair, RunInfo, RunObserver
from ecgharness.benchmark.progress import ProgressTracker
from ecgharness.benchmark.ray_session import SharedDataset, start_ray, stop_ray, trial_slots
from ecgharness.benchmark.suite import ModelEntry, Suite
from ecgharness.benchmark.trials import TrialSpec
from ecgharness.datasets.base import PreparedDataset, load_dataset
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


def search_data(plan: _Plan, datasets: dict[str, PreparedDataset]) -> dict[str, SharedDataset]:
    """One object-store copy per dataset, without its test split, for every pair's search trials."""
    names = dict.fromkeys(pair.dataset for pair, _ in plan.pairs)
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


def search_and_evaluate(suite: Suite, plan: _Plan, searches: list, datasets: dict[str, PreparedDataset],
                        storage: str, writer: RunWriter, observers: Observers, progress: ProgressTracker,
                        time_budget_s: float | None, slots: int) -> None:
    """Search every pair and retrain each pair's winner, all in one schedule: a pair's final
    seeds start as soon as its own search ends, while the other pairs go on searching."""
    from ray import tune

    from ecgharness.benchmark import distributed
    from ecgharness.benchmark.final import FinalRuns
    from ecgharness.benchmark.multiplex import Budgets
    from ecgharness.benchmark.schedule import pair_trial, run_schedule

    if not searches:  # every pair was skipped
        return
    shared = search_data(plan, datasets)
    threads = max(1, int(suite.resources.cpus_per_trial))
    specs = {s.key: TrialSpec(model=s.pair.model, training=suite.training, threads=threads,
                              imports=tuple(suite.imports), seed=suite.search.seed) for s in searches}
    data = {s.key: shared[s.pair.dataset] for s in searches}
    multi_worker = suite.resources.workers_per_trial > 1
    if multi_worker and not distributed.ENABLED:
        from ecgharness.errors import ConfigError

        raise ConfigError(f"resources.workers_per_trial {suite.resources.workers_per_trial}: multi-worker trials "
                          "are not enabled in this version (see README, Resources); set workers_per_trial: 1")
    if multi_worker:  # Ray Train workers inside each trial
        trainable = distributed.trainable(data, specs, suite.resources, storage)
    else:
        resources = {"cpu": suite.resources.cpus_per_trial, "gpu": suite.resources.gpus_per_trial}
        trainable = tune.with_resources(tune.with_parameters(pair_trial, data=data, specs=specs), resources)
    finals = FinalRuns(suite, datasets, writer, observers, storage)
    planned = len(searches) * len(suite.final.seeds)

    def tick() -> None:
        finals.collect(timeout=0)
        progress.tick()

    run_schedule(searches, trainable, storage=storage, name="search", writer=writer, observers=observers,
                 budgets=Budgets(searches, time_budget_s), on_searched=lambda p, b: finals.submit(p, b, planned),
                 slots=slots, tick=tick, multi_worker=multi_worker)
    while finals.pending:
        finals.collect(timeout=1.0)
        progress.tick()


def run_suite(suite: Suite, options: RunOptions = RunOptions(),
              observers: Iterable[RunObserver] = ()) -> Path:
    """Run ``suite`` end to end, reporting to ``observers``, and return the run folder."""
    listeners = list(observers)
    observers = Observers(listeners)
    run_id = options.run_id or datetime.now().strftime("%Y%m%d-%H%M%S")
    run_dir = (Path(options.results_dir) / suite.name / run_id).resolve()
    if run_dir.exists():
        raise FileExistsError(f"run folder {run_dir} already exists; choose another --run-id")
    try:
        observers.suite_started(suite)
        datasets = prepare_datasets(suite, options, observers)
        plan = plan_pairs(suite, datasets)
        for pair, reason in plan.skipped:
            observers.pair_skipped(pair, reason)
    except BaseException:
        observers.run_finished(None)
        raise
    writer = RunWriter(run_dir, suite.name)
    writer.create(suite.to_dict(), _provenance(suite, run_id, datasets))  # only once the data is ready
    for pair, reason in plan.skipped:
        writer.add_failure(FailureRecord(pair.dataset, pair.model, "compatibility", reason))
    info = RunInfo(suite.name, run_id, run_dir)
    cluster: ClusterInfo | None = None
    progress, state = None, "stopped"
    try:
        observers.run_started(info)
        evaluate_floors(datasets, writer, observers)
        cluster = start_ray(options.address, options.num_cpus, run_dir / "logs")
        observers.ray_started(cluster)
        res = suite.resources
        searches = pair_searches(suite, plan, datasets)
        slots = trial_slots(cluster, res.worker_cpus, res.worker_gpus, res.workers_per_trial)
        progress = ProgressTracker(suite.name, run_id, {s.pair: s.trials for s in searches},
                                   len(suite.final.seeds), slots, emit=observers.progress,
                                   write=lambda snap: write_status(run_dir, snap.to_dict()))
        search_and_evaluate(suite, plan, searches, datasets, options.storage or str(run_dir / "tune"), writer,
                            Observers([*listeners, progress]), progress, options.time_budget_s, slots)
        state = "finished"
    finally:
        writer.save()  # whatever finished is kept, even when the run is interrupted
        try:
            if progress is not None:
                progress.close(state)
            observers.run_finished(info)  # e.g. W&B finishes its open runs
        finally:
            stop_ray(cluster, run_dir / "logs")
    return run_dir

