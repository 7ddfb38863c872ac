"""Score new records with a kept model: the dataset's own preprocessing, then per-beat (beat
models) or per-record (record models) probabilities.

Beat models (MIT-BIH) take a continuous record: its beats come from the record's annotation
file when there is one, else from wfdb's XQRS detector (peaks moved to the nearest R peak);
each beat is windowed, normalised and given its RR features exactly as in training
(:func:`ecgharness.datasets.mitbih.segment_beats`, the statistics fitted on the training
split). Kaggle-beat models take beats of 187 samples at 125 Hz. Record models (PTB-XL,
Chapman) take a multi-lead record of at least the training length; a longer one is scored in
consecutive windows of that length whose probabilities are averaged.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, Protocol

import numpy as np
import pandas as pd

from ecgharness.datasets.base import parse_config
from ecgharness.datasets.fitted import apply_lead_stats, apply_meta_stats
from ecgharness.inference.records import PredictError, RecordInput

BEAT_DATASETS = ("mitbih", "mitbih_sample")
KAGGLE = "mitbih_kaggle"
LOW_CONFIDENCE = 0.6


class Predictor(Protocol):
    """What scoring needs of a model: a :class:`~ecgharness.inference.bundle.ModelBundle` or an ONNX file."""

    model_name: str
    dataset: str
    task: str
    class_names: tuple[str, ...]
    thresholds: list[float] | None
    preprocessing: dict
    takes_meta: bool

    def predict_proba(self, x: np.ndarray, meta: np.ndarray | None = None,
                      batch_size: int = 256) -> np.ndarray: ...


@dataclass
class Prediction:
    """A model's output on one input: one row per beat (beat models) or one per record."""

    record: str
    model: str
    level: str  # "beat" or "record"
    source: str  # where the beats came from, or how the record was scored
    probabilities: np.ndarray
    class_names: tuple[str, ...]
    task: str
    thresholds: list[float] | None = None
    positions: np.ndarray | None = None  # beat positions (samples of ``signal``)
    fs: float | None = None
    signal: np.ndarray | None = None  # (samples, leads) as scored, for plots
    leads: list[str] | None = None
    reference: list[str] | None = None  # the annotation's (or the file's) class of each beat
    notes: list[str] = field(default_factory=list)

    def table(self, low: float = LOW_CONFIDENCE) -> pd.DataFrame:
        """Beat rows (class, confidence, top-2, position) or record rows (probabilities, labels)."""
        p, names = self.probabilities, np.asarray(self.class_names)
        if self.level == "record":
            frame = pd.DataFrame(p, columns=[f"p_{c}" for c in names])
            if self.task == "multilabel":
                cut = np.asarray(self.thresholds if self.thresholds is not None else [0.5] * len(names))
                frame.insert(0, "labels", [";".join(names[row >= cut]) for row in p])
            else:
                frame.insert(0, "labels", names[p.argmax(axis=1)])
            frame.insert(0, "record", self.record)
            return frame
        order = np.argsort(-p, axis=1)
        rows = np.arange(len(p))
        frame = pd.DataFrame({"record": self.record, "beat": rows + 1})
        if self.positions is not None:
            frame["sample"] = self.positions
            frame["time_s"] = np.round(self.positions / self.fs, 3)
        frame["class"] = names[order[:, 0]] if len(p) else []
        frame["confidence"] = np.round(p[rows, order[:, 0]], 4) if len(p) else []
        frame["second_class"] = names[order[:, 1]] if len(p) and p.shape[1] > 1 else ""
        frame["second_confidence"] = np.round(p[rows, order[:, 1]], 4) if len(p) and p.shape[1] > 1 else 0.0
        frame["low_confidence"] = frame["confidence"] < low
        if self.reference is not None:
            frame["reference"] = self.reference
        return frame

    def summary(self, low: float = LOW_CONFIDENCE) -> pd.DataFrame:
        """Per predicted class: beats, share, mean confidence, low-confidence beats (beat models)."""
        table = self.table(low)
        counts = table.groupby("class").agg(beats=("beat", "size"), mean_confidence=("confidence", "mean"),
                                             low_confidence=("low_confidence", "sum"))
        counts = counts.reindex(self.class_names, fill_value=0)
        counts.insert(1, "share", np.round(counts["beats"] / max(len(table), 1), 4))
        counts["mean_confidence"] = counts["mean_confidence"].round(3)
        return counts.reset_index().rename(columns={"index": "class"})


