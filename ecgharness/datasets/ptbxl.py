"""PTB-XL 12-lead ECGs with the task labels and folds of the benchmark.

Source: Wagner P, Strodthoff N, Bousseljot R-D, et al. PTB-XL, a large publicly
available electrocardiography dataset. Sci Data 7, 154 (2020); PhysioNet
https://physionet.org/content/ptb-xl/. Tasks and protocol follow Strodthoff N,
Wagner P, Schaeffter T, Samek W. Deep learning for ECG analysis: benchmarks and
insights from PTB-XL. IEEE J Biomed Health Inform 25(5):1519-1528 (2021): labels are
aggregated from each record's SCP codes through ``scp_statements.csv``; folds 1-8
train, 9 validates, 10 tests (the recommended ``strat_fold`` split).

Tasks (``task`` in the config): ``superdiagnostic`` (NORM, MI, STTC, CD, HYP),
``subdiagnostic``, ``diagnostic``, ``form`` and ``rhythm``. All are multi-label; a
record with no label of the task is left out of it and counted in the notes.
"""

from __future__ import annotations

import ast
import logging
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Mapping

import numpy as np

from ecgharness.datasets.base import DatasetSpec, Prepared, Split, count_files, register_dataset
from ecgharness.datasets.fitted import apply_lead_stats, fit_lead_stats
from ecgharness.datasets.download import DownloadOptions, RemoteFile, Source, listed, register_source
from ecgharness.errors import ConfigError, DataNotFoundError

log = logging.getLogger(__name__)

SUPERCLASSES = ("NORM", "MI", "STTC", "CD", "HYP")
LEADS = ("I", "II", "III", "AVR", "AVL", "AVF", "V1", "V2", "V3", "V4", "V5", "V6")  # order of every record
FULL_RECORDS = 21_837  # records of PTB-XL 1.0.1 (Wagner et al., Sci Data 2020)
SUBDIR = "ptbxl"
PHYSIONET_URL = "https://physionet.org/content/ptb-xl/"
FOLDS = {"train": tuple(range(1, 9)), "val": (9,), "test": (10,)}
Task = Literal["superdiagnostic", "subdiagnostic", "diagnostic", "form", "rhythm"]


@dataclass(frozen=True)
class PTBXLConfig:
    """Options of the ``ptbxl`` dataset.

    Attributes:
        task: Label set (see module docstring).
        sampling_rate: 100 (``records100/``) or 500 (``records500/``) Hz.
        standardise: Per-lead z-score with mean and std of the training split only.
        min_likelihood: Keep an SCP code only if its likelihood is at least this (the
            benchmark keeps all codes: 0).
        workers: Threads reading records.
    """

    task: Task = "superdiagnostic"
    sampling_rate: Literal[100, 500] = 100
    standardise: bool = True
    min_likelihood: float = 0.0
    workers: int = 4


def _tables(root: Path) -> tuple["pd.DataFrame", "pd.DataFrame"]:  # noqa: F821
    import pandas as pd

    folder = root / SUBDIR
    db, scp = folder / "ptbxl_database.csv", folder / "scp_statements.csv"
    missing = [p.name for p in (db, scp) if not p.exists()]
    if missing:
        raise DataNotFoundError(
            f"{', '.join(missing)} not found in {folder}. Get PTB-XL with `bench data download ptbxl` "
            f"or from {PHYSIONET_URL} so that {folder}/ptbxl_database.csv, scp_statements.csv and "
            "records100/ exist, or point --data-root / ECGHARNESS_DATA at the folder that holds ptbxl/."
        )
    try:
        database = pd.read_csv(db, index_col="ecg_id")
        statements = pd.read_csv(scp, index_col=0)
    except (ValueError, pd.errors.ParserError) as exc:
        raise ConfigError(f"cannot read the PTB-XL tables in {folder}: {exc}") from None
    return database, statements


def label_map(statements: "pd.DataFrame", task: str) -> dict[str, str]:  # noqa: F821
    """SCP code -> label of ``task``."""
    if task == "superdiagnostic":
        rows = statements[statements["diagnostic"] == 1]
        return {code: cls for code, cls in rows["diagnostic_class"].items() if isinstance(cls, str)}
    if task == "subdiagnostic":
        rows = statements[statements["diagnostic"] == 1]
        return {code: cls for code, cls in rows["diagnostic_subclass"].items() if isinstance(cls, str)}
    column = {"diagnostic": "diagnostic", "form": "form", "rhythm": "rhythm"}[task]
    return {code: code for code in statements.index[statements[column] == 1]}


def class_names(config: PTBXLConfig, root: Path | None = None) -> tuple[str, ...]:
    if config.task == "superdiagnostic":
        return SUPERCLASSES
    if root is None:
        raise ConfigError(f"PTB-XL task {config.task!r} needs the data root to list its labels")
    _, statements = _tables(root)
    return tuple(sorted(set(label_map(statements, config.task).values())))


