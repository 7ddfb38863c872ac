"""Datasets: registry, loaders with the literature's splits, and the prepared-array cache.

>>> from ecgharness.datasets import load_dataset
>>> ds = load_dataset("mitbih_sample")          # embedded, offline
>>> ds = load_dataset("mitbih", {"split": "interpatient"}, root="data")
"""

from ecgharness.datasets import chapman, mitbih, mitbih_kaggle, ptbxl, synthetic  # noqa: F401  (registration)
from ecgharness.datasets.base import (
    DATASETS,
    DataQualityError,
    DatasetSpec,
    PreparedDataset,
    Split,
    cache_root,
    data_root,
    get_dataset_spec,
    load_dataset,
    register_dataset,
)

__all__ = [
    "DATASETS",
    "DataQualityError",
    "DatasetSpec",
    "PreparedDataset",
    "Split",
    "cache_root",
    "data_root",
    "get_dataset_spec",
    "load_dataset",
    "register_dataset",
]
