"""Drums and percussion: kits, bar patterns, tabla, hand percussion."""

from __future__ import annotations

import numpy as np

from autotag.data.synthetic.dsp import (
    _SINE,
    _add,
    _decay,
    _env,
    _fade_out,
    _osc,
    _osc_glide,
    _partials,
    _table,
    midi_hz,
)
from autotag.data.synthetic.score import Score, _noise


def tabla(sc: Score) -> np.ndarray:
    """Tabla: ringing dayan strokes, gliding bayan strokes and slaps in a sixteen-beat cycle."""
    sr = sc.sr
    dayan_f0 = midi_hz(60 + sc.key % 7)
    n = int(0.5 * sr)
    harm = _table(dayan_f0, sr, _partials(1.0, 0.7, 0.5, 0.3, 0.1))
    na = _osc(harm, dayan_f0, n, sr) * _decay(n, sr, 0.12)
    glide = np.linspace(85.0, 120.0, n)
    ge = _fade_out(_osc_glide(_SINE, glide, sr) * _decay(n, sr, 0.2), sr)
    ka = _noise(sc, "snare", int(0.05 * sr)) * _decay(int(0.05 * sr), sr, 0.01)
    strokes = {"dha": na + ge, "dhin": 0.8 * na + 0.6 * ge, "na": na, "ta": na * 0.7, "ka": ka}
    theka = "dha dhin dhin dha dha dhin dhin dha dha na na ta ta dhin dhin dha".split()
    buf = np.zeros(sc.n, np.float32)
    step = 0.5 if sc.pace == "fast" else 1.0
    for pos in sc.onsets(step):
        i = sc.step_index(pos, step) % 16
        _add(buf, strokes[theka[i]], pos, 1.0 if i % 4 == 0 else 0.7)
        if sc.pace != "slow" and sc.rng.random() < 0.3:
            _add(buf, strokes["ka"], pos + int(step * sc.beat / 2), 0.5)
    return buf


def _kit(sc: Score, electronic: bool) -> dict[str, np.ndarray]:
    """Drum one-shots: kick, snare, closed/open hat, crash, ride, clap, toms."""
    sr = sc.sr

    def tone(f_start: float, f_end: float, seconds: float, tau: float) -> np.ndarray:
        n = int(seconds * sr)
        sweep = f_end + (f_start - f_end) * _decay(n, sr, 0.03 if not electronic else 0.05)
        return _fade_out(_osc_glide(_SINE, sweep, sr) * _decay(n, sr, tau), sr, 0.05)

    def hit(noise: str, seconds: float, tau: float) -> np.ndarray:
        n = int(seconds * sr)
        return _fade_out(_noise(sc, noise, n) * _decay(n, sr, tau), sr, 0.05)

    kick = tone(150, 48, 0.6, 0.28) if electronic else tone(120, 55, 0.4, 0.14)
    kick[: int(0.004 * sr)] += 0.5 * hit("white", 0.004, 0.002)
    snare = hit("snare", 0.3, 0.12) * 0.6
    snare[: int(0.25 * sr)] += 0.5 * tone(190, 180, 0.25, 0.06)
    clap = np.zeros(int(0.25 * sr), np.float32)
    for d in (0.0, 0.011, 0.023):
        _add(clap, hit("clap", 0.2, 0.05 if d else 0.09), int(d * sr), 0.6)
    ride = hit("crash", 0.8, 0.3) * 0.4
    for f in (3100.0, 4700.0, 5900.0):
        if f < 0.45 * sr:
            ride += 0.15 * _osc(_SINE, f, len(ride), sr) * _decay(len(ride), sr, 0.5)
    return {
        "kick": kick,
        "snare": snare,
        "hat": hit("hat", 0.08, 0.025) * 0.5,
        "open": hit("hat", 0.4, 0.12) * 0.45,
        "crash": hit("crash", 1.5, 0.6) * 0.5,
        "ride": ride,
        "clap": clap,
        "tom": tone(160, 110, 0.4, 0.15),
    }


