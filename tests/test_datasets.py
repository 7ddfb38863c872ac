"""Dataset loaders on the embedded real sample and on real-format files written in tmp_path."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from ecgharness.datasets import load_dataset
from ecgharness.datasets.mitbih import DS1, DS2, PACED
from ecgharness.errors import ConfigError, DataNotFoundError
from helpers import AAMI, annotation_counts, copy_record, kaggle_style_beats, write_kaggle_csv

CLASSES = ("N", "S", "V", "F", "Q")
SAMPLE_TRAIN, SAMPLE_VAL, SAMPLE_TEST = (118, 124, 207, 208, 209), (223,), (213, 232, 233)


def _counts(ds, split):
    return {c: n for c, n in ds.class_counts(split).items() if n}


def test_sample_beats_per_class_equal_annotation_counts(sample_dir) -> None:
    ds = load_dataset("mitbih_sample")
    for split, records in (("train", SAMPLE_TRAIN), ("val", SAMPLE_VAL), ("test", SAMPLE_TEST)):
        assert _counts(ds, split) == dict(annotation_counts(sample_dir, records)), split
    present = {c for s in ("train", "val", "test") for c in _counts(ds, s)}
    assert present == {"N", "S", "V", "F"}  # every AAMI class but Q, as the sample promises
    assert ds.splits["train"].x.shape[1:] == (1, 252)
    assert np.isfinite(ds.splits["train"].x).all()
    beat = ds.splits["train"].x[0, 0]
    assert abs(beat.mean()) < 1e-4 and abs(beat.std() - 1) < 1e-3  # per-beat z-score


def test_interpatient_splits_are_disjoint_and_paced_records_absent(sample_dir, tmp_path) -> None:
    for rec in (*SAMPLE_TRAIN, *SAMPLE_VAL, *SAMPLE_TEST):
        for ext in ("hea", "dat", "atr"):
            shutil.copy(sample_dir / f"{rec}.{ext}", tmp_path / f"{rec}.{ext}")
    copy_record(sample_dir, 118, tmp_path, new_name=102)  # a paced record's name: must be left out
    ds = load_dataset("mitbih", {"val_records": [223]}, root=tmp_path)
    records = ds.notes["records"]
    assert set(records["train"]) <= set(DS1) and set(records["test"]) <= set(DS2)
    assert not set(records["train"]) & set(records["val"])
    assert not (set(records["train"]) | set(records["val"])) & set(records["test"])
    assert not set(PACED) & {r for recs in records.values() for r in recs}
    assert len(ds.splits["train"]) == sum(annotation_counts(tmp_path, SAMPLE_TRAIN).values())
    intra = load_dataset("mitbih", {"split": "intrapatient"}, root=tmp_path)
    total = sum(len(intra.splits[s]) for s in ("train", "val", "test"))
    assert total == sum(annotation_counts(sample_dir, SAMPLE_TRAIN + SAMPLE_VAL + SAMPLE_TEST).values())


def test_cache_hit_and_invalidation(tmp_path, sample_dir) -> None:
    first = load_dataset("mitbih_sample")
    again = load_dataset("mitbih_sample")
    assert not first.from_cache and again.from_cache and again.cache_key == first.cache_key
    np.testing.assert_array_equal(first.splits["test"].x, again.splits["test"].x)
    other = load_dataset("mitbih_sample", {"pre_s": 0.3})
    assert other.cache_key != first.cache_key and other.signal_length == round(0.3 * 360) + round(0.45 * 360)
    # a source file that changes (size or time) makes the cache stale
    for rec in SAMPLE_TRAIN + SAMPLE_VAL + SAMPLE_TEST:
        for ext in ("hea", "dat", "atr"):
            shutil.copy(sample_dir / f"{rec}.{ext}", tmp_path / f"{rec}.{ext}")
    a = load_dataset("mitbih", {"val_records": [223]}, root=tmp_path)
    os.utime(tmp_path / "213.atr", ns=(1, 1))
    b = load_dataset("mitbih", {"val_records": [223]}, root=tmp_path)
    assert a.cache_key != b.cache_key and not b.from_cache


def test_bad_records_are_quarantined_and_the_rest_prepared(tmp_path, sample_dir) -> None:
    for rec in SAMPLE_TRAIN + SAMPLE_VAL + SAMPLE_TEST:
        for ext in ("hea", "dat", "atr"):
            shutil.copy(sample_dir / f"{rec}.{ext}", tmp_path / f"{rec}.{ext}")
    dat = (tmp_path / "207.dat").read_bytes()
    (tmp_path / "207.dat").write_bytes(dat[: len(dat) // 3])  # truncated signal
    (tmp_path / "232.hea").write_text("not a header\n")  # unreadable header
    ds = load_dataset("mitbih", {"val_records": [223]}, root=tmp_path)
    reasons = {os.path.basename(f): r for f, r in ds.quarantined}
    assert set(reasons) == {"207", "232"}
    assert "unreadable record" in reasons["232"] and "HeaderSyntaxError" in reasons["232"]
    assert "207" in reasons and ("truncated" in reasons["207"] or "unreadable" in reasons["207"])
    assert ds.notes["records"]["train"] == [118, 124, 208, 209]
    assert ds.notes["records"]["test"] == [213, 233]
    assert len(ds.splits["test"]) == sum(annotation_counts(tmp_path, (213, 233)).values())
    assert any("quarantined 2 file(s)" in line for line in ds.summary_lines())


def test_missing_data_says_where_and_how(tmp_path) -> None:
    with pytest.raises(DataNotFoundError, match=r"no MIT-BIH records found in .*mitdb.*physionet.org/content/mitdb"):
        load_dataset("mitbih", root=tmp_path)
    with pytest.raises(DataNotFoundError, match="mitbih_train.csv, mitbih_test.csv not found"):
        load_dataset("mitbih_kaggle", root=tmp_path)


def test_unknown_dataset_and_config_keys() -> None:
    with pytest.raises(ConfigError, match="unknown dataset 'mitbh'.*Did you mean 'mitbih'"):
        load_dataset("mitbh")
    with pytest.raises(ConfigError, match="unknown key 'window'; valid keys: split, leads, pre_s"):
        load_dataset("mitbih_sample", {"window": 3})


def test_kaggle_csv_loader_on_real_beats_in_kaggle_format(tmp_path, sample_dir) -> None:
    folder = tmp_path / "kaggle_heartbeat"
    folder.mkdir()
    train_x, train_y = kaggle_style_beats(sample_dir, SAMPLE_TRAIN)
    test_x, test_y = kaggle_style_beats(sample_dir, SAMPLE_TEST)
    bad = np.vstack([train_x[:2]])
    bad[0, 10] = np.nan
    write_kaggle_csv(folder / "mitbih_train.csv", np.vstack([train_x, bad]), np.concatenate([train_y, [0, 7]]))
    write_kaggle_csv(folder / "mitbih_test.csv", test_x, test_y)
    ds = load_dataset("mitbih_kaggle", root=tmp_path)
    assert ds.splits["train"].x.shape[1:] == (1, 187)
    assert len(ds.splits["train"]) + len(ds.splits["val"]) == len(train_y)
    np.testing.assert_allclose(ds.splits["test"].x[:, 0, :], test_x, atol=1e-6)
    np.testing.assert_array_equal(ds.splits["test"].y, test_y)
    assert sorted(r for _, r in ds.quarantined) == ["non-finite value", "unknown label 7.0"]
    # validation keeps the class proportions of the training file (stratified)
    val_share = np.bincount(ds.splits["val"].y, minlength=5) / len(ds.splits["val"])
    all_share = np.bincount(train_y, minlength=5) / len(train_y)
    np.testing.assert_allclose(val_share, all_share, atol=0.02)


def test_kaggle_wrong_width_is_rejected_by_file_name(tmp_path) -> None:
    folder = tmp_path / "kaggle_heartbeat"
    folder.mkdir()
    np.savetxt(folder / "mitbih_train.csv", np.zeros((5, 100)), delimiter=",")
    np.savetxt(folder / "mitbih_test.csv", np.zeros((5, 188)), delimiter=",")
    with pytest.raises(ValueError, match=r"mitbih_train.csv: expected 188 columns .* found 100"):
        load_dataset("mitbih_kaggle", root=tmp_path)


def test_synthetic_is_seeded() -> None:
    a = load_dataset("synthetic", {"seed": 3}, use_cache=False)
    b = load_dataset("synthetic", {"seed": 3}, use_cache=False)
    c = load_dataset("synthetic", {"seed": 4}, use_cache=False)
    np.testing.assert_array_equal(a.splits["train"].x, b.splits["train"].x)
    assert not np.array_equal(a.splits["train"].x, c.splits["train"].x)


@pytest.mark.realdata
def test_full_mitbih_aami_totals_of_ds1_and_ds2(real_data) -> None:
    ds = load_dataset("mitbih", {"split": "interpatient"}, root=real_data)
    assert not ds.quarantined
    ds1 = {c: ds.class_counts("train")[c] + ds.class_counts("val")[c] for c in CLASSES}
    ds2 = ds.class_counts("test")
    folder = real_data / "mitdb"
    assert ds1 == {c: annotation_counts(folder, DS1)[c] for c in CLASSES}
    assert ds2 == {c: annotation_counts(folder, DS2)[c] for c in CLASSES}
    # the totals de Chazal et al. (IEEE TBME 2004, Table I) report for DS1 and DS2
    assert ds1 == {"N": 45866, "S": 944, "V": 3788, "F": 415, "Q": 8}
    assert ds2 == {"N": 44259, "S": 1837, "V": 3221, "F": 388, "Q": 7}


def _rr_oracle(folder: Path, rec: int, local: int = 10) -> np.ndarray:
    """The nine RR features of one record's beats, by a plain loop over wfdb's annotations."""
    import wfdb

    ann = wfdb.rdann(str(folder / str(rec)), "atr")
    symbols = {s for group in AAMI.values() for s in group}
    t = [s / ann.fs for s, sym in zip(ann.sample, ann.symbol) if sym in symbols]
    n, mean_rr = len(t), (t[-1] - t[0]) / (len(t) - 1)
    pre = [t[1] - t[0]] + [t[i] - t[i - 1] for i in range(1, n)]
    post = [t[i + 1] - t[i] for i in range(n - 1)] + [t[-1] - t[-2]]
    rows = []
    for i in range(n):
        around = pre[max(0, i - local // 2):min(n, i - local // 2 + local)]
        loc = sum(around) / len(around)
        rows.append([pre[i], post[i], loc, mean_rr, pre[i] / mean_rr, post[i] / mean_rr, loc / mean_rr,
                     pre[i] / post[i], pre[i] / loc])
    return np.array(rows)


def test_rr_features_come_from_each_beats_own_record(sample_dir) -> None:
    ds = load_dataset("mitbih_sample")
    raw = {split: np.concatenate([_rr_oracle(sample_dir, r) for r in recs])
           for split, recs in (("train", SAMPLE_TRAIN), ("val", SAMPLE_VAL), ("test", SAMPLE_TEST))}
    mean, std = raw["train"].mean(axis=0), raw["train"].std(axis=0)  # statistics of the training split only
    assert ds.meta_names[:2] == ("rr_pre", "rr_post") and len(ds.meta_names) == 9
    for split in ("train", "val", "test"):
        np.testing.assert_allclose(ds.splits[split].meta, (raw[split] - mean) / std, rtol=1e-4, atol=1e-4)
    assert load_dataset("mitbih_sample", {"rr_features": False}).splits["train"].meta is None
