"""Beat context and metadata as search dimensions: what a trial sees equals what a dataset
prepared with that choice would hold, and the sampled value reaches the model."""

from __future__ import annotations

import numpy as np
import pytest
import wfdb

from ecgharness.datasets import load_dataset
from ecgharness.datasets.mitbih import AAMI_MAP
from ecgharness.search_spaces import space_for
from ecgharness.training import loop
from ecgharness.training.config import TrainConfig, split_hyperparameters
from ecgharness.training.views import trial_view


@pytest.fixture(scope="module")
def wide():
    return load_dataset("mitbih_sample", {"context_s": 0.5})


@pytest.mark.parametrize("context", [0.0, 0.25])
def test_a_narrower_context_equals_a_dataset_prepared_with_it(wide, context) -> None:
    narrow = load_dataset("mitbih_sample", {"context_s": context})
    view = trial_view(wide, context, use_metadata=True)
    for split in ("train", "val", "test"):
        assert view.splits[split].x.shape == narrow.splits[split].x.shape
        np.testing.assert_allclose(view.splits[split].x, narrow.splits[split].x, atol=2e-4)
        np.testing.assert_array_equal(view.splits[split].y, narrow.splits[split].y)
        np.testing.assert_array_equal(view.splits[split].meta, narrow.splits[split].meta)


def test_the_cut_window_is_centred_on_the_annotated_beat(sample_dir, wide) -> None:
    """Oracle: the raw MLII samples around the first annotated beat of the first training
    record, read with wfdb and z-scored by hand."""
    view = trial_view(wide, 0.0, use_metadata=True)
    rec = wfdb.rdrecord(str(sample_dir / "118"))  # the first training record of the sample
    ann = wfdb.rdann(str(sample_dir / "118"), "atr")
    beat = next(s for s, sym in zip(ann.sample, ann.symbol) if sym in AAMI_MAP and s > 200)
    signal = rec.p_signal[:, rec.sig_name.index("MLII")]
    window = signal[beat - 90: beat + 162].astype(np.float32)  # 0.25 s before, 0.45 s after, at 360 Hz
    expected = (window - window.mean()) / window.std()
    rows = view.splits["train"].x[:, 0, :]
    assert rows.shape[1] == 252
    assert np.min(np.abs(rows - expected).max(axis=1)) < 1e-3  # one of the beats is exactly this window


def test_context_wider_than_prepared_is_refused_with_the_fix(wide) -> None:
    with pytest.raises(ValueError, match="context_s: 1.0 or more"):
        trial_view(wide, 1.0, use_metadata=True)
    synthetic = load_dataset("synthetic", {"n_per_class": 5, "length": 32}, use_cache=False)
    with pytest.raises(ValueError, match="beat datasets"):
        trial_view(synthetic, 0.1, use_metadata=True)


def test_use_metadata_false_hides_the_rr_features(wide) -> None:
    view = trial_view(wide, None, use_metadata=False)
    assert all(not view.splits[s].meta.any() for s in view.splits)
    assert wide.splits["train"].meta.any()  # the prepared dataset keeps them
    np.testing.assert_array_equal(view.splits["train"].x, wide.splits["train"].x)


def test_both_are_search_dimensions_that_reach_the_model(wide, monkeypatch) -> None:
    space = space_for("resnet_se_bigru_meta", {"beat_context_s": {"choice": [0.0, 0.5]},
                                                "use_metadata": {"choice": [True, False]}}, "test")
    assert {"beat_context_s", "use_metadata"} <= set(space.searched)
    settings = split_hyperparameters(TrainConfig(), {"beat_context_s": 0.0, "use_metadata": False, "lr": 1e-3})
    assert settings.loop.beat_context_s == 0.0 and settings.loop.use_metadata is False
    assert "beat_context_s" not in settings.model and "use_metadata" not in settings.model
    seen = []
    build = loop._build

    def spy(dataset, *args, **kwargs):
        seen.append(dataset)
        return build(dataset, *args, **kwargs)

    monkeypatch.setattr(loop, "_build", spy)
    config = {"beat_context_s": 0.0, "use_metadata": False, "base_channels": 8, "stages": 2, "gru_hidden": 8,
              "meta_hidden": 8, "batch_size": 256}
    loop.train_model(wide, "resnet_se_bigru_meta", config, TrainConfig(max_epochs=1, patience=1))
    (trained_on,) = seen
    assert trained_on.splits["train"].x.shape[-1] == 252 < wide.splits["train"].x.shape[-1]
    assert not trained_on.splits["train"].meta.any()


@pytest.fixture(scope="module")
def templated():
    return load_dataset("mitbih_sample", {"context_s": 0.5, "record_template": True}, use_cache=False)


def _oracle_windows(sample_dir, record: str, pre: int, post: int) -> np.ndarray:
    """Raw MLII windows around every annotated beat of ``record``, read with wfdb; the
    record's ends repeat its first and last sample."""
    rec = wfdb.rdrecord(str(sample_dir / record))
    ann = wfdb.rdann(str(sample_dir / record), "atr")
    beats = np.array([s for s, sym in zip(ann.sample, ann.symbol) if sym in AAMI_MAP])
    signal = np.pad(rec.p_signal[:, rec.sig_name.index("MLII")], (pre, post), mode="edge")
    return np.stack([signal[b: b + pre + post] for b in beats]).astype(np.float32)


def test_the_template_channel_is_the_records_median_beat(sample_dir, wide, templated) -> None:
    """Oracle: the sample-wise median of record 118's raw beat windows (wfdb), z-scored; the
    rows of the next record hold another median, and the beat channel is unchanged."""
    windows = _oracle_windows(sample_dir, "118", 90 + 180, 162 + 180)  # 0.25/0.45 s + 0.5 s, 360 Hz
    median = np.median(windows, axis=0)
    expected = (median - median.mean()) / median.std()
    x = templated.splits["train"].x
    n = len(windows)
    assert x.shape[1:] == (2, 612) and templated.notes["channels"] == ["MLII", "MLII record median"]
    np.testing.assert_allclose(x[:n, 1], np.broadcast_to(expected, (n, 612)), atol=1e-4)
    assert np.abs(x[n, 1] - expected).max() > 0.1  # the first beat of the next record: its own median
    np.testing.assert_allclose(x[:, 0], wide.splits["train"].x[:, 0], atol=1e-5)


def test_a_narrower_context_of_the_template_equals_one_prepared_with_it(templated) -> None:
    narrow = load_dataset("mitbih_sample", {"context_s": 0.0, "record_template": True}, use_cache=False)
    view = trial_view(templated, 0.0, use_metadata=True)
    for split in ("train", "val", "test"):
        np.testing.assert_allclose(view.splits[split].x, narrow.splits[split].x, atol=2e-4)
