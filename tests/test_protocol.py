"""The rules a benchmark's credibility rests on, each checked by behaviour so that breaking
the rule fails a test: thresholds from validation, best-validation weights for the test,
techniques that are switched on really act, the test split never reaches a search trial,
and the report's intervals and p-values equal an independent computation."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from sklearn.metrics import f1_score

from ecgharness.datasets import load_dataset
from ecgharness.datasets.base import PreparedDataset, Split
from ecgharness.evaluation.thresholds import choose_thresholds
from ecgharness.training import loop, techniques
from ecgharness.training.config import TrainConfig


@pytest.fixture(scope="module")
def synthetic() -> PreparedDataset:
    return load_dataset("synthetic", {"n_per_class": 40, "length": 64, "noise": 0.6}, use_cache=False)


def _multilabel(rng: np.random.Generator, n: int, shift: float) -> Split:
    y = (rng.random((n, 2)) < 0.4).astype(np.float32)
    x = rng.normal(0, 1, (n, 1, 48)).astype(np.float32)
    x[:, 0, :12] += (1.5 + shift) * y[:, :1]
    x[:, 0, 24:36] += (1.5 - shift) * y[:, 1:]
    return Split(x, y)


def test_multilabel_thresholds_are_chosen_on_validation_labels(monkeypatch) -> None:
    rng = np.random.default_rng(0)
    ds = PreparedDataset(name="toy", config={}, class_names=("a", "b"), headline="macro_auroc", cache_key="x",
                         task="multilabel", splits={"train": _multilabel(rng, 160, 0), "val": _multilabel(rng, 60, 0),
                                                    "test": _multilabel(rng, 90, 1.0)})
    seen = []

    def spy(y: np.ndarray, scores: np.ndarray) -> np.ndarray:
        seen.append((y, choose_thresholds(y, scores)))
        return seen[-1][1]

    monkeypatch.setattr(loop, "choose_thresholds", spy)
    out = loop.train_model(ds, "cnn_lstm", {"conv_width": 8, "lstm_hidden": 8, "batch_size": 32},
                           TrainConfig(max_epochs=2, patience=2), evaluate_test=True)
    (labels, chosen), = seen
    np.testing.assert_array_equal(labels, ds.splits["val"].y)  # never the test labels
    assert out.thresholds == chosen.tolist()
    assert [out.test_metrics[f"threshold/{c}"] for c in "ab"] == chosen.tolist()


def test_choose_thresholds_maximises_sklearn_f1_on_validation() -> None:
    rng = np.random.default_rng(1)
    y = (rng.random((200, 3)) < 0.3).astype(np.float32)
    scores = np.clip(0.5 * y + rng.random((200, 3)) * 0.7, 0, 1)
    chosen = choose_thresholds(y, scores)
    for c in range(3):
        candidates = np.unique(np.r_[scores[:, c], 0.5])
        best = max(f1_score(y[:, c], scores[:, c] >= t) for t in candidates)
        assert f1_score(y[:, c], scores[:, c] >= chosen[c]) == pytest.approx(best)


def test_the_test_split_is_scored_with_the_best_validation_weights(synthetic) -> None:
    """With test == validation, the test metrics must equal the best epoch's validation metrics."""
    ds = PreparedDataset(**{**synthetic.__dict__, "splits": {**synthetic.splits, "test": synthetic.splits["val"]}})
    for seed in range(6):
        out = loop.train_model(ds, "cnn_lstm", {"lr": 3e-2, "batch_size": 16, "conv_width": 8, "lstm_hidden": 8},
                               TrainConfig(max_epochs=6, patience=6), seed=seed, evaluate_test=True)
        if out.best_epoch < len(out.history) and out.history[-1]["score"] < out.best_score:
            break
    else:
        pytest.fail("no seed whose last epoch was worse than its best; the check needs one")
    assert out.test_metrics["macro_f1"] == pytest.approx(out.best_score)
    assert out.test_metrics["macro_f1"] != pytest.approx(out.history[-1]["score"])
    assert out.test_metrics == pytest.approx(out.val_metrics, nan_ok=True)


