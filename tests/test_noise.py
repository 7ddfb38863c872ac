"""ECG noise: the SNR of the added noise by an independent numpy computation, each kind's spectrum,
seeding, refusals, and the training augmentation switch."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ecgharness.datasets import load_dataset
from ecgharness.errors import ConfigError
from ecgharness.training import noise
from ecgharness.training.config import TrainConfig


@pytest.fixture(scope="module")
def beats() -> torch.Tensor:
    """Real MIT-BIH beats (0.7 s at 360 Hz) of the embedded sample's test split."""
    ds = load_dataset("mitbih_sample", use_cache=False)
    return torch.tensor(np.asarray(ds.splits["test"].x[:200]))


def _nst_snr(clean: np.ndarray, noisy: np.ndarray, fs: float) -> np.ndarray:
    """SNR as WFDB's nst defines it, written again with numpy: S = (peak-to-peak)^2 / 8 (median over
    1.5 s chunks when longer), N = variance of the added noise."""
    chunk = round(1.5 * fs)
    if clean.shape[-1] <= chunk:
        ptp = np.ptp(clean, axis=-1)
    else:
        n = clean.shape[-1] // chunk
        pieces = clean[..., : n * chunk].reshape(*clean.shape[:-1], n, chunk)
        ptp = np.median(np.ptp(pieces, axis=-1), axis=-1)
    return 10 * np.log10((ptp ** 2 / 8) / np.var(noisy - clean, axis=-1))


@pytest.mark.parametrize("kind", noise.ARTEFACT_KINDS)
@pytest.mark.parametrize("snr", [24.0, 6.0, 0.0])
def test_added_noise_has_the_requested_snr_on_real_beats(beats, kind, snr) -> None:
    noisy = noise.add_noise(beats, kind, snr, 360, torch.Generator().manual_seed(1))
    measured = _nst_snr(beats.numpy().astype(np.float64), noisy.numpy().astype(np.float64), 360)
    np.testing.assert_allclose(measured, snr, atol=1e-3)


def test_snr_on_ten_second_records_uses_the_median_chunk_amplitude() -> None:
    from ecgharness.datasets.mitbih import sample_root

    import wfdb

    signal = wfdb.rdrecord(str(sample_root() / "118"), sampto=3600).p_signal.T  # 2 leads x 10 s
    x = torch.tensor(signal[None], dtype=torch.float32)
    snrs = torch.tensor([12.0])
    noisy = noise.add_noise(x, "muscle", snrs, 360, torch.Generator().manual_seed(0))
    np.testing.assert_allclose(_nst_snr(x.numpy(), noisy.numpy(), 360), 12.0, atol=1e-3)


def _spectrum(kind: str, fs: float = 360.0, length: int = 3600) -> tuple[np.ndarray, np.ndarray]:
    n = noise.synthesise(kind, (64, 1, length), fs, torch.Generator().manual_seed(3)).numpy()[:, 0]
    power = (np.abs(np.fft.rfft(n, axis=-1)) ** 2).mean(axis=0)
    return np.fft.rfftfreq(length, 1 / fs), power / power.sum()


def test_each_kind_has_its_documented_spectrum() -> None:
    f, bw = _spectrum("baseline_wander")
    assert bw[f < 0.4].sum() > 0.95  # respiration and slower drift
    f, emg = _spectrum("muscle")
    assert emg[f < 5].sum() < 1e-6 and emg[f > 90].sum() > 0.4  # flat from 5 Hz to Nyquist
    f, mains = _spectrum("powerline")
    assert mains[(np.abs(f - 50) < 0.5) | (np.abs(f - 60) < 0.5)].sum() > 0.95
    f, em = _spectrum("electrode_motion")
    assert em[f < 10].sum() > 0.9 and em[f < 0.4].sum() < 0.6  # 100-500 ms transients: a few Hz


