"""Plucked and struck instruments: piano, harpsichord, harp, guitars, banjo, sitar and tanpura,
bass; one function per sound source (``Score`` -> samples)."""

from __future__ import annotations

import numpy as np

from autotag.data.synthetic.dsp import (
    _add,
    _decay,
    _env,
    _fade_out,
    _glide_phase,
    _lookup,
    _lowpass_amps,
    _osc,
    _phase,
    _resonance,
    _table,
    midi_hz,
)
from autotag.data.synthetic.genres import _CLASSICAL
from autotag.data.synthetic.score import Score, _line, _noise, _NoteBank


def _pluck(
    sc: Score, f0: float, seconds: float, slope: float, tau: float, bright: float = 0.5
) -> np.ndarray:
    """Plucked string: harmonics 1/k**slope decaying with tau, a brighter part 4x faster."""
    n = int(seconds * sc.sr)
    body = _table(f0, sc.sr, lambda k, f: k**-slope * np.abs(np.sin(np.pi * k * 0.18)) + 0.05)
    tip = _table(f0, sc.sr, lambda k, f: k ** (-slope * 0.5))
    phase = _phase(f0, n, sc.sr, float(sc.rng.random()))
    x = _lookup(body, phase) * _decay(n, sc.sr, tau)
    x += bright * _lookup(tip, phase) * _decay(n, sc.sr, tau * 0.25)
    x[: int(0.002 * sc.sr)] *= np.linspace(0, 1, int(0.002 * sc.sr), dtype=np.float32)
    return _fade_out(x, sc.sr)


def piano(sc: Score) -> np.ndarray:
    """Piano: two slightly detuned strings, hammer-position comb, two-stage decay; chords + tune."""
    sr = sc.sr

    def note(m: int) -> np.ndarray:
        f0 = midi_hz(m)
        n = int(2.0 * sr)
        tab = _table(
            f0, sr, lambda k, f: k**-1.3 * (1.2 + np.cos(k * 0.9)) * _lowpass_amps(f, 3000)
        )
        x = _osc(tab, f0, n, sr) + _osc(tab, f0 * 1.0017, n, sr, start=0.3)
        x *= 0.3 * _decay(n, sr, 0.12) + 0.2 * _decay(n, sr, 1.1 * (261.0 / f0) ** 0.3)
        _add(x, _noise(sc, "snare", int(0.004 * sr)), 0, 0.05)
        return _fade_out(x, sr)

    bank = _NoteBank(note)
    buf = np.zeros(sc.n, np.float32)
    left = sc.onsets(1.0 if sc.pace != "slow" else 2.0)
    for pos in left:
        for m in sc.chord_notes(pos, 48, 64)[:3]:
            _add(buf, bank(int(m)), pos, 0.5)
    step = 1.0 / sc.notes_per_beat
    onsets = sc.onsets(step)
    for pos, m in zip(onsets, sc.melody(62, 84, len(onsets)), strict=True):
        if sc.rng.random() < 0.8:
            _add(buf, bank(m), pos, 0.8)
    return buf


def harpsichord(sc: Score) -> np.ndarray:
    """Harpsichord: very bright, fast-decaying plucks with an octave register, busy figuration."""

    def note(m: int) -> np.ndarray:
        x = _pluck(sc, midi_hz(m), 0.6, slope=0.35, tau=0.3, bright=0.8)
        x += 0.5 * _pluck(sc, midi_hz(m + 12), 0.6, slope=0.5, tau=0.2)[: len(x)]
        return x

    bank = _NoteBank(note)
    buf = np.zeros(sc.n, np.float32)
    step = 1.0 / max(2.0, sc.notes_per_beat)
    onsets = sc.onsets(step)
    for pos, m in zip(onsets, sc.melody(60, 84, len(onsets)), strict=True):
        _add(buf, bank(m), pos)
    for pos in sc.onsets(1.0):
        _add(buf, bank(int(sc.chord_notes(pos, 40, 52)[0])), pos, 0.8)
    return buf


def harp(sc: Score) -> np.ndarray:
    """Harp: nearly pure, long-ringing plucks rolled as wide arpeggios."""
    bank = _NoteBank(lambda m: _pluck(sc, midi_hz(m), 1.8, slope=2.6, tau=0.9, bright=0.2))
    buf = np.zeros(sc.n, np.float32)
    step = 1.0 / (2 * sc.notes_per_beat)
    up = True
    for bar_pos in sc.onsets(4.0 if sc.pace == "slow" else 2.0):
        notes = sc.chord_notes(bar_pos, 43, 86)
        notes = notes if up else notes[::-1]
        up = not up
        for i, m in enumerate(notes[:12]):
            _add(buf, bank(int(m)), bar_pos + int(i * step * sc.beat), 0.7)
    return buf


def guitar(sc: Score) -> np.ndarray:
    """Acoustic guitar: strummed chords (pop, rock, country) or picked arpeggios (classical)."""
    bank = _NoteBank(lambda m: _pluck(sc, midi_hz(m), 1.4, slope=1.4, tau=0.5, bright=0.6))
    buf = np.zeros(sc.n, np.float32)
    picked = sc.genre in _CLASSICAL or sc.genre in ("new_age", "ambient") or sc.rng.random() < 0.3
    if picked:
        onsets = sc.onsets(1.0 / max(2.0, sc.notes_per_beat))
        for i, pos in enumerate(onsets):
            notes = sc.chord_notes(pos, 40, 71)
            _add(buf, bank(int(notes[(i * 2) % len(notes)])), pos)
        return buf
    for i, pos in enumerate(sc.onsets(0.5 if sc.pace != "slow" else 1.0)):
        notes = sc.chord_notes(pos, 40, 64)[:6]
        down = i % 2 == 0
        gain = 1.0 if down else 0.6
        for j, m in enumerate(notes if down else notes[::-1]):
            _add(buf, bank(int(m)), pos + int(j * 0.012 * sc.sr), gain * 0.6)
    return buf