def predict_input(predictor: Predictor, inp: RecordInput, *, resample: bool = False,
                  leads: list[str] | None = None, detect: bool = False) -> Prediction:
    """Score ``inp`` with ``predictor``.

    Args:
        resample: Resample a record whose sampling rate differs from the model's (where safe).
        leads: The record's lead names to use in place of the model's leads, in their order.
        detect: Find beats with the QRS detector even when the record has an annotation file.

    Raises:
        PredictError: wrong sampling rate, missing leads, a record too short, an input this
            model cannot take; the message names the file and the fix.
    """
    dataset = predictor.dataset
    if dataset == KAGGLE:
        return _kaggle_beats(predictor, inp)
    if dataset in BEAT_DATASETS:
        return _beats_of_record(predictor, inp, resample, leads, detect)
    return _records(predictor, inp, resample, leads)


def _kaggle_beats(predictor: Predictor, inp: RecordInput) -> Prediction:
    length = predictor.preprocessing["signal_length"]
    if inp.kind != "examples" or inp.examples.shape[-1] != length:
        raise PredictError(f"{inp.name} ({inp.layout}): {predictor.model_name} was trained on Kaggle heartbeat rows "
                           f"({length} samples at 125 Hz, scaled to [0, 1]); give a CSV with one such beat per row "
                           "(as mitbih_test.csv), or use a model trained on mitbih for whole WFDB records")
    names = predictor.class_names
    reference = None if inp.labels is None else [names[i] if 0 <= i < len(names) else "?" for i in inp.labels]
    return Prediction(inp.name, predictor.model_name, "beat", "rows of the file (one beat each)",
                      predictor.predict_proba(inp.examples), names, predictor.task, reference=reference)


def _lead_indices(inp: RecordInput, wanted: list[str], given: list[str] | None) -> list[int]:
    names = given or wanted
    if given and len(given) != len(wanted):
        raise PredictError(f"--leads names {len(given)} lead(s); the model takes {len(wanted)} ({', '.join(wanted)})")
    have = [n.upper() for n in inp.leads]
    missing = [n for n in names if n.upper() not in have]
    if missing:
        fix = (f"If other leads stand in for them, name the record's leads in the model's order: --leads "
               f"{','.join(inp.leads[:len(wanted)])}" if len(inp.leads) >= len(wanted) else
               f"Use a record with {len(wanted)} leads")
        raise PredictError(f"{inp.name}: lead(s) {', '.join(missing)} missing (the record has {', '.join(inp.leads)}); "
                           f"the model was trained on {', '.join(wanted)}. {fix}")
    return [have.index(n.upper()) for n in names]


def _at_rate(inp: RecordInput, signal: np.ndarray, target: float, resample: bool,
             automatic: bool = False) -> tuple[np.ndarray, float]:
    """``signal`` at the model's rate; resampled (polyphase, anti-aliased) only when asked and safe."""
    fs = inp.fs
    if fs == target:
        return signal, fs
    if fs < target / 2:
        raise PredictError(f"{inp.name}: sampled at {fs:g} Hz, the model at {target:g} Hz. Resampling is not safe: "
                           f"the record holds nothing above {fs / 2:g} Hz, which the model learned from; use a "
                           f"record sampled at {target / 2:g} Hz or more")
    if not (resample or automatic):
        raise PredictError(f"{inp.name}: sampled at {fs:g} Hz, but the model was trained at {target:g} Hz; pass "
                           "--resample to resample the record (polyphase, anti-aliased)")
    from scipy.signal import resample_poly

    ratio = Fraction(target / fs).limit_denominator(1000)
    return resample_poly(signal, ratio.numerator, ratio.denominator, axis=0), target


def _beats_of_record(predictor: Predictor, inp: RecordInput, resample: bool, leads: list[str] | None,
                     detect: bool) -> Prediction:
    from ecgharness.datasets.mitbih import AAMI_CLASSES, aami_beats, segment_beats

    prep = predictor.preprocessing
    if inp.kind != "record":
        raise PredictError(f"{inp.name} ({inp.layout}): {predictor.model_name} classifies beats of a whole record "
                           f"(windows around each R peak at {prep['sampling_rate']:g} Hz, with RR intervals); give "
                           "the WFDB record (its .hea file), not pre-cut beats")
    config = parse_config(predictor.dataset, prep["config"])
    signal, fs = _at_rate(inp, inp.signal[:, _lead_indices(inp, prep["leads"], leads)], prep["sampling_rate"], resample)
    notes = [] if fs == inp.fs else [f"resampled from {inp.fs:g} Hz to {fs:g} Hz"]
    reference = None
    if inp.annotation is not None and not detect:
        samples, labels = aami_beats(*inp.annotation)
        positions = np.round(samples * fs / inp.fs).astype(np.int64)
        reference = [AAMI_CLASSES[i] for i in labels]
        source = "the record's annotation file"
    else:
        positions = detect_beats(signal[:, 0], fs)
        source = "wfdb's XQRS detector (no annotation file)" if inp.annotation is None else "wfdb's XQRS detector"
    window_s = config.pre_s + config.post_s + 2 * config.context_s
    if len(positions) < 2 or len(signal) < window_s * fs:
        raise PredictError(f"{inp.name}: too short ({len(signal) / fs:.1f} s, {len(positions)} beat(s)); the model "
                           f"needs at least two beats and {window_s:g} s of signal")
    beats, raw_meta = segment_beats(signal, fs, positions, config)
    meta = None
    if predictor.takes_meta:
        meta = apply_meta_stats(raw_meta, prep["fitted"])
    probs = predictor.predict_proba(beats, meta)
    return Prediction(inp.name, predictor.model_name, "beat", source, probs, predictor.class_names, predictor.task,
                      positions=positions, fs=fs, signal=signal, leads=list(leads or prep["leads"]),
                      reference=reference, notes=notes)


