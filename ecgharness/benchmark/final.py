"""Final evaluation: each pair's best configuration retrained once per seed, each scored
once on the test split, as Ray tasks that run side by side."""

from __future__ import annotations

import dataclasses
import uuid

import numpy as np

from ecgharness.benchmark import distributed
from ecgharness.benchmark.checkpoints import CheckpointFile
from ecgharness.benchmark.observers import BestTrial, FinalDone, Observers, Pair
from ecgharness.benchmark.ray_session import SharedDataset
from ecgharness.benchmark.suite import Suite
from ecgharness.benchmark.trials import FinalResult, TrialSpec, error_reason, final_run
from ecgharness.datasets.base import PreparedDataset, Split
from ecgharness.evaluation.metrics import summary_metrics
from ecgharness.inference.bundle import bundle_metadata
from ecgharness.leaderboard.store import FailureRecord, FinalRecord, RunWriter
from ecgharness.training.config import TrainConfig
from ecgharness.training.floors import fit_floors


def final_record(pair: Pair, config: dict, ds: PreparedDataset, result: FinalResult,
                 training: TrainConfig) -> FinalRecord:
    """The stored form of a final retrain of ``pair`` on ``ds`` (with the weights it was tested with)."""
    outcome = result.outcome
    return FinalRecord(
        dataset=pair.dataset, model=pair.model, seed=result.seed, config=config, task=ds.task,
        headline=ds.headline, class_names=tuple(ds.class_names), metrics=outcome.test_metrics,
        scores=outcome.test_scores, labels=outcome.test_labels, thresholds=outcome.thresholds,
        params=outcome.params, train_time_s=outcome.train_time_s, throughput=outcome.throughput,
        epochs=len(outcome.history), best_epoch=outcome.best_epoch, device=result.device,
        node_id=result.node_id, node_ip=result.node_ip,
        val_score=outcome.val_metrics.get(ds.headline, float("nan")), weights=outcome.weights,
        bundle=bundle_metadata(ds, pair.model, config, training, result.seed, outcome.thresholds),
    )


def evaluate_floors(datasets: dict[str, PreparedDataset], writer: RunWriter, observers: Observers,
                    done: set[tuple[str, str]] = frozenset()) -> None:
    """Fit each dataset's floors (majority class, linear model on summary features) and store
    them like final runs, so the leaderboard and the report show them beside the models
    (those in ``done``, (dataset, floor), are stored already)."""
    for name, ds in datasets.items():
        labels = ds.splits["test"].y
        for floor in fit_floors(ds):
            if (name, floor.model) in done:
                continue
            record = FinalRecord(
                dataset=name, model=floor.model, seed=0, config={}, task=ds.task, headline=ds.headline,
                class_names=tuple(ds.class_names), metrics=summary_metrics(
                    labels, floor.scores, ds.class_names, ds.task, floor.thresholds, ds.scored, ds.forgive),
                scores=floor.scores, labels=labels, thresholds=floor.thresholds, params=floor.params,
                train_time_s=floor.train_time_s, throughput=floor.throughput, epochs=0, best_epoch=0,
                device="cpu", kind="floor")
            writer.add_final(record)
            observers.floor_finished(record)
    writer.save()


def with_val_in_train(ds: PreparedDataset) -> PreparedDataset:
    """``ds`` whose training split also holds the validation examples (validation stays as it
    is, for the record; it no longer selects anything)."""
    train, val = ds.splits["train"], ds.splits["val"]
    meta = None if train.meta is None else np.concatenate([train.meta, val.meta])
    merged = Split(np.concatenate([train.x, val.x]), np.concatenate([train.y, val.y]), meta)
    return PreparedDataset(**{**ds.__dict__, "splits": {**ds.splits, "train": merged}})


def final_spec(suite: Suite, trial: BestTrial, model: str) -> TrialSpec:
    """What a pair's final retrains run with: the suite's loop options, or, with
    ``final.train_on: train+val``, the best trial's number of epochs with its last epoch tested."""
    training = suite.training
    if suite.final.train_on == "train+val":
        epochs = max(1, trial.epochs)
        training = dataclasses.replace(training, max_epochs=epochs, patience=epochs, select="last")
    return TrialSpec(model=model, training=training, threads=max(1, int(suite.resources.cpus_per_trial)),
                     imports=tuple(suite.imports))


def final_data(suite: Suite, ds: PreparedDataset) -> PreparedDataset:
    """The dataset final retrains see: as it is, or with validation merged into training
    (``final.train_on: train+val``)."""
    return with_val_in_train(ds) if suite.final.train_on == "train+val" else ds


