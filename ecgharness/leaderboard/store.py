"""The results store: one folder per run, long-format tables with provenance.

Layout of ``<results>/<suite>/<run-id>/``::

    suite.yaml            resolved suite (after command-line overrides)
    provenance.json       git hash, package versions, hardware, command line, datasets
    trials.csv            one row per search trial: config, status, epochs, best validation score
    trial_history.csv     one row per trial and epoch: the metrics each trial reported
    final_runs.csv        one row per (dataset, model, seed) final run: params, time, throughput
    final_metrics.csv     long format: suite, dataset, model, seed, split, metric, value
    predictions/          <dataset>__<model>__seed<k>.npz: test scores and labels
    failures.csv          (dataset, model) pairs that produced no final result, and why
    logs/                 Ray's and Tune's own logs
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

TABLES = ("trials", "trial_history", "final_runs", "final_metrics", "failures")


@dataclass
class RunResults:
    """Everything stored for one run, loaded back."""

    path: Path
    suite: dict[str, Any]
    provenance: dict[str, Any]
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    sources: list[Path] = field(default_factory=list)  # the run folders merged into this one

    @property
    def label(self) -> str:
        folders = self.sources or [self.path]
        return " + ".join(f"{p.parent.name}/{p.name}" for p in folders)

    @property
    def final_metrics(self) -> pd.DataFrame:
        return self.tables["final_metrics"]

    @property
    def final_runs(self) -> pd.DataFrame:
        return self.tables["final_runs"]

    @property
    def trials(self) -> pd.DataFrame:
        return self.tables["trials"]

    @property
    def failures(self) -> pd.DataFrame:
        return self.tables["failures"]

    def predictions(self, dataset: str, model: str, seed: int) -> dict[str, np.ndarray]:
        name = prediction_name(dataset, model, seed)
        for folder in self.sources or [self.path]:
            if (folder / "predictions" / name).exists():
                with np.load(folder / "predictions" / name) as data:
                    return {k: data[k] for k in data.files}
        raise FileNotFoundError(f"no stored test predictions {name} in {self.label}; "
                                "runs written before predictions were stored cannot be reported")


def prediction_name(dataset: str, model: str, seed: int) -> str:
    return f"{dataset}__{model}__seed{seed}.npz"


def write_table(run_dir: Path, name: str, frame: pd.DataFrame) -> Path:
    path = run_dir / f"{name}.csv"
    frame.to_csv(path, index=False)
    return path


def write_json(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, indent=1, default=str))


def write_yaml(path: Path, data: Any) -> None:
    path.write_text(yaml.safe_dump(data, sort_keys=False))


def is_run(path: Path) -> bool:
    return (path / "final_metrics.csv").exists()


def find_runs(results_root: Path, suite: str | None = None) -> list[Path]:
    """Completed run folders under ``results_root``, oldest first."""
    pattern = f"{suite}/*" if suite else "*/*"
    runs = [p for p in results_root.glob(pattern) if p.is_dir() and is_run(p)]
    return sorted(runs, key=lambda p: (p.name, p.stat().st_mtime))


def resolve_run(results_root: Path, run: str | None = None, suite: str | None = None) -> Path:
    """The run folder to show: ``run`` (a path, or a run id under the root), else the latest."""
    if run:
        for candidate in (Path(run), results_root / run, *results_root.glob(f"*/{run}")):
            if candidate.is_dir() and is_run(candidate):
                return candidate
        raise FileNotFoundError(
            f"no completed run {run!r} under {results_root} (a run folder holds final_metrics.csv); "
            f"runs there: {', '.join(p.name for p in find_runs(results_root)) or 'none'}"
        )
    runs = find_runs(results_root, suite)
    if not runs:
        where = f"{results_root}/{suite}" if suite else str(results_root)
        raise FileNotFoundError(f"no completed runs under {where}; start one with `bench run`")
    return runs[-1]


def read_run(path: Path) -> RunResults:
    """Load a run folder written by the runner."""
    path = Path(path)
    if not is_run(path):
        raise FileNotFoundError(f"{path} is not a completed run folder (no final_metrics.csv)")
    suite = yaml.safe_load((path / "suite.yaml").read_text()) if (path / "suite.yaml").exists() else {}
    prov = json.loads((path / "provenance.json").read_text()) if (path / "provenance.json").exists() else {}
    tables = {}
    for name in TABLES:
        file = path / f"{name}.csv"
        try:
            tables[name] = pd.read_csv(file) if file.exists() else pd.DataFrame()
        except pd.errors.EmptyDataError:
            tables[name] = pd.DataFrame()
    return RunResults(path=path, suite=suite, provenance=prov, tables=tables)


def merge_runs(runs: list[RunResults]) -> RunResults:
    """Several run folders (say, one suite run in parts on different machines) as one.

    Refused when a dataset was prepared with different configurations in two runs (their
    results are not comparable), when a (dataset, model) pair was retrained with different
    hyperparameters in two runs, or when two runs both hold final results for the same
    (dataset, model, seed).
    """
    if len(runs) == 1:
        return runs[0]
    datasets: dict[str, tuple[Path, Any]] = {}
    for run in runs:
        for name, info in run.provenance.get("datasets", {}).items():
            config = info.get("config")
            if name in datasets and datasets[name][1] != config:
                first, other = datasets[name]
                changed = sorted(k for k in set(config or {}) | set(other or {})
                                 if (config or {}).get(k) != (other or {}).get(k))
                raise ValueError(
                    f"cannot merge {first} and {run.path}: dataset {name!r} was prepared with different "
                    f"configurations (differs in: {', '.join(changed)}); merge only runs of the same suite "
                    "configuration")
            datasets.setdefault(name, (run.path, config))
    configs: dict[tuple, tuple[Path, set]] = {}
    for run in runs:
        frame = run.final_runs
        if frame.empty or "config" not in frame:
            continue
        for (dataset, model), rows in frame.groupby(["dataset", "model"]):
            mine = set(rows["config"].astype(str))
            if (dataset, model) in configs and configs[(dataset, model)][1] != mine:
                raise ValueError(
                    f"cannot merge: {dataset}/{model} was retrained with a different configuration in "
                    f"{configs[(dataset, model)][0]} and in {run.path} (each part ran its own search); "
                    "seeds of different configurations cannot be pooled. Merge runs that split the "
                    "(dataset, model) pairs between them")
            configs.setdefault((dataset, model), (run.path, mine))
    seen: dict[tuple, Path] = {}
    for run in runs:
        frame = run.final_runs
        for key in (frame[["dataset", "model", "seed"]].itertuples(index=False, name=None) if not frame.empty else []):
            if key in seen:
                raise ValueError(f"cannot merge: both {seen[key]} and {run.path} hold final results for "
                                 f"{key[0]}/{key[1]} seed {key[2]}; pass only one of them")
            seen[key] = run.path
    tables = {name: pd.concat([r.tables[name] for r in runs if not r.tables[name].empty] or [pd.DataFrame()],
                              ignore_index=True) for name in TABLES}
    provenance = {**runs[-1].provenance, "merged_from": [str(r.path) for r in runs],
                  "datasets": {k: v for r in runs for k, v in r.provenance.get("datasets", {}).items()}}
    return RunResults(path=runs[-1].path, suite=runs[-1].suite, provenance=provenance, tables=tables,
                      sources=[r.path for r in runs])
