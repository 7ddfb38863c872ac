"""Floors: the majority class and a linear model on summary features, fitted on the training
split only, stored beside the models and shown by the leaderboard."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import accuracy_score, roc_auc_score

from ecgharness.datasets import load_dataset
from ecgharness.datasets.base import PreparedDataset, Split
from ecgharness.training.floors import features, fit_floors


def test_majority_predicts_the_training_majority_and_ranks_nothing(sample_dir) -> None:
    ds = load_dataset("mitbih_sample")
    majority = fit_floors(ds)[0]
    y = ds.splits["test"].y
    assert (majority.scores.argmax(axis=1) == 0).all()  # N is the training majority
    assert accuracy_score(y, majority.scores.argmax(axis=1)) == pytest.approx((y == 0).mean())
    assert roc_auc_score(y == 1, majority.scores[:, 1]) == 0.5


def test_linear_floor_sees_only_the_training_split(sample_dir) -> None:
    ds = load_dataset("mitbih_sample")
    linear = fit_floors(ds)[1]
    assert linear.scores.shape == (len(ds.splits["test"].y), 5)
    np.testing.assert_allclose(linear.scores.sum(axis=1), 1.0)
    assert accuracy_score(ds.splits["test"].y, linear.scores.argmax(axis=1)) > 0.7  # RR features carry S and V
    shuffled = {**ds.splits, "test": Split(ds.splits["test"].x, np.random.default_rng(0).permutation(ds.splits["test"].y),
                                          ds.splits["test"].meta)}
    again = fit_floors(PreparedDataset(**{**ds.__dict__, "splits": shuffled}))[1]
    np.testing.assert_array_equal(again.scores, linear.scores)  # test labels never reach the fit
    assert features(ds.splits["train"]).shape[1] == 6 + 9  # six summaries of one lead, nine RR features


def test_multilabel_floor_thresholds_come_from_validation() -> None:
    rng = np.random.default_rng(0)

    def split(n: int, shift: float) -> Split:
        y = (rng.random((n, 2)) < 0.3).astype(np.float32)
        x = rng.normal(0, 1, (n, 2, 40)).astype(np.float32) + shift * y[:, :, None]
        return Split(x, y)

    ds = PreparedDataset(name="toy", config={}, class_names=("a", "b"), headline="macro_auroc", cache_key="k",
                         task="multilabel", splits={"train": split(300, 1.0), "val": split(100, 1.0),
                                                    "test": split(100, 3.0)})
    majority, linear = fit_floors(ds)
    assert linear.thresholds is not None and len(linear.thresholds) == 2
    assert roc_auc_score(ds.splits["test"].y[:, 0], linear.scores[:, 0]) > 0.9
    np.testing.assert_allclose(majority.scores[0], ds.splits["train"].y.mean(axis=0))


def test_runs_in_parts_keep_one_copy_of_each_floor(tmp_path) -> None:
    from report_fixtures import write_run

    from ecgharness.leaderboard.store import merge_runs, read_run

    parts = []
    for name, models in (("a", ("strong",)), ("b", ("weak",))):
        folder = write_run(tmp_path / "tiny" / name, models=models)
        for file in ("final_runs.csv", "final_metrics.csv"):  # each part also holds the dataset's floor
            frame = pd.read_csv(folder / file)
            floor = frame[frame["model"] == models[0]].assign(model="floor_majority")
            if "kind" in frame:
                frame["kind"], floor["kind"] = "model", "floor"
            pd.concat([frame, floor]).to_csv(folder / file, index=False)
        parts.append(read_run(folder))
    merged = merge_runs(parts)
    runs = merged.final_runs
    assert sorted(runs["model"].unique()) == ["floor_majority", "strong", "weak"]
    assert len(runs[runs["model"] == "floor_majority"]) == 2  # seeds 0 and 1 of part a, once


def test_a_floor_above_the_models_is_ranked_but_never_the_leader(tmp_path) -> None:
    import math

    from report_fixtures import CLASSES, stored_labels, write_run

    from ecgharness.evaluation.metrics import classification_metrics
    from ecgharness.leaderboard import render_leaderboard
    from ecgharness.leaderboard.rankings import leaderboard_frames
    from ecgharness.leaderboard.statistics import dataset_report
    from ecgharness.leaderboard.store import FinalRecord, RunWriter, read_run

    folder = write_run(tmp_path / "tiny" / "f", models=("strong", "weak"))
    writer = RunWriter(folder, "tiny")
    writer.final_runs = pd.read_csv(folder / "final_runs.csv").to_dict("records")
    writer.final_metrics = pd.read_csv(folder / "final_metrics.csv").to_dict("records")
    labels = stored_labels()
    perfect = np.eye(len(CLASSES))[labels] * 0.9 + 0.02  # a floor that beats every model
    writer.add_final(FinalRecord(
        dataset="mitbih", model="floor_linear", seed=0, config={}, task="multiclass", headline="macro_f1",
        class_names=CLASSES, metrics=classification_metrics(labels, perfect, CLASSES), scores=perfect, labels=labels,
        thresholds=None, params=10, train_time_s=0.1, throughput=1e4, epochs=0, best_epoch=0, device="cpu",
        kind="floor"))
    writer.save()
    run = read_run(folder)
    frame = leaderboard_frames(run)["mitbih"]
    assert list(frame["model"])[:2] == ["floor_linear", "strong"] and list(frame["floor"]) == [True, False, False]
    report = dataset_report(run, "mitbih", frame, n_resamples=100)
    assert report.leader == "strong"
    p = dict(zip(report.ranking["model"], report.ranking["p_vs_leader"]))
    assert math.isnan(p["strong"]) and p["floor_linear"] < 0.05  # the floor is compared with the best model
    assert "p vs best model" in render_leaderboard(run, "table", intervals=True)
