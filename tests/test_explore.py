"""``bench data explore`` on the embedded sample: the page, its figures, and the numbers behind
them checked against wfdb and the prepared dataset."""

from __future__ import annotations

import re

import numpy as np
import pytest

from ecgharness.cli import main
from ecgharness.datasets import load_dataset
from ecgharness.explore import page


@pytest.fixture(scope="module")
def explored(tmp_path_factory):
    out = tmp_path_factory.mktemp("explore")
    assert main(["data", "explore", "mitbih_sample", "--out", str(out)]) == 0
    return out


def test_the_page_is_self_contained_and_holds_every_figure(explored) -> None:
    import matplotlib.image as mpimg

    html = (explored / "index.html").read_text()
    names = ["class_balance.png", "class_waveforms.png", "pca.png", "rr_intervals.png", "bandpass_filter.png"]
    for name in names:
        image = mpimg.imread(explored / name)
        assert image.ndim == 3 and image.shape[0] > 200 and image.std() > 0.01  # a drawn figure, not a blank
    assert html.count("data:image/png;base64,") == len(names)
    assert not re.search(r'src="(?!data:)', html)  # nothing loaded from elsewhere
    ds = load_dataset("mitbih_sample")
    for split in ds.splits:  # the balance table prints the prepared counts
        n = ds.class_counts(split)["V"]
        assert f"{n:,} ({n / len(ds.splits[split]):.1%})" in html


def test_rr_intervals_per_class_match_the_annotations_read_with_wfdb(sample_dir) -> None:
    import wfdb

    from ecgharness.datasets.mitbih import AAMI_MAP

    ds = load_dataset("mitbih_sample")
    rr, ratio = page._rr_by_class(ds, None)
    totals = {c: sum(ds.class_counts(s)[c] for s in ds.splits) for c in ds.class_names}
    assert {c: len(v) for c, v in rr.items()} == totals
    ann = wfdb.rdann(str(sample_dir / "118"), "atr")
    beats = np.array([s for s, sym in zip(ann.sample, ann.symbol) if sym in AAMI_MAP])
    symbols = [sym for sym in ann.symbol if sym in AAMI_MAP]
    pre_ms = np.diff(beats) / 360 * 1000  # RR before beats 1..n-1
    s_beats = [i for i in range(1, len(beats)) if AAMI_MAP[symbols[i]] == "S"]
    expected = sorted(pre_ms[i - 1] for i in s_beats)
    got = np.asarray(rr["S"])
    for value in expected[:20]:  # record 118's S beats are among all S beats, at the same interval
        assert np.isclose(got, value, atol=1e-3).any()
    assert np.median(ratio["S"]) < 0.9 < np.median(ratio["N"])  # S beats come early


def test_a_dataset_without_wfdb_records_still_gets_its_page(tmp_path) -> None:
    ds = load_dataset("synthetic")
    result = page.explore(ds, tmp_path)
    assert {"balance", "waveforms", "pca"} <= set(result.plots)
    assert "rr" not in result.plots
    assert (tmp_path / "index.html").exists()


def test_chapman_metadata_comes_from_every_diagnostics_row_in_its_units(tmp_path) -> None:
    import pandas as pd

    from test_ptbxl_chapman import write_chapman_folder

    folder = write_chapman_folder(tmp_path)
    ds = load_dataset("chapman", root=tmp_path)
    result = page.explore(ds, tmp_path / "out", root=tmp_path)
    assert "metadata" in result.plots and result.plots["metadata"].stat().st_size > 5000
    values, classes, names, class_names = page._metadata(ds, tmp_path)
    table = pd.read_csv(folder / "Diagnostics.csv")
    group = {"SB": "SB", "AFIB": "AFIB", "AF": "AFIB", "ST": "GSVT", "SR": "SR"}  # the fixture's rhythms
    expected = table["Rhythm"].map(group).map({c: k for k, c in enumerate(class_names)}).to_numpy()
    np.testing.assert_array_equal(classes, expected)
    np.testing.assert_array_equal(values[:, names.index("Gender")], (table["Gender"] == "MALE").astype(float))
    np.testing.assert_array_equal(values[:, names.index("PatientAge")], table["PatientAge"].astype(float))
