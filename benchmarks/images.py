"""GAF/MTF images per second: pyts (the numerical reference, numba on CPU) vs ecgmodels' torch version.

Inputs are real beats from the embedded MIT-BIH sample, resampled to 187 samples (the
Kaggle heartbeat length), and, for the 12-lead case, the PTB-XL test fixtures (1000 samples
at 100 Hz, one image per lead). pyts transforms the whole set in one call (its best case);
the torch version works in training-sized batches, as the trainer uses it. Every torch
result is checked against pyts before it is timed.

Usage: python benchmarks/images.py [--beats 4096] [--size 64] [--batch 512] [--repeat 3]
"""

from __future__ import annotations

import argparse
import time
import warnings
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent


def real_beats(count: int, length: int) -> np.ndarray:
    from ecgharness.datasets import load_dataset

    beats = np.asarray(load_dataset("mitbih_sample").splits["train"].x[:, 0], dtype=np.float64)
    beats = np.resize(beats, (count, beats.shape[1]))  # repeat the sample's beats up to ``count``
    grid = np.linspace(0, beats.shape[1] - 1, length)
    resampled = np.stack([np.interp(grid, np.arange(beats.shape[1]), b) for b in beats])
    return resampled.astype(np.float32).astype(np.float64)  # both sides see the same float32 values


def ptbxl_leads() -> np.ndarray:
    from ecgharness.datasets import load_dataset

    fixtures = ROOT / "tests" / "fixtures"
    ds = load_dataset("ptbxl", {"task": "superdiagnostic"}, root=fixtures, use_cache=False, max_lost_share=1.0)
    x = np.concatenate([np.asarray(s.x) for s in ds.splits.values()])  # (records, 12, 1000)
    return x.reshape(-1, x.shape[-1]).astype(np.float32).astype(np.float64)


def pyts_images(kind: str, x: np.ndarray, size: int) -> np.ndarray:
    from pyts.image import GramianAngularField, MarkovTransitionField

    if kind == "mtf":
        return MarkovTransitionField(image_size=size, n_bins=8).transform(x)
    return GramianAngularField(image_size=size, method="summation" if kind == "gasf" else "difference").transform(x)


def torch_images(kind: str, x: torch.Tensor, size: int, batch: int, keep: bool = False) -> torch.Tensor | None:
    """Images batch by batch, each consumed at once as in training; ``keep`` gathers them for checking."""
    from ecgmodels.layers.images import SignalToImage

    transform = SignalToImage((kind,), size)
    kept = []
    for i in range(0, len(x), batch):
        images = transform(x[i : i + batch].unsqueeze(1))
        if keep:
            kept.append(images[:, 0].cpu())
    if x.device.type == "cuda":
        torch.cuda.synchronize()
    return torch.cat(kept) if keep else None


def best_time(fn, repeat: int) -> float:
    fn()  # warm-up: numba dispatch, torch kernels, caches
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--beats", type=int, default=4096)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--batch", type=int, default=512)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    warnings.filterwarnings("ignore", message="Some quantiles are equal")  # pyts, on flat stretches

    cases = [("187-sample beats", real_beats(args.beats, 187)), ("PTB-XL leads (1000 samples)", ptbxl_leads())]
    devices = [torch.device("cpu")] + ([torch.device("cuda")] if torch.cuda.is_available() else [])
    print(f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads; image {args.size}x{args.size}, "
          f"torch batch {args.batch}; best of {args.repeat}")
    header = f"{'input':<28} {'kind':<5} {'series':>7} {'pyts img/s':>11}"
    for device in devices:
        header += f" {'torch ' + device.type + ' img/s':>17} {'ratio':>8}"
    print(header)
    for label, x in cases:
        for kind in ("gasf", "gadf", "mtf"):
            reference = pyts_images(kind, x, args.size)
            pyts_rate = len(x) / best_time(lambda: pyts_images(kind, x, args.size), args.repeat)
            line = f"{label:<28} {kind:<5} {len(x):>7} {pyts_rate:>11,.0f}"
            for device in devices:
                xt = torch.as_tensor(x, dtype=torch.float32, device=device)
                ours = torch_images(kind, xt, args.size, args.batch, keep=True)
                err = float(np.abs(ours.double().cpu().numpy() - reference).max())
                if err > 1e-5:
                    raise SystemExit(f"{kind} on {device}: max abs difference to pyts {err:.2e} > 1e-5")
                rate = len(x) / best_time(lambda: torch_images(kind, xt, args.size, args.batch), args.repeat)
                line += f" {rate:>17,.0f} {rate / pyts_rate:>7.1f}x"
            print(line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
