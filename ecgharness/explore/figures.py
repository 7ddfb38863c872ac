"""The figures of ``bench data explore``: each function draws one PNG from a prepared dataset."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ecgharness.datasets.base import PreparedDataset
from ecgharness.reports.plots import _pyplot, _save

EXAMPLES_PER_CLASS = 3
PCA_EXAMPLES = 3000


def class_members(ds: PreparedDataset, split: str, k: int) -> np.ndarray:
    """Indices of the examples of class ``k`` in ``split`` (a positive label, for multi-label tasks)."""
    y = np.asarray(ds.splits[split].y)
    return np.flatnonzero(y[:, k] > 0.5 if y.ndim == 2 else y == k)


def primary_class(y: np.ndarray) -> np.ndarray:
    """One class per example for colouring: the label, or the first positive class (-1: none)."""
    y = np.asarray(y)
    if y.ndim == 1:
        return y
    return np.where(y.max(axis=1) > 0.5, y.argmax(axis=1), -1)


def _colour(plt, k: int):
    return plt.cm.tab10(k % 10)


def class_balance(ds: PreparedDataset, path: Path) -> Path:
    """Examples per class in each split (grouped bars, counts written on them, log scale)."""
    plt = _pyplot()
    splits = list(ds.splits)
    width = 0.8 / len(splits)
    fig, ax = plt.subplots(figsize=(max(5.0, 1.2 * ds.num_classes + 2), 3.6))
    x = np.arange(ds.num_classes)
    for i, split in enumerate(splits):
        counts = np.array(list(ds.class_counts(split).values()), dtype=float)
        bars = ax.bar(x + (i - (len(splits) - 1) / 2) * width, np.where(counts > 0, counts, np.nan), width,
                      label=f"{split} ({len(ds.splits[split]):,})")
        for bar, n in zip(bars, counts):  # an empty class has no bar, only its 0
            ax.text(bar.get_x() + bar.get_width() / 2, max(n, 1.0), f"{int(n):,}", ha="center", va="bottom",
                    fontsize=6.5, rotation=90)
    ax.set_xticks(x, ds.class_names)
    ax.set_yscale("log")
    ax.set(ylabel="examples (log scale)", title=f"{ds.name}: class balance per split")
    ax.legend(fontsize=7)
    return _save(fig, path)


def _time_axis(ds: PreparedDataset, length: int) -> tuple[np.ndarray, str]:
    fs = ds.sampling_rate
    if not fs:
        return np.arange(length), "sample"
    start = -(float(ds.config.get("pre_s", 0.0)) + float(ds.config.get("context_s", 0.0)))
    return start + np.arange(length) / fs, "s from the beat annotation" if "pre_s" in ds.config else "s"


def class_waveforms(ds: PreparedDataset, path: Path, split: str = "train") -> Path:
    """Per class: mean +/- one standard deviation of the first lead, and a few real examples."""
    plt = _pyplot()
    x = ds.splits[split].x
    t, unit = _time_axis(ds, x.shape[-1])
    fig, axes = plt.subplots(1, ds.num_classes, figsize=(2.8 * ds.num_classes + 0.5, 2.9), sharey=True,
                             squeeze=False)
    rng = np.random.default_rng(0)
    for k, (ax, name) in enumerate(zip(axes[0], ds.class_names)):
        members = class_members(ds, split, k)
        ax.set(title=f"{name} (n={len(members):,})", xlabel=unit)
        if not len(members):
            ax.text(0.5, 0.5, f"no {name} examples\nin {split}", ha="center", va="center", transform=ax.transAxes)
            continue
        chosen = members if len(members) <= 5000 else rng.choice(members, 5000, replace=False)
        lead = np.asarray(x[np.sort(chosen), 0], dtype=np.float64)
        mean, std = lead.mean(axis=0), lead.std(axis=0)
        ax.fill_between(t, mean - std, mean + std, color=_colour(plt, k), alpha=0.25, label="mean ± std")
        for i in rng.choice(members, min(EXAMPLES_PER_CLASS, len(members)), replace=False):
            ax.plot(t, x[i, 0], color="#555555", lw=0.6, alpha=0.8)
        ax.plot(t, mean, color=_colour(plt, k), lw=1.8, label="mean")
    axes[0][0].set_ylabel("first lead (as prepared)")
    axes[0][0].legend(fontsize=7, loc="lower left")
    fig.suptitle(f"{ds.name} ({split}): class-mean waveform ± std, with {EXAMPLES_PER_CLASS} real examples (grey)",
                 fontsize=9)
    return _save(fig, path)


def pca_scatter(ds: PreparedDataset, path: Path, split: str = "train") -> Path:
    """The examples' first two principal components (signals flattened), coloured by class."""
    from sklearn.decomposition import PCA

    plt = _pyplot()
    sp = ds.splits[split]
    rng = np.random.default_rng(0)
    idx = np.arange(len(sp)) if len(sp) <= PCA_EXAMPLES else np.sort(rng.choice(len(sp), PCA_EXAMPLES, replace=False))
    flat = np.asarray(sp.x[idx], dtype=np.float32).reshape(len(idx), -1)
    pca = PCA(n_components=2, random_state=0)
    z = pca.fit_transform(flat)
    colour_of = primary_class(np.asarray(sp.y)[idx])
    fig, ax = plt.subplots(figsize=(5.2, 4.2))
    for k in sorted(set(colour_of.tolist()), key=lambda c: -np.sum(colour_of == c)):  # rare classes drawn last
        mine = colour_of == k
        name = ds.class_names[k] if k >= 0 else "no label"
        ax.scatter(z[mine, 0], z[mine, 1], s=5, alpha=0.6, color=_colour(plt, k) if k >= 0 else "#bbbbbb",
                   label=f"{name} ({mine.sum():,})")
    ratio = pca.explained_variance_ratio_
    ax.set(xlabel=f"PC 1 ({ratio[0]:.1%} of variance)", ylabel=f"PC 2 ({ratio[1]:.1%})",
           title=f"{ds.name}: PCA of the signals\n({split}, {len(idx):,} examples)")
    ax.legend(fontsize=7, markerscale=2)
    return _save(fig, path)


