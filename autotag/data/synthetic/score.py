"""The musical score of a clip: tempo grid, key, scale, chords, melodies, and note reuse."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from autotag.data.synthetic.dsp import _add, midi_hz


def _noise(sc: Score, name: str, n: int) -> np.ndarray:
    """``n`` samples of a bank noise from a random offset (tiled beyond two seconds)."""
    bank = sc.noise[name]
    if n > len(bank):
        return np.resize(np.roll(bank, -int(sc.rng.integers(len(bank)))), n)
    start = int(sc.rng.integers(0, len(bank) - n + 1))
    return bank[start : start + n]


SCALES = {
    "major": (0, 2, 4, 5, 7, 9, 11),
    "minor": (0, 2, 3, 5, 7, 8, 10),
    "raga": (0, 1, 4, 5, 7, 8, 11),
}


@dataclass
class Score:
    """Shared musical frame of a clip: tempo grid, key, scale, chord progression, noises."""

    sr: int
    n: int
    rng: np.random.Generator
    genre: str
    pace: str
    bpm: float
    key: int
    scale: tuple[int, ...]
    progression: tuple[int, ...]
    offset: float
    noise: dict[str, np.ndarray]
    cache: dict = field(default_factory=dict)

    @property
    def beat(self) -> float:
        """Samples per beat."""
        return 60.0 / self.bpm * self.sr

    @property
    def notes_per_beat(self) -> float:
        return {"slow": 0.5, "medium": 2.0, "fast": 4.0}[self.pace]

    def onsets(self, step: float, phase: float = 0.0, held: bool = False) -> np.ndarray:
        """Sample positions of a grid with ``step`` beats (plus ``phase`` beats) inside the clip;
        ``held`` adds the last one before the start (a chord still sounding at time 0)."""
        s = step * self.beat
        first = int(np.ceil((-self.offset - phase * self.beat) / s)) - 1
        k = np.arange(first, first + int(self.n / s) + 3)
        pos = (self.offset + phase * self.beat + k * s).astype(np.int64)
        inside = (pos >= 0) & (pos < self.n)
        if held:
            inside |= (pos < 0) & (pos + s >= 0)
        return pos[inside]

    def step_index(self, pos: int, step: float) -> int:
        """Index of the grid step (from the bar-aligned origin) at sample ``pos``."""
        return int(round((pos - self.offset) / (step * self.beat)))

    def chord(self, pos: int) -> int:
        """Scale degree of the chord root at sample ``pos`` (one chord per bar)."""
        bar = int((pos - self.offset) // (4 * self.beat))
        return self.progression[bar % len(self.progression)]

    def pitch_classes(self, degree: int) -> set[int]:
        """Pitch classes of the triad on a scale degree."""
        return {(self.key + self.scale[(degree + i) % 7]) % 12 for i in (0, 2, 4)}

    def scale_notes(self, lo: int, hi: int) -> np.ndarray:
        """MIDI notes of the scale in [lo, hi]."""
        return self._notes(frozenset((self.key + s) % 12 for s in self.scale), lo, hi)

    def chord_notes(self, pos: int, lo: int, hi: int) -> np.ndarray:
        """MIDI notes of the chord sounding at ``pos`` in [lo, hi]."""
        return self._notes(frozenset(self.pitch_classes(self.chord(pos))), lo, hi)

    def _notes(self, pcs: frozenset[int], lo: int, hi: int) -> np.ndarray:
        key = (pcs, lo, hi)
        if key not in self.cache:
            self.cache[key] = np.array([m for m in range(lo, hi + 1) if m % 12 in pcs])
        return self.cache[key]

    def melody(self, lo: int, hi: int, count: int) -> list[int]:
        """A random walk over the scale, mostly steps, bouncing off the register limits."""
        notes = self.scale_notes(lo, hi)
        i = int(self.rng.integers(len(notes)))
        out = []
        for step in self.rng.choice([-2, -1, -1, 0, 1, 1, 2, 3, -3], size=count):
            i = int(np.clip(i + step, 0, len(notes) - 1))
            out.append(int(notes[i]))
        return out

    def durations(self, total: int, choices: tuple[float, ...]) -> list[int]:
        """Note lengths in samples (multiples of the beat) that cover ``total`` samples."""
        out, acc = [], 0
        while acc < total:
            d = int(choices[int(self.rng.integers(len(choices)))] * self.beat)
            out.append(max(d, 1))
            acc += max(d, 1)
        return out


def _note_lengths(sc: Score) -> tuple[float, ...]:
    """Typical melodic note lengths (beats) for the pace."""
    return {
        "slow": (2.0, 2.0, 3.0, 4.0),
        "medium": (0.5, 1.0, 1.0, 2.0),
        "fast": (0.25, 0.25, 0.5),
    }[sc.pace]


def _line(
    sc: Score,
    lo: int,
    hi: int,
    render: Callable[[float, int], np.ndarray],
    lengths: tuple[float, ...] | None = None,
    rest: float = 0.1,
) -> np.ndarray:
    """A melodic line: notes from :meth:`Score.melody`, each made by ``render(f0, n)``."""
    buf = np.zeros(sc.n, np.float32)
    durs = sc.durations(sc.n + int(sc.beat), lengths or _note_lengths(sc))
    pitches = sc.melody(lo, hi, len(durs))
    pos = -int(sc.rng.integers(0, max(durs[0], 1)))
    for dur, m in zip(durs, pitches, strict=True):
        if sc.rng.random() > rest:
            _add(buf, render(midi_hz(m), dur), pos)
        pos += dur
    return buf


class _NoteBank:
    """Renders each (pitch, variant) once per clip and reuses it: plucked notes repeat exactly."""

    def __init__(self, render: Callable[..., np.ndarray]) -> None:
        self.render = render
        self.cache: dict[tuple, np.ndarray] = {}

    def __call__(self, *key: float) -> np.ndarray:
        if key not in self.cache:
            self.cache[key] = self.render(*key)
        return self.cache[key]
