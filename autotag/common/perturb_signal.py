"""Signal perturbations of a mono waveform: gain, time stretch (a phase vocoder with phase
locking) and pitch shift. The robustness evaluation applies them to test clips
(:mod:`autotag.inference.perturb`, which names them as conditions), and the store's offline
variants to training clips (:mod:`autotag.data.variants`): one implementation for both.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import torch
import torchaudio.functional as AF

from autotag.common.signal import crop_or_pad


def apply_gain(wav: np.ndarray, gain_db: float) -> np.ndarray:
    """The waveform scaled by ``10^(gain_db / 20)``."""
    return (np.asarray(wav, dtype=np.float32) * np.float32(10.0 ** (gain_db / 20.0))).astype(
        np.float32
    )


def stft_size(sample_rate: int) -> int:
    """FFT size of about 46 ms or more (1024 at 16-22.05 kHz, 2048 at 44.1 kHz)."""
    return 2 ** math.ceil(math.log2(0.046 * sample_rate))


def phase_vocoder(spec: np.ndarray, rate: float, hop: int) -> np.ndarray:
    """Time-scale a complex STFT ``(n_freq, n_frames)`` by ``rate`` (frames ``0, rate, 2·rate,
    ...`` of the input): magnitudes interpolated between frames, phases advanced by each bin's
    instantaneous frequency, with identity phase locking (Laroche & Dolson 1999): every bin takes
    the phase of its nearest magnitude peak plus the input's phase offset to that peak.

    Unlike the plain vocoder (``torchaudio.functional.phase_vocoder``, librosa), which lets the
    bins of one partial drift apart (a sine slowed to 0.8x loses 3 to 6 dB there), this keeps
    partials coherent, so a stretch changes the tempo and not the level.
    """
    n_freq, n_frames = spec.shape
    steps = np.arange(0, n_frames, rate)
    padded = np.pad(spec, ((0, 0), (0, 2)))
    mag, ang = np.abs(padded), np.angle(padded)
    expected = np.pi * hop * np.arange(n_freq) / (n_freq - 1)  # phase advance of each bin centre
    out = np.empty((n_freq, len(steps)), dtype=np.complex64)
    bins = np.arange(n_freq)
    phase = ang[:, 0].astype(np.float64)
    for j, t in enumerate(steps):
        a = int(t)
        alpha = t - a
        m = (1.0 - alpha) * mag[:, a] + alpha * mag[:, a + 1]
        if j > 0:  # lock every bin to its nearest peak
            peaks = np.flatnonzero((m > np.r_[-1.0, m[:-1]]) & (m >= np.r_[m[1:], -1.0]) & (m > 0))
            if len(peaks) == 1:
                nearest = np.full(n_freq, peaks[0])
            elif len(peaks) > 1:
                i = np.clip(np.searchsorted(peaks, bins), 1, len(peaks) - 1)
                left, right = peaks[i - 1], peaks[i]
                nearest = np.where(bins - left <= right - bins, left, right)
            if len(peaks):
                phase = phase[nearest] + ang[:, a] - ang[nearest, a]
        out[:, j] = m * np.exp(1j * phase)
        dev = ang[:, a + 1] - ang[:, a] - expected
        phase = phase + expected + (dev - 2 * np.pi * np.round(dev / (2 * np.pi)))
    return out


def time_stretch(wav: np.ndarray, sample_rate: int, rate: float) -> np.ndarray:
    """Tempo × ``rate`` with the pitch kept (:func:`phase_vocoder` on a Hann STFT of hop
    ``n_fft/4``, then inverse STFT): ``rate`` > 1 is faster, and the result has
    ``round(len(wav) / rate)`` samples."""
    if not rate > 0:
        raise ValueError(f"stretch rate must be positive, got {rate}")
    x = torch.as_tensor(np.asarray(wav, dtype=np.float32))
    if rate == 1.0 or len(x) == 0:
        return x.numpy().copy()
    n_fft = stft_size(sample_rate)
    hop = n_fft // 4
    window = torch.hann_window(n_fft)
    n_out = max(1, int(round(len(x) / rate)))
    if len(x) < n_fft:  # torch.stft needs a frame's worth of samples
        x = torch.nn.functional.pad(x, (0, n_fft - len(x)))
    spec = torch.stft(x, n_fft, hop, window=window, return_complex=True).numpy()
    stretched = torch.from_numpy(phase_vocoder(spec, rate, hop))
    y = torch.istft(stretched, n_fft, hop, window=window, length=int(round(len(x) / rate)))
    return fit_length(y.numpy(), n_out)


def pitch_shift(
    wav: np.ndarray, sample_rate: int, semitones: float, max_denominator: int = 100
) -> np.ndarray:
    """Pitch × ``2^(semitones/12)`` with the duration kept: time stretch by the inverse ratio,
    then resample by the ratio (a fraction ``p/q`` within ``1/max_denominator``'s precision,
    0.003 semitones for ±2, so the resampler's filter stays small), then trim or zero-pad the
    end to the input's length."""
    x = np.asarray(wav, dtype=np.float32)
    if semitones == 0 or len(x) == 0:
        return x.copy()
    ratio = Fraction(2.0 ** (semitones / 12.0)).limit_denominator(max_denominator)
    p, q = ratio.numerator, ratio.denominator
    slow = time_stretch(x, sample_rate, q / p)  # p/q times longer
    y = AF.resample(torch.from_numpy(slow), p, q).numpy()  # p/q times shorter, pitch × p/q
    return fit_length(y, len(x))


def fit_length(y: np.ndarray, n: int) -> np.ndarray:
    """``y`` trimmed or zero-padded at the end to ``n`` samples (a copy: not a view that holds
    the longer buffer)."""
    return np.array(crop_or_pad(np.asarray(y, dtype=np.float32), n, centre=False))
