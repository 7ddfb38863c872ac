"""`bench predict` on real records: a WFDB record with and without its annotation file, Kaggle
beats and Chapman records in CSV, and the errors that name the fix."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest

from ecgharness.cli import main
from ecgharness.inference.bundle import load_bundle, weights_path
from ecgharness.inference.predict import predict_input
from ecgharness.inference.records import PredictError, read_input
from ecgharness.leaderboard.store import read_run
from helpers import annotation_counts, kaggle_style_beats, write_kaggle_csv
from kept_run import SAMPLE_CONFIG, first_minutes, write_kept_run


@pytest.fixture(scope="module")
def kept(kept_run):
    return kept_run


@pytest.fixture(scope="module")
def record(sample_dir, tmp_path_factory):
    """Record 213's first two minutes with its annotations: the fixture run's test split."""
    return first_minutes(sample_dir, 213, tmp_path_factory.mktemp("records"))


@pytest.fixture(scope="module")
def bundle(kept):
    return load_bundle(weights_path(kept, "mitbih_sample", "cnn_lstm", 0))


def test_annotated_record_gives_the_beats_and_scores_of_the_test_split(kept, record, tmp_path, capsys) -> None:
    # record 213 is the fixture run's whole test split: same beats, same probabilities (also with
    # the RR features, standardised with the training statistics, of a signal + metadata model)
    for model in ("cnn_lstm", "resnet_se_bigru_meta"):
        pred = predict_input(load_bundle(weights_path(kept, "mitbih_sample", model, 0)),
                             read_input(record))
        stored = read_run(kept).predictions("mitbih_sample", model, 0)
        np.testing.assert_allclose(pred.probabilities, stored["scores"], atol=1e-5)
        assert pred.reference == [("N", "S", "V", "F", "Q")[i] for i in stored["labels"]]
    out = tmp_path / "beats.csv"
    assert main(["predict", "--results-dir", str(kept.parent.parent), "--run", "k1", "--model", "cnn_lstm",
                 str(record), "--out", str(out), "--plot", str(tmp_path / "beats.png")]) == 0
    printed = capsys.readouterr().out
    rows = pd.read_csv(out)
    assert len(rows) == sum(annotation_counts(record.parent, [213]).values())  # wfdb's own count
    assert "the record's annotation file" in printed and "agrees with the annotation" in printed
    assert set(rows.columns) >= {"class", "confidence", "second_class", "second_confidence", "sample", "reference"}
    assert (rows["confidence"] >= rows["second_confidence"]).all() and rows["class"].ne(rows["second_class"]).all()
    counts = rows["class"].value_counts()
    for name, n in counts.items():  # the console summary counts the same beats
        assert any(line.split()[:2] == [name, str(n)] for line in printed.splitlines())
    assert (tmp_path / "beats.png").stat().st_size > 10_000


def test_without_its_annotation_file_beats_come_from_the_qrs_detector(bundle, record, tmp_path) -> None:
    import wfdb

    for ext in ("hea", "dat"):
        shutil.copy(record.with_suffix(f".{ext}"), tmp_path / f"213.{ext}")
    pred = predict_input(bundle, read_input(tmp_path / "213.hea"))
    assert "XQRS" in pred.source and pred.reference is None
    ann = wfdb.rdann(str(record.with_suffix("")), "atr")
    truth = np.array([s for s, sym in zip(ann.sample, ann.symbol) if sym in "NLRejAaJSVEF/fQ"])
    found = pred.positions
    assert abs(len(found) - len(truth)) <= 0.03 * len(truth)
    nearest = np.abs(truth[:, None] - found[None, :]).min(axis=1)
    assert (nearest <= 0.05 * 360).mean() >= 0.95  # detected beats sit on the annotated R peaks
    annotated = predict_input(bundle, read_input(record))
    matched = np.abs(annotated.positions[:, None] - found[None, :]).argmin(axis=1)
    same = annotated.table()["class"].to_numpy() == pred.table()["class"].to_numpy()[matched]
    assert same.mean() >= 0.9


def test_kaggle_beats_in_csv_and_json_output(sample_dir, tmp_path, capsys) -> None:
    data = tmp_path / "data" / "kaggle_heartbeat"
    data.mkdir(parents=True)
    for name, records in (("mitbih_train.csv", [118, 208, 223]), ("mitbih_test.csv", [213])):
        write_kaggle_csv(data / name, *kaggle_style_beats(sample_dir, records))
    run = write_kept_run(tmp_path / "results" / "kept" / "kg", {"cnn_lstm": {"conv_width": 8, "lstm_hidden": 8,
                                                                             "fc_hidden": 8, "batch_size": 64}},
                         dataset="mitbih_kaggle", config={}, root=tmp_path / "data")
    out = tmp_path / "beats.json"
    assert main(["predict", "--run", str(run), "--model", "cnn_lstm", str(data / "mitbih_test.csv"),
                 "--out", str(out)]) == 0
    rows = json.loads(out.read_text())
    stored = read_run(run).predictions("mitbih_kaggle", "cnn_lstm", 0)
    assert len(rows) == len(stored["labels"])
    names = np.array(["N", "S", "V", "F", "Q"])
    assert [r["class"] for r in rows] == list(names[stored["scores"].argmax(axis=1)])
    assert [r["reference"] for r in rows] == list(names[stored["labels"]])  # the label column of the file
    np.testing.assert_allclose([r["confidence"] for r in rows], stored["scores"].max(axis=1), atol=1e-4)
    # a Kaggle beat is not a beat of the MIT-BIH model, and the reverse
    assert main(["predict", "--run", str(run), "--model", "cnn_lstm", str(sample_dir / "213.hea")]) == 2
    assert "give a CSV with one such beat per row" in capsys.readouterr().err


def test_a_chapman_csv_gets_record_probabilities_and_labels(tmp_path, capsys) -> None:
    from test_ptbxl_chapman import write_chapman_folder

    write_chapman_folder(tmp_path / "data", per_group=4)
    config = {"sampling_rate": 100}
    run = write_kept_run(tmp_path / "results" / "kept" / "ch", {"fcn_wang": {"width": 8, "batch_size": 8}},
                         dataset="chapman", config=config, root=tmp_path / "data")
    from ecgharness.datasets import load_dataset

    ds = load_dataset("chapman", config, root=tmp_path / "data")
    first = ds.notes["files"]["test"][0]
    csv = tmp_path / "data" / "chapman" / "ECGDataDenoised" / f"{first}.csv"
    bundle = load_bundle(weights_path(run, "chapman", "fcn_wang", 0))
    pred = predict_input(bundle, read_input(csv))  # 500 Hz resampled to 100 Hz as the dataset does
    stored = read_run(run).predictions("chapman", "fcn_wang", 0)["scores"]
    np.testing.assert_allclose(pred.probabilities[0], stored[0], atol=1e-5)
    assert main(["predict", "--run", str(run), "--model", "fcn_wang", str(csv)]) == 0
    printed = capsys.readouterr().out
    label = ds.class_names[int(stored[0].argmax())]
    assert f"{first}  {label}" in printed or f"{first} {label}" in " ".join(printed.split())


def test_wrong_rate_missing_lead_and_short_records_name_the_fix(bundle, record, tmp_path) -> None:
    import wfdb
    from scipy.signal import resample_poly

    signal, fields = wfdb.rdsamp(str(record.with_suffix("")))
    ann = wfdb.rdann(str(record.with_suffix("")), "atr")

    def write(name, sig, fs, leads, samples=None, symbols=None):
        wfdb.wrsamp(name, fs=fs, units=["mV"] * len(leads), sig_name=leads, p_signal=sig, fmt=["16"] * len(leads),
                    write_dir=str(tmp_path))
        if samples is not None:
            wfdb.wrann(name, "atr", samples, symbol=symbols, write_dir=str(tmp_path))
        return read_input(tmp_path / f"{name}.hea")

    keep = np.array([s in "NLRejAaJSVEF/fQ" for s in ann.symbol])
    slow = write("slow", resample_poly(signal, 25, 36, axis=0), 250, fields["sig_name"],
                 np.round(ann.sample[keep] * 250 / 360).astype(int), list(np.array(ann.symbol)[keep]))
    with pytest.raises(PredictError, match="sampled at 250 Hz, but the model was trained at 360 Hz; pass --resample"):
        predict_input(bundle, slow)
    again = predict_input(bundle, slow, resample=True)
    original = predict_input(bundle, read_input(record))
    assert len(again.positions) == len(original.positions) and "resampled from 250 Hz" in again.notes[0]
    assert (again.table()["class"] == original.table()["class"]).mean() >= 0.9
    with pytest.raises(PredictError, match="Resampling is not safe"):
        predict_input(bundle, write("coarse", resample_poly(signal, 5, 36, axis=0), 50, fields["sig_name"]),
                      resample=True)
    v1 = write("v1only", signal[:, 1:], 360, ["V1"])
    with pytest.raises(PredictError, match=r"lead\(s\) MLII missing .* --leads V1"):
        predict_input(bundle, v1)
    assert predict_input(bundle, v1, leads=["V1"]).probabilities.shape[1] == 5
    with pytest.raises(PredictError, match="too short"):
        predict_input(bundle, write("short", signal[:200], 360, fields["sig_name"]))
    with pytest.raises(PredictError, match="unknown input type"):
        read_input(tmp_path / "x.edf")


def test_a_model_trained_with_the_record_template_gets_it_from_the_record(record, tmp_path) -> None:
    """The record's median beat is computed over the record given, as over the test record in
    training: the probabilities equal the stored test scores."""
    config = {**SAMPLE_CONFIG, "record_template": True}
    models = {"beat_cnn_rr": {"lr": 3e-3, "batch_size": 64, "width": 4, "meta_hidden": 8}}
    run = write_kept_run(tmp_path / "kept" / "t1", models, config=config)
    bundle = load_bundle(weights_path(run, "mitbih_sample", "beat_cnn_rr", 0))
    assert bundle.preprocessing["in_channels"] == 2
    pred = predict_input(bundle, read_input(record))
    stored = read_run(run).predictions("mitbih_sample", "beat_cnn_rr", 0)
    np.testing.assert_allclose(pred.probabilities, stored["scores"], atol=1e-5)
