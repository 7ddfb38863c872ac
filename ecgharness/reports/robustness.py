"""Noise robustness: kept models scored on the test split with added ECG noise.

Each noise kind of :mod:`ecgharness.training.noise` is added at 24, 18, 12, 6 and 0 dB SNR (the
MIT-BIH Noise Stress Test Database's levels) to every test example. The noise of one kind is
drawn once from a generator seeded by (noise seed, kind) and only rescaled from one SNR to the
next, and the same noise is added for every model, so the models' curves differ only by the
models. Each model is scored with the kept weights of its first seed
(:func:`ecgharness.inference.bundle.load_bundle`), by the dataset's headline metric and with the
validation thresholds stored with the weights (multi-label tasks).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd

from ecgharness.datasets.base import Split
from ecgharness.evaluation.metrics import summary_metrics
from ecgharness.evaluation.scoring import scoring_rules
from ecgharness.leaderboard.store import RunResults
from ecgharness.reports.plots import _pyplot, _save
from ecgharness.reports.tables import DatasetReport

log = logging.getLogger(__name__)

CHUNK = 2048  # examples noised at once; fixed, so the noise does not depend on memory


@dataclass
class RobustnessResult:
    """One model's headline metric on clean and noisy test signals."""

    model: str
    seed: int
    headline: str
    clean: float
    scores: pd.DataFrame  # index: noise kind; columns: SNR in dB (descending)
    skipped: dict[str, str]  # noise kind -> why it was not applied


def noisy_copies(x: np.ndarray, kind: str, snrs: tuple[float, ...], fs: float, seed: int, kind_index: int,
                 zscore: bool):
    """Yield (snr, noisy test signals) for each SNR: the same unscaled noise every time, rescaled."""
    import torch

    from ecgharness.training import noise

    for snr in snrs:
        generator = torch.Generator().manual_seed(1000 * seed + kind_index)
        parts = []
        for start in range(0, len(x), CHUNK):
            clean = torch.tensor(np.asarray(x[start:start + CHUNK]), dtype=torch.float32)
            parts.append(noise.add_noise(clean, kind, snr, fs, generator, zscore).numpy())
        yield snr, np.concatenate(parts)


def score_under_noise(predict: Callable[[np.ndarray, np.ndarray | None], np.ndarray], test: Split, *,
                      model: str, seed: int, fs: float, headline: str, class_names: tuple[str, ...], task: str,
                      thresholds: Any, notes: dict[str, Any], zscore: bool, noise_seed: int = 0,
                      kinds: tuple[str, ...] | None = None, snrs: tuple[float, ...] | None = None
                      ) -> RobustnessResult:
    """``predict(x, meta) -> probabilities`` scored on ``test`` clean and with each noise kind at each SNR."""
    from ecgharness.training import noise

    kinds = kinds or noise.ARTEFACT_KINDS
    snrs = snrs or noise.ROBUSTNESS_SNRS_DB
    scored, forgive = scoring_rules(notes, class_names)
    cut = None if thresholds is None else np.asarray(thresholds, dtype=float)
    y = np.asarray(test.y)

    def metric(scores: np.ndarray) -> float:
        return float(summary_metrics(y, scores, class_names, task, cut, scored, forgive)[headline])

    clean = metric(predict(np.asarray(test.x), test.meta))
    rows, skipped = {}, {}
    for k, kind in enumerate(noise.ARTEFACT_KINDS):
        if kind not in kinds:
            continue
        try:
            noise.check_kind(kind, fs)
        except ValueError as exc:
            skipped[kind] = str(exc)
            continue
        rows[kind] = {snr: metric(predict(noisy, test.meta))
                      for snr, noisy in noisy_copies(test.x, kind, snrs, fs, noise_seed, k, zscore)}
    frame = pd.DataFrame.from_dict(rows, orient="index", columns=list(snrs))
    return RobustnessResult(model, seed, headline, clean, frame, skipped)


def _models(report: DatasetReport, run: RunResults, which: str) -> list[str]:
    if which == "leader":
        return [report.leader]
    runs = run.final_runs
    floors = set(runs.loc[runs.get("kind", pd.Series("model", index=runs.index)) == "floor", "model"]) \
        if not runs.empty else set()
    return [m for m in report.ranking["model"] if m not in floors]


