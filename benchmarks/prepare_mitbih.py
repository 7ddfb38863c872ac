"""Time preparing the full MIT-BIH Arrhythmia Database: first time, from cache, and a naive loop.

The naive baseline is what a notebook typically does: read each record, then cut,
normalise and append one beat at a time in Python, with no cache.

Usage: python benchmarks/prepare_mitbih.py [--data-root DIR]   (default $ECGHARNESS_DATA)
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def naive_prepare(folder: Path, records: list[int], pre: int, post: int) -> tuple[np.ndarray, np.ndarray]:
    import wfdb

    from ecgharness.datasets.mitbih import AAMI_CLASSES, AAMI_MAP

    beats, labels = [], []
    for rec in records:
        record = wfdb.rdrecord(str(folder / str(rec)))
        ann = wfdb.rdann(str(folder / str(rec)), "atr")
        signal = record.p_signal[:, record.sig_name.index("MLII")]
        padded = np.pad(signal, (pre, post), mode="edge")
        for sample, symbol in zip(ann.sample, ann.symbol):
            if symbol not in AAMI_MAP:
                continue
            beat = padded[sample : sample + pre + post]
            beats.append((beat - beat.mean()) / max(beat.std(), 1e-6))
            labels.append(AAMI_CLASSES.index(AAMI_MAP[symbol]))
    return np.array(beats, dtype=np.float32), np.array(labels)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", default=os.environ.get("ECGHARNESS_DATA"))
    args = parser.parse_args()
    if not args.data_root:
        print("set --data-root or ECGHARNESS_DATA to the folder holding mitdb/", file=sys.stderr)
        return 2
    from ecgharness.datasets import load_dataset
    from ecgharness.datasets.mitbih import DS1, DS2

    root = Path(args.data_root)
    with tempfile.TemporaryDirectory() as cache:
        start = time.perf_counter()
        ds = load_dataset("mitbih", root=root, cache_dir=cache)
        first = time.perf_counter() - start
        start = time.perf_counter()
        cached = load_dataset("mitbih", root=root, cache_dir=cache)
        _ = sum(float(s.x[-1].sum()) for s in cached.splits.values())  # touch the memory-mapped arrays
        from_cache = time.perf_counter() - start
        assert cached.from_cache
    beats = sum(len(s) for s in ds.splits.values())
    start = time.perf_counter()
    x, _ = naive_prepare(root / "mitdb", sorted(DS1 + DS2), 90, 162)
    naive = time.perf_counter() - start
    assert len(x) == beats, (len(x), beats)

    rows = [("naive per-beat loop, no cache", naive), ("ecgharness, first preparation", first),
            ("ecgharness, from cache", from_cache)]
    print(f"MIT-BIH Arrhythmia, 44 records, {beats:,} beats, {os.cpu_count()} CPU(s)\n")
    print(f"{'method':<32} {'seconds':>9} {'beats/s':>12} {'speed-up vs naive':>18}")
    for name, secs in rows:
        print(f"{name:<32} {secs:>9.3f} {beats / secs:>12,.0f} {naive / secs:>17.1f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
