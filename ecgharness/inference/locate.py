"""Which kept model a command means: a run folder, a model, and optionally a dataset and seed."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ecgharness.errors import ConfigError
from ecgharness.leaderboard.store import RunResults, read_run, resolve_run


@dataclass(frozen=True)
class Located:
    """A kept model of a run."""

    run: RunResults
    dataset: str
    model: str
    seed: int
    path: Path


def kept_models(run: RunResults) -> list[tuple[str, str, int]]:
    """(dataset, model, seed) of every final run of ``run`` that kept its weights."""
    frame = run.final_runs
    if frame.empty or "weights" not in frame:
        return []
    kept = frame[frame["weights"].fillna("").astype(str) != ""]
    return [(str(d), str(m), int(s)) for d, m, s in zip(kept["dataset"], kept["model"], kept["seed"])]


def locate(results_dir: Path, run: str | None, model: str, seed: int | None = None,
           dataset: str | None = None) -> Located:
    """The kept weights of ``model`` (on ``dataset``, with ``seed``; defaults: the only dataset,
    the lowest seed) in run ``run`` (an id or folder; default the latest run).

    Raises:
        ConfigError: nothing kept matches; the message lists what the run keeps.
    """
    results = read_run(resolve_run(Path(results_dir), run))
    kept = kept_models(results)
    listing = ", ".join(f"{m} on {d} seed {s}" for d, m, s in kept) or "none (run `bench run` again: runs " \
        "of format version 1 kept no weights)"
    matches = [k for k in kept if k[1] == model and (dataset is None or k[0] == dataset)
               and (seed is None or k[2] == seed)]
    if not matches:
        raise ConfigError(f"run {results.label} keeps no weights of {model}"
                          + (f" on {dataset}" if dataset else "") + (f" seed {seed}" if seed is not None else "")
                          + f"; it keeps: {listing}")
    datasets = sorted({d for d, _, _ in matches})
    if len(datasets) > 1:
        raise ConfigError(f"{model} was trained on several datasets in {results.label} ({', '.join(datasets)}): "
                          "choose one with --dataset")
    d, m, s = min(matches, key=lambda k: k[2])
    return Located(results, d, m, s, results.weights(d, m, s))
