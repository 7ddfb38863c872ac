"""``bench data explore``: one self-contained HTML page (and its PNGs) describing a prepared dataset.

Sections: class balance per split, class-mean waveforms with real examples, a 2-D PCA of the
examples, RR-interval distributions per class (MIT-BIH, from the reference annotations), the
band-pass filter's effect on a real record, and metadata distributions (datasets with metadata
other than MIT-BIH's RR features, such as Chapman's patient data).
"""

from __future__ import annotations

import html
import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ecgharness import rendering as render
from ecgharness.datasets.base import PreparedDataset, get_dataset_spec, parse_config, source_root
from ecgharness.explore import figures

log = logging.getLogger(__name__)

CAPTIONS = {
    "balance": "Examples per class in each split (log scale; counts on the bars).",
    "waveforms": "Class-mean waveform of the first lead ± one standard deviation (training split), with three "
                 "real examples per class in grey.",
    "pca": "The training examples' first two principal components (flattened signals, scikit-learn PCA), "
           "coloured by class.",
    "rr": "RR interval before each beat and its ratio to the local mean RR (10 beats), per AAMI class, from the "
          "records' reference annotations (training, validation and test records).",
    "filter": "A real record before and after the band-pass filter the dataset's `bandpass` option applies "
              "(zero-phase Butterworth), and the power spectra of both.",
    "metadata": "Each metadata feature per class: for Chapman every row of Diagnostics (all records, in the "
                "table's units), otherwise the training split as the models receive it.",
}


@dataclass
class ExplorePage:
    """What ``bench data explore`` wrote."""

    html: Path
    plots: dict[str, Path] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def _is_mitbih(ds: PreparedDataset) -> bool:
    return "pre_s" in ds.config and "rr_features" in ds.config


def _mitbih_records(ds: PreparedDataset) -> list[int]:
    records = ds.notes.get("records", [])
    if isinstance(records, dict):
        return sorted({int(r) for recs in records.values() for r in recs})
    return [int(r) for r in records]


def _rr_by_class(ds: PreparedDataset, root: Path | None) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    from ecgharness.datasets import mitbih

    cfg = parse_config(ds.name, ds.config)
    folder = mitbih.record_dir(source_root(get_dataset_spec(ds.name), cfg, root))
    rr = {c: [] for c in ds.class_names}
    ratio = {c: [] for c in ds.class_names}
    for record in _mitbih_records(ds):
        samples, labels, fs = mitbih.beat_annotations(folder / str(record), cfg)
        features = mitbih.rr_features(samples, fs, cfg.rr_local_beats)
        pre, pre_to_local = features[:, 0], features[:, mitbih.RR_FEATURES.index("rr_pre_to_local")]
        for k, name in enumerate(ds.class_names):
            rr[name].append(1000 * pre[labels == k])
            ratio[name].append(pre_to_local[labels == k])
    join = {name: np.concatenate(v) if v else np.zeros(0) for name, v in rr.items()}
    return join, {name: np.concatenate(v) if v else np.zeros(0) for name, v in ratio.items()}


def _filter_record(ds: PreparedDataset, root: Path | None, seconds: float = 10.0
                   ) -> tuple[np.ndarray, float, str, float]:
    """(signal, fs, description, seconds to show from) of a real record to filter: the first
    ``3 * seconds`` of MIT-BIH's first test record (raw WFDB signal; the middle third is shown,
    away from the filter's edge transients), else the first test example of the prepared split."""
    if _is_mitbih(ds):
        import wfdb

        from ecgharness.datasets import mitbih

        cfg = parse_config(ds.name, ds.config)
        folder = mitbih.record_dir(source_root(get_dataset_spec(ds.name), cfg, root))
        records = ds.notes.get("records", {})
        record = (records.get("test") or _mitbih_records(ds)) if isinstance(records, dict) else records
        rec = wfdb.rdrecord(str(folder / str(record[0])), sampto=int(3 * seconds * 360))
        lead = cfg.leads[0]
        return rec.p_signal[:, rec.sig_name.index(lead)], float(rec.fs), \
            f"MIT-BIH record {record[0]}, lead {lead} (mV)", seconds
    x = ds.splits["test"].x
    return np.asarray(x[0, 0], dtype=float), float(ds.sampling_rate), \
        f"{ds.name}: first test example, first lead (as prepared)", 0.0


def _metadata(ds: PreparedDataset, root: Path | None) -> tuple[np.ndarray, np.ndarray, list[str], tuple[str, ...]]:
    """(values, class per row, feature names, class names) to plot: for Chapman every row of
    Diagnostics in its own units (the metadata is complete even where waveforms are not), else
    the training split's prepared metadata (standardised with training statistics)."""
    if ds.name == "chapman":
        from ecgharness.datasets import chapman

        table = chapman.read_diagnostics(source_root(get_dataset_spec(ds.name), None, root) / chapman.SUBDIR)
        rhythm = table["Rhythm"].replace({"SI": "SA"})
        label = rhythm.map(chapman.GROUP_OF) if ds.class_names == chapman.GROUPS else rhythm
        classes = label.map({c: k for k, c in enumerate(ds.class_names)}).fillna(-1).to_numpy(dtype=int)
        values = np.stack([table[c].map(lambda v, c=c: chapman._meta_value(v, c)).to_numpy(dtype=float)
                           for c in chapman.META_COLUMNS], axis=1)  # Gender: 1 male, 0 female
        return values, classes, list(chapman.META_COLUMNS), ds.class_names
    sp = ds.splits["train"]
    names = [f"{n} (standardised)" for n in ds.meta_names]
    return np.asarray(sp.meta), figures.primary_class(np.asarray(sp.y)), names, ds.class_names


