"""PTB-XL and Chapman-Shaoxing loaders on committed real fixtures and on the full shared data."""

from __future__ import annotations

import ast
import shutil
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ecgharness.datasets import DataQualityError, load_dataset

FIXTURES = Path(__file__).parent / "fixtures"
SUPER = ("NORM", "MI", "STTC", "CD", "HYP")
GROUP = {"SB": "SB", "AFIB": "AFIB", "AF": "AFIB", "SVT": "GSVT", "AT": "GSVT", "SAAWR": "GSVT", "ST": "GSVT",
         "AVNRT": "GSVT", "AVRT": "GSVT", "SR": "SR", "SA": "SR"}


def ptbxl_expected(folder: Path, require_files: bool = True) -> dict[int, Counter]:
    """Superclass counts per strat_fold, straight from the two CSVs."""
    db = pd.read_csv(folder / "ptbxl_database.csv")
    scp = pd.read_csv(folder / "scp_statements.csv", index_col=0)
    diagnostic = scp[scp["diagnostic"] == 1]["diagnostic_class"].to_dict()
    per_fold: dict[int, Counter] = {}
    for row in db.itertuples():
        labels = {diagnostic[c] for c in ast.literal_eval(row.scp_codes) if c in diagnostic}
        if labels and (not require_files or (folder / f"{row.filename_lr}.hea").exists()):
            per_fold.setdefault(row.strat_fold, Counter()).update(labels)
    return per_fold


def loader_counts(ds, split: str) -> Counter:
    return Counter({c: n for c, n in ds.class_counts(split).items() if n})


def _sum(per_fold: dict[int, Counter], folds) -> Counter:
    return sum((per_fold.get(f, Counter()) for f in folds), Counter())


def test_ptbxl_superdiagnostic_counts_per_fold_match_the_csvs() -> None:
    ds = load_dataset("ptbxl", root=FIXTURES)
    expected = ptbxl_expected(FIXTURES / "ptbxl")
    assert ds.multilabel and ds.class_names == SUPER and ds.headline == "macro_auroc"
    assert loader_counts(ds, "train") == _sum(expected, range(1, 9))
    assert loader_counts(ds, "val") == _sum(expected, [9])
    assert loader_counts(ds, "test") == _sum(expected, [10])
    assert ds.splits["train"].x.shape[1:] == (12, 1000)
    assert ds.notes["unlabelled"] == 1  # the fixture holds one record without a superclass
    train = ds.splits["train"].x
    np.testing.assert_allclose(train.mean(axis=(0, 2)), 0, atol=1e-4)
    np.testing.assert_allclose(train.std(axis=(0, 2)), 1, atol=1e-3)
    assert not ds.quarantined


def test_ptbxl_other_tasks_are_configs_of_the_same_loader() -> None:
    ds = load_dataset("ptbxl", {"task": "rhythm"}, root=FIXTURES)
    assert "SR" in ds.class_names and ds.multilabel
    sub = load_dataset("ptbxl", {"task": "subdiagnostic"}, root=FIXTURES)
    assert "NORM" in sub.class_names and "IMI" in sub.class_names or "AMI" in sub.class_names


def _copy_ptbxl(tmp_path: Path) -> Path:
    shutil.copytree(FIXTURES / "ptbxl", tmp_path / "ptbxl")
    return tmp_path / "ptbxl"


def test_ptbxl_bad_files_are_quarantined_and_the_rest_prepared(tmp_path) -> None:
    folder = _copy_ptbxl(tmp_path)
    records = sorted((folder / "records100" / "00000").glob("*.hea"))
    records[0].write_text("garbage header\n")  # corrupt header
    dat = records[1].with_suffix(".dat")
    dat.write_bytes(dat.read_bytes()[:5000])  # truncated signal
    records[2].unlink()  # missing file
    records[2].with_suffix(".dat").unlink()
    db = pd.read_csv(folder / "ptbxl_database.csv")
    ds = load_dataset("ptbxl", root=tmp_path)
    reasons = {Path(f).name: r for f, r in ds.quarantined}
    assert "unreadable record" in reasons[records[0].stem]
    assert records[1].stem in reasons
    assert reasons[records[2].stem] == "record file missing (row of ptbxl_database.csv)"
    kept = sum(len(ds.splits[s]) for s in ("train", "val", "test"))
    assert kept == len(db) - 1 - 3  # one unlabelled, three quarantined
    with pytest.raises(DataQualityError, match=r"3 of 29 records \(10.3%\) were quarantined.*quarantine.json"):
        load_dataset("ptbxl", root=tmp_path, max_lost_share=0.05)


