"""Synthesis primitives: fixed-point wavetable oscillators, envelopes, decays, resonances and
cached noise banks."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from functools import lru_cache

import numpy as np

TABLE = 2048
_SHIFT = np.uint32(32 - 11)  # 2**11 == TABLE
_SINE = np.sin(2 * np.pi * np.arange(TABLE) / TABLE).astype(np.float32)


_RAMP = np.arange(1 << 20, dtype=np.uint32)


def _ramp(n: int) -> np.ndarray:
    """0, 1, ..., n-1 as uint32 (a shared, growing array)."""
    global _RAMP
    if n > len(_RAMP):
        _RAMP = np.arange(1 << int(np.ceil(np.log2(n))), dtype=np.uint32)
    return _RAMP[:n]


def midi_hz(m: float) -> float:
    """Frequency of a MIDI note number."""
    return 440.0 * 2.0 ** ((m - 69.0) / 12.0)


def _table(f0: float, sr: int, amps: Callable[[np.ndarray, np.ndarray], np.ndarray]) -> np.ndarray:
    """One period of a band-limited wave whose k-th harmonic has amplitude amps(k, k * f0)."""
    k = np.arange(1, int(min(0.45 * sr / max(f0, 1.0), TABLE // 2 - 1)) + 1)
    if k.size == 0:
        k = np.array([1])
    spec = np.zeros(TABLE // 2 + 1, np.complex128)
    spec[k] = -1j * amps(k, k * f0)
    wave = np.fft.irfft(spec, TABLE)
    return (wave / max(np.abs(wave).max(), 1e-9)).astype(np.float32)


def _partials(*values: float) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    """Amplitude function for :func:`_table` with fixed amplitudes of the first harmonics."""
    amps = np.array(values)
    return lambda k, f: np.where(k <= len(amps), amps[np.minimum(k, len(amps)) - 1], 0.0)


def _phase(f0: float, n: int, sr: int, start: float = 0.0) -> np.ndarray:
    """Fixed-point phase (uint32 = one cycle) of a steady tone."""
    step = np.uint32(int(round(f0 / sr * 2**32)) % 2**32)
    return _ramp(n) * step + np.uint32(int(start * 2**32) % 2**32)


def _lookup(table: np.ndarray, phase: np.ndarray) -> np.ndarray:
    """Table value at each fixed-point phase."""
    return table[phase >> _SHIFT]


def _osc(
    table: np.ndarray,
    f0: float,
    n: int,
    sr: int,
    vibrato: float = 0.0,
    rate: float = 5.5,
    start: float = 0.0,
) -> np.ndarray:
    """Wavetable oscillator; ``vibrato`` is the relative frequency deviation."""
    phase = _phase(f0, n, sr, start)
    if vibrato:
        lfo_phase = _phase(rate, n, sr, 0.75)  # starts at the bottom: 1 - cos shape
        dev = (_lookup(_SINE, lfo_phase) + 1.0) * (f0 * vibrato / (2 * np.pi * rate) * 2**32)
        phase += dev.astype(np.int64).astype(np.uint32)
    return _lookup(table, phase)


def _glide_phase(freq: np.ndarray, sr: int) -> np.ndarray:
    """Fixed-point phase of a tone following a frequency curve (Hz per sample)."""
    steps = (np.asarray(freq) * (2**32 / sr)).astype(np.int64).astype(np.uint32)
    return np.cumsum(steps, dtype=np.uint32)


def _osc_glide(table: np.ndarray, freq: np.ndarray, sr: int) -> np.ndarray:
    """Wavetable oscillator following a frequency curve (Hz per sample)."""
    return _lookup(table, _glide_phase(freq, sr))


def _env(n: int, sr: int, attack: float, release: float) -> np.ndarray:
    """Linear attack, flat sustain, linear release."""
    e = np.ones(n, np.float32)
    a = min(n, int(attack * sr))
    r = min(n - a, int(release * sr))
    if a:
        e[:a] = np.linspace(0.0, 1.0, a, dtype=np.float32)
    if r:
        e[n - r :] *= np.linspace(1.0, 0.0, r, dtype=np.float32)
    return e


_DECAYS: dict[tuple[int, float], np.ndarray] = {}


def _decay(n: int, sr: int, tau: float) -> np.ndarray:
    """exp(-t / tau) over n samples (read-only; prefixes of one cached curve per tau)."""
    curve = _DECAYS.get((sr, tau))
    if curve is None or len(curve) < n:
        size = max(n, 2 * sr)
        curve = np.exp(np.arange(size, dtype=np.float32) * np.float32(-1.0 / (tau * sr)))
        curve.setflags(write=False)
        _DECAYS[(sr, tau)] = curve
    return curve[:n]


def _fade_out(x: np.ndarray, sr: int, seconds: float = 0.15) -> np.ndarray:
    """Fade the tail of a rendered note to zero in place (no click where it is cut)."""
    n = min(len(x), int(seconds * sr))
    if n:
        x[len(x) - n :] *= np.linspace(1.0, 0.0, n, dtype=np.float32)
    return x


def _add(buf: np.ndarray, x: np.ndarray, start: int, gain: float = 1.0) -> None:
    """Mix ``x`` into ``buf`` at sample ``start`` (clipped to the buffer)."""
    if start < 0:
        x, start = x[-start:], 0
    end = min(len(buf), start + len(x))
    if end > start:
        buf[start:end] += x[: end - start] * np.float32(gain)


def _resonance(f: np.ndarray, peaks: Iterable[tuple[float, float, float]]) -> np.ndarray:
    """Sum of resonance curves (centre Hz, bandwidth Hz, gain) evaluated at ``f``."""
    out = np.full(f.shape, 0.05)
    for centre, width, gain in peaks:
        out = out + gain / (1.0 + ((f - centre) / width) ** 2)
    return out


def _lowpass_amps(f: np.ndarray, cutoff: float, order: int = 2) -> np.ndarray:
    return 1.0 / (1.0 + (f / cutoff) ** order)


@lru_cache(maxsize=8)
def _noise_bank(sr: int) -> dict[str, np.ndarray]:
    """Two seconds of band-limited noises (fixed seed) sliced at random offsets by the sources."""
    rng = np.random.default_rng(7)
    n = 2 * sr
    spec = np.fft.rfft(rng.standard_normal(n))
    f = np.fft.rfftfreq(n, 1 / sr)
    nyq = 0.5 * sr

    def band(lo: float, hi: float) -> np.ndarray:
        mask = (f >= min(lo, 0.9 * nyq)) & (f <= min(hi, 0.98 * nyq))
        x = np.fft.irfft(spec * mask, n)
        return (x / np.sqrt(np.mean(x**2))).astype(np.float32)

    return {
        "white": band(20, nyq),
        "hat": band(7000, nyq),
        "crash": band(3500, nyq),
        "snare": band(900, 6000),
        "clap": band(800, 3200),
        "breath": band(1200, 4500),
        "hiss": band(3000, 7500),
        "low": band(40, 400),
    }


@lru_cache(maxsize=4)
def _pink_bank(n: int, sr: int) -> np.ndarray:
    """Pink-ish noise (1/f power) longer than a clip; clips read it at a random offset."""
    rng = np.random.default_rng(11)
    size = 1 << int(np.ceil(np.log2(n + sr)))
    f = np.fft.rfftfreq(size, 1 / sr)
    spec = np.fft.rfft(rng.standard_normal(size)) / np.sqrt(np.maximum(f, 20.0))
    x = np.fft.irfft(spec, size)
    return (x / np.sqrt(np.mean(x**2))).astype(np.float32)