def test_focal_loss_is_the_loss_that_trains(synthetic, monkeypatch) -> None:
    calls = []

    class Spy(techniques.FocalLoss):
        def forward(self, logits, target):
            calls.append(len(target))
            return super().forward(logits, target)

    monkeypatch.setattr(techniques, "FocalLoss", Spy)
    loop.train_model(synthetic, "cnn_lstm", {"conv_width": 8, "lstm_hidden": 8, "batch_size": 32},
                     TrainConfig(max_epochs=1, loss="focal"))
    assert sum(calls) >= len(synthetic.splits["train"].y)  # every training example went through it


def test_weighted_sampler_balances_the_batches_the_model_sees(synthetic, monkeypatch) -> None:
    y = synthetic.splits["train"].y
    keep = np.r_[np.flatnonzero(y == 0), np.flatnonzero(y == 1)[:6], np.flatnonzero(y == 2)[:6]]  # 40 / 6 / 6
    train = Split(synthetic.splits["train"].x[keep], synthetic.splits["train"].y[keep])
    ds = PreparedDataset(**{**synthetic.__dict__, "splits": {**synthetic.splits, "train": train}})
    drawn = []
    real = techniques.epoch_order
    monkeypatch.setattr(techniques, "epoch_order", lambda n, g, w: drawn.append(real(n, g, w)) or drawn[-1])
    loop.train_model(ds, "cnn_lstm", {"conv_width": 8, "lstm_hidden": 8, "batch_size": 16},
                     TrainConfig(max_epochs=30, patience=30, sampler="weighted"), seed=0)
    classes = np.bincount(train.y[torch.cat(drawn).numpy()], minlength=3) / (30 * len(train.y))
    assert np.abs(classes - 1 / 3).max() < 0.05, classes  # the natural shares are 0.77 / 0.12 / 0.12


def test_search_trials_never_receive_the_test_split(synthetic, monkeypatch) -> None:
    from ecgharness.benchmark import ray_session, runner, trials
    from ecgharness.benchmark.suite import parse_suite

    class Local(ray_session.SharedDataset):  # the object store without Ray
        @classmethod
        def put(cls, dataset, keep_test):
            return cls(ray_session.materialise(dataset, keep_test))

        def get(self):
            return self.ref

    monkeypatch.setattr(runner, "SharedDataset", Local)
    suite = parse_suite({"name": "t", "datasets": ["synthetic"], "models": ["cnn_lstm"]}, "t.yaml")
    plan = runner.plan_pairs(suite, {"synthetic": synthetic})
    handed = runner.search_data((pair for pair, _ in plan.pairs), {"synthetic": synthetic})
    assert [sorted(d.get().splits) for d in handed.values()] == [["train", "val"]]
    with pytest.raises(RuntimeError, match="must not receive the test split"):
        trials.search_trial({}, Local(synthetic), trials.TrialSpec("cnn_lstm", TrainConfig(max_epochs=1)))


def test_report_intervals_and_p_values_equal_an_independent_computation(tmp_path) -> None:
    from report_fixtures import model_scores, stored_labels, write_run

    from ecgharness.evaluation.bootstrap import resample_indices
    from ecgharness.leaderboard.rankings import leaderboard_frames
    from ecgharness.leaderboard.statistics import dataset_report
    from ecgharness.leaderboard.store import read_run

    run = read_run(write_run(tmp_path / "tiny" / "r"))
    frame = leaderboard_frames(run)["mitbih"]
    report = dataset_report(run, "mitbih", frame, n_resamples=200, seed=4)
    labels = stored_labels()
    indices = resample_indices(labels, 200, seed=4)
    np.testing.assert_array_equal(report.indices, indices)

    def distribution(model: str) -> np.ndarray:  # sklearn on each materialised resample, mean over seeds
        per_seed = []
        for seed in (0, 1):
            pred = model_scores(model, seed, labels).argmax(axis=1)
            per_seed.append([f1_score(labels[i], pred[i], average="macro") for i in indices])
        return np.mean(per_seed, axis=0)

    dists = {m: distribution(m) for m in frame["model"]}
    leader = frame["model"].iloc[0]
    for row in report.ranking.itertuples():
        low, high = np.percentile(dists[row.model], [2.5, 97.5])
        assert (row.ci_low, row.ci_high) == pytest.approx((low, high), abs=1e-12)
        if row.model == leader:
            assert math.isnan(row.p_vs_leader)
            continue
        d = dists[row.model] - dists[leader]
        expected = min(1.0, 2 * min((d <= 0).sum() + 1, (d >= 0).sum() + 1) / (len(d) + 1))
        assert row.p_vs_leader == pytest.approx(expected)


