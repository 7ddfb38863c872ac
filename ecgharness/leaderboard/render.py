"""The leaderboard as text, Markdown, CSV or LaTeX, with bootstrap intervals on request."""

from __future__ import annotations

import math

import pandas as pd

from ecgharness.leaderboard.rankings import leaderboard_frames, seed_count
from ecgharness.leaderboard.statistics import dataset_report
from ecgharness.leaderboard.store import RunResults
from ecgharness.rendering import latex_table, markdown

FORMATS = ("table", "markdown", "csv", "latex")


def _pm(mean: float, std: float, digits: int = 4) -> str:
    if not math.isfinite(mean):
        return "n/a"
    if not math.isfinite(std):
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} ± {std:.{digits}f}"


def _display(frame: pd.DataFrame) -> pd.DataFrame:
    headline = frame.attrs["headline"]
    out = pd.DataFrame({
        "#": frame["rank"],
        "model": frame["model"],
        f"{headline} ↑ (mean ± std, {seed_count(frame['seeds'])} seeds)": [
            _pm(m, s) for m, s in zip(frame[f"{headline}_mean"], frame[f"{headline}_std"])],
    })
    if "ci_low" in frame:
        out["95% CI"] = [f"[{lo:.4f}, {hi:.4f}]" if math.isfinite(lo) else "n/a"
                         for lo, hi in zip(frame["ci_low"], frame["ci_high"])]
        out["p vs best model"] = ["" if not math.isfinite(p) else ("<0.001" if p < 0.001 else f"{p:.3f}")
                          for p in frame["p_vs_leader"]]
    out["accuracy ↑"] = [f"{v:.4f}" for v in frame["accuracy_mean"]]
    for c in frame.attrs["classes"]:
        out[f"F1 {c}"] = ["n/a" if not math.isfinite(v) else f"{v:.3f}" for v in frame[f"f1_{c}"]]
    out["params"] = [f"{int(p):,}" for p in frame["params"]]
    out["train s"] = [f"{t:.1f}" for t in frame["train_time_s"]]
    out["ex/s"] = [f"{t:,.0f}" for t in frame["throughput"]]
    return out


def _text_table(frame: pd.DataFrame) -> str:
    cols = [str(c) for c in frame.columns]
    cells = [[str(v) for v in row] for row in frame.itertuples(index=False)]
    widths = [max(len(c), *(len(r[i]) for r in cells)) if cells else len(c) for i, c in enumerate(cols)]
    numeric = [i >= 2 for i in range(len(cols))]

    def line(values: list[str]) -> str:
        return "  ".join(v.rjust(w) if num else v.ljust(w) for v, w, num in zip(values, widths, numeric)).rstrip()

    return "\n".join([line(cols), "  ".join("-" * w for w in widths), *(line(r) for r in cells)])


def with_intervals(run: RunResults, frames: dict[str, pd.DataFrame], n_resamples: int = 1000,
                   seed: int = 0) -> dict[str, pd.DataFrame]:
    """Add the 95% bootstrap interval and the paired test against #1 (from the stored predictions).

    A dataset whose predictions cannot be read keeps its ranking, with the columns as NaN.
    """
    out = {}
    for dataset, frame in frames.items():
        try:
            out[dataset] = dataset_report(run, dataset, frame, n_resamples, seed).ranking
        except (FileNotFoundError, KeyError, ValueError) as exc:
            out[dataset] = frame.assign(ci_low=math.nan, ci_high=math.nan, p_vs_leader=math.nan)
            out[dataset].attrs["ci_note"] = f"95% CI not available: {exc}"
        out[dataset].attrs.update(frame.attrs)
    return out


def budget_note(run: RunResults) -> str:
    """Which pairs' searches a time budget cut short (their winners are the best found so far)."""
    searches = run.tables.get("searches")
    if searches is None or searches.empty or "budget_cut" not in searches:
        return ""
    cut = searches[searches["budget_cut"].fillna("").astype(str) != ""]
    if cut.empty:
        return ""
    lines = [f"- {r.dataset}/{r.model}: {r.budget_cut} after {r.trials} trial(s)" for r in cut.itertuples()]
    return "Search cut short by a time budget (best configuration found so far retrained):\n" + "\n".join(lines)


def render_leaderboard(run: RunResults, fmt: str = "table", intervals: bool = False) -> str:
    """The run's rankings as one string in ``fmt`` (table, markdown, csv or latex).

    ``intervals`` adds 95% bootstrap intervals and p-values against #1 from the stored predictions.
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; valid: {', '.join(FORMATS)}")
    frames = leaderboard_frames(run)
    if intervals:
        frames = with_intervals(run, frames)
    if fmt == "csv":
        parts = [f.assign(dataset=d) for d, f in frames.items()]
        return pd.concat(parts).to_csv(index=False) if parts else ""
    blocks = []
    protocols = run.provenance.get("datasets", {})
    for dataset, frame in frames.items():
        protocol = protocols.get(dataset, {}).get("notes", {}).get("protocol")
        title = f"{dataset}" + (f" [{protocol}]" if protocol else "") + \
            f" — ranked by test {frame.attrs['headline']}, higher is better"
        if fmt == "latex":
            label = "tab:leaderboard-" + dataset.replace("_", "-")
            blocks.append(latex_table(_display(frame), title, label))
            if frame.attrs.get("ci_note"):
                blocks.append("% " + frame.attrs["ci_note"])
            continue
        body = markdown(_display(frame), left=2) if fmt == "markdown" else _text_table(_display(frame))
        if frame.attrs.get("ci_note"):
            body += "\n\n" + frame.attrs["ci_note"]
        blocks.append((f"### {title}" if fmt == "markdown" else title) + "\n\n" + body)
    failures = run.failures
    if not failures.empty:
        lines = [f"- {r.dataset}/{r.model} ({r.stage}): {r.reason}" for r in failures.itertuples()]
        blocks.append(("% " if fmt == "latex" else "") + "Not ranked:\n" +
                      "\n".join(("% " if fmt == "latex" else "") + line for line in lines))
    note = budget_note(run)
    if note:
        blocks.append("\n".join(("% " if fmt == "latex" else "") + line for line in note.splitlines()))
    header = ("% " if fmt == "latex" else "") + f"run {run.label}"
    return header + "\n\n" + "\n\n".join(blocks) if blocks else header + "\n\n(no final results)"
