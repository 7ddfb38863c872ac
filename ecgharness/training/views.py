"""What one trial sees of a prepared dataset: a narrower beat window, with or without metadata.

A dataset is prepared once per run, so choices that would change its preparation cannot
be sampled per trial. Two of them can be taken from a wider preparation instead, and are
therefore search dimensions like any technique:

- ``beat_context_s``: the seconds of neighbouring signal on each side of a beat window.
  The dataset is prepared with the widest context the search may ask for (its
  ``context_s``); a trial cuts its window out of that one around the beat and, when the
  dataset z-scores each window, z-scores the cut window again, so a trial with context
  ``c`` sees exactly what a dataset prepared with ``context_s: c`` would hold.
- ``use_metadata``: false replaces every metadata feature (the RR intervals of MIT-BIH
  beats, Chapman's patient data) by zero, its training mean after standardisation, so a
  signal + metadata model learns from the signal alone.

Beat datasets record their window in ``notes["beat_window"]``
(``{"pre_s", "post_s", "context_s", "zscore"}``).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Mapping

import numpy as np

from ecgharness.datasets.base import PreparedDataset, Split
from ecgharness.datasets.mitbih import zscore_windows


def window_bounds(window: Mapping[str, Any], sampling_rate: float, context_s: float) -> tuple[int, int]:
    """(start, stop) sample of the window with ``context_s`` inside a prepared ``window``.

    Raises:
        ValueError: ``context_s`` is wider than the prepared context, or negative.
    """
    prepared = float(window["context_s"])
    if context_s < 0 or context_s > prepared + 1e-9:
        raise ValueError(f"beat_context_s {context_s} is outside the dataset's prepared context (0 to {prepared} s); "
                         f"prepare the dataset with context_s: {max(context_s, 0)} or more, or search a narrower range")

    def samples(seconds: float) -> int:
        return round(seconds * sampling_rate)

    pre, post = float(window["pre_s"]), float(window["post_s"])
    start = samples(pre + prepared) - samples(pre + context_s)
    return start, start + samples(pre + context_s) + samples(post + context_s)


def cut_window(x: np.ndarray, window: Mapping[str, Any], sampling_rate: float, context_s: float) -> np.ndarray:
    """Beat windows ``x`` (n, leads, samples) narrowed to ``context_s`` of context, z-scored
    again per window and lead when the dataset z-scores its windows."""
    start, stop = window_bounds(window, sampling_rate, context_s)
    out = np.asarray(x[..., start:stop], dtype=np.float32)
    if window.get("zscore"):
        out = zscore_windows(out)  # as the dataset z-scores its windows
    return np.ascontiguousarray(out, dtype=np.float32)


def trial_inputs(x: np.ndarray, meta: np.ndarray | None, notes: Mapping[str, Any], sampling_rate: float | None,
                 beat_context_s: float | None, use_metadata: bool) -> tuple[np.ndarray, np.ndarray | None]:
    """The inputs one trial's model receives for examples ``x`` and ``meta`` of a dataset
    with ``notes``: the same arrays when neither option applies."""
    if beat_context_s is not None:
        window = notes.get("beat_window")
        if not window or not sampling_rate:
            raise ValueError("beat_context_s applies to beat datasets that record their window (MIT-BIH); "
                             "remove it from this suite's training or search space")
        x = cut_window(x, window, sampling_rate, beat_context_s)
    if meta is not None and not use_metadata:
        meta = np.zeros_like(meta)
    return x, meta


def trial_view(dataset: PreparedDataset, beat_context_s: float | None, use_metadata: bool) -> PreparedDataset:
    """``dataset`` as one trial sees it (every split it holds); ``dataset`` itself when the
    trial uses the preparation as it is."""
    if beat_context_s is None and (use_metadata or not dataset.meta_names):
        return dataset
    splits = {}
    for name, split in dataset.splits.items():
        x, meta = trial_inputs(split.x, split.meta, dataset.notes, dataset.sampling_rate, beat_context_s, use_metadata)
        splits[name] = Split(x, split.y, meta)
    return dataclasses.replace(dataset, splits=splits)
