"""Audio degradations for the robustness evaluation (:mod:`autotag.inference.robustness`), and
the condition names that select them. Condition names::

    clean            the decoded audio as is (always evaluated: the reference of the drops)
    noise_<S>db      white Gaussian noise at S dB SNR against the clip's own mean power; the noise
                     is seeded by the clip id, so runs are reproducible (the noise of every SNR
                     is the same draw, scaled)
    pitch_<±N>       pitch shifted by N semitones, duration kept (phase vocoder + resampling)
    stretch_<R>      tempo × R, pitch kept (phase vocoder): R > 1 is faster, so the clip lasts
                     1/R of its duration (a clip shorter than a window is zero-padded around
                     its centre, as the tagger does for any short song)
    mp3_<K>k         re-encoded as mp3 at K kbps with LAME, decoded back, aligned (the codec's
                     delay removed) and trimmed to the input's length
    gain_<G>db       level changed by G dB (no clipping)

The gain, stretch and pitch shift themselves are :mod:`autotag.common.perturb_signal`'s (the
store's offline training variants use them too); noise and the mp3 round trip are here.
"""

from __future__ import annotations

import io
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import soundfile as sf
import torch
import torchaudio.functional as AF

from autotag.common.mp3 import encode_mp3
from autotag.common.perturb_signal import apply_gain, fit_length, pitch_shift, time_stretch

DEFAULT_CONDITIONS = (
    "clean",
    "noise_20db",
    "noise_10db",
    "noise_0db",
    "pitch_+2",
    "pitch_-2",
    "stretch_0.8",
    "stretch_1.2",
    "mp3_64k",
    "mp3_32k",
    "gain_-20db",
)
# bit rates LAME accepts (which of them a sample rate allows is LAME's business: MPEG-1 32-320,
# MPEG-2 8-160)
MP3_KBPS = (8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160, 192, 224, 256, 320)

_NUM = r"[+-]?(?:\d+\.?\d*|\.\d+)"
_PATTERNS = {
    "noise": re.compile(rf"noise_({_NUM})db"),
    "pitch": re.compile(rf"pitch_({_NUM})"),
    "stretch": re.compile(rf"stretch_({_NUM})"),
    "mp3": re.compile(r"mp3_(\d+)k"),
    "gain": re.compile(rf"gain_({_NUM})db"),
}


# --------------------------------------------------------------------------- perturbations


def add_noise(wav: np.ndarray, snr_db: float, seed: int = 0) -> np.ndarray:
    """White Gaussian noise scaled so that ``10·log10(P_wav / P_noise) = snr_db`` exactly
    (powers are means of squares over the whole clip); silence stays silent."""
    x = np.asarray(wav, dtype=np.float32)
    p_signal = float(np.mean(np.square(x, dtype=np.float64))) if x.size else 0.0
    if p_signal == 0.0:
        return x.copy()
    noise = np.random.default_rng(seed).standard_normal(len(x))
    noise *= math.sqrt(p_signal / 10.0 ** (snr_db / 10.0) / np.mean(np.square(noise)))
    return (x + noise).astype(np.float32)


def _mp3_roundtrip_raw(wav: np.ndarray, sample_rate: int, kbps: int) -> np.ndarray:
    """Encode with LAME (which may pick a lower output rate for low bit rates), decode with
    soundfile, resample back to ``sample_rate``; the codec's delay is still there."""
    data = encode_mp3(wav, sample_rate, kbps, quality=2)  # LAME's "high quality" (-h)
    y, rate = sf.read(io.BytesIO(data), dtype="float32", always_2d=True)
    y = y.mean(axis=1) if y.shape[1] > 1 else y[:, 0]
    if rate != sample_rate:
        y = AF.resample(torch.from_numpy(np.ascontiguousarray(y)), rate, sample_rate).numpy()
    return np.asarray(y, dtype=np.float32)


