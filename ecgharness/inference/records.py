"""What `bench predict` reads: a WFDB record, a CSV (Chapman record or one beat per row, as
in the Kaggle files) or a NumPy file, as one :class:`RecordInput`."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ecgharness.datasets.chapman import FS as CHAPMAN_FS
from ecgharness.datasets.chapman import LEAD_NAMES as CHAPMAN_LEADS
from ecgharness.datasets.mitbih_kaggle import BEAT_LENGTH as KAGGLE_BEAT  # a row's samples (125 Hz), then its label
from ecgharness.errors import ConfigError


class PredictError(ConfigError):
    """A record the model cannot score as it is; the message names the file and the fix."""


@dataclass
class RecordInput:
    """One input file.

    Attributes:
        name: The file's name (without suffix), used in the outputs.
        kind: ``record`` (a continuous multi-lead signal) or ``examples`` (already cut: beats or records).
        fs: Sampling rate in Hz (None when the file does not say: NumPy examples).
        leads: Lead names of ``signal`` (records) or None.
        signal: (samples, leads) physical units (``record``).
        examples: (n, leads, samples) (``examples``).
        annotation: Beat positions (samples) and symbols from the record's annotation file.
        layout: Which layout the file was read as (for messages).
        labels: Reference labels a Kaggle CSV row carried (class indices) or None.
    """

    name: str
    kind: str
    fs: float | None
    layout: str
    leads: list[str] | None = None
    signal: np.ndarray | None = None
    examples: np.ndarray | None = None
    annotation: tuple[np.ndarray, np.ndarray] | None = None
    labels: np.ndarray | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def seconds(self) -> float:
        length = len(self.signal) if self.signal is not None else self.examples.shape[-1]
        return length / self.fs if self.fs else float("nan")


def read_input(path: Path, annotator: str = "atr", use_annotation: bool = True) -> RecordInput:
    """Read ``path`` by its suffix: ``.hea``/``.dat`` (or no suffix) WFDB, ``.csv``, ``.npy``."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return _read_csv(path)
    if suffix == ".npy":
        return _read_npy(path)
    if suffix in (".hea", ".dat", "") or not path.suffix:
        return _read_wfdb(path.with_suffix("") if suffix else path, annotator, use_annotation)
    raise PredictError(f"{path}: unknown input type {path.suffix!r}; give a WFDB header (.hea), a CSV "
                       "(Chapman record or one beat per row) or a NumPy file (.npy)")


def _read_wfdb(record: Path, annotator: str, use_annotation: bool) -> RecordInput:
    import wfdb

    if not record.with_suffix(".hea").exists():
        raise PredictError(f"{record}.hea not found: give the path of a WFDB record's header file")
    try:
        rec = wfdb.rdrecord(str(record))
    except Exception as exc:  # wfdb raises many types for damaged files
        raise PredictError(f"{record}: unreadable WFDB record ({type(exc).__name__}: {exc})") from None
    signal = rec.p_signal
    if signal is None or not np.isfinite(signal).all():
        raise PredictError(f"{record}: the signal holds NaN or infinite values (or none); repair the record")
    annotation = None
    if use_annotation and record.with_suffix(f".{annotator}").exists():
        try:
            ann = wfdb.rdann(str(record), annotator)
        except Exception as exc:
            raise PredictError(f"{record}.{annotator}: unreadable annotation file ({exc}); remove it to let the "
                               "QRS detector find the beats, or repair it") from None
        annotation = (np.asarray(ann.sample), np.asarray(ann.symbol))
    return RecordInput(name=record.name, kind="record", fs=float(rec.fs), layout="WFDB record",
                       leads=[str(s) for s in rec.sig_name], signal=signal.astype(np.float64), annotation=annotation)


def _read_csv(path: Path) -> RecordInput:
    import pandas as pd

    try:
        table = pd.read_csv(path, header=None)
        if table.shape[0] and not all(np.issubdtype(t, np.number) for t in table.dtypes):
            table = pd.read_csv(path)  # a header row
        values = table.to_numpy(dtype=np.float64)
    except (ValueError, pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise PredictError(f"{path}: not a numeric CSV ({type(exc).__name__}: {exc})") from None
    if not np.isfinite(values).all():
        raise PredictError(f"{path}: holds empty, NaN or infinite values; repair or remove those rows")
    columns = values.shape[1]
    if columns in (KAGGLE_BEAT, KAGGLE_BEAT + 1):
        labels = values[:, KAGGLE_BEAT].astype(np.int64) if columns == KAGGLE_BEAT + 1 else None
        return RecordInput(name=path.stem, kind="examples", fs=125.0, layout="Kaggle heartbeat CSV (one beat per row)",
                           examples=values[:, None, :KAGGLE_BEAT].astype(np.float32), labels=labels)
    if columns == len(CHAPMAN_LEADS):
        return RecordInput(name=path.stem, kind="record", fs=float(CHAPMAN_FS), layout="Chapman CSV (500 Hz, 12 leads)",
                           leads=list(CHAPMAN_LEADS), signal=values)
    raise PredictError(f"{path}: {columns} columns; expected a Chapman record (12 columns: I, II, III, aVR, aVL, "
                       "aVF, V1-V6, one row per sample at 500 Hz) or Kaggle beats (187 values per row, optionally "
                       "followed by the label)")


def _read_npy(path: Path) -> RecordInput:
    try:
        array = np.load(path, allow_pickle=False)
    except ValueError as exc:
        raise PredictError(f"{path}: not a plain NumPy array ({exc}); object arrays are not read") from None
    if array.ndim == 2:
        array = array[:, None, :]
    if array.ndim != 3 or not np.issubdtype(array.dtype, np.number):
        raise PredictError(f"{path}: shape {array.shape}; expected examples (n, leads, samples), or (n, samples) "
                           "for a single-lead model, at the model's sampling rate")
    if not np.isfinite(array).all():
        raise PredictError(f"{path}: holds NaN or infinite values")
    return RecordInput(name=path.stem, kind="examples", fs=None, layout="NumPy examples",
                       examples=array.astype(np.float32))
