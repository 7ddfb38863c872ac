"""Per-epoch checkpoints: a run stopped after any epoch and started again from its checkpoint
ends exactly as the run that never stopped (the uninterrupted run is the oracle)."""

from __future__ import annotations

import pytest
import torch

from ecgharness.benchmark.checkpoints import CheckpointFile, clear
from ecgharness.datasets import load_dataset
from ecgharness.training.config import TrainConfig
from ecgharness.training.loop import train_model


class _Crash(Exception):
    pass


class _StopAfter(CheckpointFile):
    """Saves like the real file, then 'loses the machine' once ``epoch`` is saved."""

    def __init__(self, root: str, key: str, epoch: int) -> None:
        super().__init__(root, key)
        self.epoch = epoch

    def save(self, state: dict) -> None:
        super().save(state)
        if state["epoch"] == self.epoch:
            raise _Crash()


@pytest.fixture(scope="module")
def synthetic():
    return load_dataset("synthetic", {"n_per_class": 40, "length": 96, "noise": 0.5}, use_cache=False)


@pytest.mark.parametrize("model, config, loop", [
    ("cnn_lstm", {"lr": 3e-3, "batch_size": 16, "conv_width": 8, "lstm_hidden": 8, "dropout": 0.3},
     TrainConfig(max_epochs=5, patience=5, scheduler="plateau", augment_noise=0.05)),
    ("resnet_se", {"lr": 1e-2, "batch_size": 32, "base_channels": 8, "stages": 2},
     TrainConfig(max_epochs=4, patience=4, scheduler="onecycle", sampler="weighted")),
])
def test_a_run_resumed_from_its_checkpoint_ends_as_the_uninterrupted_run(synthetic, tmp_path, model, config,
                                                                         loop) -> None:
    whole = train_model(synthetic, model, config, loop, seed=7, evaluate_test=True)
    with pytest.raises(_Crash):
        train_model(synthetic, model, config, loop, seed=7, checkpoints=_StopAfter(str(tmp_path), "t", 2))
    reports = []
    again = CheckpointFile(str(tmp_path), "t")
    resumed = train_model(synthetic, model, config, loop, seed=7, checkpoints=again, report=reports.append,
                          evaluate_test=True)
    assert again.restored_epoch == 2
    assert [r["epoch"] for r in reports] == list(range(3, loop.max_epochs + 1))  # no epoch trained twice
    assert [r["train_loss"] for r in resumed.history] == [r["train_loss"] for r in whole.history]
    assert [r["score"] for r in resumed.history] == [r["score"] for r in whole.history]
    assert resumed.best_epoch == whole.best_epoch
    assert (resumed.test_scores == whole.test_scores).all()
    for name, value in whole.weights.items():
        assert (resumed.weights[name] == value).all(), name


def test_a_finished_run_found_in_its_checkpoint_trains_no_more(synthetic, tmp_path) -> None:
    config = {"lr": 3e-3, "batch_size": 32, "conv_width": 8, "lstm_hidden": 8}
    loop = TrainConfig(max_epochs=2, patience=2)
    train_model(synthetic, "cnn_lstm", config, loop, seed=1, checkpoints=CheckpointFile(str(tmp_path), "t"))
    reports = []
    again = CheckpointFile(str(tmp_path), "t")
    out = train_model(synthetic, "cnn_lstm", config, loop, seed=1, checkpoints=again, report=reports.append)
    assert reports == [] and len(out.history) == 2 and again.restored_epoch == 2
    assert [r["epoch"] for r in again.restored_history] == [1, 2]


def test_a_damaged_checkpoint_names_its_file_and_the_fix(synthetic, tmp_path) -> None:
    (tmp_path / "t.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match=r"t\.pt cannot be read.*delete it"):
        train_model(synthetic, "cnn_lstm", {"conv_width": 8, "lstm_hidden": 8}, TrainConfig(max_epochs=1),
                    checkpoints=CheckpointFile(str(tmp_path), "t"))


def test_checkpoints_load_without_unpickling_code(tmp_path) -> None:
    import os

    class Evil:
        def __reduce__(self):
            return (os.system, ("echo owned",))

    torch.save({"version": 1, "x": Evil()}, tmp_path / "t.pt")
    with pytest.raises(ValueError, match="cannot be read"):
        CheckpointFile(str(tmp_path), "t").load()
    clear(str(tmp_path))
    assert not tmp_path.exists()