def test_ptbxl_missing_tables_say_how_to_get_them(tmp_path) -> None:
    from ecgharness.errors import DataNotFoundError

    with pytest.raises(DataNotFoundError, match="bench data download ptbxl"):
        load_dataset("ptbxl", root=tmp_path)


def write_chapman_folder(tmp_path: Path, per_group: int = 6) -> Path:
    """A Chapman folder in the real format: the real fixture files plus records made from
    PTB-XL fixture signals resampled to 500 Hz, with Diagnostics rows modelled on real ones."""
    import wfdb
    from scipy.signal import resample_poly

    folder = tmp_path / "chapman"
    shutil.copytree(FIXTURES / "chapman", folder)
    diag = pd.read_csv(folder / "Diagnostics.csv")
    template = diag.iloc[0]
    rows = []
    sources = sorted((FIXTURES / "ptbxl" / "records100" / "00000").glob("*.hea"))
    rng = np.random.default_rng(0)
    for i, rhythm in enumerate([r for r in ("SB", "AFIB", "ST", "SR") for _ in range(per_group)]):
        signal, _ = wfdb.rdsamp(str(sources[i % len(sources)].with_suffix("")))
        signal = resample_poly(signal, 5, 1, axis=0) * 1000.0  # mV at 100 Hz -> uV at 500 Hz
        name = f"MUSE_TEST_{i:05d}"
        np.savetxt(folder / "ECGDataDenoised" / f"{name}.csv", signal, delimiter=",", fmt="%.5g")
        row = template.copy()
        row["FileName"], row["Rhythm"] = name, rhythm
        row["PatientAge"] = int(rng.integers(20, 90))
        row["Gender"] = "MALE" if i % 2 else "FEMALE"
        row["VentricularRate"] = int(rng.integers(40, 160))
        rows.append(row)
    pd.concat([diag, pd.DataFrame(rows)]).to_csv(folder / "Diagnostics.csv", index=False)
    return folder


def test_chapman_groups_metadata_and_split(tmp_path) -> None:
    folder = write_chapman_folder(tmp_path)
    diag = pd.read_csv(folder / "Diagnostics.csv")
    ds = load_dataset("chapman", root=tmp_path)
    total = sum((loader_counts(ds, s) for s in ("train", "val", "test")), Counter())
    assert total == Counter(GROUP[r] for r in diag["Rhythm"])
    assert ds.class_names == ("SB", "AFIB", "GSVT", "SR") and ds.headline == "macro_f1"
    assert ds.splits["train"].x.shape[1:] == (12, 5000)
    assert [len(ds.splits[s]) for s in ("train", "val", "test")] == [18, 4, 5]  # 70/15/15 of 27
    # stratified: every group in train
    assert all(n > 0 for n in ds.class_counts("train").values())
    meta = ds.splits["train"].meta
    assert meta.shape[1] == len(ds.meta_names) == 13
    np.testing.assert_allclose(meta.mean(axis=0), 0, atol=1e-5)  # standardised on train
    assert np.isfinite(ds.splits["test"].meta).all()
    gender = list(ds.meta_names).index("Gender")
    assert len(np.unique(meta[:, gender])) == 2
    resampled = load_dataset("chapman", {"sampling_rate": 250}, root=tmp_path)
    assert resampled.signal_length == 2500
    rhythms = load_dataset("chapman", {"labels": "rhythms"}, root=tmp_path)
    assert len(rhythms.class_names) == 11


