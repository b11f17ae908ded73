"""Pitched instruments and ambiences: one function per sound source (``Score`` -> samples)."""

from __future__ import annotations

import numpy as np

from autotag.data.synthetic.dsp import (
    _SINE,
    _add,
    _decay,
    _env,
    _fade_out,
    _glide_phase,
    _lookup,
    _lowpass_amps,
    _osc,
    _osc_glide,
    _partials,
    _phase,
    _resonance,
    _table,
    midi_hz,
)
from autotag.data.synthetic.genres import _CLASSICAL
from autotag.data.synthetic.score import SCALES, Score, _line, _noise, _note_lengths, _NoteBank


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
