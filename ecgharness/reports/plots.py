"""The report's figures (matplotlib, PNG). Each function writes one file and returns its path."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from ecgharness.leaderboard.store import RunResults
from ecgharness.reports.tables import DatasetReport, per_class_frame


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    _pyplot().close(fig)
    return path


def comparison_bars(report: DatasetReport, path: Path) -> Path:
    """Headline metric per model: mean over seeds, seed std as error bar, 95% bootstrap CI as whiskers."""
    plt = _pyplot()
    r = report.ranking
    mean, std = r[f"{report.headline}_mean"].to_numpy(), r[f"{report.headline}_std"].fillna(0).to_numpy()
    fig, ax = plt.subplots(figsize=(max(5.0, 0.6 * len(r) + 2), 3.6))
    x = np.arange(len(r))
    ax.bar(x, mean, yerr=std, capsize=3, color="#4c78a8", label="mean ± std over seeds")
    ax.errorbar(x, mean, yerr=[mean - r["ci_low"], r["ci_high"] - mean], fmt="none", ecolor="#e45756",
                capsize=5, lw=1, label="95% bootstrap CI")
    ax.set_xticks(x, r["model"], rotation=45, ha="right")
    ax.set_ylabel(report.headline)
    ax.set_title(f"{report.name}: test {report.headline}")
    ax.legend(fontsize=8)
    return _save(fig, path)


def heatmap(report: DatasetReport, metric: str, path: Path) -> Path:
    """Models x classes of a per-class metric; undefined cells hatched grey."""
    plt = _pyplot()
    frame = per_class_frame(report, metric)
    values = frame.to_numpy(dtype=float)
    fig, ax = plt.subplots(figsize=(1.0 * len(frame.columns) + 3, 0.35 * len(frame) + 1.6))
    ax.set_facecolor("#dddddd")
    image = ax.imshow(np.ma.masked_invalid(values), vmin=0, vmax=1, cmap="viridis", aspect="auto")
    ax.set_xticks(range(len(frame.columns)), frame.columns)
    ax.set_yticks(range(len(frame)), frame.index)
    for i in range(values.shape[0]):
        for j in range(values.shape[1]):
            text = "n/a" if not math.isfinite(values[i, j]) else f"{values[i, j]:.2f}"
            ax.text(j, i, text, ha="center", va="center", fontsize=7,
                    color="#333333" if not math.isfinite(values[i, j]) or values[i, j] > 0.6 else "white")
    fig.colorbar(image, ax=ax, fraction=0.05)
    ax.set_title(f"{report.name}: per-class {metric} (mean over seeds)")
    return _save(fig, path)


def confusion(report: DatasetReport, path: Path) -> Path | None:
    """Confusion matrix of the leader, summed over its seeds, rows normalised."""
    if report.leader not in report.confusion:
        return None
    plt = _pyplot()
    counts = report.confusion[report.leader]
    rows = counts.sum(axis=1, keepdims=True)
    share = counts / np.where(rows == 0, 1, rows)
    fig, ax = plt.subplots(figsize=(0.7 * len(counts) + 2.5, 0.7 * len(counts) + 2))
    ax.imshow(share, vmin=0, vmax=1, cmap="Blues")
    for i in range(len(counts)):
        for j in range(len(counts)):
            ax.text(j, i, f"{counts[i, j]}", ha="center", va="center", fontsize=8,
                    color="white" if share[i, j] > 0.5 else "black")
    ax.set_xticks(range(len(counts)), report.class_names)
    ax.set_yticks(range(len(counts)), report.class_names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(f"{report.leader} on {report.name} ({len(report.seeds[report.leader])} seeds summed)", fontsize=9)
    return _save(fig, path)


def roc_pr_curves(report: DatasetReport, run: RunResults, path: Path) -> Path:
    """One-vs-rest ROC and precision-recall curves of the leader's first seed, one line per class."""
    from sklearn.metrics import precision_recall_curve, roc_curve

    plt = _pyplot()
    pred = run.predictions(report.name, report.leader, report.seeds[report.leader][0])
    scores, labels = pred["scores"], pred["labels"]
    truth = labels if labels.ndim == 2 else np.eye(len(report.class_names), dtype=int)[labels]
    fig, (roc_ax, pr_ax) = plt.subplots(1, 2, figsize=(9, 3.8))
    for k, name in enumerate(report.class_names):
        if truth[:, k].sum() == 0 or truth[:, k].sum() == len(truth):
            continue  # undefined for a class without positives (or negatives)
        fpr, tpr, _ = roc_curve(truth[:, k], scores[:, k])
        precision, recall, _ = precision_recall_curve(truth[:, k], scores[:, k])
        auc = report.per_class[report.leader].loc[name, "auroc"]
        roc_ax.plot(fpr, tpr, lw=1.2, label=f"{name} (AUROC {auc:.3f})")
        pr_ax.plot(recall, precision, lw=1.2, label=name)
    has_curves = bool(roc_ax.lines)
    roc_ax.plot([0, 1], [0, 1], ls=":", c="grey")
    roc_ax.set(xlabel="1 - specificity", ylabel="sensitivity", title=f"ROC, {report.leader}")
    pr_ax.set(xlabel="recall (sensitivity)", ylabel="precision (+P)", title=f"precision-recall, {report.leader}")
    if has_curves:
        roc_ax.legend(fontsize=7)
        pr_ax.legend(fontsize=7)
    else:
        for ax in (roc_ax, pr_ax):
            ax.text(0.5, 0.5, "undefined: no class has both positives\nand negatives in the test set",
                    ha="center", va="center", fontsize=9, transform=ax.transAxes)
    return _save(fig, path)


