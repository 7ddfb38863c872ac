"""The results store: one folder per run, long-format tables with provenance.

This module and the typed rows of :mod:`ecgharness.leaderboard.records` are the only
places that know the folder's format: :class:`RunWriter` writes it (the runner uses it)
and :func:`read_run` reads it back (leaderboard and report).

Layout of ``<results>/<suite>/<run-id>/`` (format version :data:`FORMAT_VERSION`)::

    format.json           {"format": "ecgharness-run", "version": 2}
    suite.yaml            resolved suite (after command-line overrides)
    provenance.json       git hash, package versions, hardware, command line, datasets
    trials.csv            one row per search trial: config, status, epochs, best validation score, the
                          Ray node (id, IP) and device it trained on, and its restarts after a lost node
                          (status "stopped by time budget": the pair's or the suite's budget ended it)
    trial_history.csv     one row per trial and epoch: the metrics each trial reported, and the node
    final_runs.csv        one row per (dataset, model, seed) final run: params, time, throughput,
                          device, Ray node (id, IP)
    final_metrics.csv     long format: suite, dataset, model, seed, split, metric, value
    predictions/          <dataset>__<model>__seed<k>.npz: test scores and labels
    weights/              <dataset>__<model>__seed<k>.safetensors + .json: the tested weights of each
                          final run and everything needed to use them again (version 2)
    failures.csv          (dataset, model) pairs that produced no final result, and why
    searches.csv          one row per pair's search: trials run, seconds, and why a time budget cut
                          it short (empty when none did)
    status.json           progress of the suite (pairs searching / in final / done, trials, slots), kept
                          current while the run goes on; ``bench status`` prints it
    journal.jsonl         every row above and every search event, appended as it happens (what
                          ``bench run --resume`` rebuilds the run from); ends with a "finished" event
    tune/                 Tune's state and, while the run goes on, checkpoints/ (one per unfinished
                          trial or final seed; removed when the run finishes); elsewhere with --storage
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

from ecgharness.config import plain
from ecgharness.leaderboard.journal import Journal
from ecgharness.leaderboard.records import (WEIGHTS_DIR, FailureRecord, FinalRecord, TrialRecord, config_json,
                                            prediction_name, weights_name)

TABLES = ("trials", "trial_history", "final_runs", "final_metrics", "failures", "searches")
FORMAT_NAME = "ecgharness-run"
FORMAT_VERSION = 2  # 2: weights/ and searches.csv (version 1 folders, or without format.json, have neither)
BUNDLE_FORMAT = "ecgharness-bundle"
BUDGET_STATUS = "stopped by time budget"  # trials.csv status of a trial its pair's time budget stopped
_COLUMNS = {
    "failures": ["dataset", "model", "stage", "reason"],
    "searches": ["dataset", "model", "trials", "seconds", "budget_cut"],
    "final_metrics": ["suite", "dataset", "model", "seed", "split", "metric", "value"],
}


# --------------------------------------------------------------------------- writing


class RunWriter:
    """Writes one run folder; every table is rewritten on :meth:`save`, so an interrupted run
    keeps what had finished. With a ``journal``, every row is also appended to it as it is
    added, and :meth:`reopen` rebuilds the tables of a run that stopped."""

    def __init__(self, run_dir: Path, suite: str, journal: Journal | None = None) -> None:
        self.run_dir = Path(run_dir)
        self.suite = suite
        self.journal = journal
        self.trials: list[dict[str, Any]] = []
        self.history: list[dict[str, Any]] = []
        self.final_runs: list[dict[str, Any]] = []
        self.final_metrics: list[dict[str, Any]] = []
        self.failures: list[dict[str, Any]] = []
        self.searches: list[dict[str, Any]] = []

    @classmethod
    def reopen(cls, run_dir: Path, suite: str, events: list[dict[str, Any]], journal: Journal) -> "RunWriter":
        """The writer of a stopped run, holding every row its journal ``events`` recorded."""
        writer = cls(run_dir, suite, journal)
        for event in events:
            if event["kind"] == "rows":
                for table, rows in event["tables"].items():
                    getattr(writer, table).extend(rows)
        return writer

    def _add(self, **tables: list[dict[str, Any]]) -> None:
        """Add rows to tables (named by attribute), journaled as one event: all or none of them."""
        tables = {name: [plain(r) for r in rows] for name, rows in tables.items()}
        for name, rows in tables.items():
            getattr(self, name).extend(rows)
        if self.journal is not None:
            self.journal.write("rows", tables=tables)

    def create(self, suite: dict[str, Any], provenance: dict[str, Any]) -> None:
        """Make the folder (it must not exist) with its format, suite and provenance files."""
        self.run_dir.mkdir(parents=True)
        write_json(self.run_dir / "format.json", {"format": FORMAT_NAME, "version": FORMAT_VERSION})
        write_yaml(self.run_dir / "suite.yaml", suite)
        write_json(self.run_dir / "provenance.json", provenance)

    def add_trial(self, trial: TrialRecord) -> None:
        self._add(trials=[trial.row()])

    def add_history(self, dataset: str, model: str, rows: list[dict[str, Any]]) -> None:
        """Epoch rows of a pair's trials (each with its ``trial_id``), in the order they were reported."""
        self._add(history=[{"dataset": dataset, "model": model, **row} for row in rows])

    def add_search(self, dataset: str, model: str, trials: int, seconds: float, budget_cut: str = "") -> None:
        """A pair's search has ended; ``budget_cut`` says why a time budget ended it early."""
        self._add(searches=[{"dataset": dataset, "model": model, "trials": trials, "seconds": round(seconds, 3),
                              "budget_cut": budget_cut}])

    def add_failure(self, failure: FailureRecord) -> None:
        self._add(failures=[dict(failure.__dict__)])

    def add_final(self, final: FinalRecord) -> None:
        """Store a final run's predictions, its row and its test metrics."""
        folder = self.run_dir / "predictions"
        folder.mkdir(exist_ok=True)
        extra = {} if final.thresholds is None else {"thresholds": np.array(final.thresholds)}
        np.savez_compressed(folder / prediction_name(final.dataset, final.model, final.seed), scores=final.scores,
                            labels=final.labels, class_names=np.array(final.class_names), **extra)
        if final.weights is not None:
            self._write_weights(final)
        self._add(final_runs=[final.run_row()],
                  final_metrics=[{"suite": self.suite, "dataset": final.dataset, "model": final.model,
                                  "seed": final.seed, "split": "test", "metric": metric, "value": value}
                                 for metric, value in final.metrics.items()])

    def _write_weights(self, final: FinalRecord) -> None:
        """The weights as safetensors (no pickled code) and their metadata as JSON beside them."""
        from safetensors.numpy import save_file

        path = self.run_dir / WEIGHTS_DIR / weights_name(final.dataset, final.model, final.seed)
        path.parent.mkdir(exist_ok=True)
        save_file({k: np.ascontiguousarray(v) for k, v in final.weights.items()}, str(path),
                  metadata={"format": BUNDLE_FORMAT})
        write_json(path.with_suffix(".json"), final.bundle or {})

    def save(self) -> None:
        for name, rows in (("trials", self.trials), ("trial_history", self.history),
                           ("final_runs", self.final_runs), ("failures", self.failures),
                           ("final_metrics", self.final_metrics), ("searches", self.searches)):
            write_table(self.run_dir, name, pd.DataFrame(rows, columns=_COLUMNS.get(name)))