def _record_path(root: Path, row: "pd.Series", rate: int) -> Path:  # noqa: F821
    name = row["filename_lr"] if rate == 100 else row["filename_hr"]
    return root / SUBDIR / str(name)


def _read_format16(path: Path) -> tuple[np.ndarray, int] | None:
    """Fast path for the plain single-file format-16 records PTB-XL ships: (samples, leads), fs.

    Parses the header directly (wfdb's general parser costs ~7 ms a record, most of the
    preparation time); returns None for anything unusual, which then goes through wfdb.
    """
    lines = [ln for ln in path.with_suffix(".hea").read_text().splitlines() if ln and not ln.startswith("#")]
    head = lines[0].split()
    nsig, fs, nsamp = int(head[1]), int(float(head[2].split("/")[0])), int(head[3])
    gains, baselines, files = [], [], set()
    for line in lines[1 : 1 + nsig]:
        fields = line.split()
        if fields[1] != "16" or "(" not in fields[2]:
            return None
        gain, rest = fields[2].split("(", 1)
        files.add(fields[0])
        gains.append(float(gain) or 200.0)  # a gain of 0 means the WFDB default of 200
        baselines.append(int(rest.split(")", 1)[0]))
    if len(files) != 1 or len(gains) != nsig:
        return None
    raw = np.fromfile(path.parent / files.pop(), dtype="<i2")
    if raw.size != nsamp * nsig:
        raise ValueError(f"truncated signal: {raw.size // max(nsig, 1)} of {nsamp} samples")
    digital = raw.reshape(nsamp, nsig).astype(np.float32)
    return (digital - np.array(baselines, np.float32)) / np.array(gains, np.float32), fs


def read_record(path: Path, rate: int) -> np.ndarray:
    """A record's signal as (12, samples) float32.

    Raises:
        ValueError: unreadable, truncated, wrong shape or non-finite.
    """
    try:
        fast = _read_format16(path)
        if fast is None:
            import wfdb

            signal, fields = wfdb.rdsamp(str(path))
            fast = signal, fields["fs"]
    except ValueError as exc:
        if str(exc).startswith("truncated"):
            raise
        raise ValueError(f"unreadable record ({type(exc).__name__}: {exc})") from None
    except Exception as exc:  # wfdb and the header parser raise many types for damaged files
        raise ValueError(f"unreadable record ({type(exc).__name__}: {exc})") from None
    signal, fs = fast
    expected = (10 * rate, 12)
    if signal.shape != expected or fs != rate:
        raise ValueError(f"wrong shape {signal.shape} at {fs} Hz, expected {expected} at {rate} Hz")
    if not np.isfinite(signal).all():
        raise ValueError("signal holds NaN or infinite values")
    if not np.any(signal):
        raise ValueError("signal is all zeros")
    return np.ascontiguousarray(signal.T, dtype=np.float32)


def source_files(config: PTBXLConfig, root: Path) -> list[Path]:
    folder = root / SUBDIR
    files = [folder / "ptbxl_database.csv", folder / "scp_statements.csv"]
    records = folder / f"records{config.sampling_rate}"
    if records.is_dir():
        files += sorted(records.rglob("*.hea"))
    return files


