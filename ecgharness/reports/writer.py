"""``bench report``: a self-contained report folder from one or more stored runs.

Layout of the folder::

    report.md, report.html     per dataset: the paper-style table, AAMI table (MIT-BIH), error analysis,
                               noise robustness (--robustness), plots
    tables.tex                 the same tables for LaTeX (booktabs)
    macro_comparison.csv       every dataset x model: headline mean/std/CI, p vs leader, macro metrics
    per_class_f1.csv, per_class_sensitivity.csv, per_class_auroc.csv
    best_model_detail.csv      the leader of each dataset: all metrics and confusion counts per class
    bootstrap/<dataset>.npy    the resample indices every model of the dataset was scored on
    robustness.csv             with --robustness: headline metric per model, noise kind and SNR
    plots/*.png                (with the leader's error analysis: confidence, reliability, gallery)
"""

from __future__ import annotations

import html
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ecgharness.leaderboard.rankings import seed_count
from ecgharness.leaderboard.render import budget_note
from ecgharness.leaderboard.store import RunResults
from ecgharness import rendering as render
from ecgharness.reports import errors, plots
from ecgharness.reports.tables import (
    DatasetReport,
    aami_rows,
    best_model_detail,
    build_reports,
    comparison_table,
    per_class_frame,
)

PLOT_CAPTIONS = {
    "comparison": "Test {headline} per model: bars are the mean over seeds with the seed standard deviation; "
                  "red whiskers the 95% bootstrap interval.",
    "heatmap_f1": "Per-class F1 (mean over seeds).",
    "heatmap_sensitivity": "Per-class sensitivity (mean over seeds).",
    "heatmap_specificity": "Per-class specificity (mean over seeds).",
    "heatmap_auroc": "Per-class AUROC (mean over seeds).",
    "confusion": "Confusion matrix of the leader, counts summed over seeds, colour = share of the true class.",
    "roc_pr": "ROC and precision-recall curves of the leader (first seed), one-vs-rest per class.",
    "training": "Training curves of each model's best search trial.",
    "search": "Search history: best validation value of every trial; crosses were stopped by ASHA.",
    "confidence": "Error analysis of the leader (seeds pooled): confidence of right and wrong decisions per true "
                  "class; the dotted line is the low-confidence threshold.",
    "reliability": "Reliability diagram of the leader (seeds pooled): accuracy per confidence bin against the "
                   "diagonal of perfect calibration; decisions per bin below.",
    "gallery": "Misclassified test examples of the leader (first seed), most confident first, true classes in "
               "turn; signals reloaded with the run's dataset configuration.",
    "robustness": "Noise robustness: test {headline} against the SNR of added noise, one panel per noise kind; "
                  "the dashed level is the clean score.",
}

# a row of their own in the HTML grid
WIDE_PLOTS = ("comparison", "training", "search", "gallery", "confidence", "robustness")


@dataclass
class Report:
    folder: Path
    datasets: dict[str, DatasetReport]
    plots: dict[str, dict[str, Path]] = field(default_factory=dict)


def _title(report: DatasetReport) -> str:
    protocol = f" — {report.protocol}" if report.protocol else ""
    return f"{report.name}{protocol}"


def _number_frame(frame: pd.DataFrame, digits: int = 3) -> pd.DataFrame:
    def fmt(v: object) -> object:
        if isinstance(v, (float, np.floating)):
            return "—" if not math.isfinite(v) else f"{v:.{digits}f}"
        return v
    return frame.apply(lambda col: col.map(fmt))


@dataclass(frozen=True)
class ReportOptions:
    """What besides the tables the report holds.

    Attributes:
        low_confidence: Decisions below this confidence count as low-confidence.
        data_root, cache_dir: Where the datasets are, to reload test signals (gallery, robustness).
        robustness: Score the leader (or every model) on noisy test signals; needs kept weights.
        robustness_models: ``leader`` or ``all``.
        noise_seed: Seed of the added noise (the same noise for every model).
    """

    low_confidence: float = 0.6
    data_root: str | Path | None = None
    cache_dir: str | Path | None = None
    robustness: bool = False
    robustness_models: str = "leader"
    noise_seed: int = 0


def _insight(report: DatasetReport, run: RunResults, folder: Path, options: ReportOptions
             ) -> tuple[list[tuple[str, pd.DataFrame | None, str]], dict[str, Path]]:
    """Error analysis (and noise robustness) sections and plots of one dataset."""
    analysis = errors.analyse(report, run, options.low_confidence)
    extra = errors.sections(analysis)
    made: dict[str, Path | None] = {
        "confidence": errors.confidence_plot(analysis, folder / f"{report.name}_confidence.png"),
        "reliability": errors.reliability_plot(analysis, folder / f"{report.name}_reliability.png")}
    signals = errors.load_test_signals(report, options.data_root, options.cache_dir)
    if isinstance(signals, str):
        extra.append(("Misclassified examples", None, f"No gallery: {signals}."))
    else:
        made["gallery"] = errors.gallery_plot(analysis, signals[0].x, report.labels, signals[1],
                                              folder / f"{report.name}_gallery.png")
    if options.robustness:
        from ecgharness.reports import robustness

        section, plot = robustness.report_section(report, run, signals, options, folder)
        extra += section
        made["robustness"] = plot
    return extra, {k: v for k, v in made.items() if v is not None}