@lru_cache(maxsize=32)
def mp3_delay(sample_rate: int, kbps: int, max_lag: int = 8192) -> int:
    """Samples (at ``sample_rate``) that an mp3 round trip delays audio by: LAME's encoder delay
    plus the decoder's (576 + 529 = 1105 with libsndfile's mpg123). Measured once per rate and bit
    rate by cross-correlating a seeded noise burst with its round trip, so a decoder that trims
    the delay itself is handled too."""
    rng = np.random.default_rng(12345)
    n = sample_rate  # one second
    x = (0.25 * rng.standard_normal(n)).astype(np.float32)
    x *= np.hanning(n).astype(np.float32)  # no edges for the codec to smear
    y = _mp3_roundtrip_raw(x, sample_rate, kbps)
    size = 1 << int(math.ceil(math.log2(len(x) + len(y))))
    corr = np.fft.irfft(np.conj(np.fft.rfft(x, size)) * np.fft.rfft(y, size), size)
    return int(np.argmax(corr[: min(max_lag, len(y))]))


def mp3_roundtrip(wav: np.ndarray, sample_rate: int, kbps: int) -> np.ndarray:
    """The waveform re-encoded as a ``kbps`` mp3 (LAME, CBR) and decoded back, aligned with the
    input (the codec delay of :func:`mp3_delay` removed) and of the input's length."""
    x = np.asarray(wav, dtype=np.float32)
    if len(x) == 0:
        return x.copy()
    y = _mp3_roundtrip_raw(x, sample_rate, kbps)
    return fit_length(y[mp3_delay(sample_rate, kbps) :], len(x))


# --------------------------------------------------------------------------- conditions


@dataclass(frozen=True)
class Condition:
    """One evaluation condition: a named perturbation of a mono waveform."""

    name: str
    kind: str  # clean, noise, pitch, stretch, mp3, gain
    value: float = 0.0

    def apply(self, wav: np.ndarray, sample_rate: int, seed: int = 0) -> np.ndarray:
        """The perturbed copy of ``wav`` (mono, at ``sample_rate``); ``seed`` drives the noise."""
        if self.kind == "noise":
            return add_noise(wav, self.value, seed)
        if self.kind == "pitch":
            return pitch_shift(wav, sample_rate, self.value)
        if self.kind == "stretch":
            return time_stretch(wav, sample_rate, self.value)
        if self.kind == "mp3":
            return mp3_roundtrip(wav, sample_rate, int(self.value))
        if self.kind == "gain":
            return apply_gain(wav, self.value)
        return np.asarray(wav, dtype=np.float32)


def parse_condition(name: str) -> Condition:
    """``noise_10db``, ``pitch_+2``, ``stretch_0.8``, ``mp3_32k``, ``gain_-20db`` or ``clean``
    → :class:`Condition`; :class:`ValueError` for anything else."""
    name = name.strip()
    if name == "clean":
        return Condition("clean", "clean")
    for kind, pattern in _PATTERNS.items():
        m = pattern.fullmatch(name)
        if not m:
            continue
        value = float(m.group(1))
        if kind == "stretch" and not value > 0:
            raise ValueError(f"{name}: the stretch rate must be positive")
        if kind == "mp3" and int(value) not in MP3_KBPS:
            raise ValueError(f"{name}: mp3 bit rate must be one of {MP3_KBPS} kbps")
        return Condition(name, kind, value)
    raise ValueError(
        f"unknown condition {name!r}: use clean, noise_<SNR>db, pitch_<±semitones>, "
        f"stretch_<rate>, mp3_<kbps>k or gain_<dB>db (default: {','.join(DEFAULT_CONDITIONS)})"
    )


def parse_conditions(names: str | Iterable[str | Condition] | None = None) -> list[Condition]:
    """A comma list (or sequence) of names → conditions, ``clean`` first (it is always
    evaluated: the drops are measured from it), duplicates dropped."""
    if names is None:
        names = DEFAULT_CONDITIONS
    if isinstance(names, str):
        names = names.split(",")
    out = {"clean": Condition("clean", "clean")}
    for n in names:
        if isinstance(n, Condition) or n.strip():
            c = n if isinstance(n, Condition) else parse_condition(n)
            out.setdefault(c.name, c)
    return list(out.values())


def check_conditions(conditions: Sequence[Condition], sample_rate: int) -> None:
    """Apply every condition to a short tone, so that a condition this machine cannot run (an
    mp3 bit rate the encoder refuses at this sample rate) fails before any file is read."""
    t = np.arange(sample_rate // 2) / sample_rate
    x = (0.1 * np.sin(2 * np.pi * 440.0 * t)).astype(np.float32)
    for c in conditions:
        try:
            c.apply(x, sample_rate)
        except Exception as e:
            raise ValueError(f"{c.name}: cannot run at {sample_rate} Hz ({e})") from e
