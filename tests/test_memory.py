"""A trial's splits reach the training tensors without a host copy, and stay unchanged."""

from __future__ import annotations

import dataclasses
import warnings

import numpy as np
import pytest
import torch

from ecgharness.datasets import load_dataset
from ecgharness.training.config import TrainConfig
from ecgharness.training.loop import _OnDevice, device_tensor, train_model


@pytest.fixture(scope="module")
def read_only():
    """The synthetic dataset with every array read-only, as the Ray object store hands it over."""
    ds = load_dataset("synthetic", {"n_per_class": 40, "length": 96, "noise": 0.3}, use_cache=False)
    for split in ds.splits.values():
        for array in (split.x, split.y):
            array.setflags(write=False)
    return ds


def test_training_tensors_are_views_of_the_split(read_only) -> None:
    split = read_only.splits["train"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the not-writable warning is handled, not leaked
        on = _OnDevice.of(split, torch.device("cpu"), multilabel=False)
    assert on.x.data_ptr() == split.x.ctypes.data and np.shares_memory(on.x.numpy(), split.x)
    if split.y.dtype == np.int64:
        assert on.y.data_ptr() == split.y.ctypes.data


def test_arrays_of_another_dtype_are_converted_once() -> None:
    x = np.arange(24, dtype=np.float64).reshape(2, 3, 4)
    t = device_tensor(x, torch.float32, torch.device("cpu"))
    assert t.dtype == torch.float32 and not np.shares_memory(t.numpy(), x)
    np.testing.assert_array_equal(t.numpy(), x.astype(np.float32))
    strided = np.zeros((4, 3, 8), dtype=np.float32)[:, :, ::2]
    assert device_tensor(strided, torch.float32, torch.device("cpu")).is_contiguous()


def test_a_trial_on_read_only_splits_trains_and_leaves_them_unchanged(read_only) -> None:
    before = {name: (s.x.copy(), s.y.copy()) for name, s in read_only.splits.items()}
    config = {"lr": 3e-3, "batch_size": 16, "conv_width": 8, "lstm_hidden": 8,
              "augment_noise": 0.2, "augment_scale": 0.2, "augment_shift": 5}
    out = train_model(read_only, "cnn_lstm", config, TrainConfig(max_epochs=2, patience=2), evaluate_test=True)
    assert len(out.history) == 2 and out.test_metrics is not None
    for name, split in read_only.splits.items():
        np.testing.assert_array_equal(split.x, before[name][0])
        np.testing.assert_array_equal(split.y, before[name][1])


def test_artefact_augmentation_leaves_read_only_splits_unchanged(read_only) -> None:
    ds = dataclasses.replace(read_only, notes={**read_only.notes, "sampling_rate": 100.0})
    x = ds.splits["train"].x
    before = x.copy()
    config = {"lr": 1e-3, "batch_size": 16, "conv_width": 8, "lstm_hidden": 8}
    train_model(ds, "cnn_lstm", config, TrainConfig(max_epochs=1, augment_artefacts="baseline_wander",
                                                    augment_artefact_share=1.0))
    np.testing.assert_array_equal(x, before)