def _plots(report: DatasetReport, run: RunResults, folder: Path) -> dict[str, Path]:
    made: dict[str, Path | None] = {"comparison": plots.comparison_bars(report, folder / f"{report.name}_comparison.png")}
    for metric in ("f1", "sensitivity", "specificity", "auroc"):
        made[f"heatmap_{metric}"] = plots.heatmap(report, metric, folder / f"{report.name}_heatmap_{metric}.png")
    made["confusion"] = plots.confusion(report, folder / f"{report.name}_confusion.png")
    made["roc_pr"] = plots.roc_pr_curves(report, run, folder / f"{report.name}_roc_pr.png")
    made["training"] = plots.training_curves(report, run, folder / f"{report.name}_training.png")
    made["search"] = plots.search_history(report, run, folder / f"{report.name}_search.png")
    return {k: v for k, v in made.items() if v is not None}


def _sections(report: DatasetReport) -> list[tuple[str, pd.DataFrame, str]]:
    """(heading, table of strings, caption) of one dataset, in report order."""
    seeds = seed_count(len(s) for s in report.seeds.values())
    n_boot = len(report.indices)
    sections = [(
        "Comparison", comparison_table(report),
        f"Test split, {len(report.labels):,} examples. Mean ± std over {seeds} seeds; 95% interval from "
        f"{n_boot:,} bootstrap resamples of the test set shared by all models; p: paired bootstrap test "
        f"against the leader ({report.leader}). Best of our rows in bold. Published rows are quoted as "
        "published, under their own protocol" + (f" ({report.references[0]['protocol']})" if report.references
                                                  else "") + "." + "".join(
            f" Related, not comparable: {ref['reference']} ({ref['why']})." for ref in report.related),
    )]
    if report.is_mitbih and report.task == "multiclass":
        sections.append(("AAMI sensitivity (Se) and positive predictive value (+P), %",
                         _number_frame(aami_rows(report), 1),
                         f"Protocol: {report.protocol or 'see the dataset configuration'}. "
                         "Undefined values (a class absent from the test set, or never predicted) are shown as —."))
    f1 = per_class_frame(report, "f1").reset_index()
    sections.append(("Per-class F1", _number_frame(f1), "Mean over seeds; — where undefined."))
    return sections


Sections = dict[str, list[tuple[str, pd.DataFrame | None, str]]]  # dataset -> (heading, table or None, caption)


def _markdown(run: RunResults, reports: dict[str, DatasetReport], sections: Sections,
              made: dict[str, dict[str, Path]], folder: Path) -> str:
    lines = [f"# Benchmark report: {run.suite.get('name', run.path.parent.name)}", "",
             f"Run{'s' if len(run.sources) > 1 else ''}: {run.label}. "
             f"Created {run.provenance.get('created', '')}; git {str(run.provenance.get('git', {}).get('commit') or 'n/a')[:12]}.",
             ""]
    for name, report in reports.items():
        lines += [f"## {_title(report)}", "",
                  f"Task: {report.task}; headline metric: {report.headline}; classes: {', '.join(report.class_names)}.", ""]
        for heading, table, caption in sections[name]:
            table_lines = [render.markdown(table), ""] if table is not None else []
            lines += [f"### {heading}", "", *table_lines, caption, ""]
        lines += ["### Figures", ""]
        for key, path in made[name].items():
            caption = PLOT_CAPTIONS[key].format(headline=report.headline)
            lines += [f"![{caption}]({path.relative_to(folder).as_posix()})", "", f"*{caption}*", ""]
    if not run.failures.empty:
        lines += ["## Not ranked", ""] + [f"- {r.dataset}/{r.model} ({r.stage}): {r.reason}"
                                          for r in run.failures.itertuples()] + [""]
    if budget_note(run):
        lines += ["## Time budget", "", budget_note(run), ""]
    return "\n".join(lines)