def _section(key: str, make, made: dict[str, Path], notes: list[str]) -> None:
    try:
        path = make()
    except Exception as exc:  # one figure that cannot be drawn must not lose the others
        log.warning("explore: %s figure skipped: %s", key, exc)
        notes.append(f"{key}: not drawn ({type(exc).__name__}: {exc})")
        return
    if path is not None:
        made[key] = path


def explore(ds: PreparedDataset, out: Path, root: str | Path | None = None) -> ExplorePage:
    """Write ``out/index.html`` and ``out/*.png`` describing ``ds``."""
    from ecgharness.datasets import mitbih

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    root_path = Path(root) if root else None
    made: dict[str, Path] = {}
    notes: list[str] = []
    _section("balance", lambda: figures.class_balance(ds, out / "class_balance.png"), made, notes)
    _section("waveforms", lambda: figures.class_waveforms(ds, out / "class_waveforms.png"), made, notes)
    _section("pca", lambda: figures.pca_scatter(ds, out / "pca.png"), made, notes)
    if _is_mitbih(ds):
        _section("rr", lambda: figures.rr_distributions(*_rr_by_class(ds, root_path),
                                                        f"{ds.name}: RR intervals per class",
                                                        out / "rr_intervals.png"), made, notes)
    if ds.sampling_rate and ds.sampling_rate > 2 * mitbih.BANDPASS_HZ[1]:
        def filtered() -> Path:
            signal, fs, what, start = _filter_record(ds, root_path)
            filtered = mitbih.bandpass(signal, fs)
            shown = slice(round(start * fs), round(2 * start * fs) if start else None)
            return figures.filter_effect(signal[shown], filtered[shown], fs, mitbih.BANDPASS_HZ, what,
                                         out / "bandpass_filter.png", start_s=start)
        _section("filter", filtered, made, notes)
    else:
        notes.append(f"filter: not drawn (the {mitbih.BANDPASS_HZ[1]:g} Hz band edge needs a sampling rate above "
                     f"{2 * mitbih.BANDPASS_HZ[1]:g} Hz; {ds.name} records {ds.sampling_rate or 'no'} Hz)")
    if not _is_mitbih(ds) and ds.meta_names:
        _section("metadata", lambda: figures.metadata_distributions(
            *_metadata(ds, root_path), title=f"{ds.name}: metadata per class", path=out / "metadata.png"),
            made, notes)
    page = out / "index.html"
    page.write_text(_html(ds, made, notes))
    return ExplorePage(html=page, plots=made, notes=notes)


def counts_frame(ds: PreparedDataset) -> pd.DataFrame:
    """Classes x splits: counts and shares."""
    rows = []
    for name in ds.class_names:
        row = {"class": name}
        for split in ds.splits:
            n, total = ds.class_counts(split)[name], len(ds.splits[split])
            row[split] = f"{n:,} ({n / total:.1%})" if total else "0"
        rows.append(row)
    rows.append({"class": "examples", **{s: f"{len(ds.splits[s]):,}" for s in ds.splits}})
    return pd.DataFrame(rows)


def _html(ds: PreparedDataset, made: dict[str, Path], notes: list[str]) -> str:
    shape = (f"{ds.in_channels} lead(s) x {ds.signal_length} samples"
             + (f" at {ds.sampling_rate:g} Hz" if ds.sampling_rate else ""))
    protocol = ds.notes.get("protocol")
    parts = [f"<h1>Dataset: {html.escape(ds.name)}</h1>",
             f"<p>{html.escape(shape)}; task {ds.task}; classes {html.escape(', '.join(ds.class_names))}"
             + (f"; {len(ds.meta_names)} metadata features" if ds.meta_names else "")
             + (f"; protocol: {html.escape(str(protocol))}" if protocol else "") + ".</p>",
             f"<p class=\"caption\">Configuration: {html.escape(str(ds.config))}; cache key {ds.cache_key}.</p>",
             "<h2>Class balance</h2>", render.html_table(counts_frame(ds)),
             '<div class="grid">']
    parts += [render.figure_html(path, CAPTIONS[key], wide=key in ("waveforms", "filter", "rr", "metadata"))
              for key, path in made.items()]
    parts.append("</div>")
    if notes:
        parts.append("<h2>Not shown</h2><ul>" + "".join(f"<li>{html.escape(n)}</li>" for n in notes) + "</ul>")
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>ecgharness: {html.escape(ds.name)}</title><style>{render.PAGE_CSS}</style></head><body>\n"
            + "\n".join(parts) + "\n</body></html>\n")
