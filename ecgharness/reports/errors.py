"""Error analysis of each dataset's leader: confidence of right and wrong decisions per class,
low-confidence decisions, the most confused class pairs, calibration, and a gallery of
misclassified test examples (signals reloaded with the run's dataset configuration).

The numbers come from :mod:`ecgharness.evaluation.calibration`; decisions are pooled over the
leader's seeds, the gallery shows its first seed.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ecgharness.datasets.base import Split
from ecgharness.evaluation.calibration import (
    Decisions,
    LowConfidence,
    Reliability,
    confused_pairs,
    decisions,
    low_confidence,
    reliability,
)
from ecgharness.leaderboard.store import RunResults
from ecgharness.reports.plots import _pyplot, _save
from ecgharness.reports.tables import DatasetReport

log = logging.getLogger(__name__)

GALLERY_SIZE = 8


@dataclass
class ErrorAnalysis:
    """What the error analysis of one dataset's leader shows."""

    model: str
    seeds: list[int]
    class_names: tuple[str, ...]
    task: str
    decisions: Decisions
    low: LowConfidence
    reliability: Reliability
    pairs: list[tuple[str, str, int]]
    first_scores: np.ndarray  # the first seed's test scores, for the gallery
    first_thresholds: np.ndarray | None

    @property
    def multilabel(self) -> bool:
        return self.task == "multilabel"


def analyse(report: DatasetReport, run: RunResults, threshold: float = 0.6, bins: int = 10) -> ErrorAnalysis:
    """The leader's decisions on the test split, pooled over its seeds."""
    model, seeds = report.leader, report.seeds[report.leader]
    preds = [run.predictions(report.name, model, s) for s in seeds]
    parts = [decisions(report.labels, p["scores"], p.get("thresholds")) for p in preds]
    pooled = Decisions(*(np.concatenate([getattr(d, f) for d in parts]) for f in ("confidence", "correct",
                                                                                     "true_class")))
    pairs = confused_pairs(report.confusion[model], report.class_names) if model in report.confusion else []
    return ErrorAnalysis(model=model, seeds=seeds, class_names=report.class_names, task=report.task,
                         decisions=pooled, low=low_confidence(pooled, threshold),
                         reliability=reliability(pooled.confidence, pooled.correct, bins), pairs=pairs,
                         first_scores=preds[0]["scores"], first_thresholds=preds[0].get("thresholds"))


def _f(value: float, digits: int = 3) -> str:
    return "—" if not math.isfinite(value) else f"{value:.{digits}f}"


def per_class_table(a: ErrorAnalysis) -> pd.DataFrame:
    """Per class: decisions, share right, median (and quartiles of) confidence when right and when wrong."""
    rows = []
    d = a.decisions
    for k, name in enumerate(a.class_names):
        mine = d.true_class == k
        right, wrong = d.confidence[mine & d.correct], d.confidence[mine & ~d.correct]

        def spread(v: np.ndarray) -> str:
            if not len(v):
                return "—"
            q1, med, q3 = np.quantile(v, [0.25, 0.5, 0.75])
            return f"{med:.3f} [{q1:.3f}, {q3:.3f}]"

        rows.append({"class": name, "decisions": f"{int(mine.sum()):,}",
                     "right": f"{len(right):,}", "wrong": f"{len(wrong):,}",
                     "confidence when right: median [IQR]": spread(right),
                     "confidence when wrong: median [IQR]": spread(wrong)})
    return pd.DataFrame(rows)