# --------------------------------------------------------------------------- reading


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

    def weights(self, dataset: str, model: str, seed: int) -> Path:
        """The kept weights of a final run (raises FileNotFoundError, saying why, when there are none)."""
        for folder in self.sources or [self.path]:
            path = weights_file(folder, dataset, model, seed)
            if path.exists():
                return path
        kept = sorted(p.name for folder in self.sources or [self.path] for p in (folder / WEIGHTS_DIR).glob("*.safetensors"))
        raise FileNotFoundError(
            f"no kept weights of {dataset}/{model} seed {seed} in {self.label}"
            + (f"; kept: {', '.join(kept)}" if kept else
               "; the run keeps none (runs of format version 1 did not save weights: run `bench run` again)"))


def weights_file(run_dir: Path, dataset: str, model: str, seed: int) -> Path:
    """Where a final run of ``run_dir`` keeps its weights (the ``.json`` beside it holds the rest)."""
    return Path(run_dir) / WEIGHTS_DIR / weights_name(dataset, model, seed)


def write_table(run_dir: Path, name: str, frame: pd.DataFrame) -> Path:
    path = run_dir / f"{name}.csv"
    frame.to_csv(path, index=False)
    return path


def write_json(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, indent=1, default=str))


def write_yaml(path: Path, data: Any) -> None:
    path.write_text(yaml.safe_dump(data, sort_keys=False))


STATUS_FILE = "status.json"


def write_status(run_dir: Path, status: dict[str, Any]) -> None:
    """Replace the run's ``status.json`` in one step, so a reader never sees half a file."""
    tmp = Path(run_dir) / f".{STATUS_FILE}.tmp"
    write_json(tmp, status)
    tmp.replace(Path(run_dir) / STATUS_FILE)


def read_status(run_dir: Path) -> dict[str, Any]:
    """The progress counts a running (or ended) run last wrote."""
    path = Path(run_dir) / STATUS_FILE
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist: {run_dir} is not a run folder, or the run has not "
                                "started its search yet (give the folder of a run, or its run id)")
    return json.loads(path.read_text())


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
    stamp = json.loads((path / "format.json").read_text()) if (path / "format.json").exists() else {}
    if stamp.get("format", FORMAT_NAME) != FORMAT_NAME:
        raise ValueError(f"{path}/format.json says {stamp.get('format')!r}, not {FORMAT_NAME!r}: not a run folder")
    version = stamp.get("version", FORMAT_VERSION)
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise ValueError(f"{path} is a run folder of format version {version}; this ecgharness reads up to "
                         f"version {FORMAT_VERSION}: upgrade ecgharness to read it")
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


def _without_repeated_floors(runs: list[RunResults]) -> list[RunResults]:
    """Each part of a suite fits the same floors of its datasets: keep the first part's."""
    kept, out = set(), []
    for run in runs:
        runs_frame, metrics = run.final_runs, run.final_metrics
        if runs_frame.empty or "kind" not in runs_frame:
            out.append(run)
            continue
        keys = list(zip(runs_frame["dataset"], runs_frame["model"]))
        floor = (runs_frame["kind"] == "floor").to_numpy()
        drop = {k for k, f in zip(keys, floor) if f and k in kept}
        kept |= {k for k, f in zip(keys, floor) if f}
        if drop:
            tables = dict(run.tables)
            tables["final_runs"] = runs_frame[[k not in drop for k in keys]].reset_index(drop=True)
            tables["final_metrics"] = metrics[[k not in drop for k in zip(metrics["dataset"], metrics["model"])]]
            run = RunResults(path=run.path, suite=run.suite, provenance=run.provenance, tables=tables,
                             sources=run.sources)
        out.append(run)
    return out


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
    runs = _without_repeated_floors(runs)
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
