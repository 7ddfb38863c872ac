"""A Markdown model card for a kept model: data, protocol, test metrics with intervals,
parameters, intended use and limits, all read from the run folder and the bundle."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd

from ecgharness.evaluation.bootstrap import bootstrap_distribution, confidence_interval, resample_indices
from ecgharness.evaluation.metrics import headline, per_class_table
from ecgharness.inference.bundle import ModelBundle
from ecgharness.inference.export import Exported
from ecgharness.leaderboard.store import RunResults
from ecgharness.rendering import markdown

RESAMPLES = 1000


def _fmt(value: float) -> str:
    return "undefined" if value is None or not math.isfinite(value) else f"{value:.3f}"


def _metric_lines(bundle: ModelBundle, run: RunResults) -> list[str]:
    """Headline, accuracy and macro AUROC with 95 % bootstrap intervals over the test set of this seed."""
    pred = run.predictions(bundle.dataset, bundle.model_name, bundle.seed)
    labels, scores = pred["labels"], pred["scores"]
    thresholds = None if bundle.thresholds is None else np.asarray(bundle.thresholds)
    names = list(bundle.class_names)
    scored_names = bundle.preprocessing.get("scored_classes")
    scored = None if not scored_names else tuple(names.index(c) for c in scored_names if c in names)
    indices = resample_indices(labels, RESAMPLES, seed=0)
    main = bundle.metadata.get("headline", "macro_f1")
    lines = [f"Test split: {len(labels):,} examples; 95 % intervals from {RESAMPLES} bootstrap resamples "
             "of the test set (percentile method, seed 0).", ""]
    for metric in dict.fromkeys([main, "accuracy", "macro_auroc"]):
        value = headline(labels, scores, bundle.task, metric, thresholds, scored)
        low, high = confidence_interval(bootstrap_distribution(labels, scores, bundle.task, metric, indices,
                                                               thresholds, scored))
        lines.append(f"- **{metric}**{' (headline)' if metric == main else ''}: {_fmt(value)} "
                     f"[{_fmt(low)}, {_fmt(high)}]")
    table = per_class_table(labels, scores, names, bundle.task, thresholds, scored)
    rows = table.loc[[n for n in names if n in table.index],
                     [c for c in ("sensitivity", "precision", "f1", "auroc", "support") if c in table.columns]]
    frame = rows.reset_index().rename(columns={"index": "class"})
    for col in frame.columns[1:]:
        frame[col] = [str(int(v)) if col == "support" else _fmt(float(v)) for v in frame[col]]
    return lines + ["", "Per class:", "", markdown(frame)]


def model_card(bundle: ModelBundle, run: RunResults, exported: Exported | None = None) -> str:
    """The card as Markdown."""
    prep = bundle.preprocessing
    frame = run.final_runs
    row = frame[(frame["dataset"] == bundle.dataset) & (frame["model"] == bundle.model_name)
                & (frame["seed"] == bundle.seed)]
    info = row.iloc[0].to_dict() if len(row) else {}
    data = run.provenance.get("datasets", {}).get(bundle.dataset, {})
    counts = data.get("class_counts", {})
    count_frame = pd.DataFrame([{"split": s, **c} for s, c in counts.items()]) if counts else None
    params = sum(p.numel() for p in bundle.model.parameters())
    shape = f"(batch, {prep.get('in_channels')}, {prep.get('signal_length')})"
    seeds = sorted(frame.loc[(frame["dataset"] == bundle.dataset) & (frame["model"] == bundle.model_name),
                             "seed"].tolist()) if not frame.empty else [bundle.seed]
    out = "probabilities (batch, {}): {}".format(
        len(bundle.class_names), "sigmoid per class (multi-label)" if bundle.multilabel else "softmax over classes")
    lines = [
        f"# Model card: {bundle.model_name} on {bundle.dataset} (seed {bundle.seed})", "",
        f"From run `{run.label}` (suite `{run.suite.get('name', '?')}`, git "
        f"{str(run.provenance.get('git', {}).get('commit', 'unknown'))[:12]}).", "",
        "## Data", "",
        f"- Dataset: `{bundle.dataset}`; protocol: {prep.get('protocol') or 'see the dataset documentation'}",
        f"- Classes: {', '.join(bundle.class_names)} ({'multi-label' if bundle.multilabel else 'single-label'})"
        + (f"; macro averages over {', '.join(prep['scored_classes'])}"
           if prep.get("scored_classes") and "macro averages" not in str(prep.get("protocol")) else ""),
        f"- Input: {prep.get('in_channels')} lead(s) {prep.get('leads') or ''} x {prep.get('signal_length')} "
        f"samples at {prep.get('sampling_rate')} Hz"
        + (f", plus metadata {', '.join(prep['meta_names'])}" if bundle.takes_meta else ""),
        f"- Dataset configuration: `{json.dumps(prep.get('config', {}), sort_keys=True)}`",
        f"- Statistics fitted on the training split: {', '.join(prep.get('fitted', {})) or 'none'}", "",
    ]
    if count_frame is not None:
        lines += ["Examples per split and class:", "", markdown(count_frame), ""]
    lines += [
        "## Training protocol", "",
        f"- Hyperparameters (best search trial on validation): `{json.dumps(bundle.config, sort_keys=True)}`",
        f"- Final retrains: seeds {seeds}; this card describes seed {bundle.seed}, trained for "
        f"{info.get('epochs', '?')} epoch(s), best validation epoch {info.get('best_epoch', '?')}, "
        f"on {info.get('device', '?')} in {float(info.get('train_time_s', math.nan)):.1f} s",
        f"- Training settings: `{json.dumps(run.suite.get('training', {}), sort_keys=True)}`",
        f"- Test-time windows: {bundle.test_time or 'none (whole examples)'}",
        "- Decision thresholds (chosen on validation): " + (
            ", ".join(f"{c} {t:.3f}" for c, t in zip(bundle.class_names, bundle.thresholds))
            if bundle.thresholds else "none (argmax)"), "",
        "## Test metrics", "", *_metric_lines(bundle, run), "",
        "## Parameters", "",
        f"- {params:,} trainable parameters; input signal {shape}"
        + (f" and metadata (batch, {len(prep['meta_names'])})" if bundle.takes_meta else ""),
        f"- Output: {out}", "",
    ]
    if exported is not None:
        lines += ["## Exported file", "",
                  f"- `{exported.path.name}` ({exported.format}, dynamic batch axis); checked with "
                  f"{exported.runtime} on {exported.examples} real test examples: largest absolute difference "
                  f"of probabilities from torch {exported.max_abs_diff:.2e}", ""]
    lines += [
        "## Intended use and limits", "",
        "- For research and benchmarking of ECG classifiers. It is not a medical device and must not be "
        "used for diagnosis or treatment decisions.",
        f"- Inputs must be prepared as in training: {prep.get('sampling_rate')} Hz, the leads above, the "
        "same window and normalisation (`bench predict` does this from WFDB or CSV records).",
        f"- It learned from the `{bundle.dataset}` population and recording conditions only; performance on "
        "other devices, populations or noise levels is unknown.",
    ]
    protocol = str(prep.get("protocol", ""))
    if "intra-patient" in protocol:
        lines.append("- Intra-patient protocol: beats of the same patients are in training and test, so the test "
                     "figures overstate performance on new patients.")
    if "not comparable" in protocol:
        lines.append("- Trained on a subset of the database: the figures are not comparable with published ones.")
    rare = [c for s, c in counts.items() if s == "train"]
    if rare:
        few = [name for name, n in rare[0].items() if n < 50]
        if few:
            lines.append(f"- Classes with fewer than 50 training examples ({', '.join(few)}): their figures are "
                         "unreliable.")
    return "\n".join(lines) + "\n"
