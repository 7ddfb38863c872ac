"""Preparation speed of every dataset present under a data root: first time vs from cache.

Prints, per dataset: records prepared, seconds the first time (empty cache), seconds
from the cache, records per second, and the cache speed-up, all from one run.

Usage: python benchmarks/prepare_datasets.py [--data-root DIR]   (default $ECGHARNESS_DATA)
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

# (dataset, config): what the packaged suites prepare
CASES = (
    ("mitbih_sample", {}),
    ("mitbih", {"split": "interpatient"}),
    ("mitbih_kaggle", {}),
    ("ptbxl", {"task": "superdiagnostic", "sampling_rate": 100}),
    ("chapman", {"labels": "groups", "sampling_rate": 250}),
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", default=os.environ.get("ECGHARNESS_DATA"))
    args = parser.parse_args()
    from ecgharness.datasets import load_dataset
    from ecgharness.errors import DataNotFoundError

    rows = []
    for name, config in CASES:
        with tempfile.TemporaryDirectory() as cache:
            root = None if name == "mitbih_sample" else args.data_root
            if root is None and name != "mitbih_sample":
                continue
            try:
                start = time.perf_counter()
                ds = load_dataset(name, config, root=root, cache_dir=cache)
                first = time.perf_counter() - start
            except DataNotFoundError:
                continue
            start = time.perf_counter()
            again = load_dataset(name, config, root=root, cache_dir=cache)
            _ = [float(s.x[-1].sum()) for s in again.splits.values()]  # touch the memory maps
            cached = time.perf_counter() - start
        n = sum(len(s) for s in ds.splits.values())
        rows.append((name, n, len(ds.quarantined), first, cached))
    if not rows:
        print("no dataset found; pass --data-root", file=sys.stderr)
        return 2
    print(f"{'dataset':<14} {'examples':>9} {'quarantined':>11} {'first s':>8} {'per s':>9} "
          f"{'cached s':>9} {'cache speed-up':>15}")
    for name, n, q, first, cached in rows:
        print(f"{name:<14} {n:>9,} {q:>11,} {first:>8.2f} {n / first:>9,.0f} {cached:>9.3f} {first / cached:>14.0f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
