"""Synthesizers, drones, effects and nature ambience: one function per sound source (``Score`` ->
samples)."""

from __future__ import annotations

import numpy as np

from autotag.data.synthetic.dsp import (
    _SINE,
    _add,
    _decay,
    _env,
    _lookup,
    _lowpass_amps,
    _osc,
    _osc_glide,
    _phase,
    _resonance,
    _table,
    midi_hz,
)
from autotag.data.synthetic.score import SCALES, Score, _noise, _NoteBank


def pad(sc: Score) -> np.ndarray:
    """Synth pad: detuned, low-passed saws with slow attack and release, two bars per chord."""
    sr = sc.sr
    span = int(8 * sc.beat)

    def chord(degree: int) -> np.ndarray:
        n = span + int(1.5 * sr)
        out = np.zeros(n, np.float32)
        pcs = sorted(sc.pitch_classes(degree))
        for pc in pcs:
            f0 = midi_hz(48 + (pc - 48) % 12 + 12)
            tab = _table(f0, sr, lambda k, f: k**-1.0 * _lowpass_amps(f, 900, 3))
            out += _osc(tab, f0, n, sr) + _osc(tab, f0 * 1.004, n, sr, start=0.5)
        return out * _env(n, sr, min(1.5, span / sr / 3), 1.5)

    bank = _NoteBank(chord)
    buf = np.zeros(sc.n, np.float32)
    for pos in sc.onsets(8.0, held=True):
        _add(buf, bank(sc.chord(pos)), pos)
    return buf


def synth(sc: Score) -> np.ndarray:
    """Synth lead: square-wave arpeggio in sixteenths whose filter opens and closes over bars."""
    sr = sc.sr
    cutoffs = (700.0, 1400.0, 2800.0, 5600.0)

    def note(m: int, level: int) -> np.ndarray:
        f0 = midi_hz(m)
        odd = lambda k, f: (k % 2) * k**-1.0 * _lowpass_amps(f, cutoffs[level], 4)  # noqa: E731
        n = int(0.22 * sr)
        return _osc(_table(f0, sr, odd), f0, n, sr) * _decay(n, sr, 0.09) * _env(n, sr, 0.003, 0.02)

    bank = _NoteBank(note)
    buf = np.zeros(sc.n, np.float32)
    step = 0.25 if sc.pace != "slow" else 0.5
    lfo_bars = float(sc.rng.uniform(2, 6))
    for i, pos in enumerate(sc.onsets(step)):
        notes = sc.chord_notes(pos, 60, 84)
        bars = (pos - sc.offset) / (4 * sc.beat)
        level = int(3.99 * (0.5 + 0.5 * np.sin(2 * np.pi * bars / lfo_bars)))
        _add(buf, bank(int(notes[i % len(notes)]), level), pos)
    return buf


def acid(sc: Score) -> np.ndarray:
    """Acid bass: resonant saw in sixteenths (root, octave, fifth) with a sweeping resonance."""
    sr = sc.sr
    peaks = (350.0, 700.0, 1200.0, 2000.0)

    def note(m: int, level: int) -> np.ndarray:
        f0 = midi_hz(m)
        fc = peaks[level]
        amps = lambda k, f: (
            k**-1.0 * (_lowpass_amps(f, fc, 4) + 3 * _resonance(f, [(fc, fc / 8, 1)]))
        )  # noqa: E731
        n = int(0.2 * sr)
        return _osc(_table(f0, sr, amps), f0, n, sr) * _decay(n, sr, 0.1) * _env(n, sr, 0.002, 0.02)

    bank = _NoteBank(note)
    buf = np.zeros(sc.n, np.float32)
    pattern = sc.rng.choice([0, 12, 7, 0, 0, 10, 12, 3], size=16)
    accents = sc.rng.random(16) < 0.3
    for pos in sc.onsets(0.25):
        i = sc.step_index(pos, 0.25) % 16
        root = 33 + (sc.key + SCALES["minor"][sc.chord(pos) % 7]) % 12
        level = int((pos / sc.n) * 3.99) if accents[i] else int(sc.rng.integers(0, 2))
        _add(buf, bank(int(root + pattern[i]), level), pos, 1.0 if accents[i] else 0.6)
    return buf


def nature(sc: Score) -> np.ndarray:
    """Nature ambience (new age): a babbling stream and chirping birds."""
    sr = sc.sr
    babble = 0.6 + 0.4 * _lookup(_SINE, _phase(float(sc.rng.uniform(3, 7)), sc.n, sr))
    buf = _noise(sc, "breath", sc.n) * babble * 0.3
    pos = int(sc.rng.integers(0, sr))
    while pos < sc.n:
        n = int(float(sc.rng.uniform(0.05, 0.12)) * sr)
        f0 = float(sc.rng.uniform(2500, 5000))
        sweep = f0 * (1 + 0.3 * np.sin(np.linspace(0, 3 * np.pi, n)))
        chirp = _osc_glide(_SINE, np.minimum(sweep, 0.45 * sr), sr) * _env(n, sr, 0.01, 0.03)
        for rep in range(int(sc.rng.integers(1, 4))):
            _add(buf, chirp, pos + rep * int(1.5 * n))
        pos += int(float(sc.rng.uniform(0.4, 2.5)) * sr)
    return buf


def drone(sc: Score) -> np.ndarray:
    """Low sustained drone (root and fifth), dark, slowly swelling."""
    sr = sc.sr
    out = np.zeros(sc.n, np.float32)
    for m in (36 + sc.key, 43 + sc.key):
        f0 = midi_hz(m)
        tab = _table(f0, sr, lambda k, f: k**-1.0 * _lowpass_amps(f, 500, 3))
        out += _osc(tab, f0, sc.n, sr, start=float(sc.rng.random()))
    swell = 0.7 + 0.3 * _lookup(_SINE, _phase(float(sc.rng.uniform(0.05, 0.2)), sc.n, sr))
    return out * swell


def weird_fx(sc: Score) -> np.ndarray:
    """Weird effects: FM bursts with sweeping index, stuttering glitches, long pitch sweeps."""
    sr = sc.sr
    buf = np.zeros(sc.n, np.float32)
    pos = int(sc.rng.integers(0, sr))
    while pos < sc.n:
        kind = int(sc.rng.integers(3))
        dur = int(float(sc.rng.uniform(0.3, 1.5)) * sr)
        t = np.arange(dur, dtype=np.float32) / sr
        if kind == 0:
            fc, ratio = float(sc.rng.uniform(200, 1500)), float(sc.rng.choice([1.41, 2.7, 3.3]))
            index = np.linspace(0, float(sc.rng.uniform(3, 10)), dur, dtype=np.float32)
            x = np.sin(2 * np.pi * fc * t + index * np.sin(2 * np.pi * fc * ratio * t))
        elif kind == 1:
            grain = _noise(sc, "white", int(0.04 * sr)) * _decay(int(0.04 * sr), sr, 0.01)
            x = np.zeros(dur, np.float32)
            for g in range(0, dur, int(float(sc.rng.uniform(0.05, 0.12)) * sr)):
                _add(x, grain, g)
        else:
            f = np.geomspace(float(sc.rng.uniform(1500, 4000)), 80.0, dur)
            x = _osc_glide(_SINE, f, sr)
        _add(buf, x.astype(np.float32) * _env(dur, sr, 0.01, 0.1), pos)
        pos += dur + int(float(sc.rng.uniform(0.1, 0.8)) * sr)
    return buf
