"""Chapman University - Shaoxing People's Hospital 12-lead ECGs: rhythms plus patient metadata.

Source: Zheng J, Zhang J, Danioko S, Yao H, Guo H, Rakovski C. A 12-lead
electrocardiogram database for arrhythmia research covering more than 10,000
patients. Sci Data 7, 48 (2020); figshare https://doi.org/10.6084/m9.figshare.c.4560497.

Each record is a CSV of 5000 rows (10 s at 500 Hz) x 12 leads, no header, in
``ECGDataDenoised/`` (or the raw ``ECGData/``); ``Diagnostics`` (.csv or the
original .xlsx) gives its rhythm and the measurements used as metadata. The 11
rhythms merge into the four groups of Zheng et al.: SB; AFIB (AF, AFIB); GSVT (SVT,
AT, SAAWR, ST, AVNRT, AVRT); SR (SR, SA - "sinus irregularity", SI in RhythmNames).
"""

from __future__ import annotations

import logging
import math
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Mapping

import numpy as np

from ecgharness.datasets.base import DatasetSpec, Prepared, Split, count_files, register_dataset
from ecgharness.datasets.fitted import apply_lead_stats, apply_meta_stats, fit_lead_stats, fit_meta_stats
from ecgharness.datasets.download import DownloadOptions, RemoteFile, Source, register_source
from ecgharness.errors import ConfigError, DataNotFoundError

log = logging.getLogger(__name__)

SUBDIR = "chapman"
FIGSHARE_URL = "https://doi.org/10.6084/m9.figshare.c.4560497"
GROUPS = ("SB", "AFIB", "GSVT", "SR")
GROUP_OF = {"SB": "SB", "AFIB": "AFIB", "AF": "AFIB", "SVT": "GSVT", "AT": "GSVT", "SAAWR": "GSVT",
            "ST": "GSVT", "AVNRT": "GSVT", "AVRT": "GSVT", "SR": "SR", "SA": "SR", "SI": "SR"}
RHYTHMS = ("AF", "AFIB", "AT", "AVNRT", "AVRT", "SA", "SAAWR", "SB", "SR", "ST", "SVT")
META_COLUMNS = ("PatientAge", "Gender", "VentricularRate", "AtrialRate", "QRSDuration", "QTInterval",
                "QTCorrected", "RAxis", "TAxis", "QRSCount", "QOnset", "QOffset", "TOffset")
SAMPLES, LEADS, FS = 5000, 12, 500
LEAD_NAMES = ("I", "II", "III", "AVR", "AVL", "AVF", "V1", "V2", "V3", "V4", "V5", "V6")  # CSV column order


@dataclass(frozen=True)
class ChapmanConfig:
    """Options of the ``chapman`` dataset.

    Attributes:
        labels: ``groups`` (4 merged rhythm groups) or ``rhythms`` (all 11).
        signals: ``denoised`` (ECGDataDenoised/) or ``raw`` (ECGData/).
        sampling_rate: Resample from 500 Hz to this rate (polyphase, anti-aliased).
        standardise: Per-lead z-score with statistics of the training split only.
        val_fraction: Share of records for validation.
        test_fraction: Share of records for test.
        seed: Seed of the stratified split.
        workers: Threads reading CSV files.
    """

    labels: Literal["groups", "rhythms"] = "groups"
    signals: Literal["denoised", "raw"] = "denoised"
    sampling_rate: int = 500
    standardise: bool = True
    val_fraction: float = 0.15
    test_fraction: float = 0.15
    seed: int = 0
    workers: int = 4

    def __post_init__(self) -> None:
        if not 0 < self.sampling_rate <= FS:
            raise ValueError(f"sampling_rate must be in (0, {FS}], got {self.sampling_rate}")
        if self.val_fraction <= 0 or self.test_fraction <= 0 or self.val_fraction + self.test_fraction >= 1:
            raise ValueError("val_fraction and test_fraction must be positive and sum to less than 1")


def _signal_dir(config: ChapmanConfig, root: Path) -> Path:
    return root / SUBDIR / ("ECGDataDenoised" if config.signals == "denoised" else "ECGData")


def read_diagnostics(folder: Path) -> "pd.DataFrame":  # noqa: F821
    """``Diagnostics.csv``, else the original ``Diagnostics.xlsx``."""
    import pandas as pd

    csv, xlsx = folder / "Diagnostics.csv", folder / "Diagnostics.xlsx"
    try:
        if csv.exists():
            table = pd.read_csv(csv)
        elif xlsx.exists():
            table = pd.read_excel(xlsx)
        else:
            raise DataNotFoundError(
                f"Diagnostics.csv / Diagnostics.xlsx not found in {folder}. Get the Chapman-Shaoxing "
                f"database with `bench data download chapman` or from {FIGSHARE_URL} so that "
                f"{folder}/Diagnostics.xlsx and {folder}/ECGDataDenoised/ exist, or point --data-root / "
                "ECGHARNESS_DATA at the folder that holds chapman/."
            )
    except ImportError as exc:
        raise ConfigError(f"reading {xlsx} needs openpyxl (pip install openpyxl): {exc}") from None
    missing = [c for c in ("FileName", "Rhythm", *META_COLUMNS) if c not in table.columns]
    if missing:
        raise ConfigError(f"{folder}: Diagnostics lacks column(s) {missing}")
    table["FileName"] = table["FileName"].astype(str).str.strip()
    table["Rhythm"] = table["Rhythm"].astype(str).str.strip()
    return table


