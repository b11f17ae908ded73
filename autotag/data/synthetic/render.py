"""Mixing: the source registry, and rendering one clip from its plan (levels, mastering)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from autotag.data.synthetic.drums import beat, breakbeat, drums, percussion, tabla
from autotag.data.synthetic.dsp import _noise_bank, _pink_bank
from autotag.data.synthetic.electronic import acid, drone, nature, pad, synth, weird_fx
from autotag.data.synthetic.genres import VOICES
from autotag.data.synthetic.instruments import (
    _distorted_guitar,
    banjo,
    bass,
    guitar,
    harp,
    harpsichord,
    piano,
    sitar,
    tanpura,
)
from autotag.data.synthetic.orchestra import bells, cello, flute, horns, strings, violin
from autotag.data.synthetic.plan import ClipPlan
from autotag.data.synthetic.score import SCALES, Score
from autotag.data.synthetic.voices import (
    choir,
    lead,
    opera_female,
    opera_male,
    voice_female,
    voice_male,
)

SOURCES: dict[str, Callable[[Score], np.ndarray]] = {
    "strings": strings,
    "violin": violin,
    "cello": cello,
    "piano": piano,
    "harpsichord": harpsichord,
    "harp": harp,
    "flute": flute,
    "guitar": guitar,
    "dist_guitar": lambda sc: _distorted_guitar(sc, heavy=False),
    "metal_guitar": lambda sc: _distorted_guitar(sc, heavy=True),
    "banjo": banjo,
    "sitar": sitar,
    "tanpura": tanpura,
    "tabla": tabla,
    "pad": pad,
    "synth": synth,
    "acid": acid,
    "bass": bass,
    "drums": drums,
    "beat": beat,
    "breakbeat": breakbeat,
    "voice_male": voice_male,
    "voice_female": voice_female,
    "opera_male": opera_male,
    "opera_female": opera_female,
    "choir": choir,
    "lead": lead,
    "fx": weird_fx,
    "bells": bells,
    "nature": nature,
    "horns": horns,
    "percussion": percussion,
    "drone": drone,
}
SOURCE_LEVEL_DB = {
    "bass": -4.0,
    "pad": -5.0,
    "drone": -6.0,
    "tanpura": -5.0,
    "acid": -2.0,
    "nature": -4.0,
    "voice_male": 2.0,
    "voice_female": 2.0,
    "fx": 2.0,
}


def _rms(x: np.ndarray) -> float:
    """RMS over the audible part of a source (sparse sources are not penalized)."""
    active = np.abs(x) > 1e-3 * (np.abs(x).max() + 1e-12)
    return float(np.sqrt(np.mean(np.square(x[active], dtype=np.float64)))) if active.any() else 1.0


def _tilt(x: np.ndarray, sr: int, amount: float) -> np.ndarray:
    """Broad EQ tilt: amount > 0 darkens (towards a ~1.2 kHz moving average), < 0 brightens."""
    width = max(2, round(sr / 2600))
    c = np.concatenate([np.zeros(width), np.cumsum(x, dtype=np.float64)])
    low = ((c[width:] - c[:-width]) / width).astype(np.float32)
    return x + np.float32(amount) * (low - x)


def synthesize(plan: ClipPlan, n: int, sr: int, seed: int) -> np.ndarray:
    """Render one clip (float32 mono, ``n`` samples) from its plan; depends on (seed, index)."""
    rng = np.random.default_rng([seed, 1, plan.index])
    track_rng = np.random.default_rng([seed, 2, plan.track_seed])
    scale = SCALES["raga"] if plan.genre == "indian" else SCALES["minor" if plan.minor else "major"]
    progression = tuple(int(d) for d in track_rng.choice([0, 3, 4, 5, 0, 4], size=4))
    sc = Score(
        sr=sr,
        n=n,
        rng=rng,
        genre=plan.genre,
        pace=plan.pace,
        bpm=plan.bpm * float(rng.uniform(0.98, 1.02)),
        key=plan.key,
        scale=scale,
        progression=(0, *progression[1:]),
        offset=float(rng.uniform(0, 4 * 60.0 / plan.bpm * sr)),
        noise=_noise_bank(sr),
    )
    mix = np.zeros(n, np.float32)
    vocal_focus = plan.featured in VOICES
    for src in plan.sources:
        x = SOURCES[src](sc)
        level = SOURCE_LEVEL_DB.get(src, 0.0) + float(rng.uniform(-2.0, 2.0))
        if src == plan.featured:
            level += 6.0
        elif vocal_focus:
            level -= 3.0
        mix += x * np.float32(10 ** (level / 20) / _rms(x))
    return _master(mix, plan.dynamics, sr, rng)


def _master(mix: np.ndarray, dynamics: str, sr: int, rng: np.random.Generator) -> np.ndarray:
    """Overall loudness (loud: hot and compressed, quiet: soft and dark), EQ tilt, background."""
    n = len(mix)
    target_db = {"loud": -12.0, "normal": -21.0, "quiet": -34.0}[dynamics] + rng.uniform(-2.5, 2.5)
    x = mix * np.float32(10 ** (target_db / 20) / (np.sqrt(np.mean(mix**2)) + 1e-9))
    if dynamics == "loud":
        x = np.tanh(2.5 * x) / 2.5 * np.float32(1.6)
    tilt = float(rng.uniform(-0.5, 0.5)) + (0.35 if dynamics == "quiet" else 0.0)
    x = _tilt(x, sr, tilt)
    pink = _pink_bank(n, sr)
    start = int(rng.integers(0, len(pink) - n + 1))
    x += pink[start : start + n] * np.float32(10 ** (rng.uniform(-58, -44) / 20))
    peak = float(np.abs(x).max())
    if peak > 0.98:
        x *= np.float32(0.98 / peak)
    return x.astype(np.float32)