def prepare(config: PTBXLConfig, root: Path) -> Prepared:
    database, statements = _tables(root)
    mapping = label_map(statements, config.task)
    classes = class_names(config, root)
    quarantined: list[tuple[str, str]] = []
    unlabelled = 0
    rows = []
    for ecg_id, row in database.iterrows():
        try:
            codes = ast.literal_eval(row["scp_codes"])
            if not isinstance(codes, dict):
                raise ValueError
        except (ValueError, SyntaxError):
            quarantined.append((f"ptbxl_database.csv ecg_id {ecg_id}", f"unreadable scp_codes {row['scp_codes']!r}"))
            continue
        unknown = [c for c in codes if c not in statements.index]
        if unknown:
            quarantined.append((f"ptbxl_database.csv ecg_id {ecg_id}", f"unknown SCP code(s) {unknown}"))
            continue
        fold = row["strat_fold"]
        if fold not in range(1, 11):
            quarantined.append((f"ptbxl_database.csv ecg_id {ecg_id}", f"strat_fold {fold!r} is not 1-10"))
            continue
        labels = {mapping[c] for c, lik in codes.items() if c in mapping and lik >= config.min_likelihood}
        if not labels:
            unlabelled += 1
            continue
        path = _record_path(root, row, config.sampling_rate)
        if not path.with_suffix(".hea").exists():
            quarantined.append((str(path), "record file missing (row of ptbxl_database.csv)"))
            continue
        target = np.array([c in labels for c in classes], dtype=np.float32)
        rows.append((ecg_id, int(fold), path, target))

    def read(item):
        try:
            return read_record(item[2], config.sampling_rate)
        except ValueError as exc:
            return exc

    with ThreadPoolExecutor(max(1, config.workers)) as pool:
        signals = list(pool.map(read, rows))
    kept = []
    for item, sig in zip(rows, signals):
        if isinstance(sig, Exception):
            quarantined.append((str(item[2]), str(sig)))
        else:
            kept.append((item, sig))
    splits = {}
    for split, folds in FOLDS.items():
        part = [(item, sig) for item, sig in kept if item[1] in folds]
        x = np.stack([sig for _, sig in part]) if part else np.zeros((0, 12, 10 * config.sampling_rate), np.float32)
        y = np.stack([item[3] for item, _ in part]) if part else np.zeros((0, len(classes)), np.float32)
        splits[split] = Split(x, y)
    fitted = {}
    if config.standardise and len(splits["train"]):
        fitted = fit_lead_stats(splits["train"].x)
        for split in splits.values():
            split.x[:] = apply_lead_stats(split.x, fitted)
    protocol = "strat_fold 1-8 train, 9 validation, 10 test"
    if len(database) < FULL_RECORDS:
        protocol += (f"; a subset of {len(database):,} of the {FULL_RECORDS:,} records: numbers are not "
                     "comparable with the published ones")
    notes = {
        "protocol": protocol,
        "task": config.task,
        "unlabelled": unlabelled,
        "records": {s: len(v) for s, v in splits.items()},
        "sampling_rate": config.sampling_rate,
        "leads": list(LEADS),
        "fitted": fitted,
    }
    return Prepared(splits=splits, quarantined=quarantined, notes=notes, candidates=len(database) - unlabelled,
                    class_names=classes)


def source_status(root: Path) -> str:
    """``bench data info``: the two tables and the records of each sampling rate in the data root."""
    folder = root / SUBDIR
    tables = [t for t in ("ptbxl_database.csv", "scp_statements.csv") if (folder / t).exists()]
    counts = {rate: count_files(folder / f"records{rate}", "*/*.hea") for rate in (100, 500)}
    records = ", ".join(f"records{rate}/ {n:,} records" for rate, n in counts.items())
    hint = "" if len(tables) == 2 and any(counts.values()) else " (missing: bench data download ptbxl)"
    return f"{len(tables)} of 2 tables, {records} in {folder}{hint}"


def _select_ptbxl(sums: Mapping[str, str] | None, options: DownloadOptions) -> list[RemoteFile]:
    rate = options.sampling_rate or 100
    if rate not in (100, 500):
        raise ConfigError(f"ptbxl: sampling_rate must be 100 (records100/) or 500 (records500/), got {rate}")
    pattern = re.compile(rf"^records{rate}/\d{{5}}/(\d{{5}})_{'lr' if rate == 100 else 'hr'}\.(hea|dat)$")
    bad = [r for r in options.records or () if not r.isdigit()]
    if bad:
        raise ConfigError(f"ptbxl: records are ecg_id numbers, got {bad}")
    wanted = None if options.records is None else {int(r) for r in options.records}
    if sums is None:
        return []
    names = ["ptbxl_database.csv", "scp_statements.csv"]
    for path in sums:
        match = pattern.match(path)
        if match and (wanted is None or int(match.group(1)) in wanted):
            names.append(path)
    if wanted is not None:
        found = {int(pattern.match(n).group(1)) for n in names[2:]}
        missing = sorted(wanted - found)
        if missing:
            raise ConfigError(f"ptbxl: ecg_id(s) {missing[:10]} are not in the publisher's checksum list")
    return listed(sums, names, "ptbxl")


register_source(Source(
    name="ptbxl", folder="ptbxl", base_url="https://physionet.org/files/ptb-xl/1.0.1/",
    landing="https://physionet.org/content/ptb-xl/1.0.1/", licence="CC BY 4.0",
    checksum_list="SHA256SUMS.txt", select=_select_ptbxl, options=("records", "sampling_rate"),
    note="21,837 records: about 0.7 GB at 100 Hz, 2.5 GB at 500 Hz; every file checked against "
         "PhysioNet's SHA256SUMS.txt",
))

register_dataset(DatasetSpec(
    name="ptbxl",
    config_cls=PTBXLConfig,
    prepare=prepare,
    source_files=source_files,
    class_names=SUPERCLASSES,
    headline="macro_auroc",
    description="PTB-XL 12-lead, multi-label (superdiagnostic by default), strat_fold 1-8/9/10",
    task="multilabel",
    version=2,  # 2: notes record the leads, the sampling rate and the fitted statistics
    status=source_status,
))
