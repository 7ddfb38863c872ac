"""Helpers for tests: independent annotation counts and real-format files."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np

# Written out here rather than imported, so the tests check the loader's table.
AAMI = {"N": "NLRej", "S": "AaJS", "V": "VE", "F": "F", "Q": "/fQ"}


def annotation_counts(folder: Path, records, sampto: int | None = None) -> Counter:
    """AAMI class counts of the reference annotations, read with wfdb directly."""
    import wfdb

    symbol_class = {s: c for c, symbols in AAMI.items() for s in symbols}
    counts: Counter = Counter()
    for rec in records:
        ann = wfdb.rdann(str(folder / str(rec)), "atr", sampto=sampto)
        counts.update(symbol_class[s] for s in ann.symbol if s in symbol_class)
    return counts


def copy_record(src: Path, rec: int, dest: Path, new_name: int | None = None) -> None:
    """Copy one WFDB record (header, signal, annotations), optionally under a new record name."""
    import wfdb

    name = str(new_name or rec)
    record = wfdb.rdrecord(str(src / str(rec)), physical=False)
    ann = wfdb.rdann(str(src / str(rec)), "atr")
    wfdb.wrsamp(name, fs=record.fs, units=record.units, sig_name=record.sig_name, d_signal=record.d_signal,
                fmt=record.fmt, adc_gain=record.adc_gain, baseline=record.baseline, write_dir=str(dest))
    wfdb.wrann(name, "atr", ann.sample, symbol=ann.symbol, subtype=ann.subtype, chan=ann.chan, num=ann.num,
               aux_note=ann.aux_note, fs=ann.fs, write_dir=str(dest))


def write_kaggle_csv(path: Path, beats: np.ndarray, labels: np.ndarray) -> None:
    """Rows of 187 values in [0, 1] then the label as a float, no header: the Kaggle layout."""
    table = np.concatenate([beats, labels[:, None].astype(float)], axis=1)
    np.savetxt(path, table, delimiter=",", fmt="%.18e")


def kaggle_style_beats(sample: Path, records) -> tuple[np.ndarray, np.ndarray]:
    """Beats of real MIT-BIH records in the Kaggle format: 125 Hz, scaled to [0, 1], zero-padded to 187."""
    import wfdb
    from scipy.signal import resample_poly

    class_of = {s: i for i, (c, symbols) in enumerate(AAMI.items()) for s in symbols}
    beats, labels = [], []
    for rec in records:
        signal = wfdb.rdrecord(str(sample / str(rec)), channels=[0]).p_signal[:, 0]
        ann = wfdb.rdann(str(sample / str(rec)), "atr")
        lo = resample_poly(signal, 25, 72)  # 360 Hz -> 125 Hz
        for s, sym in zip(ann.sample, ann.symbol):
            if sym not in class_of:
                continue
            centre = int(s * 125 / 360)
            window = lo[max(centre - 60, 0) : centre + 90]
            if len(window) < 100:
                continue
            window = (window - window.min()) / max(np.ptp(window), 1e-9)
            beats.append(np.pad(window, (0, 187 - len(window))))
            labels.append(class_of[sym])
    return np.array(beats), np.array(labels)
