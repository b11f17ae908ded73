"""Bowed strings, flute, horns and bells: one function per sound source (``Score`` -> samples)."""

from __future__ import annotations

import numpy as np

from autotag.data.synthetic.dsp import (
    _SINE,
    _add,
    _decay,
    _env,
    _fade_out,
    _osc,
    _partials,
    _resonance,
    _table,
    midi_hz,
)
from autotag.data.synthetic.score import Score, _line, _noise, _note_lengths, _NoteBank


def _bowed(sc: Score, f0: float, n: int, body: list[tuple[float, float, float]]) -> np.ndarray:
    """A bowed note: saw-like source through body resonances, delayed vibrato, soft attack."""
    tab = _table(f0, sc.sr, lambda k, f: k**-0.9 * _resonance(f, body))
    m = n + int(0.15 * sc.sr)
    x = _osc(tab, f0, m, sc.sr, vibrato=0.006, rate=float(sc.rng.uniform(5.0, 6.5)))
    x *= _env(m, sc.sr, 0.25 if sc.pace == "slow" else 0.09, 0.15)
    x += 0.04 * _noise(sc, "hiss", m) * _env(m, sc.sr, 0.02, 0.1)[: len(x)]
    return x


VIOLIN_BODY = [(290, 80, 1.0), (700, 250, 0.8), (2400, 700, 0.7)]
CELLO_BODY = [(200, 60, 1.0), (480, 150, 0.7), (1400, 500, 0.4)]


def violin(sc: Score) -> np.ndarray:
    """Solo violin line (G3 to E6)."""
    return _line(sc, 62, 88, lambda f0, n: _bowed(sc, f0, n, VIOLIN_BODY))


def cello(sc: Score) -> np.ndarray:
    """Solo cello line (C2 to C4), long notes."""
    lengths = tuple(2 * x for x in _note_lengths(sc))
    return _line(sc, 36, 62, lambda f0, n: _bowed(sc, f0, n, CELLO_BODY), lengths)


def strings(sc: Score) -> np.ndarray:
    """String section: sustained four-part chords with slow attacks, one chord per bar."""
    sr = sc.sr
    bar = int(4 * sc.beat)

    def chord(degree: int) -> np.ndarray:
        n = bar + int(0.4 * sr)
        out = np.zeros(n, np.float32)
        pcs = sc.pitch_classes(degree)
        for lo, hi in ((43, 55), (55, 64), (62, 72), (67, 79)):
            m = next(m for m in range(lo, hi + 12) if m % 12 in pcs)
            f0 = midi_hz(m) * float(sc.rng.uniform(0.997, 1.003))
            tab = _table(f0, sr, lambda k, f: k**-1.1 * _resonance(f, VIOLIN_BODY))
            rate = float(sc.rng.uniform(4.5, 6.5))
            out += _osc(tab, f0, n, sr, vibrato=0.005, rate=rate, start=float(sc.rng.random()))
        return out * _env(n, sr, min(0.35, 0.3 * bar / sr), 0.4)

    bank = _NoteBank(chord)
    buf = np.zeros(sc.n, np.float32)
    for pos in sc.onsets(4.0, held=True):
        _add(buf, bank(sc.chord(pos)), pos)
    return buf


def flute(sc: Score) -> np.ndarray:
    """Flute: almost pure tone with vibrato and breath noise, high register."""

    def note(f0: float, n: int) -> np.ndarray:
        tab = _table(f0, sc.sr, _partials(1.0, 0.3, 0.12, 0.05, 0.02, 0.01))
        m = n + int(0.08 * sc.sr)
        x = _osc(tab, f0, m, sc.sr, vibrato=0.007, rate=float(sc.rng.uniform(4.5, 5.5)))
        x += 0.12 * _noise(sc, "breath", m)[: len(x)]
        return x * _env(m, sc.sr, 0.06, 0.08)

    return _line(sc, 72, 93, note)


def bells(sc: Score) -> np.ndarray:
    """Bells: inharmonic partials, long decay, sparse high notes."""
    sr = sc.sr

    def note(m: int) -> np.ndarray:
        n = int(2.5 * sr)
        f0 = midi_hz(m)
        x = np.zeros(n, np.float32)
        for ratio, amp, tau in (
            (1.0, 1.0, 1.2),
            (2.76, 0.5, 0.6),
            (5.4, 0.3, 0.3),
            (8.93, 0.2, 0.2),
        ):
            if f0 * ratio < 0.45 * sr:
                x += amp * _osc(_SINE, f0 * ratio, n, sr) * _decay(n, sr, tau)
        return _fade_out(x, sr)

    bank = _NoteBank(note)
    buf = np.zeros(sc.n, np.float32)
    for pos in sc.onsets(2.0):
        if sc.rng.random() < 0.6:
            _add(buf, bank(int(sc.rng.choice(sc.chord_notes(pos, 67, 91)))), pos)
    return buf


def horns(sc: Score) -> np.ndarray:
    """French horns: warm brass chords (strong low harmonics, slow swell), one chord a bar."""
    sr = sc.sr
    bar = int(4 * sc.beat)

    def chord(degree: int) -> np.ndarray:
        n = bar + int(0.3 * sr)
        out = np.zeros(n, np.float32)
        pcs = sc.pitch_classes(degree)
        for lo in (50, 55, 60):
            m = next(m for m in range(lo, lo + 12) if m % 12 in pcs)
            f0 = midi_hz(m)
            tab = _table(f0, sr, lambda k, f: _resonance(f, [(450, 250, 1.0), (1000, 300, 0.4)]))
            out += _osc(tab, f0, n, sr, vibrato=0.003, rate=5.0, start=float(sc.rng.random()))
        return out * _env(n, sr, 0.15, 0.3)

    bank = _NoteBank(chord)
    buf = np.zeros(sc.n, np.float32)
    for pos in sc.onsets(4.0, held=True):
        _add(buf, bank(sc.chord(pos)), pos)
    return buf
