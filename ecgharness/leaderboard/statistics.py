"""Per-dataset statistics of a stored run: every metric, bootstrap intervals, paired tests.

Everything is recomputed from the stored test predictions with :mod:`ecgharness.evaluation`,
so neither the leaderboard nor the report ever needs a retrain. All models of a dataset
are scored on the same bootstrap resamples of the test set (drawn once, seeded, and saved
with the report), which makes the comparison with the leader a paired one. A model's value
on a resample is the mean over its seeds, matching the ``mean ± std over seeds`` column.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ecgharness.evaluation.bootstrap import (
    bootstrap_distribution,
    confidence_interval,
    paired_p_value,
    resample_indices,
)
from ecgharness.evaluation.metrics import confusion_matrix, per_class_table
from ecgharness.evaluation.scoring import scoring_rules
from ecgharness.evaluation.references import references_for, related_for
from ecgharness.leaderboard.rankings import leader_of, leaderboard_frames
from ecgharness.leaderboard.store import RunResults

MACRO_COLUMNS = ("sensitivity", "specificity", "precision", "f1", "auroc", "auprc")


@dataclass
class DatasetReport:
    """What the report shows for one dataset."""

    name: str
    headline: str
    task: str
    class_names: tuple[str, ...]
    protocol: str
    config: dict[str, Any]
    ranking: pd.DataFrame  # leaderboard columns + ci_low, ci_high, p_vs_leader, macro_* columns
    per_class: dict[str, pd.DataFrame]  # model -> per-class table, mean over seeds
    seeds: dict[str, list[int]]
    indices: np.ndarray  # bootstrap resamples of the test set, shared by every model
    labels: np.ndarray
    confusion: dict[str, np.ndarray] = field(default_factory=dict)  # model -> summed over seeds (multiclass)
    references: list[dict[str, Any]] = field(default_factory=list)
    related: list[dict[str, Any]] = field(default_factory=list)  # publications that are not comparable
    training: dict[str, Any] = field(default_factory=dict)  # the run's training settings

    @property
    def leader(self) -> str:
        """The best model (floors are baselines, not leaders)."""
        return leader_of(self.ranking)

    @property
    def is_mitbih(self) -> bool:
        return self.name.startswith("mitbih")


def _protocol(run: RunResults, dataset: str) -> str:
    info = run.provenance.get("datasets", {}).get(dataset, {})
    protocol = info.get("notes", {}).get("protocol")
    if protocol:
        return str(protocol)
    config = info.get("config", {})
    if dataset.startswith("mitbih") and config.get("split"):
        return f"{config['split']} (MIT-BIH)"
    return ""


def dataset_report(run: RunResults, dataset: str, ranking: pd.DataFrame, n_resamples: int = 1000,
                   seed: int = 0) -> DatasetReport:
    """Recompute every metric of ``dataset`` from the stored predictions and bootstrap it."""
    runs = run.final_runs[run.final_runs["dataset"] == dataset]
    headline = ranking.attrs["headline"]
    task = str(runs["task"].iloc[0]) if "task" in runs else "multiclass"
    seeds = {m: sorted(int(s) for s in rows["seed"]) for m, rows in runs.groupby("model")}
    labels = class_names = None
    predictions: dict[str, list[dict[str, np.ndarray]]] = {}
    for model in ranking["model"]:
        predictions[model] = [run.predictions(dataset, model, s) for s in seeds[model]]
        for pred in predictions[model]:
            if labels is None:
                labels, class_names = pred["labels"], tuple(str(c) for c in pred["class_names"])
            elif pred["labels"].shape != labels.shape or not np.array_equal(pred["labels"], labels):
                raise ValueError(f"{dataset}: the stored test labels of {model} differ from those of the other "
                                 "models; results from different test sets cannot be compared in one table")
    indices = resample_indices(labels, n_resamples=n_resamples, seed=seed)
    scored, forgive = scoring_rules(run.provenance.get("datasets", {}).get(dataset, {}).get("notes", {}), class_names)
    distributions, per_class, confusion = {}, {}, {}
    for model, preds in predictions.items():
        dists = [bootstrap_distribution(labels, p["scores"], task, headline, indices, p.get("thresholds"), scored,
                                        forgive)
                 for p in preds]
        distributions[model] = np.mean(dists, axis=0)
        tables = [per_class_table(labels, p["scores"], class_names, task, p.get("thresholds"), scored, forgive)
                  for p in preds]
        per_class[model] = sum(t.astype(float) for t in tables) / len(tables)
        if task == "multiclass":
            confusion[model] = sum(confusion_matrix(labels, p["scores"].argmax(axis=1), len(class_names))
                                   for p in preds)
    ranking = ranking.copy()
    leader = leader_of(ranking)
    intervals = [confidence_interval(distributions[m]) for m in ranking["model"]]
    ranking["ci_low"] = [lo for lo, _ in intervals]
    ranking["ci_high"] = [hi for _, hi in intervals]
    ranking["p_vs_leader"] = [math.nan if m == leader else paired_p_value(distributions[m] - distributions[leader])
                              for m in ranking["model"]]
    for col in MACRO_COLUMNS:
        ranking[f"macro_{col}"] = [per_class[m].loc["macro", col] for m in ranking["model"]]
    config = run.provenance.get("datasets", {}).get(dataset, {}).get("config", {})
    return DatasetReport(
        name=dataset, headline=headline, task=task, class_names=class_names, protocol=_protocol(run, dataset),
        config=config, ranking=ranking, per_class=per_class, seeds=seeds, indices=indices, labels=labels,
        confusion=confusion, references=references_for(dataset, config), related=related_for(dataset, config),
        training=dict(run.suite.get("training") or {}),
    )


def build_reports(run: RunResults, n_resamples: int = 1000, seed: int = 0) -> dict[str, DatasetReport]:
    """One :class:`DatasetReport` per dataset of the run that has final results."""
    return {name: dataset_report(run, name, frame, n_resamples, seed)
            for name, frame in leaderboard_frames(run).items()}
