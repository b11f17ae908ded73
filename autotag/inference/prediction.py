"""What tagging one song gives: its aggregated probabilities and embedding, or its error."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

# A song whose peak (decoded mono waveform at the model's rate, before padding) is below this
# level is silent: no tag is marked present. Why: the FCN learnt from music only; fed silence or
# a faint noise floor, its normalized log-mels are unlike any training clip and several tags still
# cross their thresholds (about 6 of 50 for a silent file), which would be pure invention.
# -60 dBFS (max |x| < 0.001 of full scale) sits far below the peak of recorded music and above the
# dither/noise floor of a blank 16-bit track (about -90 to -84 dBFS): only files with nothing to
# hear are caught. The probabilities are still computed and reported.
SILENCE_DBFS = -60.0


@dataclass
class SongPrediction:
    """One song's aggregated result (or its error).

    ``peak_dbfs``: the peak level of the decoded mono waveform, ``20·log10(max |x|)`` (``-inf``
    for digital silence, NaN where not measured).
    """

    path: str
    probs: np.ndarray | None = None
    embedding: np.ndarray | None = None
    duration: float = 0.0
    n_windows: int = 0
    error: str | None = None
    peak_dbfs: float = math.nan

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def silent(self) -> bool:
        """Decoded and peaking below :data:`SILENCE_DBFS`: no tag is judged present."""
        return self.ok and self.peak_dbfs < SILENCE_DBFS


def json_level(db: float) -> float | None:
    """A level in dBFS for JSON, to 0.01 dB: ``null`` for digital silence (-inf is not JSON)."""
    return round(db, 2) if math.isfinite(db) else None


class TagDecisions:
    """Which tags a prediction names: the most probable, and those judged present (each tag's
    validation-F1 threshold). Mixed into :class:`autotag.inference.tagger.Tagger`, which holds
    the ``tag_names`` and ``thresholds``."""

    tag_names: list[str]
    thresholds: np.ndarray

    def top_k(self, probs: np.ndarray, k: int = 5) -> list[tuple[str, float]]:
        """The ``k`` most probable tags, most probable first."""
        order = np.argsort(-np.asarray(probs), kind="stable")[: max(0, k)]
        return [(self.tag_names[j], float(probs[j])) for j in order]

    def present(self, probs: np.ndarray, threshold: float | None = None) -> list[tuple[str, float]]:
        """Tags judged present: probability ≥ the tag's validation-F1 threshold (or ``threshold``)."""
        probs = np.asarray(probs)
        cut = self.thresholds if threshold is None else np.full_like(self.thresholds, threshold)
        idx = [j for j in np.argsort(-probs, kind="stable") if probs[j] >= cut[j]]
        return [(self.tag_names[j], float(probs[j])) for j in idx]

    def present_tags(
        self, song: SongPrediction, threshold: float | None = None
    ) -> list[tuple[str, float]]:
        """Tags judged present in a song's result: :meth:`present` of its probabilities, except
        that a silent song (peak below :data:`SILENCE_DBFS`) has none."""
        if not song.ok or song.probs is None:
            raise ValueError(f"{song.path}: no prediction ({song.error or 'no probabilities'})")
        if song.silent:
            return []
        return self.present(song.probs, threshold)
