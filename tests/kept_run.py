"""A small real run folder with kept weights, made in seconds: models trained for one epoch on
records of the embedded MIT-BIH sample and stored with the driver's own record builder and the
run-folder writer, as `bench run` stores its final runs."""

from __future__ import annotations

from pathlib import Path

from ecgharness.benchmark.final import final_record
from ecgharness.benchmark.observers import Pair
from ecgharness.benchmark.trials import FinalResult
from ecgharness.datasets import load_dataset
from ecgharness.leaderboard.store import RunWriter
from ecgharness.training.config import TrainConfig
from ecgharness.training.loop import train_model

# DS1 records 118 and 208 train, 223 validates, DS2 record 213 is the test split; first 2 minutes each
SAMPLE_CONFIG = {"records": [118, 208, 223, 213], "minutes": 2}
MINUTES = 2
MODELS = {
    "cnn_lstm": {"lr": 3e-3, "batch_size": 64, "conv_width": 8, "lstm_hidden": 8, "fc_hidden": 16},
    "alexnet": {"lr": 3e-3, "batch_size": 64, "images": "gasf", "image_size": 32, "width": 8, "hidden": 16},
    "resnet_se_bigru_meta": {"lr": 3e-3, "batch_size": 64, "base_channels": 4, "stages": 2, "gru_hidden": 4,
                             "meta_hidden": 8},
}


def first_minutes(sample: Path, record: int, dest: Path, minutes: float = MINUTES, annotations: bool = True) -> Path:
    """The first ``minutes`` of a sample record (and its annotations) as a new WFDB record in
    ``dest``: the stretch of it that the fixture run's dataset holds. Returns the header path."""
    import wfdb

    rec = wfdb.rdrecord(str(sample / str(record)), sampto=int(minutes * 60 * 360), physical=False)
    wfdb.wrsamp(str(record), fs=rec.fs, units=rec.units, sig_name=rec.sig_name, d_signal=rec.d_signal, fmt=rec.fmt,
                adc_gain=rec.adc_gain, baseline=rec.baseline, write_dir=str(dest))
    if annotations:
        ann = wfdb.rdann(str(sample / str(record)), "atr", sampto=int(minutes * 60 * 360))
        wfdb.wrann(str(record), "atr", ann.sample, symbol=ann.symbol, write_dir=str(dest))
    return dest / f"{record}.hea"


def write_kept_run(folder: Path, models: dict[str, dict] | None = None, seeds=(0,), dataset: str = "mitbih_sample",
                   config: dict | None = None, root: Path | None = None, epochs: int = 1) -> Path:
    """A completed run folder ``folder`` (suite ``kept``) whose final runs keep their weights."""
    ds = load_dataset(dataset, SAMPLE_CONFIG if config is None else config, root=root)
    training = TrainConfig(max_epochs=epochs, patience=epochs)
    writer = RunWriter(folder, "kept")
    writer.create({"name": "kept", "training": {"max_epochs": epochs}}, {
        "created": "2026-12-07T10:00:00", "git": {"commit": "0123456789abcdef"},
        "datasets": {ds.name: {"config": ds.config, "notes": ds.notes,
                               "class_counts": {s: ds.class_counts(s) for s in ds.splits}}}})
    for model, config in (models or MODELS).items():
        for seed in seeds:
            outcome = train_model(ds, model, config, training, seed=seed, evaluate_test=True)
            writer.add_final(final_record(Pair(ds.name, model), config, ds,
                                          FinalResult(seed, outcome, "cpu", 0), training))
    writer.save()
    return folder
