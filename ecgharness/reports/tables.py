"""The report's tables as frames of display strings: the paper-style comparison with
published rows, the AAMI table, per-class frames and the leader's detail."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from ecgharness.evaluation.metrics import AAMI_CLASSES, aami_table
from ecgharness.evaluation.references import match
from ecgharness.leaderboard.rankings import seed_count
from ecgharness.leaderboard.statistics import MACRO_COLUMNS, DatasetReport, build_reports, dataset_report

__all__ = ["DatasetReport", "aami_rows", "best_model_detail", "build_reports", "comparison_rows", "comparison_table",
           "dataset_report", "per_class_frame"]


# ---------------------------------------------------------------- tables as frames of strings

def _fmt(value: float, digits: int = 4) -> str:
    return "—" if value is None or not math.isfinite(float(value)) else f"{float(value):.{digits}f}"


def _p(value: float) -> str:
    if not math.isfinite(value):
        return "leader"
    return "<0.001" if value < 0.001 else f"{value:.3f}"


def published_label(report: DatasetReport, ref: dict[str, Any], row: dict[str, Any]) -> str:
    """``model (reference, published[, unverified][; same model and protocol as our m])``."""
    notes = ["published"] + ([] if ref.get("source") else ["unverified"])
    text = f"{row['model']} ({ref['reference']}, {', '.join(notes)}"
    relation = match(ref, row, set(report.ranking["model"]), report.training)
    return text + (f"; {relation})" if relation else ")")


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
                "model": published_label(report, ref, row), "published": True,
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
    """Per-class Se, +P and F1 in percent (the AAMI literature's table), published rows included."""
    classes = [c for c in AAMI_CLASSES if c in report.class_names]
    rows = []
    for model in report.ranking["model"]:
        table = aami_table(report.per_class[model])
        row = {"model": model, "accuracy": table.loc["accuracy", "Se"]}
        for c in classes:
            row[f"{c} Se"], row[f"{c} +P"], row[f"{c} F1"] = table.loc[c, ["Se", "+P", "F1"]]
        rows.append(row)
    for ref in report.references:
        for r in ref["rows"]:
            row = {"model": published_label(report, ref, r),
                   "accuracy": 100 * r.get("accuracy", math.nan)}
            for c in classes:
                row[f"{c} Se"] = 100 * r.get(f"{c}_se", math.nan)
                row[f"{c} +P"] = 100 * r.get(f"{c}_ppv", math.nan)
                row[f"{c} F1"] = 100 * r.get(f"{c}_f1", math.nan)
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
