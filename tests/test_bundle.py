"""Kept weights: a final run stores safetensors + JSON through the run-folder writer, and the
loaded bundle scores the test split exactly as the training loop did."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch

from ecgharness.benchmark.final import final_record
from ecgharness.benchmark.observers import Pair
from ecgharness.benchmark.trials import FinalResult
from ecgharness.datasets import load_dataset
from ecgharness.datasets.base import PreparedDataset, Split
from ecgharness.errors import ConfigError
from ecgharness.inference.bundle import load_bundle, weights_path
from ecgharness.leaderboard.store import RunWriter, read_run
from ecgharness.training.config import TrainConfig
from ecgharness.training.loop import train_model

from kept_run import MODELS, SAMPLE_CONFIG


def keep(run_dir, ds: PreparedDataset, model: str, config: dict, training: TrainConfig, seed: int = 0):
    """Train ``model`` on ``ds``, store it the way the driver stores a final run; (outcome, path)."""
    outcome = train_model(ds, model, config, training, seed=seed, evaluate_test=True)
    writer = RunWriter(run_dir, "t")
    if not run_dir.exists():
        writer.create({"name": "t"}, {})
    writer.add_final(final_record(Pair(ds.name, model), config, ds, FinalResult(seed, outcome, "cpu", 0), training))
    writer.save()
    return outcome, weights_path(run_dir, ds.name, model, seed)


@pytest.fixture(scope="module")
def sample() -> PreparedDataset:
    return load_dataset("mitbih_sample", SAMPLE_CONFIG)


def test_a_kept_beat_model_scores_the_test_split_as_the_loop_did(kept_run, sample, sample_dir) -> None:
    import wfdb

    path = weights_path(kept_run, "mitbih_sample", "resnet_se_bigru_meta", 0)
    assert path.exists() and path.with_suffix(".json").exists()
    assert read_run(kept_run).weights("mitbih_sample", "resnet_se_bigru_meta", 0) == path
    bundle = load_bundle(path)
    test = sample.splits["test"]
    stored = read_run(kept_run).predictions("mitbih_sample", "resnet_se_bigru_meta", 0)["scores"]  # the loop's
    np.testing.assert_allclose(bundle.predict_proba(test.x, test.meta), stored, atol=1e-5)
    assert bundle.class_names == ("N", "S", "V", "F", "Q") and bundle.thresholds is None
    assert not bundle.model.training and next(bundle.model.parameters()).device.type == "cpu"
    with pytest.raises(ValueError, match="takes metadata"):
        bundle.predict_proba(test.x)

    # the JSON holds the preprocessing, with the RR statistics fitted on the training records:
    # undoing them gives back the first training beat's RR interval in seconds, read with wfdb
    meta = json.loads(path.with_suffix(".json").read_text())
    prep = meta["preprocessing"]
    assert prep["sampling_rate"] == 360 and prep["leads"] == ["MLII"] and prep["config"]["rr_features"] is True
    assert prep["config"]["pre_s"] == 0.25 and prep["signal_length"] == 252
    fitted = prep["fitted"]
    raw_rr_post = sample.splits["train"].meta[0, 1] * fitted["meta_std"][1] + fitted["meta_mean"][1]
    ann = wfdb.rdann(str(sample_dir / "118"), "atr", sampto=2 * 60 * 360)
    beats = [s for s, sym in zip(ann.sample, ann.symbol) if sym in "NLRejAaJSVEF/fQ"]
    assert raw_rr_post == pytest.approx((beats[1] - beats[0]) / 360, rel=1e-5)
    assert meta["model_kwargs"]["meta_features"] == 9 and meta["config"] == MODELS["resnet_se_bigru_meta"]


def test_a_multilabel_bundle_keeps_thresholds_and_test_time_windows(tmp_path) -> None:
    rng = np.random.default_rng(0)

    def records(n: int) -> Split:
        y = (rng.random((n, 2)) < 0.4).astype(np.float32)
        x = rng.normal(0, 1, (n, 2, 400)).astype(np.float32)
        x[:, 0, 100:150] += 2 * y[:, :1]
        return Split(x, y)

    ds = PreparedDataset(name="toy", config={"sampling_rate": 100}, class_names=("a", "b"), headline="macro_auroc",
                         cache_key="k", task="multilabel",
                         splits={"train": records(80), "val": records(30), "test": records(30)})
    training = TrainConfig(max_epochs=1, tta_window_s=1.0, tta_stride_s=0.5, tta_aggregate="max")
    outcome, path = keep(tmp_path / "run", ds, "fcn_wang", {"width": 8, "batch_size": 16}, training)
    bundle = load_bundle(path)
    assert bundle.test_time == {"window_s": 1.0, "window": 100, "stride": 50, "aggregate": "max"}
    assert bundle.thresholds == pytest.approx(outcome.thresholds) and len(bundle.thresholds) == 2
    np.testing.assert_allclose(bundle.predict_proba(ds.splits["test"].x), outcome.test_scores, atol=1e-5)


def test_an_image_model_bundle_makes_its_images_itself(sample, tmp_path) -> None:
    config = {"images": "gasf+mtf", "image_size": 32, "width": 8, "hidden": 16, "batch_size": 64}
    outcome, path = keep(tmp_path / "run", sample, "alexnet", config, TrainConfig(max_epochs=1))
    test = sample.splits["test"]
    np.testing.assert_allclose(load_bundle(path).predict_proba(test.x[:200]), outcome.test_scores[:200], atol=1e-5)


def test_loading_refuses_pickles_and_weights_of_another_model(sample, tmp_path) -> None:
    _, path = keep(tmp_path / "run", sample, "cnn_lstm", {"conv_width": 8, "lstm_hidden": 8, "fc_hidden": 8},
                   TrainConfig(max_epochs=1))
    meta_file = path.with_suffix(".json")
    meta = json.loads(meta_file.read_text())
    meta_file.write_text(json.dumps({**meta, "model_kwargs": {**meta["model_kwargs"], "lstm_hidden": 16}}))
    with pytest.raises(ConfigError, match="does not fit model 'cnn_lstm'"):
        load_bundle(path)
    meta_file.write_text(json.dumps(meta))
    pickled = tmp_path / "pickled.safetensors"
    torch.save(load_bundle(path).model.state_dict(), pickled)  # a pickle under the right name
    shutil.copy(meta_file, pickled.with_suffix(".json"))
    with pytest.raises(ConfigError, match="not a safetensors file"):
        load_bundle(pickled)
    meta_file.write_text(json.dumps({**meta, "version": 99}))
    with pytest.raises(ConfigError, match="version 99"):
        load_bundle(path)
