"""The Kaggle "ECG Heartbeat Categorization" MIT-BIH beats (Kachuee et al., 2018).

Kachuee M, Fazeli S, Sarrafzadeh M. ECG Heartbeat Classification: A Deep
Transferable Representation. IEEE ICHI 2018, 443-444. The beats come from the
MIT-BIH Arrhythmia Database, resampled to 125 Hz, scaled to [0, 1] and zero-padded
to 187 samples. Each CSV row is the 187 values followed by the label 0-4 (N, S, V,
F, Q), with no header: ``mitbih_train.csv`` and ``mitbih_test.csv``.

Beats of one patient appear in both files, so this is an intra-patient protocol;
reports flag it as such. Validation is carved from the training file, stratified
and seeded.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ecgharness.datasets.base import DatasetSpec, Prepared, Split, register_dataset
from ecgharness.datasets.download import Source, register_source
from ecgharness.errors import DataNotFoundError

log = logging.getLogger(__name__)

CLASS_NAMES = ("N", "S", "V", "F", "Q")
BEAT_LENGTH = 187
FILES = {"train": "mitbih_train.csv", "test": "mitbih_test.csv"}
KAGGLE_URL = "https://www.kaggle.com/datasets/shayanfazeli/heartbeat"


@dataclass(frozen=True)
class KaggleConfig:
    """Options of the ``mitbih_kaggle`` dataset.

    Attributes:
        subdir: Folder under the data root holding the two CSV files.
        val_fraction: Share of the training file used for validation.
        seed: Seed of the validation split.
    """

    subdir: str = "kaggle_heartbeat"
    val_fraction: float = 0.1
    seed: int = 0

    def __post_init__(self) -> None:
        if not 0 < self.val_fraction < 1:
            raise ValueError(f"val_fraction must be in (0, 1), got {self.val_fraction}")


def source_files(config: KaggleConfig, root: Path) -> list[Path]:
    return [root / config.subdir / f for f in FILES.values()]


def read_csv(path: Path) -> tuple[np.ndarray, np.ndarray, list[tuple[str, str]]]:
    """Beats (n, 1, 187), labels (n,) and the quarantined rows of one Kaggle CSV file.

    Rows with non-finite values or a label outside 0-4 are quarantined by row number.
    A file whose rows are not 188 columns wide is rejected whole.
    """
    import pandas as pd

    try:
        table = pd.read_csv(path, header=None, dtype=np.float64, na_values=["nan", "NaN", ""])
    except (ValueError, pd.errors.ParserError) as exc:
        raise ValueError(f"{path}: not a Kaggle heartbeat CSV ({exc})") from None
    if table.shape[1] != BEAT_LENGTH + 1:
        raise ValueError(
            f"{path}: expected {BEAT_LENGTH + 1} columns (187 samples + label), found {table.shape[1]}"
        )
    values = table.to_numpy()
    x, label = values[:, :BEAT_LENGTH], values[:, BEAT_LENGTH]
    finite = np.isfinite(values).all(axis=1)
    valid_label = np.isin(label, np.arange(len(CLASS_NAMES)))
    quarantined = [
        (f"{path.name}:row {i + 1}", "non-finite value" if not finite[i] else f"unknown label {float(label[i])}")
        for i in np.flatnonzero(~(finite & valid_label))
    ]
    keep = finite & valid_label
    return x[keep].astype(np.float32)[:, None, :], label[keep].astype(np.int64), quarantined


def prepare(config: KaggleConfig, root: Path) -> Prepared:
    from sklearn.model_selection import train_test_split

    folder = root / config.subdir
    missing = [name for name in FILES.values() if not (folder / name).exists()]
    if missing:
        raise DataNotFoundError(
            f"{', '.join(missing)} not found in {folder}. Download the Kaggle heartbeat dataset "
            f"({KAGGLE_URL}) and put mitbih_train.csv and mitbih_test.csv in {folder}, or point "
            "--data-root / ECGHARNESS_DATA at the folder that holds kaggle_heartbeat/."
        )
    x_train, y_train, q_train = read_csv(folder / FILES["train"])
    x_test, y_test, q_test = read_csv(folder / FILES["test"])
    idx = np.arange(len(y_train))
    fit, val = train_test_split(idx, test_size=config.val_fraction, stratify=y_train, random_state=config.seed)
    fit, val = np.sort(fit), np.sort(val)
    return Prepared(
        splits={
            "train": Split(x_train[fit], y_train[fit]),
            "val": Split(x_train[val], y_train[val]),
            "test": Split(x_test, y_test),
        },
        quarantined=q_train + q_test,
        candidates=len(y_train) + len(y_test) + len(q_train) + len(q_test),
        notes={"protocol": "intra-patient (Kaggle train/test files share patients)", "fs": 125, "sampling_rate": 125,
               "leads": ["MLII"]},
    )


register_source(Source(
    name="mitbih_kaggle", folder="kaggle_heartbeat", manual=True,
    landing="https://www.kaggle.com/datasets/shayanfazeli/heartbeat", licence="see Kaggle",
    note="Kaggle downloads need a Kaggle account, so bench cannot fetch them: download the "
         "dataset from https://www.kaggle.com/datasets/shayanfazeli/heartbeat and put "
         "mitbih_train.csv and mitbih_test.csv in <data root>/kaggle_heartbeat/",
))

register_dataset(DatasetSpec(
    name="mitbih_kaggle",
    config_cls=KaggleConfig,
    prepare=prepare,
    source_files=source_files,
    class_names=CLASS_NAMES,
    headline="macro_f1",
    version=2,  # 2: notes record the sampling rate and the lead
    description="Kaggle heartbeat CSVs (187 samples at 125 Hz, N/S/V/F/Q); intra-patient",
))