def test_noise_is_seeded_zero_mean_and_refused_where_it_cannot_exist(beats) -> None:
    a = noise.add_noise(beats, "electrode_motion", 6.0, 360, torch.Generator().manual_seed(5))
    b = noise.add_noise(beats, "electrode_motion", 6.0, 360, torch.Generator().manual_seed(5))
    c = noise.add_noise(beats, "electrode_motion", 6.0, 360, torch.Generator().manual_seed(6))
    assert torch.equal(a, b) and not torch.equal(a, c)
    np.testing.assert_allclose((a - beats).mean(dim=-1).numpy(), 0, atol=1e-5)
    renormed = noise.add_noise(beats, "muscle", 0.0, 360, torch.Generator().manual_seed(5), zscore=True)
    np.testing.assert_allclose(renormed.std(dim=-1, unbiased=False).numpy(), 1, atol=1e-4)
    with pytest.raises(ValueError, match="Nyquist frequency"):
        noise.add_noise(torch.zeros(2, 12, 1000), "powerline", 6.0, 100, torch.Generator())
    with pytest.raises(ValueError, match="unknown noise kind 'hum'"):
        noise.synthesise("hum", (1, 1, 10), 360, torch.Generator())


def test_augmentation_corrupts_the_chosen_share_at_snrs_between_the_floor_and_24_db(beats) -> None:
    g = torch.Generator().manual_seed(0)
    assert noise.augment_artefacts(beats, ("muscle",), 6.0, 0.0, 360, g) is beats
    out = noise.augment_artefacts(beats, ("muscle", "powerline"), 6.0, 1.0, 360, g)
    snr = _nst_snr(beats.numpy(), out.numpy(), 360).mean(axis=-1)
    assert (snr > 6 - 1e-3).all() and (snr < 24 + 1e-3).all() and snr.std() > 2
    half = noise.augment_artefacts(beats, ("baseline_wander",), 0.0, 0.5, 360, g)
    changed = (half != beats).any(dim=-1).any(dim=-1).float().mean()
    assert 0.35 < changed < 0.65


def test_the_training_switch_is_validated_and_searchable() -> None:
    from ecgharness.search_spaces.compiler import parse_space

    assert noise.parse_artefacts("all") == noise.ARTEFACT_KINDS
    assert noise.parse_artefacts("muscle, powerline") == ("muscle", "powerline")
    with pytest.raises(ValueError, match="unknown noise kind"):
        TrainConfig(augment_artefacts="muscle,hum")
    space = parse_space("cnn_lstm", {"augment_artefacts": {"choice": ["none", "all"]},
                                     "augment_artefact_snr_db": {"uniform": [0.0, 12.0]}}, "test")
    assert set(space.searched) == {"augment_artefacts", "augment_artefact_snr_db"}
    with pytest.raises(ConfigError, match="augment_artefacts"):
        parse_space("cnn_lstm", {"augment_artefacts": {"choice": ["none", "hiss"]}}, "test")


def test_a_training_run_with_artefact_augmentation_sees_noisy_batches(monkeypatch) -> None:
    from ecgharness.training import loop

    ds = load_dataset("mitbih_sample", use_cache=False)
    seen: list[float] = []
    real = noise.augment_artefacts

    def spy(x, *args, **kwargs):
        out = real(x, *args, **kwargs)
        seen.append(float((out != x).any(dim=-1).any(dim=-1).float().mean()))
        return out

    monkeypatch.setattr(loop.noise, "augment_artefacts", spy)
    config = {"lr": 1e-3, "batch_size": 256, "conv_width": 8, "lstm_hidden": 8, "fc_hidden": 8}
    outcome = loop.train_model(ds, "cnn_lstm", config,
                               TrainConfig(max_epochs=1, augment_artefacts="all", augment_artefact_share=1.0))
    assert seen and min(seen) == 1.0 and np.isfinite(outcome.history[0]["train_loss"])
    ptbxl_like = TrainConfig(augment_artefacts="powerline")
    monkeypatch.setitem(ds.notes, "sampling_rate", 100)
    with pytest.raises(ValueError, match="Nyquist"):
        loop.train_model(ds, "cnn_lstm", config, ptbxl_like)
