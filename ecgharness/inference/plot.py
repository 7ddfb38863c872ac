"""A figure of a scored record: the signal with each beat marked in its predicted class's
colour, low-confidence beats circled."""

from __future__ import annotations

import numpy as np

from ecgharness.inference.predict import LOW_CONFIDENCE, Prediction

COLOURS = ("#1f77b4", "#ff7f0e", "#d62728", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f")


def plot_prediction(prediction: Prediction, start_s: float = 0.0, seconds: float = 20.0,
                    low: float = LOW_CONFIDENCE):
    """A matplotlib figure of ``seconds`` of the record from ``start_s`` (beat models)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if prediction.signal is None or prediction.positions is None:
        raise ValueError(f"{prediction.record}: only records scored beat by beat can be plotted")
    fs, sig = prediction.fs, prediction.signal[:, 0]
    lo, hi = int(start_s * fs), min(len(sig), int((start_s + seconds) * fs))
    t = np.arange(lo, hi) / fs
    table = prediction.table(low)
    fig, ax = plt.subplots(figsize=(14, 4), dpi=100)
    ax.plot(t, sig[lo:hi], color="0.35", lw=0.8)
    shown = table[(table["sample"] >= lo) & (table["sample"] < hi)]
    for i, name in enumerate(prediction.class_names):
        rows = shown[shown["class"] == name]
        if len(rows):
            ax.scatter(rows["sample"] / fs, sig[rows["sample"]], s=40, color=COLOURS[i % len(COLOURS)],
                       label=f"{name} ({(table['class'] == name).sum()})", zorder=3)
    weak = shown[shown["low_confidence"]]
    if len(weak):
        ax.scatter(weak["sample"] / fs, sig[weak["sample"]], s=160, facecolors="none", edgecolors="k",
                   linewidths=1.2, label=f"confidence < {low:g}", zorder=4)
    ax.set_xlabel("time (s)")
    ax.set_ylabel(prediction.leads[0] if prediction.leads else "signal")
    ax.set_title(f"{prediction.record}: {prediction.model}, beats from {prediction.source}")
    ax.legend(loc="upper right", fontsize=8, ncol=len(prediction.class_names) + 1)
    ax.set_xlim(t[0] if len(t) else 0, t[-1] if len(t) else 1)
    fig.tight_layout()
    return fig