def _html(run: RunResults, reports: dict[str, DatasetReport], sections: Sections,
          made: dict[str, dict[str, Path]]) -> str:
    parts = [f"<h1>Benchmark report: {html.escape(str(run.suite.get('name', run.path.parent.name)))}</h1>",
             f"<p>Run{'s' if len(run.sources) > 1 else ''}: {html.escape(run.label)}. "
             f"Created {html.escape(str(run.provenance.get('created', '')))}.</p>"]
    for name, report in reports.items():
        parts.append(f"<h2>{html.escape(_title(report))}</h2>")
        parts.append(f"<p>Task: {report.task}; headline metric: {report.headline}; classes: "
                     f"{html.escape(', '.join(report.class_names))}.</p>")
        for heading, table, caption in sections[name]:
            parts += [f"<h3>{html.escape(heading)}</h3>", render.html_table(table) if table is not None else "",
                      f'<p class="caption">{html.escape(caption)}</p>']
        parts.append('<div class="grid">')
        for key, path in made[name].items():
            parts.append(render.figure_html(path, PLOT_CAPTIONS[key].format(headline=report.headline),
                                            wide=key in WIDE_PLOTS))
        parts.append("</div>")
    if not run.failures.empty:
        items = "".join(f"<li>{html.escape(f'{r.dataset}/{r.model} ({r.stage}): {r.reason}')}</li>"
                        for r in run.failures.itertuples())
        parts.append(f"<h2>Not ranked</h2><ul>{items}</ul>")
    if budget_note(run):
        head, *items = budget_note(run).splitlines()
        entries = "".join(f"<li>{html.escape(i[2:])}</li>" for i in items)
        parts.append(f"<h2>Time budget</h2><p>{html.escape(head)}</p><ul>{entries}</ul>")
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>ecgharness report</title><style>{render.PAGE_CSS}</style></head><body>\n"
            + "\n".join(parts) + "\n</body></html>\n")


def _latex(reports: dict[str, DatasetReport], sections: Sections) -> str:
    blocks = ["% Tables of an ecgharness report. Needs \\usepackage{booktabs} and \\usepackage{graphicx}.", ""]
    for name, report in reports.items():
        for heading, table, caption in sections[name]:
            if table is None:
                continue
            label = "tab:" + re.sub(r"[^a-z0-9]+", "-", f"{name}-{heading}".lower()).strip("-")
            blocks.append(render.latex_table(table, f"{_title(report)}: {heading}. {caption}", label))
    return "\n".join(blocks)


def _csvs(reports: dict[str, DatasetReport], folder: Path) -> None:
    macro, detail = [], []
    per_class = {"f1": [], "sensitivity": [], "auroc": []}
    for name, report in reports.items():
        frame = report.ranking.copy()
        frame.insert(0, "dataset", name)
        frame.insert(1, "protocol", report.protocol)
        frame = frame.rename(columns={f"{report.headline}_mean": "headline_mean",
                                      f"{report.headline}_std": "headline_std"})
        frame.insert(3, "headline", report.headline)
        macro.append(frame[[c for c in frame.columns if not c.startswith("f1_")]])
        for metric, rows in per_class.items():
            rows.append(per_class_frame(report, metric).reset_index().melt(
                id_vars="model", var_name="class", value_name=metric).assign(dataset=name))
        detail.append(best_model_detail(report).assign(dataset=name))
    pd.concat(macro).to_csv(folder / "macro_comparison.csv", index=False)
    for metric, rows in per_class.items():
        table = pd.concat(rows).pivot_table(index=["dataset", "model"], columns="class", values=metric, dropna=False)
        table.reset_index().to_csv(folder / f"per_class_{metric}.csv", index=False)
    pd.concat(detail).to_csv(folder / "best_model_detail.csv", index=False)


def write_report(run: RunResults, folder: Path, n_resamples: int = 1000, seed: int = 0,
                 options: ReportOptions | None = None) -> Report:
    """Write the report of ``run`` (possibly merged from several folders) into ``folder``."""
    folder, options = Path(folder), options or ReportOptions()
    reports = build_reports(run, n_resamples=n_resamples, seed=seed)
    if not reports:
        raise ValueError(f"{run.label} has no final results to report (the final evaluation never finished)")
    (folder / "bootstrap").mkdir(parents=True, exist_ok=True)
    made = {}
    for name, report in reports.items():
        small = np.uint16 if len(report.labels) <= np.iinfo(np.uint16).max + 1 else np.uint32
        np.save(folder / "bootstrap" / f"{name}.npy", report.indices.astype(small))
        made[name] = _plots(report, run, folder / "plots")
    _csvs(reports, folder)
    sections = {name: _sections(report) for name, report in reports.items()}  # built once, rendered thrice
    for name, report in reports.items():
        extra, extra_plots = _insight(report, run, folder / "plots", options)
        sections[name] += extra
        made[name].update(extra_plots)
    (folder / "report.md").write_text(_markdown(run, reports, sections, made, folder))
    (folder / "report.html").write_text(_html(run, reports, sections, made))
    (folder / "tables.tex").write_text(_latex(reports, sections))
    return Report(folder=folder, datasets=reports, plots=made)
