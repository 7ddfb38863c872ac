"""Run a suite: prepare data, search each (dataset, model) pair with Ray Tune, retrain the
winners with several seeds, test each once, and write the results store."""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

import numpy as np
import pandas as pd

from ecgharness.benchmark import provenance
from ecgharness.benchmark.suite import Suite
from ecgharness.benchmark.trials import (
    IMPORTS_KEY, MODEL_KEY, SEED_KEY, THREADS_KEY, TRAINING_KEY, error_reason, hyperparameters,
)
from ecgharness.benchmark.wandb_logging import WandbOptions  # wandb itself is imported only with --wandb
from ecgharness.config import to_dict
from ecgharness.datasets.base import PreparedDataset, Split, load_dataset
from ecgharness.leaderboard import store
from ecgharness.search_spaces import space_for
from ecgmodels import InputKind, model_info

log = logging.getLogger(__name__)


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
        verbose: One console line per reported epoch.
        max_lost_share: Largest share of quarantined records a dataset may lose before the
            run stops (overrides the suite's per-dataset ``max_lost_share``).
        wandb: Log trials and final runs to Weights & Biases (None: no W&B at all).
    """

    results_dir: Path = Path("results")
    data_root: str | None = None
    cache_dir: str | None = None
    address: str | None = None
    storage: str | None = None
    run_id: str | None = None
    num_cpus: int | None = None
    verbose: bool = False
    max_lost_share: float | None = None  # overrides each dataset entry's
    wandb: WandbOptions | None = None


def compatible(model: str, dataset: PreparedDataset) -> str | None:
    """Why ``model`` cannot run on ``dataset``, or None when it can."""
    kind = model_info(model).input_kind
    if kind == InputKind.SIGNAL_META and not dataset.has_meta:
        return f"model {model!r} takes signal + patient metadata; dataset {dataset.name!r} has no metadata"
    return None  # image inputs are made from the signal on the trial's device


def _materialise(ds: PreparedDataset, keep_test: bool) -> PreparedDataset:
    """In-memory copy (not memory-mapped) to hand to the Ray object store."""
    src = ds if keep_test else ds.without_test()
    splits = {k: Split(np.ascontiguousarray(v.x), np.asarray(v.y), None if v.meta is None else np.asarray(v.meta))
              for k, v in src.splits.items()}
    return PreparedDataset(**{**src.__dict__, "splits": splits})


class _Printer:
    def __init__(self, stream: TextIO) -> None:
        self.stream = stream

    def __call__(self, text: str = "") -> None:
        print(text, file=self.stream, flush=True)


def _start_ray(options: RunOptions, logs: Path) -> bool:
    """Start or join Ray with its console output kept in ``logs``; True if we started it."""
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    os.environ.setdefault("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", "0")
    os.environ.setdefault("RAY_DEDUP_LOGS", "0")
    import optuna
    import ray

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    logs.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(logs / "driver.log")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    def redirect() -> None:
        for name in ("ray", "ray.tune", "ray.train", "ray.data"):
            logger = logging.getLogger(name)
            for h in list(logger.handlers):
                logger.removeHandler(h)
            logger.addHandler(handler)
            logger.setLevel(logging.INFO)
            logger.propagate = False

    redirect()
    if ray.is_initialized():
        return False
    ray.init(
        address=options.address,
        num_cpus=options.num_cpus if options.address is None else None,
        include_dashboard=False,
        log_to_driver=False,
        configure_logging=False,
    )
    redirect()  # ray.init replaces the handlers of its loggers
    return True


def _copy_ray_logs(dest: Path) -> None:
    try:
        import ray

        session = Path(ray._private.worker._global_node.get_session_dir_path())  # noqa: SLF001
        if (session / "logs").is_dir():
            shutil.copytree(session / "logs", dest / "ray", dirs_exist_ok=True)
    except Exception as exc:  # logs are a convenience; never fail a finished run over them
        log.debug("could not copy Ray logs: %s", exc)


def run_suite(suite: Suite, options: RunOptions = RunOptions(), stream: TextIO | None = None) -> Path:
    """Run ``suite`` end to end and return the run folder."""
    out = _Printer(stream or sys.stdout)
    run_id = options.run_id or datetime.now().strftime("%Y%m%d-%H%M%S")
    run_dir = (Path(options.results_dir) / suite.name / run_id).resolve()
    if run_dir.exists():
        raise FileExistsError(f"run folder {run_dir} already exists; choose another --run-id")
    out(f"suite {suite.name}: {len(suite.datasets)} dataset(s) x {len(suite.models)} model(s), "
        f"{suite.search.num_samples} trials each, up to {suite.training.max_epochs} epochs")

    datasets: dict[str, PreparedDataset] = {}
    for entry in suite.datasets:
        start = time.perf_counter()
        ds = load_dataset(entry.name, entry.config, root=options.data_root, cache_dir=options.cache_dir,
                          max_lost_share=options.max_lost_share if options.max_lost_share is not None
                          else entry.max_lost_share)
        took = time.perf_counter() - start
        datasets[entry.name] = ds
        for line in ds.summary_lines():
            out(line)
        out(f"  prepared in {took:.1f}s")

    pairs, skipped = [], []
    for name, ds in datasets.items():
        for entry in suite.models:
            reason = compatible(entry.name, ds)
            (skipped.append((name, entry.name, reason)) if reason else pairs.append((name, entry)))
    for name, model, reason in skipped:
        out(f"skipping {name}/{model}: {reason}")

    run_dir.mkdir(parents=True)  # only once the data is ready: a run that cannot start leaves nothing
    out(f"results in {run_dir}")
    store.write_yaml(run_dir / "suite.yaml", suite.to_dict())
    store.write_json(run_dir / "provenance.json", provenance.collect({
        "suite": suite.name,
        "run_id": run_id,
        "datasets": {n: {"cache_key": d.cache_key, "config": d.config, "notes": d.notes,
                         "class_counts": {s: d.class_counts(s) for s in d.splits},
                         "quarantined": d.quarantined} for n, d in datasets.items()},
    }))

    results = _Collected(run_dir)
    results.failures += [{"dataset": d, "model": m, "stage": "compatibility", "reason": r} for d, m, r in skipped]
    started = _start_ray(options, run_dir / "logs")
    tracker = None
    try:
        # --- W&B hook (ecgharness/benchmark/wandb_logging.py) ---
        if options.wandb is not None:
            from ecgharness.benchmark.wandb_logging import WandbTracker

            tracker = WandbTracker(options.wandb, suite.name, run_id, run_dir, out)
        # --- end W&B hook ---
        best = _search(suite, options, datasets, pairs, results, out, tracker)
        _final(suite, datasets, pairs, best, results, out, tracker)
    finally:
        results.save()  # whatever finished is kept, even when the run is interrupted
        if tracker is not None:  # W&B hook: finish open runs, say how to sync offline runs
            tracker.close()
        if started:
            _copy_ray_logs(run_dir / "logs")
            import ray

            ray.shutdown()
    return run_dir


@dataclass
class _Collected:
    """Rows gathered during a run; saved after every pair and every final run."""

    run_dir: Path
    trials: list = field(default_factory=list)
    history: list = field(default_factory=list)
    final_runs: list = field(default_factory=list)
    final_metrics: list = field(default_factory=list)
    failures: list = field(default_factory=list)

    def save(self) -> None:
        store.write_table(self.run_dir, "trials", pd.DataFrame(self.trials))
        store.write_table(self.run_dir, "trial_history", pd.DataFrame(self.history))
        store.write_table(self.run_dir, "final_runs", pd.DataFrame(self.final_runs))
        store.write_table(self.run_dir, "failures", pd.DataFrame(
            self.failures, columns=["dataset", "model", "stage", "reason"]))
        store.write_table(self.run_dir, "final_metrics", pd.DataFrame(
            self.final_metrics, columns=["suite", "dataset", "model", "seed", "split", "metric", "value"]))


def _search(suite, options, datasets, pairs, results, out, tracker=None):
    from ray import tune
    from ray.tune.schedulers import ASHAScheduler
    from ray.tune.search.optuna import OptunaSearch

    from ecgharness.benchmark.console import TrialConsole
    from ecgharness.benchmark.trials import search_trial

    storage = options.storage or str(results.run_dir / "tune")
    resources = {"cpu": suite.resources.cpus_per_trial, "gpu": suite.resources.gpus_per_trial}
    trainables = {}
    trials, history, best, failures = results.trials, results.history, {}, results.failures
    for ds_name, entry in pairs:
        if ds_name not in trainables:  # one object-store copy per dataset, shared by all its pairs
            data = _materialise(datasets[ds_name], keep_test=False)
            trainables[ds_name] = tune.with_resources(tune.with_parameters(search_trial, data=data), resources)
        space = space_for(entry.name, entry.space, f"suite models[{entry.name}].space")
        param_space = {
            **space.to_tune(),
            MODEL_KEY: entry.name,
            TRAINING_KEY: to_dict(suite.training),
            THREADS_KEY: max(1, int(suite.resources.cpus_per_trial)),
            IMPORTS_KEY: list(suite.imports),
            SEED_KEY: suite.search.seed,
        }
        max_t = suite.training.max_epochs
        grace = min(suite.search.grace_period, max_t)
        scheduler = ASHAScheduler(
            time_attr="epoch", metric="best_score", mode="max", max_t=max_t,
            grace_period=grace, reduction_factor=suite.search.reduction_factor,
        )
        label = f"{ds_name}/{entry.name}"
        num_samples = suite.search.num_samples
        if space.searched:
            searcher = OptunaSearch(metric="best_score", mode="max", seed=suite.search.seed)
        else:  # nothing to search: one trial of the fixed configuration
            searcher, num_samples = None, 1
        console = TrialConsole(label, max_t, verbose=options.verbose, stream=out.stream)
        out(f"searching {label}: {num_samples} trial(s) over {', '.join(space.searched) or 'a fixed configuration'}; "
            f"ASHA on epoch (grace {grace}, reduction {suite.search.reduction_factor})")
        tuner = tune.Tuner(
            trainables[ds_name],
            param_space=param_space,
            tune_config=tune.TuneConfig(
                search_alg=searcher,
                scheduler=scheduler,
                num_samples=num_samples,
                max_concurrent_trials=suite.search.max_concurrent_trials or None,
            ),
            run_config=tune.RunConfig(
                name=f"{ds_name}__{entry.name}",
                storage_path=storage,
                verbose=0,
                callbacks=[console] + ([tracker.search_callback(ds_name, entry.name, console.stop_reason)]
                                       if tracker is not None else []),  # W&B hook
                failure_config=tune.FailureConfig(max_failures=0),
            ),
        )
        start = time.perf_counter()
        grid = tuner.fit()
        out(f"  {label}: search took {time.perf_counter() - start:.1f}s")
        for row in console.history:
            history.append({"dataset": ds_name, "model": entry.name, **row})
        pair_best = None
        for result in grid:
            metrics = result.metrics or {}
            trial_id = metrics.get("trial_id") or Path(result.path).name
            status = "failed" if result.error else console.stop_reason(trial_id)
            score = metrics.get("best_score", math.nan)
            trials.append({
                "dataset": ds_name, "model": entry.name, "trial_id": trial_id, "status": status,
                "epochs": metrics.get("epoch", 0), "best_val_score": score,
                "headline": datasets[ds_name].headline, "reason": error_reason(result.error),
                "config": json.dumps(hyperparameters(result.config or {}), sort_keys=True, default=str),
            })
            if not result.error and isinstance(score, float) and math.isfinite(score):
                if pair_best is None or score > pair_best[0]:
                    pair_best = (score, result.config, trial_id)
        if pair_best is not None:
            best[(ds_name, entry.name)] = pair_best
            out(f"  best {label}: val {datasets[ds_name].headline} {pair_best[0]:.4f} ({pair_best[2]})")
        else:
            reasons = sorted({t["reason"] for t in trials[-len(grid):] if t["reason"]})
            failures.append({"dataset": ds_name, "model": entry.name, "stage": "search",
                             "reason": "every trial failed: " + "; ".join(reasons)})
            out(f"  {label}: every trial failed; see trials.csv")
        results.save()
    return best


def _final(suite, datasets, pairs, best, results, out, tracker=None):
    import ray

    from ecgharness.benchmark.trials import final_run

    pred_dir = results.run_dir / "predictions"
    pred_dir.mkdir(exist_ok=True)
    remote = ray.remote(final_run).options(
        num_cpus=suite.resources.cpus_per_trial, num_gpus=suite.resources.gpus_per_trial, max_retries=0
    )
    refs, pending = {}, {}
    for ds_name, entry in pairs:
        if (ds_name, entry.name) not in best:
            continue
        if ds_name not in refs:
            refs[ds_name] = ray.put(_materialise(datasets[ds_name], keep_test=True))
        config = best[(ds_name, entry.name)][1]
        for seed in suite.final.seeds:
            pending[remote.remote(config, refs[ds_name], seed)] = (ds_name, entry.name, seed)
    if pending:
        out(f"final evaluation: {len(pending)} run(s) (best configuration x seeds {list(suite.final.seeds)}), "
            "each scored once on the test split")
    final_runs, final_metrics, failures = results.final_runs, results.final_metrics, results.failures
    while pending:
        done, _ = ray.wait(list(pending), num_returns=1)
        ds_name, model, seed = pending.pop(done[0])
        try:
            res = ray.get(done[0])
        except Exception as exc:  # a failing retrain is recorded, the others go on
            reason = error_reason(exc)
            out(f"  final {ds_name}/{model} seed {seed}: FAILED {reason}")
            failures.append({"dataset": ds_name, "model": model, "stage": f"final seed {seed}", "reason": reason})
            if tracker is not None:  # W&B hook
                tracker.log_final(ds_name, model, seed, hyperparameters(best[(ds_name, model)][1]), reason=reason)
            continue
        ds = datasets[ds_name]
        headline = res["test_metrics"][ds.headline]
        out(f"  final {ds_name}/{model} seed {seed}: test {ds.headline} {headline:.4f}, "
            f"accuracy {res['test_metrics']['accuracy']:.4f} ({res['best_epoch']} epochs best, "
            f"{res['train_time_s']:.1f}s)")
        extra = {} if res["thresholds"] is None else {"thresholds": np.array(res["thresholds"])}
        np.savez_compressed(pred_dir / store.prediction_name(ds_name, model, seed),
                            scores=res["test_scores"], labels=res["test_labels"],
                            class_names=np.array(ds.class_names), **extra)
        final_runs.append({
            "dataset": ds_name, "model": model, "seed": seed, "params": res["params"],
            "train_time_s": res["train_time_s"], "throughput": res["throughput"],
            "epochs": len(res["history"]), "best_epoch": res["best_epoch"], "device": res["device"],
            "test_examples": len(res["test_labels"]), "headline": ds.headline,
            "val_score": res["val_metrics"].get(ds.headline, math.nan),
            "task": ds.task,
            "thresholds": "" if res["thresholds"] is None else json.dumps(
                dict(zip(ds.class_names, np.round(res["thresholds"], 6).tolist()))),
            "config": json.dumps(hyperparameters(best[(ds_name, model)][1]), sort_keys=True, default=str),
        })
        for metric, value in res["test_metrics"].items():
            final_metrics.append({"suite": suite.name, "dataset": ds_name, "model": model, "seed": seed,
                                  "split": "test", "metric": metric, "value": value})
        results.save()
        if tracker is not None:  # W&B hook
            tracker.log_final(ds_name, model, seed, hyperparameters(best[(ds_name, model)][1]), res)
