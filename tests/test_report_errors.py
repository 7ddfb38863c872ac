"""The report's error analysis on a run folder of real predictions (a logistic regression on the
embedded sample's beats): the numbers it prints, recomputed independently, and its gallery."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from ecgharness.datasets import load_dataset
from ecgharness.evaluation.metrics import classification_metrics
from ecgharness.leaderboard.store import FinalRecord, RunWriter, read_run
from ecgharness.reports import errors
from ecgharness.reports.writer import ReportOptions, write_report


def _sample_run(folder: Path, seeds=(0, 1)) -> tuple[Path, np.ndarray, list[np.ndarray]]:
    from sklearn.linear_model import LogisticRegression

    ds = load_dataset("mitbih_sample")
    train, test = ds.splits["train"], ds.splits["test"]
    writer = RunWriter(folder, "tiny")
    writer.create({"name": "tiny"}, {"datasets": {"mitbih_sample": {"config": ds.config, "notes": ds.notes}}})
    all_scores = []
    for seed in seeds:
        fit = LogisticRegression(C=0.05 * (seed + 1), max_iter=300).fit(train.x[:, 0, ::4], train.y)
        scores = np.zeros((len(test), 5))
        scores[:, fit.classes_] = fit.predict_proba(test.x[:, 0, ::4])
        all_scores.append(scores)
        values = classification_metrics(test.y, scores, ds.class_names)
        writer.add_final(FinalRecord(
            dataset="mitbih_sample", model="logreg", seed=seed, config={}, task="multiclass", headline="macro_f1",
            class_names=ds.class_names, metrics=values, scores=scores, labels=np.asarray(test.y), thresholds=None,
            params=1, train_time_s=1.0, throughput=1.0, epochs=1, best_epoch=1, device="cpu"))
    writer.save()
    return folder, np.asarray(test.y), all_scores


@pytest.fixture(scope="module")
def sample_report(tmp_path_factory):
    folder, labels, scores = _sample_run(tmp_path_factory.mktemp("run") / "run")
    out = tmp_path_factory.mktemp("report")
    report = write_report(read_run(folder), out, n_resamples=100, options=ReportOptions(low_confidence=0.7))
    return report, out, labels, scores


def _ece_by_loop(confidence: np.ndarray, correct: np.ndarray, bins: int = 10) -> float:
    total = 0.0
    for b in range(bins):
        lo, hi = b / bins, (b + 1) / bins
        inside = [(c, k) for c, k in zip(confidence, correct) if (lo < c <= hi) or (b == 0 and c == 0)]
        if inside:
            conf = sum(c for c, _ in inside) / len(inside)
            acc = sum(k for _, k in inside) / len(inside)
            total += len(inside) * abs(acc - conf)
    return total / len(confidence)


def test_error_sections_print_the_numbers_an_independent_computation_gives(sample_report) -> None:
    report, out, labels, scores = sample_report
    text = (out / "report.md").read_text()
    pooled_conf = np.concatenate([s.max(axis=1) for s in scores])
    pooled_right = np.concatenate([s.argmax(axis=1) == labels for s in scores])
    ece = _ece_by_loop(pooled_conf.tolist(), pooled_right.tolist())
    low = pooled_conf < 0.7
    row = re.search(r"\| < 0\.7 \| ([\d.]+) \| ([\d,]+) \| ([\d.]+) \| ([\d,]+) \| ([\d.]+) \| ([\d.]+) \|", text)
    assert row, text
    assert float(row[1]) == pytest.approx(low.mean(), abs=5e-4)
    assert int(row[2].replace(",", "")) == low.sum()
    assert float(row[3]) == pytest.approx(pooled_right[low].mean(), abs=5e-4)
    assert float(row[5]) == pytest.approx(pooled_right[~low].mean(), abs=5e-4)
    assert float(row[6]) == pytest.approx(ece, abs=5e-5)
    # the most confused pair, counted by hand over both seeds
    counts = {}
    for s in scores:
        for t, p in zip(labels, s.argmax(axis=1)):
            if t != p:
                counts[(t, p)] = counts.get((t, p), 0) + 1
    (t, p), n = max(counts.items(), key=lambda kv: kv[1])
    names = "NSVFQ"
    assert re.search(rf"\| {names[t]} \| {names[p]} \| {n:,} \|", text)
    for key in ("confidence", "reliability", "gallery"):
        assert report.plots["mitbih_sample"][key].stat().st_size > 5000


def test_the_gallery_shows_misclassified_examples_most_confident_first(sample_report) -> None:
    report, _, labels, scores = sample_report
    run_report = report.datasets["mitbih_sample"]
    analysis = errors.ErrorAnalysis(model="logreg", seeds=[0], class_names=run_report.class_names,
                                    task="multiclass", decisions=None, low=None, reliability=None, pairs=[],
                                    first_scores=scores[0], first_thresholds=None)
    picked = errors.gallery_examples(analysis, labels)
    predicted, conf = scores[0].argmax(axis=1), scores[0].max(axis=1)
    assert picked and all(predicted[i] != labels[i] for i in picked)
    first_of_class = {}
    for i in picked:
        first_of_class.setdefault(labels[i], i)
    for c, i in first_of_class.items():  # each class's first pick is its most confident error
        wrong = (labels == c) & (predicted != c)
        assert conf[i] == conf[wrong].max()
    assert len({labels[i] for i in picked}) == min(len(picked), len(set(labels[predicted != labels])))


def test_without_the_dataset_the_report_says_why_there_is_no_gallery(tmp_path) -> None:
    from report_fixtures import write_run

    run = write_run(tmp_path / "run")  # a full-MIT-BIH run; the data root here has no records
    write_report(read_run(run), tmp_path / "out", n_resamples=100,
                 options=ReportOptions(data_root=tmp_path / "nothing"))
    text = (tmp_path / "out" / "report.md").read_text()
    assert "No gallery: the test signals of mitbih could not be loaded" in text
    assert "### Error analysis: confidence per class (strong)" in text