def final_key(pair: Pair, seed: int) -> str:
    """The checkpoint name of a pair's final retrain with ``seed``."""
    return f"final-{pair.dataset}-{pair.model}-seed{seed}"


class FinalRuns:
    """Final retrains in flight: a pair's seeds are submitted as soon as its search ends, and
    each is stored as it returns (a failing retrain is recorded, the others go on).

    Seeds in ``done`` (a resumed run's scored retrains) are not trained again; a retrain whose
    worker or node is lost is retried up to ``retries`` times; with
    ``checkpoints`` (a folder or URI) each retrain saves its state after every epoch and a
    resumed run's retrains go on from there.
    """

    def __init__(self, suite: Suite, datasets: dict[str, PreparedDataset], writer: RunWriter,
                 observers: Observers, checkpoints: str | None = None,
                 done: set[tuple[str, str, int]] | None = None, retries: int = 0, storage: str = "") -> None:
        import ray

        self.suite, self.datasets, self.writer, self.observers = suite, datasets, writer, observers
        self.checkpoints, self.done = checkpoints, set(done or ())
        self.workers = None  # with several workers per trial, each retrain runs on Ray Train workers
        if suite.resources.workers_per_trial > 1:
            self.workers = distributed.Workers.of(suite.resources, storage)
            self.remote = distributed.final_task(retries)
        else:
            self.remote = ray.remote(final_run).options(
                num_cpus=suite.resources.cpus_per_trial, num_gpus=suite.resources.gpus_per_trial,
                max_retries=retries)  # retried only when its worker or node is lost, from its checkpoint
        self.shared: dict[str, SharedDataset] = {}
        self.pending: dict = {}
        self.best: dict[Pair, BestTrial] = {}
        self.announced = False

    def submit(self, pair: Pair, trial: BestTrial | None, planned: int | None = None) -> None:
        """Start the seeds of ``pair`` (nothing when its search found no trial); ``planned``:
        final runs of the whole suite, announced to the observers with the first pair."""
        if trial is None:
            return
        suite = self.suite
        spec = final_spec(suite, trial, pair.model)
        if pair.dataset not in self.shared:  # one object-store copy per dataset, shared by all its pairs
            data = final_data(suite, self.datasets[pair.dataset])
            self.shared[pair.dataset] = SharedDataset.put(data, keep_test=True)
        self.best[pair] = trial
        for seed in suite.final.seeds:
            if (pair.dataset, pair.model, seed) in self.done:
                continue
            saved = None if self.checkpoints is None else CheckpointFile(self.checkpoints, final_key(pair, seed))
            if self.workers is None:
                ref = self.remote.remote(trial.config, self.shared[pair.dataset].ref, spec, seed, saved)
            else:
                ref = self.remote.remote(
                    trial.config, self.shared[pair.dataset], spec, seed, self.workers,
                    f"{final_key(pair, seed)}-{uuid.uuid4().hex[:8]}", saved)
            self.pending[ref] = (pair, seed)
        if not self.announced:
            self.announced = True
            self.observers.final_started(planned or len(self.pending), tuple(suite.final.seeds))

    def cancel(self) -> None:
        """Stop the retrains in flight (the run is being stopped; a resumed run goes on with them)."""
        import ray

        for ref in list(self.pending):
            ray.cancel(ref, force=True)
        self.pending.clear()

    def collect(self, timeout: float | None = 0) -> None:
        """Store the retrains that have returned (within ``timeout`` seconds; None: all of them)."""
        import ray

        while self.pending:
            done, _ = ray.wait(list(self.pending), num_returns=1, timeout=timeout)
            if not done:
                return
            self._store(done[0])

    def _store(self, ref) -> None:
        import ray

        datasets, writer, observers = self.datasets, self.writer, self.observers
        pair, seed = self.pending.pop(ref)
        config = self.best[pair].config
        try:
            result = ray.get(ref)
        except Exception as exc:  # a failing retrain is recorded, the others go on
            reason = error_reason(exc)
            writer.add_failure(FailureRecord(pair.dataset, pair.model, f"final seed {seed}", reason))
            observers.final_finished(FinalDone(pair, seed, config, reason=reason))
            return
        record = final_record(pair, config, datasets[pair.dataset], result, self.suite.training)
        writer.add_final(record)
        writer.save()
        observers.final_finished(FinalDone(pair, seed, config, record, result.outcome.history,
                                           result.outcome.val_metrics))

