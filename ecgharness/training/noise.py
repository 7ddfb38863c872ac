"""Synthetic noise of the kinds that corrupt real ECGs, added at a chosen signal-to-noise ratio.

The four kinds are those of the MIT-BIH Noise Stress Test Database (NSTDB; Moody GB, Muldrow WE,
Mark RG, "A noise stress test for arrhythmia detectors", Computers in Cardiology 11:381-384,
1984), whose noise records hold baseline wander (``bw``), muscle artefact (``ma``) and
electrode motion artefact (``em``), plus powerline interference, one of the noise types
described by Friesen GM et al., "A comparison of the noise sensitivity of nine QRS detection
algorithms", IEEE Trans Biomed Eng 37(1):85-98, 1990. The NSTDB recordings themselves are not
shipped with the harness, so the noise is synthesised with the spectra and time courses those
sources describe:

``baseline_wander``
    Respiration moves the baseline at 0.15-0.3 Hz (Friesen et al.); here one sinusoid of a
    random frequency in that band plus one of half its amplitude in 0.05-0.15 Hz (slower drift).
``muscle``
    EMG: Gaussian noise whose spectrum overlaps the ECG's and extends to higher frequencies
    (the NSTDB's description of record ``ma``; Friesen et al.: dc to 10 kHz); here white Gaussian
    noise from 5 Hz up to the Nyquist frequency of the record.
``electrode_motion``
    Transient baseline changes of 100-500 ms (Friesen et al.), which can mimic ectopic beats
    (NSTDB); here raised-cosine pulses of random sign, amplitude and duration in 100-500 ms,
    about one per second (at least one per example).
``powerline``
    A 50 or 60 Hz sinusoid (the mains frequency drawn per example) with a random phase, the
    fundamental only; a kind whose mains frequencies all lie at or above the Nyquist frequency
    (records sampled at 100 Hz or less, where the anti-aliasing filter removes it) is refused.

The amplitudes the sources quote (15 % of the peak-to-peak ECG for respiration, 10 % for EMG,
up to 50 % for powerline, Friesen et al.) are replaced by the requested SNR, defined as WFDB's
``nst`` (the program that made the NSTDB records) defines it: SNR = 10 log10(S / N) with
S = P^2 / 8, P the peak-to-peak QRS amplitude, and N the power of the noise about its mean.
P is the peak-to-peak amplitude of the example (a beat window) or, for longer examples, the
median peak-to-peak amplitude of its 1.5 s chunks (each holds a QRS complex at 40 beats per
minute or more). S, N and the gain are computed per example and lead; the noise is made zero-mean
over each example, so it distorts the waveform without offsetting it.

Everything acts on whole batches (batch, leads, samples) with a seeded ``torch.Generator``, so a
robustness test adds the same noise for every model and a training run the same noise per seed.
"""

from __future__ import annotations

import math
from typing import Any, Mapping

import torch

from ecgharness.training import techniques
from ecgharness.training.config import ARTEFACT_KINDS, parse_artefacts

__all__ = ["ARTEFACT_KINDS", "ROBUSTNESS_SNRS_DB", "add_noise", "augment_artefacts", "check_kind", "noise_power",
           "parse_artefacts", "restandardises", "signal_power", "synthesise"]

ROBUSTNESS_SNRS_DB = (24.0, 18.0, 12.0, 6.0, 0.0)  # the NSTDB's levels, from nearly clean to noise as strong as the QRS
_CHUNK_S = 1.5
_MAINS_HZ = (50.0, 60.0)


def _uniform(shape: tuple[int, ...], low: float, high: float, generator: torch.Generator) -> torch.Tensor:
    return low + (high - low) * torch.rand(shape, generator=generator)


def _time(length: int, fs: float) -> torch.Tensor:
    return torch.arange(length, dtype=torch.float32) / fs


def _baseline_wander(shape: tuple[int, int, int], fs: float, g: torch.Generator) -> torch.Tensor:
    b, c, length = shape
    t = _time(length, fs)
    out = torch.zeros(shape)
    for band, amplitude in (((0.15, 0.3), 1.0), ((0.05, 0.15), 0.5)):
        f = _uniform((b, c, 1), *band, g)
        phase = _uniform((b, c, 1), 0, 2 * math.pi, g)
        out += amplitude * torch.sin(2 * math.pi * f * t + phase)
    return out


def _muscle(shape: tuple[int, int, int], fs: float, g: torch.Generator) -> torch.Tensor:
    white = torch.randn(shape, generator=g)
    spectrum = torch.fft.rfft(white, dim=-1)
    freqs = torch.fft.rfftfreq(shape[-1], d=1 / fs)
    spectrum[..., freqs < 5.0] = 0
    return torch.fft.irfft(spectrum, n=shape[-1], dim=-1)


def _electrode_motion(shape: tuple[int, int, int], fs: float, g: torch.Generator) -> torch.Tensor:
    b, c, length = shape
    t = _time(length, fs)
    events = max(1, round(length / fs))  # about one transient per second
    out = torch.zeros(shape)
    for _ in range(events):
        centre = _uniform((b, c, 1), 0, length / fs, g)
        width = _uniform((b, c, 1), 0.1, 0.5, g)
        amplitude = _uniform((b, c, 1), 0.5, 1.0, g) * torch.where(torch.rand((b, c, 1), generator=g) < 0.5, -1.0, 1.0)
        phase = (t - centre) / width
        out += amplitude * torch.where(phase.abs() < 0.5, 0.5 * (1 + torch.cos(2 * math.pi * phase)), 0.0)
    return out