def evaluate(report: DatasetReport, run: RunResults, test: Split, fs: float | None, models: str = "leader",
             noise_seed: int = 0) -> tuple[list[RobustnessResult], list[str]]:
    """Robustness of the chosen models of ``report`` on ``test``; and why any model was left out."""
    from ecgharness.training import noise

    if not fs:
        return [], [f"{report.name} does not record its sampling rate, which the noise models need"]
    try:
        from ecgharness.inference.bundle import load_bundle
    except ImportError as exc:
        return [], [f"kept weights cannot be loaded by this installation ({exc})"]
    notes = run.provenance.get("datasets", {}).get(report.name, {}).get("notes", {})
    results, missing = [], []
    for model in _models(report, run, models):
        seed = report.seeds[model][0]
        try:
            bundle = load_bundle(run.weights(report.name, model, seed))
        except (FileNotFoundError, ValueError) as exc:
            missing.append(str(exc))
            continue
        log.info("robustness: %s/%s seed %d", report.name, model, seed)
        results.append(score_under_noise(
            lambda x, meta: bundle.predict_proba(x, meta), test, model=model, seed=seed, fs=fs,
            headline=report.headline, class_names=report.class_names, task=report.task,
            thresholds=bundle.thresholds, notes=notes, zscore=noise.restandardises(report.config),
            noise_seed=noise_seed))
    return results, missing


def table(results: list[RobustnessResult]) -> pd.DataFrame:
    """Rows model x noise kind; columns the clean score and one per SNR (display strings)."""
    def fmt(v: float) -> str:
        return "—" if not math.isfinite(v) else f"{v:.4f}"

    rows = []
    for r in results:
        for kind, values in r.scores.iterrows():
            rows.append({"model": r.model, "noise": kind.replace("_", " "), "clean": fmt(r.clean),
                         **{f"{snr:g} dB": fmt(v) for snr, v in values.items()}})
    return pd.DataFrame(rows)


def long_frame(dataset: str, results: list[RobustnessResult]) -> pd.DataFrame:
    """``dataset, model, seed, noise, snr_db, metric, value`` (clean rows have noise ``none``)."""
    rows = []
    for r in results:
        rows.append({"dataset": dataset, "model": r.model, "seed": r.seed, "noise": "none", "snr_db": math.inf,
                     "metric": r.headline, "value": r.clean})
        rows += [{"dataset": dataset, "model": r.model, "seed": r.seed, "noise": kind, "snr_db": snr,
                  "metric": r.headline, "value": v}
                 for kind, values in r.scores.iterrows() for snr, v in values.items()]
    return pd.DataFrame(rows)


def curve(results: list[RobustnessResult], headline: str, path: Path) -> Path | None:
    """One panel per noise kind: the headline metric against SNR, one line per model, clean level dashed."""
    kinds = list(dict.fromkeys(k for r in results for k in r.scores.index))
    if not kinds:
        return None
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(kinds), figsize=(3.0 * len(kinds) + 1.5, 3.2), sharey=True, squeeze=False)
    for ax, kind in zip(axes[0], kinds):
        for i, r in enumerate(results):
            if kind not in r.scores.index:
                continue
            values = r.scores.loc[kind]
            line, = ax.plot(values.index.astype(float), values.to_numpy(dtype=float), marker="o", ms=3,
                            color=plt.cm.tab10(i % 10), label=r.model)
            ax.axhline(r.clean, color=line.get_color(), ls="--", lw=0.8)
        ax.set(title=kind.replace("_", " "), xlabel="SNR (dB)")
        ax.invert_xaxis()  # from nearly clean to noise as strong as the QRS
    axes[0][0].set_ylabel(f"test {headline}")
    axes[0][-1].legend(fontsize=7, loc="lower left")
    return _save(fig, path)


def report_section(report: DatasetReport, run: RunResults, signals: tuple[Split, float | None] | str,
                   options: Any, folder: Path) -> tuple[list[tuple[str, pd.DataFrame | None, str]], Path | None]:
    """The report's robustness section (heading, table, caption) and its plot; ``robustness.csv`` beside."""
    heading = "Noise robustness"
    if isinstance(signals, str):
        return [(heading, None, f"Not measured: {signals}.")], None
    results, missing = evaluate(report, run, signals[0], signals[1], options.robustness_models, options.noise_seed)
    notes = [f" Left out: {m}." for m in missing]
    skipped = {k: why for r in results for k, why in r.skipped.items()}
    notes += [f" No {k.replace('_', ' ')}: {why}." for k, why in skipped.items()]
    if not results:
        return [(heading, None, "Not measured." + "".join(notes))], None
    out = folder.parent / "robustness.csv"
    frame = long_frame(report.name, results)
    if out.exists():
        frame = pd.concat([pd.read_csv(out).query("dataset != @report.name"), frame], ignore_index=True)
    frame.to_csv(out, index=False)
    caption = (f"Test {report.headline} with synthetic noise added at each SNR (first seed of each model, noise seed "
               f"{options.noise_seed}, the same noise for every model). Noise models after the MIT-BIH Noise Stress "
               "Test Database (Moody et al. 1984) and Friesen et al. 1990, synthesised (the NSTDB recordings are "
               "not used); SNR as WFDB's nst defines it (QRS peak-to-peak amplitude squared / 8 over the noise "
               "power). Datasets prepared with the band-pass filter get the noise after it." + "".join(notes))
    plot = curve(results, report.headline, folder / f"{report.name}_robustness.png")
    return [(heading, table(results), caption)], plot