def test_scored_classes_leave_q_out_of_the_macro_average_and_the_loss_weights() -> None:
    from ecgharness.evaluation.metrics import headline, per_class_table, summary_metrics
    from ecgharness.training.loop import class_weights

    rng = np.random.default_rng(5)
    y = rng.choice(5, size=500, p=[0.6, 0.15, 0.15, 0.08, 0.02])
    scores = rng.random((500, 5)) + 0.5 * np.eye(5)[y]
    pred = scores.argmax(axis=1)
    nsvf = f1_score(y, pred, labels=[0, 1, 2, 3], average="macro")
    flat = summary_metrics(y, scores, ("N", "S", "V", "F", "Q"), "multiclass", scored=(0, 1, 2, 3))
    assert flat["macro_f1"] == pytest.approx(nsvf)
    assert flat["macro_f1"] != pytest.approx(f1_score(y, pred, average="macro"))  # Q would change it
    assert flat["f1/Q"] == pytest.approx(f1_score(y == 4, pred == 4))  # reported all the same
    assert headline(y, scores, "multiclass", "macro_f1", scored=(0, 1, 2, 3)) == flat["macro_f1"]
    table = per_class_table(y, scores, ("N", "S", "V", "F", "Q"), "multiclass", scored=(0, 1, 2, 3))
    assert table.loc["macro", "f1"] == pytest.approx(nsvf)

    labels = torch.tensor([0] * 60 + [1] * 20 + [2] * 10 + [3] * 8 + [4] * 2)
    weights = class_weights(labels, 5, scored=(0, 1, 2, 3))
    expected = [98 / (4 * 60), 98 / (4 * 20), 98 / (4 * 10), 98 / (4 * 8), 1.0]  # Q is not rebalanced
    torch.testing.assert_close(weights, torch.tensor(expected))


def test_mitbih_scores_n_s_v_f_and_the_report_follows(tmp_path) -> None:
    import json

    from report_fixtures import model_scores, stored_labels, write_run

    from ecgharness.leaderboard.rankings import leaderboard_frames
    from ecgharness.leaderboard.statistics import dataset_report
    from ecgharness.leaderboard.store import read_run

    sample = load_dataset("mitbih_sample")
    assert sample.notes["scored_classes"] == ["N", "S", "V", "F"] and sample.scored == (0, 1, 2, 3)
    assert "macro averages over N, S, V, F" in sample.notes["protocol"]
    folder = write_run(tmp_path / "tiny" / "q")
    provenance = json.loads((folder / "provenance.json").read_text())
    provenance["datasets"]["mitbih"]["notes"]["scored_classes"] = ["N", "S", "V", "F"]
    (folder / "provenance.json").write_text(json.dumps(provenance))
    run = read_run(folder)
    report = dataset_report(run, "mitbih", leaderboard_frames(run)["mitbih"], n_resamples=100)
    labels = stored_labels()
    for model in report.ranking["model"]:
        expected = np.mean([f1_score(labels, model_scores(model, s, labels).argmax(1), labels=[0, 1, 2, 3],
                                     average="macro") for s in (0, 1)])
        assert report.per_class[model].loc["macro", "f1"] == pytest.approx(expected)