def _mains(fs: float) -> tuple[float, ...]:
    return tuple(f for f in _MAINS_HZ if f < fs / 2)


def _powerline(shape: tuple[int, int, int], fs: float, g: torch.Generator) -> torch.Tensor:
    b, c, length = shape
    mains = torch.tensor(_mains(fs))
    f = mains[torch.randint(len(mains), (b, 1, 1), generator=g)]
    phase = _uniform((b, c, 1), 0, 2 * math.pi, g)
    return torch.sin(2 * math.pi * f * _time(length, fs) + phase)


_SYNTHESISERS = {"baseline_wander": _baseline_wander, "muscle": _muscle, "electrode_motion": _electrode_motion,
                 "powerline": _powerline}


def check_kind(kind: str, fs: float) -> None:
    """Raise ValueError when ``kind`` is unknown or cannot exist at sampling rate ``fs``."""
    if kind not in _SYNTHESISERS:
        raise ValueError(f"unknown noise kind {kind!r}; valid: {', '.join(ARTEFACT_KINDS)}")
    if kind == "powerline" and not _mains(fs):
        raise ValueError(f"powerline noise (50/60 Hz) cannot be represented at {fs:g} Hz: it lies at or above the "
                         f"Nyquist frequency ({fs / 2:g} Hz); leave 'powerline' out for this dataset")


def synthesise(kind: str, shape: tuple[int, int, int], fs: float, generator: torch.Generator) -> torch.Tensor:
    """Unscaled, zero-mean noise of ``kind``, float32 (batch, leads, samples) on the CPU."""
    check_kind(kind, fs)
    noise = _SYNTHESISERS[kind](tuple(shape), float(fs), generator)
    return noise - noise.mean(dim=-1, keepdim=True)


def signal_power(x: torch.Tensor, fs: float) -> torch.Tensor:
    """S = P^2 / 8 per example and lead (batch, leads): P the peak-to-peak amplitude of the example,
    or the median over its 1.5 s chunks when it is longer than one chunk."""
    chunk = max(2, round(_CHUNK_S * fs))
    if x.shape[-1] <= chunk:
        ptp = x.amax(dim=-1) - x.amin(dim=-1)
    else:
        pieces = x.unfold(-1, chunk, chunk)  # (batch, leads, chunks, chunk)
        ptp = torch.quantile(pieces.amax(dim=-1) - pieces.amin(dim=-1), 0.5, dim=-1)  # mean of the middle two when even
    return ptp.square() / 8


def noise_power(noise: torch.Tensor) -> torch.Tensor:
    """N: the noise's mean squared deviation from its mean, per example and lead."""
    return noise.var(dim=-1, unbiased=False)


def restandardises(dataset_config: Mapping[str, Any]) -> bool:
    """Whether a dataset of this configuration z-scores every example on its own (MIT-BIH beats,
    ``normalise: zscore``), so noisy signals must be standardised again before a model sees them."""
    return dataset_config.get("normalise") == "zscore"


def add_noise(x: torch.Tensor, kind: str, snr_db: float | torch.Tensor, fs: float, generator: torch.Generator,
              zscore: bool = False) -> torch.Tensor:
    """``x`` (batch, leads, samples) plus noise of ``kind`` scaled to ``snr_db`` (a number, or one per example).

    Args:
        zscore: Standardise each noisy example and lead again, as a dataset that z-scores every
            example (MIT-BIH beats) would have done to a noisy recording.
    """
    noise = synthesise(kind, tuple(x.shape), fs, generator).to(x.device, x.dtype)
    snr = torch.as_tensor(snr_db, dtype=x.dtype, device=x.device)
    snr = snr.reshape(-1, 1) if snr.ndim else snr
    target = signal_power(x, fs) / torch.pow(10.0, snr / 10)
    gain = torch.sqrt(target / noise_power(noise).clamp_min(1e-12))
    noisy = x + gain[..., None] * noise
    return techniques.zscore(noisy) if zscore else noisy


def augment_artefacts(x: torch.Tensor, kinds: tuple[str, ...], min_snr_db: float, share: float, fs: float,
                      generator: torch.Generator, zscore: bool = False) -> torch.Tensor:
    """Training augmentation: a ``share`` of the batch's examples gets noise of one of ``kinds``
    (drawn per example) at an SNR drawn uniformly between ``min_snr_db`` and 24 dB."""
    if not kinds or share <= 0:
        return x
    b = x.shape[0]
    picked = torch.rand(b, generator=generator) < share
    which = torch.randint(len(kinds), (b,), generator=generator)
    snr = _uniform((b,), min(min_snr_db, ROBUSTNESS_SNRS_DB[0]), ROBUSTNESS_SNRS_DB[0], generator)
    out = x
    for k, kind in enumerate(kinds):
        idx = torch.nonzero(picked & (which == k)).flatten()
        if len(idx):
            idx_dev = idx.to(x.device)
            out = out.index_copy(0, idx_dev, add_noise(x[idx_dev], kind, snr[idx], fs, generator, zscore))
    return out