# drum patterns: 16 sixteenth steps per bar -> instrument names
_PATTERNS = {
    "rock": {0: "kick", 4: "snare", 8: "kick", 10: "kick", 12: "snare"},
    "pop": {0: "kick", 4: "snare clap", 6: "kick", 8: "kick", 12: "snare clap"},
    "metal": {i: "kick" + (" snare" if i in (4, 12) else "") for i in range(16)},
    "jazz": {0: "kick", 4: "snare", 8: "kick", 12: "snare"},
    "country": {0: "kick", 2: "snare", 4: "snare", 6: "snare", 8: "kick", 10: "snare", 12: "snare"},
    "four": {
        0: "kick",
        2: "open",
        4: "kick clap",
        6: "open",
        8: "kick",
        10: "open",
        12: "kick clap",
    },
    "break": {0: "kick", 4: "snare", 7: "kick", 10: "kick", 12: "snare", 15: "snare"},
}


def _play_drums(sc: Score, style: str, kit: dict[str, np.ndarray], hats: str) -> np.ndarray:
    """Lay a bar pattern over the whole clip, plus hats/ride, crashes and fills."""
    buf = np.zeros(sc.n, np.float32)
    pattern = _PATTERNS[style]
    for pos in sc.onsets(0.25):
        i = sc.step_index(pos, 0.25)
        bar, step = divmod(i, 16)
        for name in pattern.get(step, "").split():
            gain = 0.35 if style == "jazz" else 1.0
            if style == "four" and name == "clap" and sc.genre == "techno":
                name, gain = "hat", 0.8
            _add(buf, kit[name], pos, gain)
        if hats == "ride" and step in (0, 4, 7, 8, 12, 15):
            _add(buf, kit["ride"], pos + (int(0.08 * sc.beat) if step in (7, 15) else 0), 0.7)
        elif hats == "16" or (hats == "8" and step % 2 == 0):
            _add(buf, kit["hat"], pos, 1.0 if step % 4 == 0 else 0.6)
        if step == 0 and bar % 4 == 0 and style not in ("four", "jazz"):
            _add(buf, kit["crash"], pos)
        if bar % 4 == 3 and step >= 12 and style not in ("four", "break"):
            _add(buf, kit["tom"], pos, 0.8)
    return buf


def drums(sc: Score) -> np.ndarray:
    """Acoustic drum kit with a genre pattern (backbeat, double kick, swing ride, train beat)."""
    style = {"metal": "metal", "pop": "pop", "jazz": "jazz", "country": "country"}.get(
        sc.genre, "rock"
    )
    hats = "ride" if style == "jazz" else ("16" if sc.pace == "fast" else "8")
    return _play_drums(sc, style, _kit(sc, electronic=False), hats)


def beat(sc: Score) -> np.ndarray:
    """Four-on-the-floor electronic beat: 808 kick every beat, offbeat open hats, claps."""
    return _play_drums(sc, "four", _kit(sc, electronic=True), "16" if sc.pace == "fast" else "8")


def breakbeat(sc: Score) -> np.ndarray:
    """Syncopated electronic breakbeat."""
    return _play_drums(sc, "break", _kit(sc, electronic=True), "8")


def percussion(sc: Score) -> np.ndarray:
    """Hand percussion: two pitched bongos and a shaker."""
    sr = sc.sr
    n = int(0.25 * sr)
    hi_b = _osc(_SINE, 420.0, n, sr) * _decay(n, sr, 0.05)
    lo_b = _osc(_SINE, 300.0, n, sr) * _decay(n, sr, 0.07)
    shaker = _noise(sc, "hiss", int(0.06 * sr)) * _env(int(0.06 * sr), sr, 0.02, 0.04)
    buf = np.zeros(sc.n, np.float32)
    pattern = sc.rng.random(16)
    for pos in sc.onsets(0.25):
        i = sc.step_index(pos, 0.25) % 16
        _add(buf, shaker, pos, 0.25)
        if pattern[i] < 0.35:
            _add(buf, hi_b if pattern[i] < 0.18 else lo_b, pos)
    return buf
