"""GAF and MTF in torch against pyts, the numerical reference, on real beats and 12-lead records."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from pyts.image import GramianAngularField, MarkovTransitionField
from pyts.preprocessing import KBinsDiscretizer

from ecgharness.datasets import load_dataset
from ecgmodels.layers.images import (
    SignalToImage,
    gramian_angular_field,
    markov_transition_field,
    markov_transition_matrix,
    quantile_bins,
)
from helpers import kaggle_style_beats

SAMPLE = Path(__file__).resolve().parent.parent / "ecgharness" / "datasets" / "sample" / "mitdb"
FIXTURES = Path(__file__).resolve().parent / "fixtures"


@pytest.fixture(autouse=True)
def _quiet_pyts():
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Some quantiles are equal")
        yield


@pytest.fixture(scope="module")
def beats() -> np.ndarray:
    """Real 187-sample beats in the Kaggle layout (125 Hz, zero-padded tails: many repeated values)."""
    x, _ = kaggle_style_beats(SAMPLE, [118, 207, 208])
    return x[::7][:200]


@pytest.fixture(scope="module")
def records() -> np.ndarray:
    """Real 12-lead PTB-XL records at 100 Hz, (records, 12, 1000)."""
    ds = load_dataset("ptbxl", {"task": "superdiagnostic"}, root=FIXTURES, use_cache=False, max_lost_share=1.0)
    return np.asarray(ds.splits["train"].x[:4], dtype=np.float64)


def pyts_gaf(x: np.ndarray, size: int, method: str) -> np.ndarray:
    return GramianAngularField(image_size=size, method=method).transform(x)


def pyts_mtf(x: np.ndarray, size: int, n_bins: int = 8) -> np.ndarray:
    return MarkovTransitionField(image_size=size, n_bins=n_bins).transform(x)


@pytest.mark.parametrize("size", [64, 32, 187])
@pytest.mark.parametrize("method", ["summation", "difference"])
def test_gaf_matches_pyts_on_real_beats(beats, size, method) -> None:
    ours = gramian_angular_field(torch.from_numpy(beats), size, method)
    assert ours.shape == (len(beats), size, size) and ours.dtype == torch.float64
    np.testing.assert_allclose(ours.numpy(), pyts_gaf(beats, size, method), rtol=0, atol=1e-5)


def test_gaf_float32_input_stays_within_1e5_of_the_float64_reference(beats) -> None:
    x32 = torch.from_numpy(beats).float()
    ours = gramian_angular_field(x32, 64, "summation")
    assert ours.dtype == torch.float32
    reference = pyts_gaf(x32.double().numpy(), 64, "summation")
    assert np.abs(ours.double().numpy() - reference).max() < 1e-5


@pytest.mark.parametrize("n_bins", [8, 4])
def test_quantile_bins_equal_pyts_including_merged_quantiles(beats, n_bins) -> None:
    x = torch.from_numpy(beats)
    reference = KBinsDiscretizer(n_bins=n_bins, strategy="quantile").transform(beats)
    ours = quantile_bins(x, n_bins)
    np.testing.assert_array_equal(ours.numpy(), reference)
    if n_bins == 8:  # the zero-padded tails repeat a value, so some series really do merge quantile edges
        assert (reference.max(axis=1) < n_bins - 1).any()


def test_transition_matrix_equals_counted_transitions(beats) -> None:
    bins = KBinsDiscretizer(n_bins=8).transform(beats)
    ours = markov_transition_matrix(torch.from_numpy(bins), 8).numpy()
    for series, matrix in zip(bins[:20], ours[:20]):
        counts = np.zeros((8, 8))
        for a, b in zip(series[:-1], series[1:]):
            counts[a, b] += 1
        rows = counts.sum(axis=1, keepdims=True)
        np.testing.assert_allclose(matrix, counts / np.where(rows == 0, 1, rows), atol=1e-12)


@pytest.mark.parametrize("size", [64, 32, 187])
def test_mtf_matches_pyts_on_real_beats(beats, size) -> None:
    ours = markov_transition_field(torch.from_numpy(beats), size)
    np.testing.assert_allclose(ours.numpy(), pyts_mtf(beats, size), rtol=0, atol=1e-5)


def test_signal_to_image_on_12_lead_records_matches_pyts_per_lead(records) -> None:
    n, leads, _ = records.shape
    images = SignalToImage(("gasf", "gadf", "mtf"), image_size=50)(torch.from_numpy(records).float())
    assert images.shape == (n, 3 * leads, 50, 50) and images.dtype == torch.float32
    flat = records.reshape(n * leads, -1)
    expected = [pyts_gaf(flat, 50, "summation"), pyts_gaf(flat, 50, "difference"), pyts_mtf(flat, 50)]
    for k, reference in enumerate(expected):  # kind-major: all leads of one kind, then the next kind
        got = images[:, k * leads : (k + 1) * leads].reshape(n * leads, 50, 50).double().numpy()
        assert np.abs(got - reference).max() < 1e-5


def test_flat_lead_gives_the_reference_images() -> None:
    x = np.zeros((1, 1, 120))
    images = SignalToImage(("gasf", "mtf"), image_size=30)(torch.from_numpy(x))
    np.testing.assert_allclose(images[0, 0].numpy(), pyts_gaf(x[0], 30, "summation")[0], atol=1e-12)
    np.testing.assert_allclose(images[0, 1].numpy(), pyts_mtf(x[0], 30)[0], atol=1e-12)


def test_images_ignore_autocast_and_carry_no_gradient(records) -> None:
    x = torch.from_numpy(records).float().requires_grad_(True)
    to_image = SignalToImage(("gasf",), image_size=40)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        images = to_image(x)
    assert images.dtype == torch.float32 and not images.requires_grad
    reference = pyts_gaf(records.reshape(-1, records.shape[-1]), 40, "summation")
    assert np.abs(images.reshape(-1, 40, 40).double().numpy() - reference).max() < 1e-5


def test_bad_arguments_are_named() -> None:
    with pytest.raises(ValueError, match="image size 64 .*32 samples"):
        SignalToImage(("gasf",), image_size=64)(torch.zeros(2, 1, 32))
    with pytest.raises(ValueError, match="gaf.*gasf, gadf, mtf"):
        SignalToImage(("gaf",), image_size=16)
    with pytest.raises(ValueError, match=r"\(batch, leads, samples\)"):
        SignalToImage(("gasf",), image_size=16)(torch.zeros(2, 32))
