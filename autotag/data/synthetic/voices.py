"""Voices: singers (formant synthesis), opera, choir, and the instrumental lead that sings the
tune where a voice would."""

from __future__ import annotations

import numpy as np

from autotag.data.synthetic.dsp import (
    _SINE,
    _add,
    _env,
    _lookup,
    _osc,
    _partials,
    _phase,
    _resonance,
    _table,
    midi_hz,
)
from autotag.data.synthetic.score import Score, _line, _noise, _NoteBank

VOWELS = {
    "a": (730, 1090, 2440),
    "e": (530, 1840, 2480),
    "i": (290, 2250, 2900),
    "o": (570, 840, 2410),
    "u": (320, 870, 2240),
}


def _vowel(sc: Score, f0: float, vowel: str, shift: float, singer: float = 0.0) -> np.ndarray:
    """Glottal source through the vowel's formants (scaled by ``shift``), + singer's formant."""
    peaks = [
        (f * shift, 60 + 0.06 * f, g) for f, g in zip(VOWELS[vowel], (1.0, 0.6, 0.3), strict=True)
    ]
    peaks.append((0.0, 300.0, 0.3))  # the vocal tract passes the low harmonics too
    if singer:
        peaks.append((2900 * shift, 250, singer))
    return _table(f0, sc.sr, lambda k, f: k**-0.8 * _resonance(f, peaks))


def _sing(
    sc: Score, lo: int, hi: int, shift: float, vibrato: float, opera: bool, breath: float = 0.0
) -> np.ndarray:
    """Sung phrases: syllables with vowels, consonant bursts at onsets, rests between phrases."""
    sr = sc.sr
    buf = np.zeros(sc.n, np.float32)
    lengths = (1.0, 2.0, 2.0, 3.0) if opera else (0.5, 0.5, 1.0, 1.0, 2.0)
    if sc.pace == "slow" and not opera:
        lengths = (1.0, 1.0, 2.0)
    pos = int(sc.rng.integers(0, int(2 * sc.beat)))
    while pos < sc.n:
        count = int(sc.rng.integers(4, 10))
        for m in sc.melody(lo, hi, count):
            dur = int(lengths[int(sc.rng.integers(len(lengths)))] * sc.beat)
            f0 = midi_hz(m)
            vowel = (
                "aoaeiu"[int(sc.rng.integers(6))] if not opera else "aaoe"[int(sc.rng.integers(4))]
            )
            tab = _vowel(sc, f0, vowel, shift, singer=0.8 if opera else 0.0)
            n = dur + int(0.05 * sr)
            x = _osc(tab, f0, n, sr, vibrato=vibrato, rate=float(sc.rng.uniform(5.0, 6.5)))
            if breath:
                x += breath * _noise(sc, "breath", n)
            x *= _env(n, sr, 0.03 if not opera else 0.08, 0.06)
            _add(buf, x, pos)
            if not opera and sc.rng.random() < 0.7:
                cons = int(float(sc.rng.uniform(0.03, 0.07)) * sr)
                _add(
                    buf,
                    _noise(sc, "hiss", cons) * _env(cons, sr, 0.005, 0.02),
                    pos - cons // 2,
                    0.5,
                )
            pos += dur
        pos += int(float(sc.rng.choice([1.0, 2.0, 3.0])) * sc.beat)
    return buf


def voice_male(sc: Score) -> np.ndarray:
    """Male singer: fundamental ~100-185 Hz, speech-like syllables."""
    return _sing(sc, 43, 54, shift=1.0, vibrato=0.01, opera=False)


def voice_female(sc: Score) -> np.ndarray:
    """Female singer: fundamental ~210-370 Hz, formants ~17 % higher, breathy."""
    return _sing(sc, 56, 66, shift=1.17, vibrato=0.012, opera=False, breath=0.12)


def opera_male(sc: Score) -> np.ndarray:
    """Operatic tenor: sustained notes, wide vibrato, strong singer's formant."""
    return _sing(sc, 55, 69, shift=1.0, vibrato=0.03, opera=True)


def opera_female(sc: Score) -> np.ndarray:
    """Operatic soprano: high sustained notes, wide vibrato, strong singer's formant."""
    return _sing(sc, 67, 81, shift=1.17, vibrato=0.035, opera=True)


def choir(sc: Score) -> np.ndarray:
    """Choir: four sections (SATB), each doubled and detuned, sustained vowels, one chord a bar."""
    sr = sc.sr
    bar = int(4 * sc.beat)

    def chord(degree: int, vowel: str) -> np.ndarray:
        n = bar + int(0.3 * sr)
        out = np.zeros(n, np.float32)
        pcs = sc.pitch_classes(degree)
        for lo, shift, detune in (
            (45, 1.0, 0.997),
            (52, 1.0, 1.003),
            (57, 1.17, 1.0),
            (64, 1.17, 1.0),
        ):
            m = next(m for m in range(lo, lo + 12) if m % 12 in pcs)
            tab = _vowel(sc, midi_hz(m), vowel, shift)
            for f0 in {midi_hz(m), midi_hz(m) * detune}:  # doubled, slightly detuned sections
                rate = float(sc.rng.uniform(4.5, 6.0))
                out += _osc(tab, f0, n, sr, vibrato=0.008, rate=rate, start=float(sc.rng.random()))
        return out * _env(n, sr, 0.25, 0.3)

    bank = _NoteBank(chord)
    buf = np.zeros(sc.n, np.float32)
    for pos in sc.onsets(4.0, held=True):
        degree = sc.chord(pos)
        _add(buf, bank(degree, "aou"[degree % 3]), pos)
    return buf


def lead(sc: Score) -> np.ndarray:
    """Instrumental lead (organ with rotary tremolo) singing the tune where a voice would be."""
    sr = sc.sr
    drawbars = _partials(1.0, 0.8, 0.6, 0.5, 0.0, 0.35, 0.0, 0.3)

    def note(f0: float, n: int) -> np.ndarray:
        tab = _table(f0, sr, drawbars)
        m = n + int(0.03 * sr)
        trem = 1.0 - 0.2 * (1.0 + _lookup(_SINE, _phase(6.5, m, sr))) / 2
        return _osc(tab, f0, m, sr) * trem * _env(m, sr, 0.01, 0.03)

    lengths = (0.5, 0.5, 1.0, 1.0, 2.0) if sc.pace != "slow" else (1.0, 2.0)
    buf = _line(sc, 57, 74, note, lengths, rest=0.2)
    # phrase like a singer: mute every other two-bar span
    span = int(8 * sc.beat)
    for pos in sc.onsets(16.0, phase=8.0):
        buf[pos : pos + span] *= 0.0
    return buf
