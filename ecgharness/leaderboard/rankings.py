"""Rankings per dataset from a stored run: one numeric frame per dataset, best first."""

from __future__ import annotations

import pandas as pd

from ecgharness.leaderboard.store import RunResults

def leader_of(ranking: pd.DataFrame) -> str:
    """The best model of a ranking; floors are baselines, so the best of the others when there is one."""
    models = ranking.loc[~ranking["floor"], "model"] if "floor" in ranking else ranking["model"]
    return str((models if len(models) else ranking["model"]).iloc[0])


def seed_count(counts) -> str:
    """``3``, or ``2-3`` when models have different numbers of seeds."""
    counts = [int(c) for c in counts]
    if not counts:
        return "0"
    low, high = min(counts), max(counts)
    return str(high) if low == high else f"{low}-{high}"


def leaderboard_frames(run: RunResults) -> dict[str, pd.DataFrame]:
    """One numeric ranking per dataset, best first.

    Columns: ``model``, ``<headline>_mean``, ``<headline>_std``, ``accuracy_mean``,
    ``f1_<class>`` means, ``params``, ``train_time_s``, ``throughput``, ``seeds``, ``floor``
    (a non-deep baseline of the harness rather than a model of the suite).
    """
    metrics = run.final_metrics
    if metrics.empty:
        return {}
    runs = run.final_runs
    frames = {}
    for dataset, rows in metrics[metrics["split"] == "test"].groupby("dataset", sort=True):
        headline = runs.loc[runs["dataset"] == dataset, "headline"].iloc[0]
        wide = rows.pivot_table(index=["model", "seed"], columns="metric", values="value", dropna=False)
        classes = [c.split("/", 1)[1] for c in rows["metric"].drop_duplicates() if c.startswith("f1/")]
        grouped = wide.groupby(level="model")
        table = pd.DataFrame({
            f"{headline}_mean": grouped[headline].mean(),
            f"{headline}_std": grouped[headline].std(ddof=1),
            "accuracy_mean": grouped["accuracy"].mean(),
            **{f"f1_{c}": grouped[f"f1/{c}"].mean() for c in classes},
        })
        info = runs[runs["dataset"] == dataset].groupby("model").agg(
            params=("params", "first"), train_time_s=("train_time_s", "mean"),
            throughput=("throughput", "mean"), seeds=("seed", "count"))
        table = table.join(info).reset_index()
        floors = set(runs.loc[runs["kind"] == "floor", "model"]) if "kind" in runs else set()
        table["floor"] = table["model"].isin(floors)
        table = table.sort_values(f"{headline}_mean", ascending=False, na_position="last").reset_index(drop=True)
        table.insert(0, "rank", range(1, len(table) + 1))
        table.attrs["headline"] = headline
        table.attrs["classes"] = classes
        frames[dataset] = table
    return frames
