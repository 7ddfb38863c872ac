"""MIT-BIH Arrhythmia Database beats, mapped to the AAMI EC57 classes.

Source: Moody GB, Mark RG. The impact of the MIT-BIH Arrhythmia Database. IEEE Eng
Med Biol 20(3):45-50 (2001); PhysioNet https://physionet.org/content/mitdb/1.0.0/.
The inter-patient split is de Chazal P, O'Dwyer M, Reilly RB. Automatic
classification of heartbeats using ECG morphology and heartbeat interval features.
IEEE Trans Biomed Eng 51(7):1196-1206 (2004): DS1 trains, DS2 tests, the four paced
records are left out.

Every beat annotation of an AAMI class yields one window of ``pre_s + post_s``
seconds around its sample; the signal is edge-padded so beats near the ends of a
record are kept, which makes per-class beat totals equal the annotation counts.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Literal, Mapping

import numpy as np

from ecgharness.datasets.base import DatasetSpec, Prepared, Split, register_dataset
from ecgharness.datasets.fitted import apply_meta_stats, fit_meta_stats
from ecgharness.datasets.download import DownloadOptions, RemoteFile, Source, listed, register_source
from ecgharness.errors import ConfigError, DataNotFoundError

log = logging.getLogger(__name__)

AAMI_CLASSES = ("N", "S", "V", "F", "Q")
AAMI_MAP = {
    **dict.fromkeys("NLRej", "N"),
    **dict.fromkeys("AaJS", "S"),
    **dict.fromkeys("VE", "V"),
    "F": "F",
    **dict.fromkeys("/fQ", "Q"),
}
DS1 = (101, 106, 108, 109, 112, 114, 115, 116, 118, 119, 122, 124, 201, 203, 205, 207, 208, 209,
       215, 220, 223, 230)
DS2 = (100, 103, 105, 111, 113, 117, 121, 123, 200, 202, 210, 212, 213, 214, 219, 221, 222, 228,
       231, 232, 233, 234)
PACED = (102, 104, 107, 217)
ALL_RECORDS = tuple(sorted(DS1 + DS2 + PACED))
SUBDIR = "mitdb"
# RR-interval features of a beat (seconds, then ratios), after de Chazal et al. (IEEE TBME
# 2004): the intervals to the previous and the next beat, the mean interval over the
# surrounding beats and over the record, and their ratios.
RR_FEATURES = ("rr_pre", "rr_post", "rr_local", "rr_record", "rr_pre_to_record", "rr_post_to_record",
               "rr_local_to_record", "rr_pre_to_post", "rr_pre_to_local")
PHYSIONET_URL = "https://physionet.org/content/mitdb/1.0.0/"


@dataclass(frozen=True)
class MITBIHConfig:
    """Options of the ``mitbih`` dataset.

    Attributes:
        split: ``interpatient`` (de Chazal DS1/DS2) or ``intrapatient`` (stratified random beats).
        leads: Lead names to keep, as channels (a record lacking one is quarantined).
        pre_s: Seconds of signal before each beat annotation.
        post_s: Seconds after it.
        normalise: ``zscore`` per beat and lead, or ``none``.
        bandpass: Zero-phase 0.5-40 Hz Butterworth filter on the whole record first.
        val_records: Inter-patient: DS1 records held out whole for validation.
        val_fraction: Intra-patient: share of beats for validation.
        test_fraction: Intra-patient: share of beats for test.
        seed: Seed of the intra-patient split.
        records: Use only these records (default: all present).
        minutes: Use only the first minutes of each record (default: all 30).
        rr_features: Carry the beat's RR-interval features (:data:`RR_FEATURES`, from the
            annotated beat positions of its own record) as per-beat metadata, standardised
            with statistics of the training split; models that take signal + metadata use them.
        context_s: Seconds of extra signal on each side of the beat window, so the window
            holds the neighbouring beats (0: one beat).
        rr_local_beats: RR intervals averaged for ``rr_local`` (centred on the beat).
        record_template: Add one channel per lead after the leads: the median beat window
            of the beat's own record (the sample-wise median over all its annotated beats,
            labels unused), normalised like the beat, so a model compares each beat with
            its patient's typical beat. Morphology differs more between patients than
            between N and S beats of one patient; the record-wide median plays the part
            for morphology that ``rr_record`` plays for timing.
        ec57_f_as_v: AAMI EC57's rule: an F beat classified as V is not an error (it counts
            neither for F nor for V).
        scored_classes: Classes the macro averages and the loss weights cover (de Chazal et al.
            2004 score N, S, V and F; Q, 15 beats in all of DS1 and DS2, is reported only).
    """

    split: Literal["interpatient", "intrapatient"] = "interpatient"
    leads: tuple[str, ...] = ("MLII",)
    pre_s: float = 0.25
    post_s: float = 0.45
    normalise: Literal["zscore", "none"] = "zscore"
    bandpass: bool = False
    val_records: tuple[int, ...] = (116, 201, 223)
    val_fraction: float = 0.15
    test_fraction: float = 0.2
    seed: int = 0
    records: tuple[int, ...] | None = None
    minutes: float | None = None
    rr_features: bool = True
    context_s: float = 0.0
    rr_local_beats: int = 10
    record_template: bool = False
    scored_classes: tuple[str, ...] = ("N", "S", "V", "F")
    ec57_f_as_v: bool = False

    def __post_init__(self) -> None:
        unknown = [c for c in self.scored_classes if c not in AAMI_CLASSES]
        if unknown or not self.scored_classes:
            raise ValueError(f"scored_classes must be AAMI classes {AAMI_CLASSES}, got {self.scored_classes}")
        if self.context_s < 0 or self.rr_local_beats < 1:
            raise ValueError(f"context_s must be >= 0 and rr_local_beats >= 1, got {self.context_s}, "
                             f"{self.rr_local_beats}")
        if self.pre_s <= 0 or self.post_s <= 0:
            raise ValueError(f"pre_s and post_s must be positive, got {self.pre_s}, {self.post_s}")
        bad = [r for r in self.val_records if r not in DS1]
        if bad:
            raise ValueError(f"val_records {bad} are not DS1 records; choose from {list(DS1)}")
        if self.records is not None:
            unknown = [r for r in self.records if r not in ALL_RECORDS]
            if unknown:
                raise ValueError(f"records {unknown} are not MIT-BIH records; valid: {list(ALL_RECORDS)}")


@dataclass(frozen=True)
class MITBIHSampleConfig(MITBIHConfig):
    """The embedded sample: nine records, first five minutes each, record 223 for validation."""

    val_records: tuple[int, ...] = (223,)


def record_dir(root: Path) -> Path:
    """``root/mitdb`` when present, else ``root`` itself if it holds records."""
    sub = root / SUBDIR
    if sub.is_dir():
        return sub
    if root.is_dir() and any(root.glob("*.hea")):
        return root
    return sub


def available_records(folder: Path, config: MITBIHConfig) -> list[int]:
    wanted = config.records or ALL_RECORDS
    if config.split == "interpatient" or config.records is None:
        wanted = [r for r in wanted if r not in PACED]
    return [r for r in wanted if (folder / f"{r}.hea").exists() or (folder / f"{r}.dat").exists()]


def source_files(config: MITBIHConfig, root: Path) -> list[Path]:
    folder = record_dir(root)
    return [folder / f"{r}.{ext}" for r in available_records(folder, config) for ext in ("hea", "dat", "atr")]


def rr_features(samples: np.ndarray, fs: float, local_beats: int = 10) -> np.ndarray:
    """(n, 9) float32 RR features (:data:`RR_FEATURES`) of the beats at ``samples`` of one record.

    The first beat's previous interval is its next one and the last beat's next interval its
    previous one; ``rr_local`` averages the previous intervals of the ``local_beats`` beats
    centred on the beat (fewer at the record's ends).
    """
    t = np.asarray(samples, dtype=np.float64) / fs
    if len(t) < 2:
        return np.ones((len(t), len(RR_FEATURES)), dtype=np.float32)
    rr = np.diff(t)
    pre, post = np.r_[rr[0], rr], np.r_[rr, rr[-1]]
    n, half = len(t), local_beats // 2
    lo, hi = np.clip(np.arange(n) - half, 0, n), np.clip(np.arange(n) - half + local_beats, 0, n)
    csum = np.r_[0.0, np.cumsum(pre)]
    local = (csum[hi] - csum[lo]) / (hi - lo)
    record = np.full(n, rr.mean())
    return np.stack([pre, post, local, record, pre / record, post / record, local / record, pre / post,
                     pre / local], axis=1).astype(np.float32)


def aami_beats(samples: np.ndarray, symbols: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sample positions and AAMI class ids of an annotation's beats (other annotations dropped)."""
    symbols = np.asarray(symbols)
    keep = np.isin(symbols, list(AAMI_MAP))
    labels = np.array([AAMI_CLASSES.index(AAMI_MAP[s]) for s in symbols[keep]], dtype=np.int64)
    return np.asarray(samples)[keep], labels


def beat_annotations(path: Path, config: MITBIHConfig) -> tuple[np.ndarray, np.ndarray, float]:
    """Sample positions and AAMI class ids of a record's beats (its first ``config.minutes``), and fs."""
    import wfdb

    header = wfdb.rdheader(str(path))
    sampto = None if config.minutes is None else min(int(config.minutes * 60 * header.fs), header.sig_len)
    ann = wfdb.rdann(str(path), "atr", sampto=sampto)
    samples, labels = aami_beats(ann.sample, ann.symbol)
    return samples, labels, float(header.fs)


BANDPASS_HZ = (0.5, 40.0)


def bandpass(signal: np.ndarray, fs: float, axis: int = 0) -> np.ndarray:
    """The ``bandpass`` option's filter: zero-phase 2nd-order Butterworth, 0.5-40 Hz."""
    from scipy.signal import butter, sosfiltfilt

    sos = butter(2, list(BANDPASS_HZ), btype="band", fs=fs, output="sos")
    return sosfiltfilt(sos, signal, axis=axis)


def read_beats(path: Path, config: MITBIHConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Beat windows (n, leads, samples) float32, AAMI labels (n,) and, with
    ``config.rr_features``, the beats' RR features (n, 9) of one record.

    Raises:
        ValueError: the record is unreadable, truncated, lacks a lead or holds non-finite values.
    """
    import wfdb

    try:
        header = wfdb.rdheader(str(path))
        sampto = None
        if config.minutes is not None:
            sampto = min(int(config.minutes * 60 * header.fs), header.sig_len)
        record = wfdb.rdrecord(str(path), sampto=sampto)
        ann = wfdb.rdann(str(path), "atr", sampto=sampto)
    except Exception as exc:  # wfdb raises many types for damaged files
        raise ValueError(f"unreadable record ({type(exc).__name__}: {exc})") from None
    expected = sampto or header.sig_len
    signal = record.p_signal
    if signal is None or signal.shape[0] != expected:
        got = 0 if signal is None else signal.shape[0]
        raise ValueError(f"truncated signal: {got} of {expected} samples")
    missing = [lead for lead in config.leads if lead not in record.sig_name]
    if missing:
        raise ValueError(f"lead(s) {missing} not in record (has {record.sig_name})")
    signal = signal[:, [record.sig_name.index(lead) for lead in config.leads]]
    if not np.isfinite(signal).all():
        raise ValueError("signal holds NaN or infinite values")
    samples, labels = aami_beats(ann.sample, ann.symbol)
    beats, meta = segment_beats(signal, header.fs, samples, config)
    return beats, labels, meta


def zscore_windows(beats: np.ndarray) -> np.ndarray:
    """``beats`` (n, leads, samples) standardised per window and lead (``normalise: zscore``)."""
    mean = beats.mean(axis=-1, keepdims=True)
    return (beats - mean) / np.maximum(beats.std(axis=-1, keepdims=True), 1e-6)


def segment_beats(signal: np.ndarray, fs: float, samples: np.ndarray,
                  config: MITBIHConfig) -> tuple[np.ndarray, np.ndarray | None]:
    """Beat windows (n, leads, samples) float32 around the beats at ``samples`` of one record
    ``signal`` (samples, leads), filtered and normalised as ``config`` says (with
    ``config.record_template``, (n, 2 * leads, samples): the record's median window
    follows the leads), and, with
    ``config.rr_features``, their raw RR features (n, 9)."""
    if config.bandpass:
        signal = bandpass(signal, fs)
    samples = np.asarray(samples, dtype=np.int64)
    pre, post = (round((s + config.context_s) * fs) for s in (config.pre_s, config.post_s))
    padded = np.pad(signal, ((pre, post), (0, 0)), mode="edge").astype(np.float32)
    idx = samples[:, None] + np.arange(pre + post)[None, :]  # sample s sits at s + pre in padded
    beats = padded[idx].transpose(0, 2, 1)  # (n, leads, samples)
    normalise = zscore_windows if config.normalise == "zscore" else (lambda windows: windows)
    if config.record_template and len(beats):
        template = normalise(np.median(beats, axis=0, keepdims=True))  # sample-wise: a narrower cut commutes
        beats = np.concatenate([normalise(beats), np.broadcast_to(template, beats.shape)], axis=1)
    else:
        beats = normalise(beats)
    meta = rr_features(samples, fs, config.rr_local_beats) if config.rr_features else None
    return np.ascontiguousarray(beats, dtype=np.float32), meta


def prepare(config: MITBIHConfig, root: Path) -> Prepared:
    folder = record_dir(root)
    records = available_records(folder, config)
    if not records:
        raise DataNotFoundError(
            f"no MIT-BIH records found in {folder}. Run `bench data download mitbih` (from {PHYSIONET_URL}) "
            f"so that {folder}/100.hea, 100.dat, 100.atr ... exist, or point --data-root / "
            "ECGHARNESS_DATA at the folder that holds mitdb/."
        )
    beats: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray | None]] = {}
    quarantined: list[tuple[str, str]] = []
    for rec in records:
        try:
            beats[rec] = read_beats(folder / str(rec), config)
        except ValueError as exc:
            log.warning("record %s quarantined: %s", rec, exc)
            quarantined.append((f"{folder / str(rec)}", str(exc)))
    if config.split == "interpatient":
        groups = {
            "train": [r for r in DS1 if r not in config.val_records],
            "val": list(config.val_records),
            "test": list(DS2),
        }
        splits = {name: _stack([beats[r] for r in recs if r in beats]) for name, recs in groups.items()}
        notes = {"records": {name: [r for r in recs if r in beats] for name, recs in groups.items()},
                 "protocol": "inter-patient (de Chazal DS1/DS2)"}
    else:
        from sklearn.model_selection import train_test_split

        whole = _stack(list(beats.values()))
        y = whole.y
        idx = np.arange(len(y))
        rest, test = train_test_split(idx, test_size=config.test_fraction, stratify=y, random_state=config.seed)
        val_share = config.val_fraction / (1 - config.test_fraction)
        train, val = train_test_split(rest, test_size=val_share, stratify=y[rest], random_state=config.seed)
        splits = {n: Split(whole.x[np.sort(i)], y[np.sort(i)], None if whole.meta is None else whole.meta[np.sort(i)])
                  for n, i in (("train", train), ("val", val), ("test", test))}
        notes = {"records": sorted(beats), "protocol": "intra-patient (beats of one patient in every split)"}
    notes["scored_classes"] = list(config.scored_classes)
    notes["sampling_rate"] = 360  # every MIT-BIH record
    notes["beat_window"] = {"pre_s": config.pre_s, "post_s": config.post_s, "context_s": config.context_s,
                            "zscore": config.normalise == "zscore"}
    if config.ec57_f_as_v:
        notes["forgive"] = [["F", "V"]]
        notes["protocol"] += "; F beats classified as V are not errors (EC57)"
    if set(config.scored_classes) != set(AAMI_CLASSES):
        notes["protocol"] += f"; macro averages over {', '.join(config.scored_classes)}"
    notes["leads"] = list(config.leads)
    if config.record_template:
        notes["channels"] = list(config.leads) + [f"{lead} record median" for lead in config.leads]
    if config.rr_features:
        notes["fitted"] = fit_meta_stats(splits["train"].meta)
        splits = {name: Split(sp.x, sp.y, apply_meta_stats(sp.meta, notes["fitted"])) for name, sp in splits.items()}
    return Prepared(splits=splits, quarantined=quarantined, notes=notes, candidates=len(records),
                    meta_names=RR_FEATURES if config.rr_features else ())


def _stack(parts: list[tuple[np.ndarray, np.ndarray, np.ndarray | None]]) -> Split:
    if not parts:
        return Split(np.zeros((0, 1, 1), np.float32), np.zeros(0, np.int64))
    meta = None if parts[0][2] is None else np.concatenate([p[2] for p in parts])
    return Split(np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]), meta)


def sample_root(config: MITBIHConfig | None = None) -> Path:
    """Folder of the embedded sample records shipped with the package."""
    return Path(str(resources.files("ecgharness.datasets") / "sample" / "mitdb"))


def source_status(root: Path) -> str:
    """``bench data info``: complete records (.hea, .dat and .atr) in the data root."""
    folder = record_dir(root)
    complete = [r for r in ALL_RECORDS if all((folder / f"{r}.{e}").exists() for e in ("hea", "dat", "atr"))]
    state = "complete" if len(complete) == len(ALL_RECORDS) else "missing: bench data download mitbih"
    return f"{len(complete)} of {len(ALL_RECORDS)} records (.hea/.dat/.atr) in {folder} ({state})"


def _select_mitbih(sums: Mapping[str, str] | None, options: DownloadOptions) -> list[RemoteFile]:
    records = [str(r) for r in ALL_RECORDS] if options.records is None else list(options.records)
    unknown = [r for r in records if not r.isdigit() or int(r) not in ALL_RECORDS]
    if unknown:
        raise ConfigError(f"mitbih: unknown record(s) {unknown}; valid: {', '.join(map(str, ALL_RECORDS))}")
    if sums is None:
        return []  # options checked; the files come from the checksum list
    names = ["RECORDS", "ANNOTATORS"] + [f"{r}.{ext}" for r in records for ext in ("hea", "dat", "atr")]
    return listed(sums, names, "mitbih")


register_source(Source(
    name="mitbih", folder="mitdb", base_url="https://physionet.org/files/mitdb/1.0.0/",
    landing="https://physionet.org/content/mitdb/1.0.0/", licence="ODC-By 1.0",
    checksum_list="SHA256SUMS.txt", select=_select_mitbih, options=("records",),
    note="48 records, about 94 MB; every file checked against PhysioNet's SHA256SUMS.txt",
))

register_dataset(DatasetSpec(
    name="mitbih",
    config_cls=MITBIHConfig,
    prepare=prepare,
    source_files=source_files,
    class_names=AAMI_CLASSES,
    headline="macro_f1",
    version=2,  # 2: notes record the leads, the beat window and the fitted RR-feature statistics
    description="MIT-BIH Arrhythmia beats, AAMI N/S/V/F/Q; inter-patient DS1/DS2 (default) or intra-patient",
    status=source_status,
))

register_source(Source(name="mitbih_sample", embedded=True,
                       note="embedded in the package (ecgharness/datasets/sample/); nothing to download"))

register_dataset(DatasetSpec(
    name="mitbih_sample",
    config_cls=MITBIHSampleConfig,
    prepare=prepare,
    source_files=source_files,
    class_names=AAMI_CLASSES,
    headline="macro_f1",
    version=2,
    description="embedded MIT-BIH sample (9 records x 5 min, inter-patient); works offline",
    default_root=sample_root,
))