def sections(a: ErrorAnalysis) -> list[tuple[str, pd.DataFrame, str]]:
    """(heading, table, caption) of the error analysis."""
    what = ("each (example, class) decision against the class's validation threshold; confidence p for a "
            "positive decision, 1 - p for a negative one" if a.multilabel else
            "each test example's predicted class; confidence = that class's probability")
    pooled = f"{a.model}, {len(a.seeds)} seed(s) pooled"
    out = [(f"Error analysis: confidence per class ({a.model})", per_class_table(a),
            f"{pooled}; a decision is {what}. Rows: the decision's true class.")]
    low = a.low
    out.append(("Low-confidence decisions", pd.DataFrame([{
        "threshold": f"< {low.threshold:g}", "share of decisions": _f(low.share),
        "decisions below": f"{low.count_low:,}", "accuracy below": _f(low.accuracy_low),
        "decisions at or above": f"{low.count_rest:,}", "accuracy at or above": _f(low.accuracy_rest),
        "ECE": _f(a.reliability.ece, 4)}]),
        f"{pooled}. ECE: expected calibration error over {len(a.reliability.count)} equal-width confidence bins "
        "(Guo et al. 2017); 0 is perfectly calibrated."))
    if a.pairs:
        out.append(("Most confused class pairs", pd.DataFrame(
            [{"true": t, "predicted": p, "count": f"{n:,}"} for t, p, n in a.pairs]),
            f"{pooled}: the largest off-diagonal cells of the confusion matrix (counts summed over seeds)."))
    return out


# ------------------------------------------------------------------------------------- plots


def confidence_plot(a: ErrorAnalysis, path: Path) -> Path:
    """One panel per class: histograms of the confidence of right and of wrong decisions."""
    plt = _pyplot()
    d = a.decisions
    shown = [(c, name) for c, name in enumerate(a.class_names) if (d.true_class == c).any()]
    k = max(1, len(shown))
    fig, axes = plt.subplots(1, k, figsize=(2.4 * k + 1, 2.8), sharey=False, squeeze=False)
    low = 1 / len(a.class_names) if not a.multilabel else 0.5
    bins = np.linspace(min(low, 0.5), 1, 21)
    for ax, (c, name) in zip(axes[0], shown):
        mine = d.true_class == c
        ax.hist(d.confidence[mine & d.correct], bins=bins, color="#54a24b", alpha=0.7, label="right")
        ax.hist(d.confidence[mine & ~d.correct], bins=bins, color="#e45756", alpha=0.7, label="wrong")
        ax.axvline(a.low.threshold, color="grey", ls=":", lw=1)
        ax.set_yscale("log")
        ax.set(title=f"true {name}", xlabel="confidence")
    axes[0][0].set_ylabel("decisions (log)")
    axes[0][0].legend(fontsize=7)
    fig.suptitle(f"{a.model}: confidence of right and wrong decisions (classes without test examples left out)",
                 fontsize=9)
    return _save(fig, path)


def reliability_plot(a: ErrorAnalysis, path: Path) -> Path:
    """Reliability diagram: accuracy per confidence bin against the diagonal, bin sizes below."""
    plt = _pyplot()
    r = a.reliability
    centres = (r.edges[:-1] + r.edges[1:]) / 2
    width = r.edges[1] - r.edges[0]
    fig, (ax, count_ax) = plt.subplots(2, 1, figsize=(4.2, 4.6), sharex=True,
                                       gridspec_kw={"height_ratios": [3, 1]})
    full = r.count > 0
    ax.bar(centres[full], r.accuracy[full], width=width * 0.95, color="#4c78a8", label="accuracy")
    low, gap = np.minimum(r.accuracy[full], r.confidence[full]), np.abs(r.confidence[full] - r.accuracy[full])
    ax.bar(centres[full], gap, bottom=low, width=width * 0.95, fill=False, hatch="///", edgecolor="#e45756",
           label="gap to mean confidence")
    ax.plot([0, 1], [0, 1], ls=":", c="grey")
    ax.set(ylabel="accuracy", ylim=(0, 1), title=f"{a.model}: reliability, ECE {_f(r.ece, 4)}")
    ax.legend(fontsize=7, loc="upper left")
    count_ax.bar(centres, r.count, width=width * 0.95, color="#999999")
    count_ax.set(xlabel="confidence", ylabel="decisions", yscale="log" if r.count.max() > 0 else "linear")
    return _save(fig, path)