def banjo(sc: Score) -> np.ndarray:
    """Banjo: bright metallic plucks rolling in sixteenths."""

    def note(m: int) -> np.ndarray:
        x = _pluck(sc, midi_hz(m), 0.5, slope=0.7, tau=0.18, bright=1.0)
        tab = _table(midi_hz(m), sc.sr, lambda k, f: _resonance(f, [(1400, 300, 1.0)]))
        return x + 0.5 * _osc(tab, midi_hz(m), len(x), sc.sr) * _decay(len(x), sc.sr, 0.08)

    bank = _NoteBank(note)
    buf = np.zeros(sc.n, np.float32)
    for i, pos in enumerate(sc.onsets(0.25)):
        notes = sc.chord_notes(pos, 55, 79)
        _add(buf, bank(int(notes[(i * 3) % len(notes)])), pos, 0.7 if i % 4 else 1.0)
    return buf


def sitar(sc: Score) -> np.ndarray:
    """Sitar: buzzy plucks whose pitch slides in from below (meend), bright jawari formants."""
    sr = sc.sr

    def note(f0: float, n: int) -> np.ndarray:
        m = min(n + int(0.3 * sr), int(2.5 * sr))
        if sc.rng.random() < 0.5:
            slide = int(min(0.15 * sr, m // 3))
            freq = np.full(m, f0)
            freq[:slide] = f0 * np.linspace(0.89, 1.0, slide)
            phase = _glide_phase(freq, sr)
        else:
            phase = _phase(f0, m, sr)
        buzz = _table(
            f0, sr, lambda k, f: k**-0.4 * _resonance(f, [(1800, 500, 1), (3200, 600, 1)])
        )
        soft = _table(f0, sr, lambda k, f: k**-1.2)
        x = _lookup(buzz, phase) * _decay(m, sr, 0.35)
        x += _lookup(soft, phase) * _decay(m, sr, 1.0) * 0.6
        return _fade_out(x, sr)

    return _line(sc, 55, 79, note, rest=0.05)


def tanpura(sc: Score) -> np.ndarray:
    """Tanpura drone: four strings (Pa Sa Sa low-Sa) plucked in a slow endless cycle."""
    sr = sc.sr
    root = 48 + sc.key

    def string(m: int) -> np.ndarray:
        n = int(3.0 * sr)
        tab = _table(midi_hz(m), sr, lambda k, f: k**-0.6 * _resonance(f, [(1500, 600, 1)]))
        return _osc(tab, midi_hz(m), n, sr) * _decay(n, sr, 1.6) * _env(n, sr, 0.03, 0.5)

    bank = _NoteBank(string)
    cycle = (root - 5, root, root, root - 12)
    buf = np.zeros(sc.n, np.float32)
    period = int(float(sc.rng.uniform(0.6, 0.9)) * sr)
    for i, pos in enumerate(range(-int(sc.rng.integers(period)), sc.n, period)):
        _add(buf, bank(cycle[i % 4]), pos)
    return buf


def bass(sc: Score) -> np.ndarray:
    """Bass guitar: round plucked low notes (walking quarters in jazz, roots in eighths else)."""
    bank = _NoteBank(lambda m: _pluck(sc, midi_hz(m), 0.9, slope=2.2, tau=0.35, bright=0.2))
    buf = np.zeros(sc.n, np.float32)
    walking = sc.genre == "jazz"
    step = 1.0 if walking or sc.pace == "slow" else 0.5
    for i, pos in enumerate(sc.onsets(step)):
        notes = sc.chord_notes(pos, 28, 48) if not walking else sc.scale_notes(28, 48)
        m = notes[0] if not walking else notes[(i * 3 + int(sc.rng.integers(3))) % len(notes)]
        if sc.genre == "dance" and i % 2 == 0:
            continue  # offbeat house bass
        _add(buf, bank(int(m)), pos)
    return buf


def _distorted_guitar(sc: Score, heavy: bool) -> np.ndarray:
    """Distorted electric guitar: power chords through a tanh clipper; metal chugs in 16ths."""
    sr = sc.sr
    bar = int(4 * sc.beat)
    drive = 18.0 if heavy else 7.0
    step = 0.25 if heavy else 0.5

    def chord(degree: int) -> np.ndarray:
        root = (36 if heavy else 40) + (sc.key + sc.scale[degree % 7] - (36 if heavy else 40)) % 12
        n = bar + int(0.2 * sr)
        x = np.zeros(n, np.float32)
        for interval, detune in ((0, 1.0), (7, 1.0), (12, 1.002)):
            f0 = midi_hz(root + interval) * detune
            x += _osc(_table(f0, sr, lambda k, f: k**-1.0), f0, n, sr, start=interval / 19)
        x = np.tanh(drive * x / 3)
        gate = np.ones(n, np.float32)
        if heavy or sc.rng.random() < 0.5:  # palm-muted chugs
            s = int(step * sc.beat)
            for p in range(0, n, s):
                gate[p : p + s] = _decay(min(s, n - p), sr, 0.08 if heavy else 0.15)
        return x * gate

    bank = _NoteBank(chord)
    buf = np.zeros(sc.n, np.float32)
    for pos in sc.onsets(4.0, held=True):
        _add(buf, bank(sc.chord(pos)), pos)
    return buf
