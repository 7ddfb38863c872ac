"""Small seeded synthetic beats for fast unit tests (not a benchmark dataset).

Each class is a Gaussian bump of its own position and width on a slow baseline,
with additive noise, so a model can learn the task in a few epochs.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ecgharness.datasets.base import DatasetSpec, Prepared, Split, register_dataset
from ecgharness.datasets.download import Source, register_source

CLASS_NAMES = ("A", "B", "C")


@dataclass(frozen=True)
class SyntheticConfig:
    """Options of the ``synthetic`` dataset."""

    n_per_class: int = 120
    length: int = 128
    noise: float = 0.5
    seed: int = 0

    def __post_init__(self) -> None:
        if self.n_per_class < 5:
            raise ValueError(f"n_per_class must be at least 5, got {self.n_per_class}")
        if self.length < 16:
            raise ValueError(f"length must be at least 16, got {self.length}")


def make_split(config: SyntheticConfig, n_per_class: int, seed_offset: int) -> Split:
    rng = np.random.default_rng(config.seed + seed_offset)
    t = np.linspace(0, 1, config.length, dtype=np.float32)
    xs, ys = [], []
    for label in range(len(CLASS_NAMES)):
        centre = 0.3 + 0.2 * label + rng.normal(0, 0.03, size=(n_per_class, 1))
        width = 0.03 + 0.02 * label
        bump = np.exp(-((t[None, :] - centre) ** 2) / (2 * width**2))
        baseline = 0.2 * np.sin(2 * np.pi * (t[None, :] + rng.uniform(0, 1, (n_per_class, 1))))
        noise = rng.normal(0, config.noise, size=(n_per_class, config.length))
        xs.append((bump + baseline + noise).astype(np.float32)[:, None, :])
        ys.append(np.full(n_per_class, label, dtype=np.int64))
    return Split(np.concatenate(xs), np.concatenate(ys))


def prepare(config: SyntheticConfig, root: Path) -> Prepared:
    n = config.n_per_class
    val_n = max(n // 4, 2)
    return Prepared(splits={
        "train": make_split(config, n, 0),
        "val": make_split(config, val_n, 1),
        "test": make_split(config, val_n, 2),
    })


register_source(Source(name="synthetic", embedded=True, note="generated in code; nothing to download"))

register_dataset(DatasetSpec(
    name="synthetic",
    config_cls=SyntheticConfig,
    prepare=prepare,
    source_files=lambda config, root: [],
    class_names=CLASS_NAMES,
    headline="macro_f1",
    description="seeded synthetic beats, 3 classes; for tests only",
    default_root=lambda config: Path("."),
))