def gallery_examples(a: ErrorAnalysis, labels: np.ndarray, size: int = GALLERY_SIZE) -> list[int]:
    """Misclassified test examples of the first seed, most confident first, taking the true
    classes in turn so that one class does not fill the gallery."""
    scores = a.first_scores
    if labels.ndim == 1:
        predicted = scores.argmax(axis=1)
        wrong = np.flatnonzero(predicted != labels)
        conf, group = scores.max(axis=1), labels
    else:
        cut = np.full(scores.shape[1], 0.5) if a.first_thresholds is None else np.asarray(a.first_thresholds)
        wrong = np.flatnonzero(((scores >= cut) != (labels > 0.5)).any(axis=1))
        conf, group = scores.max(axis=1), labels.argmax(axis=1)
    queues = {c: sorted(wrong[group[wrong] == c], key=lambda i: -conf[i]) for c in np.unique(group[wrong])}
    picked: list[int] = []
    while len(picked) < size and any(queues.values()):
        for c in list(queues):
            if queues[c] and len(picked) < size:
                picked.append(int(queues[c].pop(0)))
    return picked


def _describe(a: ErrorAnalysis, labels: np.ndarray, i: int) -> str:
    names, s = a.class_names, a.first_scores[i]
    if labels.ndim == 1:
        return f"#{i}: true {names[labels[i]]}, predicted {names[s.argmax()]} ({s.max():.2f})"
    cut = np.full(len(s), 0.5) if a.first_thresholds is None else np.asarray(a.first_thresholds)
    true = ",".join(n for n, v in zip(names, labels[i]) if v > 0.5) or "none"
    pred = ",".join(n for n, v, t in zip(names, s, cut) if v >= t) or "none"
    return f"#{i}: true {true}, predicted {pred}"


def gallery_plot(a: ErrorAnalysis, signals: np.ndarray, labels: np.ndarray, fs: float | None,
                 path: Path) -> Path | None:
    """The misclassified examples of :func:`gallery_examples`, first lead, one panel each."""
    picked = gallery_examples(a, labels)
    if not picked:
        return None
    plt = _pyplot()
    cols = min(4, len(picked))
    rows = math.ceil(len(picked) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 2.2 * rows), squeeze=False)
    for ax in axes.ravel()[len(picked):]:
        ax.axis("off")
    for ax, i in zip(axes.ravel(), picked):
        trace = np.asarray(signals[i, 0], dtype=float)
        t = np.arange(len(trace)) / fs if fs else np.arange(len(trace))
        ax.plot(t, trace, lw=0.9, color="#333333")
        ax.set_title(_describe(a, labels, i), fontsize=7.5)
        ax.tick_params(labelsize=6)
        ax.set_xlabel("s" if fs else "sample", fontsize=7)
    fig.suptitle(f"{a.model} (seed {a.seeds[0]}): misclassified test examples, first lead", fontsize=9)
    return _save(fig, path)


def load_test_signals(report: DatasetReport, data_root: str | Path | None = None,
                      cache_dir: str | Path | None = None) -> tuple[Split, float | None] | str:
    """The test split prepared with the run's dataset config, and its sampling rate; or why it
    could not be loaded (the report then has no gallery and no robustness test)."""
    from ecgharness.datasets import load_dataset

    try:
        ds = load_dataset(report.name, report.config, root=data_root, cache_dir=cache_dir)
    except Exception as exc:  # missing data, a dataset no longer registered, ...
        return f"the test signals of {report.name} could not be loaded ({type(exc).__name__}: {exc})"
    test = ds.splits["test"]
    if np.asarray(test.y).shape != report.labels.shape or not np.array_equal(np.asarray(test.y), report.labels):
        return (f"the test split of {report.name} prepared now differs from the run's (the source files changed), "
                "so no example can be matched to its prediction")
    return test, ds.sampling_rate