def detect_beats(signal: np.ndarray, fs: float) -> np.ndarray:
    """R-peak positions of a single-lead signal: wfdb's XQRS, each moved to the largest
    deflection within 50 ms (annotated MIT-BIH beats sit on the R peak)."""
    from wfdb import processing

    qrs = processing.xqrs_detect(sig=signal, fs=fs, verbose=False)
    if len(qrs) == 0:
        return np.zeros(0, dtype=np.int64)
    peaks = processing.correct_peaks(signal, qrs, search_radius=max(1, int(0.05 * fs)),
                                     smooth_window_size=max(1, int(0.15 * fs)), peak_dir="compare")
    return np.unique(np.asarray(peaks, dtype=np.int64))


def _records(predictor: Predictor, inp: RecordInput, resample: bool, leads: list[str] | None) -> Prediction:
    prep = predictor.preprocessing
    length, rate = int(prep["signal_length"]), prep.get("sampling_rate")
    if predictor.takes_meta:
        raise PredictError(f"{predictor.model_name} takes patient metadata ({', '.join(prep['meta_names'])}) beside "
                           "the signal, which a record file does not carry; use a signal-only model of the run")
    notes: list[str] = []
    if inp.kind == "record":
        if not rate:
            raise PredictError(f"the model's dataset {predictor.dataset!r} does not record its sampling rate; give "
                               "NumPy examples (n, leads, samples) instead of a record")
        wanted = prep["leads"] or (inp.leads[: prep["in_channels"]] if len(inp.leads) == prep["in_channels"] else [])
        if not wanted:
            raise PredictError(f"{inp.name}: the model takes {prep['in_channels']} lead(s), the record has "
                               f"{len(inp.leads)}")
        signal = inp.signal[:, _lead_indices(inp, wanted, leads)]
        # Chapman's own preparation resamples its 500 Hz CSVs, so that step is the model's preprocessing
        automatic = predictor.dataset == "chapman" and inp.fs == 500
        signal, fs = _at_rate(inp, signal, rate, resample, automatic)
        if fs != inp.fs:
            notes.append(f"resampled from {inp.fs:g} Hz to {fs:g} Hz")
        x = signal.T[None].astype(np.float32)
    else:
        x = inp.examples
        if x.shape[1] != prep["in_channels"]:
            raise PredictError(f"{inp.name}: examples have {x.shape[1]} lead(s); the model takes {prep['in_channels']}")
    if x.shape[-1] < length:
        need = f"{length / rate:g} s ({length} samples)" if rate else f"{length} samples"
        raise PredictError(f"{inp.name}: too short ({x.shape[-1]} samples); the model needs {need} per record")
    if prep.get("fitted", {}).get("signal_mean") is not None:
        x = apply_lead_stats(x, prep["fitted"])
    starts = list(range(0, x.shape[-1] - length + 1, length))
    if starts[-1] != x.shape[-1] - length:
        starts.append(x.shape[-1] - length)
    windows = np.stack([x[..., s:s + length] for s in starts], axis=1)  # (n, windows, leads, length)
    n, w = windows.shape[:2]
    probs = predictor.predict_proba(windows.reshape(n * w, *windows.shape[2:])).reshape(n, w, -1).mean(axis=1)
    source = "whole record" if w == 1 else f"{w} windows of {length} samples, probabilities averaged"
    return Prediction(inp.name, predictor.model_name, "record", source, probs, predictor.class_names, predictor.task,
                      thresholds=predictor.thresholds, notes=notes)


def beat_agreement(prediction: Prediction) -> dict[str, Any] | None:
    """Share of beats whose predicted class equals the annotation's (None without one)."""
    if prediction.reference is None:
        return None
    table = prediction.table()
    same = (table["class"] == table["reference"]).to_numpy()
    return {"beats": len(table), "agree": int(same.sum()), "share": float(same.mean()) if len(same) else float("nan")}