def read_csv_signal(path: Path) -> np.ndarray:
    """One record as (12, 5000) float32.

    Raises:
        ValueError: unreadable, wrong shape, NaN or all zeros.
    """
    import pandas as pd

    try:
        values = pd.read_csv(path, header=None, dtype=np.float64).to_numpy()
    except (ValueError, pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise ValueError(f"unreadable CSV ({type(exc).__name__}: {exc})") from None
    if values.shape != (SAMPLES, LEADS):
        raise ValueError(f"wrong shape {values.shape}, expected ({SAMPLES}, {LEADS})")
    if not np.isfinite(values).all():
        raise ValueError("signal holds NaN or infinite values")
    if not np.any(values):
        raise ValueError("signal is all zeros")
    return values.T.astype(np.float32)


def source_files(config: ChapmanConfig, root: Path) -> list[Path]:
    folder = root / SUBDIR
    files = [folder / "Diagnostics.csv", folder / "Diagnostics.xlsx"]
    signals = _signal_dir(config, root)
    if signals.is_dir():
        files += sorted(signals.glob("*.csv"))
    return files


def _split(labels: np.ndarray, config: ChapmanConfig) -> dict[str, np.ndarray]:
    """Seeded split stratified by label; unstratified where a class is too rare to stratify.

    Held-out counts are rounded up, and never below one record each for validation and test.
    """
    from sklearn.model_selection import train_test_split

    n = len(labels)
    idx = np.arange(n)
    holdout = config.val_fraction + config.test_fraction
    n_rest = min(n - 1, max(2, math.ceil(holdout * n - 1e-9)))  # rounded up, as scikit-learn does
    n_test = min(n_rest - 1, max(1, math.ceil(n_rest * config.test_fraction / holdout - 1e-9)))

    def divide(items: np.ndarray, size: int, strata: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        if strata is not None and np.bincount(strata)[np.bincount(strata) > 0].min() >= 2:
            try:
                return train_test_split(items, test_size=size, stratify=strata, random_state=config.seed)
            except ValueError:  # fewer held-out places than classes
                pass
        log.warning("chapman: a class is too rare to stratify %d records; splitting them at random", len(items))
        return train_test_split(items, test_size=size, random_state=config.seed)

    train, rest = divide(idx, n_rest, labels)
    val, test = divide(rest, n_test, labels[rest])
    return {"train": np.sort(train), "val": np.sort(val), "test": np.sort(test)}


def prepare(config: ChapmanConfig, root: Path) -> Prepared:
    from scipy.signal import resample_poly

    folder = root / SUBDIR
    table = read_diagnostics(folder)
    classes = GROUPS if config.labels == "groups" else RHYTHMS
    signal_dir = _signal_dir(config, root)
    quarantined: list[tuple[str, str]] = []
    rows = []
    for row in table.itertuples(index=False):
        rhythm = "SA" if row.Rhythm == "SI" else row.Rhythm
        label = GROUP_OF.get(rhythm) if config.labels == "groups" else (rhythm if rhythm in RHYTHMS else None)
        path = signal_dir / f"{row.FileName}.csv"
        if label is None:
            quarantined.append((str(path), f"unknown rhythm {row.Rhythm!r}"))
        elif not path.exists():
            quarantined.append((str(path), "file missing (row of Diagnostics)"))
        else:
            rows.append((path, classes.index(label), row))

    def read(item):
        try:
            return read_csv_signal(item[0])
        except ValueError as exc:
            return exc

    with ThreadPoolExecutor(max(1, config.workers)) as pool:
        signals = list(pool.map(read, rows))
    kept = []
    for item, sig in zip(rows, signals):
        if isinstance(sig, Exception):
            quarantined.append((str(item[0]), str(sig)))
        else:
            kept.append((item, sig))
    if len(kept) < 3:
        raise ConfigError(f"chapman: only {len(kept)} usable record(s) in {signal_dir}; need at least 3 to split")
    x = np.stack([sig for _, sig in kept])
    if config.sampling_rate != FS:
        g = np.gcd(config.sampling_rate, FS)
        x = resample_poly(x, config.sampling_rate // g, FS // g, axis=-1).astype(np.float32)
    y = np.array([item[1] for item, _ in kept], dtype=np.int64)
    meta = np.array([[_meta_value(getattr(item[2], c), c) for c in META_COLUMNS] for item, _ in kept],
                    dtype=np.float64)
    parts = _split(y, config)
    train = parts["train"]
    # metadata: impute with training medians, then standardise with training statistics
    fitted = fit_meta_stats(meta[train], impute=True)
    meta = apply_meta_stats(meta, fitted)
    if config.standardise:
        fitted.update(fit_lead_stats(x[train]))
        x = apply_lead_stats(x, fitted)
    splits = {name: Split(x[i], y[i], meta[i]) for name, i in parts.items()}
    notes = {"protocol": "stratified random 70/15/15 by record (seeded)", "labels": config.labels,
             "files": {name: [kept[j][0][0].stem for j in i] for name, i in parts.items()}
             if len(kept) <= 50 else None,
             "sampling_rate": config.sampling_rate, "leads": list(LEAD_NAMES), "fitted": fitted}
    return Prepared(splits=splits, quarantined=quarantined, notes=notes, candidates=len(table),
                    meta_names=META_COLUMNS, class_names=classes)


def _meta_value(value: object, column: str) -> float:
    if column == "Gender":
        text = str(value).strip().upper()
        return 1.0 if text == "MALE" else 0.0 if text == "FEMALE" else np.nan
    try:
        return float(value)
    except (TypeError, ValueError):
        return np.nan


def source_status(root: Path) -> str:
    """``bench data info``: the Diagnostics table and the records of each signal folder in the data root."""
    folder = root / SUBDIR
    table = next((t for t in ("Diagnostics.csv", "Diagnostics.xlsx") if (folder / t).exists()), None)
    denoised, raw = count_files(folder / "ECGDataDenoised", "*.csv"), count_files(folder / "ECGData", "*.csv")
    if not table or not (denoised or raw):
        hint = " (missing: bench data download chapman)"
    else:
        hint = " (complete)" if denoised >= 10_646 or raw >= 10_646 else " (partial)"
    return (f"{table or 'no Diagnostics table'}, ECGDataDenoised/ {denoised:,} of 10,646 records, "
            f"ECGData/ {raw:,} in {folder}{hint}")


# figshare publishes only MD5 sums. These SHA-256 sums were computed from verified copies
# of the workbooks (Diagnostics.xlsx byte-identical in three independent copies; see
# the shared data folder's SHA256SUMS.txt and README), so a download is checked as
# strictly as a PhysioNet one.
CHAPMAN_SHA256 = {
    "Diagnostics.xlsx": "5c508faccf394bdeef092963ce3e6a8ce0bd7388f07a9ee6c25043375533a899",
    "RhythmNames.xlsx": "a2d49618f32ba054955816058855d8adb86ffeb51a2085024f1fecdd5ec1f741",
    "ConditionNames.xlsx": "c665fa6cb42f85d6ea3f84b64da96a466e3901580490e967427820fcd4d68b49",
    "AttributesDictionary.xlsx": "7aa157a0579ac0d72eb6c63b42bb6d7ef3a0d5aad181ad16f3ea042f340487e8",
}
# figshare file ids of collection 4560497 (https://figshare.com/ndownloader/files/<id>).
CHAPMAN_FILE_IDS = {
    "Diagnostics.xlsx": "15653771",
    "RhythmNames.xlsx": "15651296",
    "ConditionNames.xlsx": "15651293",
    "AttributesDictionary.xlsx": "15653762",
    "ECGDataDenoised.zip": "15652862",
    "ECGData.zip": "15651326",
}


def _select_chapman(sums: Mapping[str, str] | None, options: DownloadOptions) -> list[RemoteFile]:
    signals = options.signals or "denoised"
    archives = {"denoised": ["ECGDataDenoised.zip"], "raw": ["ECGData.zip"],
                "both": ["ECGDataDenoised.zip", "ECGData.zip"]}
    if signals not in archives:
        raise ConfigError(f"chapman: signals must be one of {', '.join(archives)}, got {signals!r}")
    files = [RemoteFile(CHAPMAN_FILE_IDS[n], n, sha) for n, sha in CHAPMAN_SHA256.items()]
    # No SHA-256 or MD5 of the waveform archives is recorded here: the transfer is checked
    # against the server's Content-Length and every member's CRC-32 while extracting.
    files += [RemoteFile(CHAPMAN_FILE_IDS[n], n, None, extract=True) for n in archives[signals]]
    return files


register_source(Source(
    name="chapman", folder="chapman", base_url="https://figshare.com/ndownloader/files/",
    landing="https://doi.org/10.6084/m9.figshare.c.4560497", licence="CC BY 4.0",
    select=_select_chapman, options=("signals",),
    note="4 workbooks checked against SHA-256 sums of verified copies (figshare publishes MD5 only); "
         "ECGDataDenoised.zip (about 2 GB) has no recorded checksum: it is checked for completeness "
         "and its members' CRC-32 while extracting, and its SHA-256 and MD5 are printed so you can "
         "compare the MD5 with the one figshare shows on the file's page",
))

register_dataset(DatasetSpec(
    name="chapman",
    config_cls=ChapmanConfig,
    prepare=prepare,
    source_files=source_files,
    class_names=GROUPS,
    headline="macro_f1",
    version=3,  # 2: held-out counts rounded so a few records still give val and test one each;
    # 3: notes record the leads, the sampling rate and the fitted statistics
    description="Chapman-Shaoxing 12-lead rhythms (4 groups or 11 rhythms) with patient metadata",
    status=source_status,
))