def _best_trials(run: RunResults, dataset: str) -> pd.DataFrame:
    trials = run.trials
    if trials.empty:
        return trials
    trials = trials[(trials["dataset"] == dataset) & trials["best_val_score"].notna()]
    return trials.sort_values("best_val_score", ascending=False).groupby("model", sort=False).head(1)


def training_curves(report: DatasetReport, run: RunResults, path: Path) -> Path | None:
    """Loss and validation headline per epoch of each model's best search trial."""
    history = run.tables.get("trial_history", pd.DataFrame())
    best = _best_trials(run, report.name)
    if history.empty or best.empty:
        return None
    plt = _pyplot()
    fig, (loss_ax, score_ax) = plt.subplots(1, 2, figsize=(11.5, 3.8))
    for i, trial in enumerate(best.itertuples()):
        rows = history[(history["dataset"] == report.name) & (history["trial_id"] == trial.trial_id)]
        line, = loss_ax.plot(rows["epoch"], rows["train_loss"], lw=1.2, label=trial.model, color=plt.cm.tab20(i % 20))
        if "val_loss" in rows:
            loss_ax.plot(rows["epoch"], rows["val_loss"], lw=1, ls="--", color=line.get_color())
        score_ax.plot(rows["epoch"], rows["score"], lw=1.2, color=line.get_color(), label=trial.model)
    loss_ax.set(xlabel="epoch", ylabel="loss (solid train, dashed validation)", title="best trial of each model",
                yscale="log")
    score_ax.set(xlabel="epoch", ylabel=f"validation {report.headline}", title="validation metric per epoch")
    score_ax.legend(fontsize=7, ncol=1 + len(best) // 12, loc="upper left", bbox_to_anchor=(1.02, 1))
    return _save(fig, path)


def search_history(report: DatasetReport, run: RunResults, path: Path) -> Path | None:
    """Best validation value of every trial in the order they ran; ASHA-stopped trials as crosses."""
    trials = run.trials
    if trials.empty:
        return None
    trials = trials[trials["dataset"] == report.name].reset_index(drop=True)
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(max(6.0, 0.12 * len(trials) + 4), 3.6))
    for i, (model, rows) in enumerate(trials.groupby("model", sort=False)):
        color = plt.cm.tab20(i % 20)
        stopped = rows["status"].astype(str).str.contains("ASHA")
        ax.scatter(rows.index[~stopped], rows["best_val_score"][~stopped], color=color, s=22, label=model)
        ax.scatter(rows.index[stopped], rows["best_val_score"][stopped], color=color, marker="x", s=26)
    ax.scatter([], [], color="grey", marker="x", label="stopped by ASHA")
    ax.set(xlabel="trial (in the order run)", ylabel=f"best validation {report.headline}",
           title=f"{report.name}: search history")
    ax.legend(fontsize=7, ncol=1 + trials["model"].nunique() // 12, loc="upper left", bbox_to_anchor=(1.01, 1))
    return _save(fig, path)