def rr_distributions(rr: dict[str, np.ndarray], ratio: dict[str, np.ndarray], title: str, path: Path) -> Path:
    """Per class: the RR interval before each beat (ms) and its ratio to the local mean RR."""
    plt = _pyplot()
    fig, (ax, ratio_ax) = plt.subplots(1, 2, figsize=(9.5, 3.4))
    for k, name in enumerate(rr):
        if not len(rr[name]):
            continue
        label = f"{name} ({len(rr[name]):,})"
        ax.hist(rr[name], bins=np.linspace(200, 2000, 61), density=True, histtype="step", lw=1.4,
                color=_colour(plt, k), label=label)
        ratio_ax.hist(ratio[name], bins=np.linspace(0.3, 2.0, 61), density=True, histtype="step", lw=1.4,
                      color=_colour(plt, k), label=label)
    ax.set(xlabel="RR interval before the beat (ms)", ylabel="density", title="previous RR interval")
    ratio_ax.axvline(1.0, color="grey", ls=":", lw=1)
    ratio_ax.set(xlabel="previous RR / local mean RR", title="prematurity (below 1: early beat)")
    ratio_ax.legend(fontsize=7)
    fig.suptitle(title, fontsize=9)
    return _save(fig, path)


def filter_effect(raw: np.ndarray, filtered: np.ndarray, fs: float, band: tuple[float, float], title: str,
                  path: Path, start_s: float = 0.0) -> Path:
    """A real signal before and after the band-pass filter, and both power spectra (Welch);
    ``start_s``: the signal's time in its record."""
    from scipy.signal import welch

    plt = _pyplot()
    fig, (ax, spec_ax) = plt.subplots(1, 2, figsize=(11, 3.4), gridspec_kw={"width_ratios": [2, 1]})
    t = start_s + np.arange(len(raw)) / fs
    ax.plot(t, raw, lw=0.8, color="#999999", label="as recorded")
    ax.plot(t, filtered, lw=0.8, color="#d62728", label=f"band-passed {band[0]:g}-{band[1]:g} Hz")
    ax.set(xlabel="s in the record", ylabel="amplitude", title=title)
    ax.legend(fontsize=7)
    for signal, colour, label in ((raw, "#999999", "as recorded"), (filtered, "#d62728", "band-passed")):
        f, p = welch(signal, fs=fs, nperseg=min(len(signal), int(4 * fs)))
        spec_ax.semilogy(f, p, color=colour, lw=1, label=label)
    for edge in band:
        spec_ax.axvline(edge, color="grey", ls=":", lw=1)
    spec_ax.set(xlabel="Hz", ylabel="power spectral density", title="spectrum (Welch)")
    spec_ax.legend(fontsize=7)
    return _save(fig, path)


def metadata_distributions(meta: np.ndarray, classes: np.ndarray, features: list[str], class_names: tuple[str, ...],
                           title: str, path: Path) -> Path:
    """Histograms of each metadata feature (columns of ``meta``) per class (``classes``: index per row)."""
    plt = _pyplot()
    cols = min(4, len(features))
    rows = -(-len(features) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.0 * cols, 2.3 * rows), squeeze=False)
    meta = np.asarray(meta, dtype=float)
    for ax in axes.ravel()[len(features):]:
        ax.axis("off")
    for j, (ax, feature) in enumerate(zip(axes.ravel(), features)):
        values = meta[:, j]
        finite = np.isfinite(values)
        lo, hi = np.percentile(values[finite], [1, 99]) if finite.any() else (0.0, 1.0)
        bins = np.linspace(lo, hi if hi > lo else lo + 1, 31)
        for k, name in enumerate(class_names):
            mine = values[(classes == k) & finite]
            if len(mine) > 1:
                ax.hist(mine, bins=bins, density=True, histtype="step", lw=1.2, color=_colour(plt, k),
                        label=f"{name} ({len(mine):,})")
        ax.set_title(feature, fontsize=8)
        ax.tick_params(labelsize=6)
    axes[0][0].legend(fontsize=6)
    fig.suptitle(title, fontsize=9)
    return _save(fig, path)
