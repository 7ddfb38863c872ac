"""Per-dataset statistics of a stored run: every metric, bootstrap intervals, paired tests.

Everything is recomputed from the stored test predictions, so a report never needs a
retrain. All models of a dataset are scored on the same bootstrap resamples of the test
set (drawn once, seeded, and saved with the report), which makes the comparison with the
leader a paired one. A model's value on a resample is the mean over its seeds, matching
the ``mean ± std over seeds`` column.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

import numpy as np
import pandas as pd
import yaml

from ecgharness.leaderboard.rankings import leaderboard_frames, seed_count
from ecgharness.leaderboard.store import RunResults
from ecgharness.reports.bootstrap import (
    bootstrap_distribution,
    confidence_interval,
    paired_p_value,
    resample_indices,
)
from ecgharness.reports.metrics import AAMI_CLASSES, aami_table, per_class_table

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

    @property
    def leader(self) -> str:
        return str(self.ranking["model"].iloc[0])

    @property
    def is_mitbih(self) -> bool:
        return self.name.startswith("mitbih")


def load_references() -> list[dict[str, Any]]:
    text = resources.files("ecgharness.reports").joinpath("references.yaml").read_text()
    return yaml.safe_load(text)


def references_for(dataset: str, config: dict[str, Any]) -> list[dict[str, Any]]:
    """Published rows that apply to ``dataset`` prepared with ``config``."""
    return [ref for ref in load_references()
            if ref["dataset"] == dataset and all(config.get(k) == v for k, v in ref["when"].items())]


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
    distributions, per_class, confusion = {}, {}, {}
    for model, preds in predictions.items():
        dists = [bootstrap_distribution(labels, p["scores"], task, headline, indices, p.get("thresholds"))
                 for p in preds]
        distributions[model] = np.mean(dists, axis=0)
        tables = [per_class_table(labels, p["scores"], class_names, task, p.get("thresholds")) for p in preds]
        per_class[model] = sum(t.astype(float) for t in tables) / len(tables)
        if task == "multiclass":
            k = len(class_names)
            confusion[model] = sum(np.bincount(labels * k + p["scores"].argmax(axis=1), minlength=k * k)
                                   .reshape(k, k) for p in preds)
    ranking = ranking.copy()
    leader = ranking["model"].iloc[0]
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
        confusion=confusion, references=references_for(dataset, config),
    )


def build_reports(run: RunResults, n_resamples: int = 1000, seed: int = 0) -> dict[str, DatasetReport]:
    """One :class:`DatasetReport` per dataset of the run that has final results."""
    return {name: dataset_report(run, name, frame, n_resamples, seed)
            for name, frame in leaderboard_frames(run).items()}


# ---------------------------------------------------------------- tables as frames of strings

def _fmt(value: float, digits: int = 4) -> str:
    return "—" if value is None or not math.isfinite(float(value)) else f"{float(value):.{digits}f}"


def _p(value: float) -> str:
    if not math.isfinite(value):
        return "leader"
    return "<0.001" if value < 0.001 else f"{value:.3f}"


def comparison_rows(report: DatasetReport) -> list[dict[str, Any]]:
    """Rows of the paper-style table, numbers kept numeric; published rows last."""
    rows = []
    for r in report.ranking.itertuples(index=False):
        d = r._asdict()
        rows.append({
            "model": d["model"], "published": False,
            "headline": d[f"{report.headline}_mean"], "std": d[f"{report.headline}_std"],
            "ci": (d["ci_low"], d["ci_high"]), "p": d["p_vs_leader"], "accuracy": d["accuracy_mean"],
            **{f"macro_{c}": d[f"macro_{c}"] for c in MACRO_COLUMNS},
            "params": d["params"], "train_time_s": d["train_time_s"], "throughput": d["throughput"],
        })
    for ref in report.references:
        for row in ref["rows"]:
            rows.append({
                "model": f"{row['model']} ({ref['reference']}, published)", "published": True,
                "headline": row.get(report.headline, math.nan), "std": math.nan, "ci": None, "p": None,
                "accuracy": row.get("accuracy", math.nan),
                **{f"macro_{c}": row.get(f"macro_{c}", math.nan) for c in MACRO_COLUMNS},
                "params": math.nan, "train_time_s": math.nan, "throughput": math.nan,
            })
    return rows


def comparison_table(report: DatasetReport, bold: tuple[str, str] = ("**", "**")) -> pd.DataFrame:
    """The comparison as display strings; the best of our own rows in each metric column in ``bold``."""
    rows = comparison_rows(report)
    ours = [r for r in rows if not r["published"]]
    metric_cols = ["headline", "accuracy", *(f"macro_{c}" for c in MACRO_COLUMNS)]
    best = {c: np.nanmax([r[c] for r in ours]) if any(math.isfinite(r[c]) for r in ours) else math.nan
            for c in metric_cols}
    seeds = seed_count(len(s) for s in report.seeds.values())

    def cell(r: dict[str, Any], col: str, text: str) -> str:
        if not r["published"] and math.isfinite(r[col]) and r[col] == best[col]:
            return f"{bold[0]}{text}{bold[1]}"
        return text

    out = []
    for r in rows:
        if r["published"]:
            head, interval = (_fmt(r["headline"], 3) if math.isfinite(r["headline"]) else "—"), ""
        else:
            head = _fmt(r["headline"]) + (f" ± {_fmt(r['std'])}" if math.isfinite(r["std"]) else "")
            interval = f"[{_fmt(r['ci'][0])}, {_fmt(r['ci'][1])}]"
        out.append({
            "model": r["model"],
            f"{report.headline} (mean ± std, {seeds} seeds)": cell(r, "headline", head),
            "95% CI": interval,
            "p vs leader": "" if r["published"] else _p(r["p"]),
            "accuracy": cell(r, "accuracy", _fmt(r["accuracy"])),
            **{f"macro {c}": cell(r, f"macro_{c}", _fmt(r[f"macro_{c}"])) for c in MACRO_COLUMNS
               if f"macro_{c}" != report.headline},  # the headline has its own column
            "params": "—" if not math.isfinite(r["params"]) else f"{int(r['params']):,}",
            "train s": "—" if not math.isfinite(r["train_time_s"]) else f"{r['train_time_s']:.1f}",
            "ex/s": "—" if not math.isfinite(r["throughput"]) else f"{r['throughput']:,.0f}",
        })
    return pd.DataFrame(out)


def aami_rows(report: DatasetReport) -> pd.DataFrame:
    """Per-class Se and +P in percent (the AAMI literature's table), published rows included."""
    classes = [c for c in AAMI_CLASSES if c in report.class_names]
    rows = []
    for model in report.ranking["model"]:
        table = aami_table(report.per_class[model])
        row = {"model": model, "accuracy": table.loc["accuracy", "Se"]}
        for c in classes:
            row[f"{c} Se"], row[f"{c} +P"] = table.loc[c, "Se"], table.loc[c, "+P"]
        rows.append(row)
    for ref in report.references:
        for r in ref["rows"]:
            row = {"model": f"{r['model']} ({ref['reference']}, published)",
                   "accuracy": 100 * r.get("accuracy", math.nan)}
            for c in classes:
                row[f"{c} Se"] = 100 * r.get(f"{c}_se", math.nan)
                row[f"{c} +P"] = 100 * r.get(f"{c}_ppv", math.nan)
            rows.append(row)
    return pd.DataFrame(rows)


def per_class_frame(report: DatasetReport, metric: str) -> pd.DataFrame:
    """Models x classes of one per-class metric (mean over seeds)."""
    return pd.DataFrame({m: report.per_class[m].loc[list(report.class_names), metric]
                         for m in report.ranking["model"]}).T.rename_axis("model")


def best_model_detail(report: DatasetReport) -> pd.DataFrame:
    """Every metric of the leader per class, with its confusion counts (summed over seeds)."""
    table = report.per_class[report.leader].copy()
    if report.leader in report.confusion:
        matrix = report.confusion[report.leader]
        for j, c in enumerate(report.class_names):
            table[f"predicted {c}"] = [*matrix[:, j], *([math.nan] * (len(table) - len(report.class_names)))]
    table.insert(0, "model", report.leader)
    return table.rename_axis("class").reset_index()
