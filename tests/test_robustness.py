"""Noise robustness: a trained model scored on noisy test beats of the embedded sample loses
accuracy as the SNR falls, the same noise reaches every model, and the report prints the table."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ecgharness.datasets import load_dataset
from ecgharness.reports import robustness
from ecgharness.training import noise


@pytest.fixture(scope="module")
def sample():
    return load_dataset("mitbih_sample")


@pytest.fixture(scope="module")
def trained(sample):
    """A logistic regression trained on the sample's training beats: (predict, fitted model)."""
    from sklearn.linear_model import LogisticRegression

    fit = LogisticRegression(C=0.05, max_iter=300).fit(sample.splits["train"].x[:, 0, ::4], sample.splits["train"].y)

    def predict(x, meta):
        scores = np.zeros((len(x), sample.num_classes))
        scores[:, fit.classes_] = fit.predict_proba(np.asarray(x)[:, 0, ::4])
        return scores

    return predict, fit


def _score(sample, predict, **kw):
    return robustness.score_under_noise(
        predict, sample.splits["test"], model="logreg", seed=0, fs=360, headline="macro_f1",
        class_names=sample.class_names, task="multiclass", thresholds=None, notes=sample.notes,
        zscore=noise.restandardises(sample.config), **kw)


def test_a_trained_model_scores_below_its_clean_score_at_0_db(sample, trained) -> None:
    from sklearn.metrics import f1_score

    predict, fit = trained
    result = _score(sample, predict)
    assert list(result.scores.columns) == [24.0, 18.0, 12.0, 6.0, 0.0]
    assert list(result.scores.index) == list(noise.ARTEFACT_KINDS)
    assert (result.scores[0.0] < result.clean).all(), result.scores
    assert (result.scores[0.0] < result.scores[24.0]).all()
    test = sample.splits["test"]
    macro_over_nsvf = f1_score(test.y, fit.predict(test.x[:, 0, ::4]), labels=[0, 1, 2, 3], average="macro",
                               zero_division=0)  # the headline's classes (de Chazal: N, S, V, F)
    assert result.clean == pytest.approx(macro_over_nsvf, abs=1e-9)
    # one noisy cell recomputed from noise drawn again with the documented seed (1000 * seed + kind)
    g = torch.Generator().manual_seed(1000 * 0 + noise.ARTEFACT_KINDS.index("muscle"))
    noisy = noise.add_noise(torch.tensor(np.asarray(test.x)), "muscle", 6.0, 360, g, zscore=True).numpy()
    expected = f1_score(test.y, fit.predict(noisy[:, 0, ::4]), labels=[0, 1, 2, 3], average="macro", zero_division=0)
    assert result.scores.loc["muscle", 6.0] == pytest.approx(expected, abs=1e-9)


def test_every_model_gets_the_same_noise_only_rescaled_between_snrs(sample) -> None:
    x = sample.splits["test"].x[:300]
    first = dict(robustness.noisy_copies(x, "electrode_motion", (24.0, 0.0), 360, 3, 2, zscore=False))
    again = dict(robustness.noisy_copies(x, "electrode_motion", (24.0, 0.0), 360, 3, 2, zscore=False))
    np.testing.assert_array_equal(first[0.0], again[0.0])
    low, high = first[0.0] - x, first[24.0] - x
    ratio = np.linalg.norm(low, axis=-1) / np.linalg.norm(high, axis=-1)
    np.testing.assert_allclose(ratio, 10 ** (24 / 20), rtol=1e-3)  # 24 dB stronger ...
    unit = lambda n: n / np.linalg.norm(n, axis=-1, keepdims=True)  # noqa: E731
    np.testing.assert_allclose(unit(low), unit(high), atol=1e-4)  # ... and the same waveform
    other = dict(robustness.noisy_copies(x, "electrode_motion", (0.0,), 360, 4, 2, zscore=False))
    assert not np.allclose(other[0.0], first[0.0])


def test_table_and_curve_of_the_results(sample, trained, tmp_path) -> None:
    result = _score(sample, trained[0], kinds=("muscle", "powerline"), snrs=(12.0, 0.0))
    frame = robustness.table([result])
    assert list(frame.columns) == ["model", "noise", "clean", "12 dB", "0 dB"]
    assert frame["noise"].tolist() == ["muscle", "powerline"]
    assert robustness.curve([result], "macro_f1", tmp_path / "curve.png").stat().st_size > 5000
    long = robustness.long_frame("mitbih_sample", [result])
    assert len(long) == 1 + 2 * 2 and set(long["noise"]) == {"none", "muscle", "powerline"}


def test_powerline_is_skipped_with_its_reason_where_it_cannot_exist(sample, trained) -> None:
    result = robustness.score_under_noise(
        trained[0], sample.splits["test"], model="logreg", seed=0, fs=100, headline="macro_f1",
        class_names=sample.class_names, task="multiclass", thresholds=None, notes=sample.notes, zscore=True,
        kinds=("powerline", "muscle"), snrs=(0.0,))
    assert list(result.scores.index) == ["muscle"] and "Nyquist" in result.skipped["powerline"]


@pytest.mark.slow
def test_the_report_prints_the_robustness_table_of_a_kept_model(tmp_path) -> None:
    import re

    from ecgharness.leaderboard.store import read_run
    from ecgharness.reports.writer import ReportOptions, write_report

    from kept_run import write_kept_run

    config = {"lr": 5e-3, "batch_size": 128, "base_channels": 8, "stages": 2, "blocks_per_stage": 1, "kernel_size": 5}
    run = read_run(write_kept_run(tmp_path / "run", {"resnet_se": config}, epochs=3,
                                  config={"split": "intrapatient", "minutes": 3}))  # a model that learns in seconds
    stored = run.final_metrics.query("metric == 'macro_f1'")["value"].iloc[0]
    write_report(run, tmp_path / "out", n_resamples=100, options=ReportOptions(robustness=True))
    text = (tmp_path / "out" / "report.md").read_text()
    assert "### Noise robustness" in text
    rows = re.findall(r"\| resnet_se \| ([a-z ]+) \| ([\d.]+) \| ([\d.]+) \| ([\d.]+) \| ([\d.]+) \| ([\d.]+) \| "
                      r"([\d.]+) \|", text)
    assert [r[0] for r in rows] == ["baseline wander", "muscle", "electrode motion", "powerline"], text
    for _, clean, *by_snr in rows:
        assert float(clean) == pytest.approx(stored, abs=5e-5)  # the kept weights reproduce the stored score
        assert float(by_snr[-1]) < float(clean)  # 0 dB is below the clean score
    long = __import__("pandas").read_csv(tmp_path / "out" / "robustness.csv")
    assert len(long) == 1 + 4 * 5 and (tmp_path / "out" / "plots" / "mitbih_sample_robustness.png").exists()


def test_a_run_without_kept_weights_is_named_in_the_robustness_section(tmp_path) -> None:
    from ecgharness.leaderboard.store import read_run
    from ecgharness.reports.writer import ReportOptions, write_report
    from test_report_errors import _sample_run

    folder, *_ = _sample_run(tmp_path / "run", seeds=(0,))
    write_report(read_run(folder), tmp_path / "out", n_resamples=100, options=ReportOptions(robustness=True))
    text = (tmp_path / "out" / "report.md").read_text()
    assert "Not measured. Left out: no kept weights of mitbih_sample/logreg seed 0" in text