def test_select_last_scores_the_final_epochs_weights(synthetic) -> None:
    ds = PreparedDataset(**{**synthetic.__dict__, "splits": {**synthetic.splits, "test": synthetic.splits["val"]}})
    for seed in range(6):
        out = loop.train_model(ds, "cnn_lstm", {"lr": 3e-2, "batch_size": 16, "conv_width": 8, "lstm_hidden": 8},
                               TrainConfig(max_epochs=6, patience=6, select="last"), seed=seed, evaluate_test=True)
        if out.history[-1]["score"] < out.best_score:
            break
    else:
        pytest.fail("no seed whose last epoch was worse than its best; the check needs one")
    assert out.test_metrics["macro_f1"] == pytest.approx(out.history[-1]["score"])
    assert out.test_metrics["macro_f1"] != pytest.approx(out.best_score)


def test_final_retrain_on_train_plus_val_runs_the_best_trials_epochs(synthetic) -> None:
    from ecgharness.benchmark.final import final_data, final_spec
    from ecgharness.benchmark.observers import BestTrial
    from ecgharness.benchmark.search import PairTrials
    from ecgharness.benchmark.suite import parse_suite

    events = PairTrials(None, 5, None)
    events.history = [{"trial_id": "t", "epoch": e, "score": s} for e, s in enumerate([0.2, 0.5, 0.4, 0.5], 1)]
    assert events.best_epoch("t") == 2  # the first epoch that reached the best score
    suite = parse_suite({"name": "s", "datasets": ["synthetic"], "models": ["cnn_lstm"],
                         "training": {"max_epochs": 8}, "final": {"train_on": "train+val"}}, "s.yaml")
    spec, data = final_spec(suite, BestTrial(0.5, {}, "t", epochs=2), "cnn_lstm"), final_data(suite, synthetic)
    assert (spec.training.max_epochs, spec.training.patience, spec.training.select) == (2, 2, "last")
    sizes = {k: len(v.y) for k, v in synthetic.splits.items()}
    assert len(data.splits["train"].y) == sizes["train"] + sizes["val"]
    np.testing.assert_array_equal(data.splits["test"].y, synthetic.splits["test"].y)
    default = parse_suite({"name": "s", "datasets": ["synthetic"], "models": ["cnn_lstm"]}, "s.yaml")
    spec, data = final_spec(default, BestTrial(0.5, {}, "t", epochs=2), "cnn_lstm"), final_data(default, synthetic)
    assert spec.training == default.training and data is synthetic


def test_ec57_f_beats_called_v_are_not_errors() -> None:
    from sklearn.metrics import precision_score, recall_score

    from ecgharness.evaluation.metrics import per_class_table, summary_metrics

    rng = np.random.default_rng(8)
    y = rng.choice(4, size=600, p=[0.7, 0.1, 0.12, 0.08])
    scores = rng.random((600, 4)) + 0.6 * np.eye(4)[y]
    scores[(y == 3) & (rng.random(600) < 0.4), 2] += 2  # many F beats called V
    pred = scores.argmax(axis=1)
    names = ("N", "S", "V", "F")
    plain = summary_metrics(y, scores, names, "multiclass")
    ec57 = summary_metrics(y, scores, names, "multiclass", forgive=[(3, 2)])
    kept = ~((y == 3) & (pred == 2))  # the same numbers as leaving those beats out of V and F
    assert ec57["ppv/V"] == pytest.approx(precision_score(y[kept] == 2, pred[kept] == 2))
    assert ec57["sensitivity/F"] == pytest.approx(recall_score(y[kept] == 3, pred[kept] == 3))
    assert ec57["ppv/V"] > plain["ppv/V"] and ec57["sensitivity/F"] > plain["sensitivity/F"]
    assert ec57["sensitivity/S"] == plain["sensitivity/S"]  # other classes untouched
    table = per_class_table(y, scores, names, "multiclass", forgive=[(3, 2)])
    assert table.loc["V", "precision"] == pytest.approx(ec57["ppv/V"])
    sample = load_dataset("mitbih_sample", {"ec57_f_as_v": True})
    assert sample.forgive == ((3, 2),) and "EC57" in sample.notes["protocol"]