def test_chapman_reads_the_original_xlsx(tmp_path) -> None:
    pytest.importorskip("openpyxl")
    folder = write_chapman_folder(tmp_path, per_group=4)
    pd.read_csv(folder / "Diagnostics.csv").to_excel(folder / "Diagnostics.xlsx", index=False)
    from_csv = load_dataset("chapman", root=tmp_path)
    (folder / "Diagnostics.csv").unlink()
    from_xlsx = load_dataset("chapman", root=tmp_path)
    for s in ("train", "val", "test"):
        np.testing.assert_array_equal(from_csv.splits[s].y, from_xlsx.splits[s].y)
        np.testing.assert_allclose(from_csv.splits[s].meta, from_xlsx.splits[s].meta)


def test_chapman_bad_files_are_quarantined(tmp_path) -> None:
    folder = write_chapman_folder(tmp_path)
    signals = folder / "ECGDataDenoised"
    nan_file = signals / "MUSE_TEST_00000.csv"
    nan_file.write_text("\n".join([",".join(["nan"] * 12)] * 5000) + "\n")
    (signals / "MUSE_TEST_00001.csv").unlink()
    short = signals / "MUSE_TEST_00002.csv"
    short.write_text("".join(short.read_text().splitlines(keepends=True)[:100]))
    diag = pd.read_csv(folder / "Diagnostics.csv")
    diag.loc[diag["FileName"] == "MUSE_TEST_00003", "Rhythm"] = "XYZ"
    diag.to_csv(folder / "Diagnostics.csv", index=False)
    ds = load_dataset("chapman", root=tmp_path)
    reasons = {Path(f).stem: r for f, r in ds.quarantined}
    assert reasons == {
        "MUSE_TEST_00000": "signal holds NaN or infinite values",
        "MUSE_TEST_00001": "file missing (row of Diagnostics)",
        "MUSE_TEST_00002": "wrong shape (100, 12), expected (5000, 12)",
        "MUSE_TEST_00003": "unknown rhythm 'XYZ'",
    }
    assert sum(len(ds.splits[s]) for s in ("train", "val", "test")) == len(diag) - 4


@pytest.mark.realdata
def test_full_shared_ptbxl_subset_counts(real_data) -> None:
    folder = real_data / "ptbxl"
    if not (folder / "ptbxl_database.csv").exists():
        pytest.skip(f"no PTB-XL in {real_data}")
    ds = load_dataset("ptbxl", root=real_data)
    expected = ptbxl_expected(folder)
    assert loader_counts(ds, "train") == _sum(expected, range(1, 9))
    assert loader_counts(ds, "val") == _sum(expected, [9])
    assert loader_counts(ds, "test") == _sum(expected, [10])
    assert ds.notes["unlabelled"] == len(pd.read_csv(folder / "ptbxl_database.csv")) - sum(
        len(ds.splits[s]) for s in ("train", "val", "test")) - len(ds.quarantined)


@pytest.mark.realdata
def test_full_shared_chapman_counts(real_data) -> None:
    folder = real_data / "chapman"
    if not (folder / "Diagnostics.csv").exists():
        pytest.skip(f"no Chapman data in {real_data}")
    diag = pd.read_csv(folder / "Diagnostics.csv")
    present = diag[[(folder / "ECGDataDenoised" / f"{f}.csv").exists() for f in diag["FileName"]]]
    ds = load_dataset("chapman", root=real_data)
    total = sum((loader_counts(ds, s) for s in ("train", "val", "test")), Counter())
    assert total == Counter(GROUP[r.strip()] for r in present["Rhythm"])
    assert len(ds.quarantined) == len(diag) - len(present)
    assert ds.candidates == len(diag)
    with pytest.raises(DataQualityError, match="max_lost_share"):
        load_dataset("chapman", root=real_data, max_lost_share=0.05)


def test_fast_ptbxl_reader_equals_wfdb() -> None:
    import wfdb

    from ecgharness.datasets.ptbxl import read_record

    for hea in sorted((FIXTURES / "ptbxl" / "records100" / "00000").glob("*.hea"))[:10]:
        ours = read_record(hea.with_suffix(""), 100)
        reference, _ = wfdb.rdsamp(str(hea.with_suffix("")))
        np.testing.assert_allclose(ours, reference.T, rtol=0, atol=1e-6)
