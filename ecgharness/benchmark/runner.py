"""Run a suite: prepare the data, search each (dataset, model) pair with Ray Tune, retrain
the winners with several seeds, test each once, and write the results store.

Read top-down, :func:`run_suite` is the whole story: prepare -> search -> final -> store.
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
from ecgharness.benchmark.final import evaluate_finalists, evaluate_floors
from ecgharness.benchmark.observers import BestTrial, Observers, Pair, RunInfo, RunObserver
from ecgharness.benchmark.ray_session import SharedDataset, start_ray, stop_ray
from ecgharness.benchmark.suite import ModelEntry, Suite
from ecgharness.datasets.base import PreparedDataset, load_dataset
from ecgharness.leaderboard.store import FailureRecord, RunWriter
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
    """

    results_dir: Path = Path("results")
    data_root: str | None = None
    cache_dir: str | None = None
    address: str | None = None
    storage: str | None = None
    run_id: str | None = None
    num_cpus: int | None = None
    max_lost_share: float | None = None  # overrides each dataset entry's


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


def search_all(suite: Suite, plan: _Plan, datasets: dict[str, PreparedDataset], storage: str,
               writer: RunWriter, observers: Observers) -> dict[Pair, BestTrial]:
    """Search every pair in turn; the best trial of each pair that had one."""
    from ecgharness.benchmark.search import search_pair

    shared: dict[str, SharedDataset] = {}
    best = {}
    for pair, entry in plan.pairs:
        if pair.dataset not in shared:  # one object-store copy per dataset, shared by all its pairs
            shared[pair.dataset] = SharedDataset.put(datasets[pair.dataset], keep_test=False)
        space = space_for(entry.name, entry.space, f"suite models[{entry.name}].space")
        if not suite.search.enabled:
            space = space.fixed_only()
        found = search_pair(suite, pair, space, shared[pair.dataset], datasets[pair.dataset].headline,
                            storage, writer, observers)
        if found is not None:
            best[pair] = found
    return best


def run_suite(suite: Suite, options: RunOptions = RunOptions(),
              observers: Iterable[RunObserver] = ()) -> Path:
    """Run ``suite`` end to end, reporting to ``observers``, and return the run folder."""
    observers = Observers(observers)
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
    started = False
    try:
        observers.run_started(info)
        evaluate_floors(datasets, writer, observers)
        started = start_ray(options.address, options.num_cpus, run_dir / "logs")
        best = search_all(suite, plan, datasets, options.storage or str(run_dir / "tune"), writer, observers)
        evaluate_finalists(suite, datasets, best, writer, observers)
    finally:
        writer.save()  # whatever finished is kept, even when the run is interrupted
        try:
            observers.run_finished(info)  # e.g. W&B finishes its open runs
        finally:
            stop_ray(started, run_dir / "logs")
    return run_dir
