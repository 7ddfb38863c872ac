"""Peak resident memory of a trial process against the size of its splits: the copy each
trial used to make of its splits vs the zero-copy view the loop takes now.

Each measurement is a fresh process that maps its train and validation splits read-only
from shared memory (``/dev/shm``), as a Ray worker sees objects in the object store, and
trains one epoch of a small model on them with the harness's loop. ``copy`` converts the
splits as the loop once did (``torch.tensor(np.asarray(...))``, a private copy per trial);
``view`` is the loop as it is. Reported per process: peak resident set (``ru_maxrss``,
which counts the shared pages the process touched), its growth over the process before
training, and the private (anonymous) memory at the end of the epoch (while the trial
still holds its training tensors); the last column is the private memory the copy adds, as
a multiple of the splits' size (1: one more copy of the data per trial).

Usage: python benchmarks/memory.py [--sizes-mb 64,256] [--leads 12] [--length 1000]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np


def _anon_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("RssAnon:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def child(mode: str, folder: Path) -> None:
    """One trial process: map the splits, train one epoch, print its memory as JSON."""
    import torch

    from ecgharness.datasets.base import PreparedDataset, Split
    from ecgharness.training import loop
    from ecgharness.training.config import TrainConfig

    torch.set_num_threads(1)
    shapes = json.loads((folder / "shapes.json").read_text())
    splits = {}
    for name, shape in shapes.items():
        x = np.load(folder / f"{name}_x.npy", mmap_mode="r")
        y = np.load(folder / f"{name}_y.npy", mmap_mode="r")
        splits[name] = Split(x, y)
    data_mb = sum(s.x.nbytes + s.y.nbytes for s in splits.values()) / 2**20
    ds = PreparedDataset(name="memory", config={}, class_names=("N", "S", "V"), headline="macro_f1",
                         splits=splits, cache_key="")
    if mode == "copy":
        loop.device_tensor = lambda a, dtype, device: torch.tensor(np.asarray(a), dtype=dtype, device=device)
    before, anon = _peak_mb(), []
    loop.train_model(ds, "cnn_lstm", {"batch_size": 128, "conv_width": 8, "lstm_hidden": 8},
                     TrainConfig(max_epochs=1, patience=1), report=lambda row: anon.append(_anon_mb()))
    peak = _peak_mb()
    print(json.dumps({"data_mb": data_mb, "peak_mb": peak, "growth_mb": peak - before, "anon_mb": anon[-1]}))


def write_splits(folder: Path, size_mb: float, leads: int, length: int) -> None:
    """Train (4/5 of ``size_mb``) and validation splits of seeded float32 signals."""
    rng = np.random.default_rng(0)
    total = int(size_mb * 2**20 / (4 * leads * length))
    shapes = {}
    for name, count in (("train", total * 4 // 5), ("val", total - total * 4 // 5)):
        y = rng.integers(0, 3, count).astype(np.int64)
        x = np.lib.format.open_memmap(folder / f"{name}_x.npy", "w+", np.float32, (count, leads, length))
        for i in range(0, count, 1024):
            x[i:i + 1024] = rng.normal(0, 1, (len(x[i:i + 1024]), leads, length)) + y[i:i + 1024, None, None]
        x.flush()
        np.save(folder / f"{name}_y.npy", y)
        shapes[name] = [count, leads, length]
    (folder / "shapes.json").write_text(json.dumps(shapes))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes-mb", default="64,256", help="splits' size per measurement (MiB, comma-separated)")
    parser.add_argument("--leads", type=int, default=12)
    parser.add_argument("--length", type=int, default=1000)
    parser.add_argument("--child", nargs=2, metavar=("MODE", "FOLDER"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], Path(args.child[1]))
        return
    shm = "/dev/shm" if Path("/dev/shm").is_dir() else None
    print(f"{'splits MiB':>10} | {'peak RSS copy':>13} {'view':>7} {'ratio':>6} | {'growth copy':>11} {'view':>7} "
          f"| {'private copy':>12} {'view':>7} | {'(copy-view)/splits':>18}")
    for size in (float(s) for s in args.sizes_mb.split(",")):
        with tempfile.TemporaryDirectory(dir=shm) as tmp:
            write_splits(Path(tmp), size, args.leads, args.length)
            got = {}
            for mode in ("copy", "view"):
                out = subprocess.run([sys.executable, __file__, "--child", mode, tmp], check=True,
                                     capture_output=True, text=True).stdout
                got[mode] = json.loads(out.strip().splitlines()[-1])
        c, v = got["copy"], got["view"]
        d = c["data_mb"]
        print(f"{d:>10.0f} | {c['peak_mb']:>13.0f} {v['peak_mb']:>7.0f} {c['peak_mb'] / v['peak_mb']:>6.2f} | "
              f"{c['growth_mb']:>11.0f} {v['growth_mb']:>7.0f} | {c['anon_mb']:>12.0f} {v['anon_mb']:>7.0f} | "
              f"{(c['anon_mb'] - v['anon_mb']) / d:>18.2f}", flush=True)


if __name__ == "__main__":
    main()
