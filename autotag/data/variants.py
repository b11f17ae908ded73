"""Offline training variants: pitch-, tempo- and gain-perturbed copies of a store's training
clips, prepared once (``store.variants``), since a phase vocoder on every batch is too slow on a
CPU (a quarter of a second per 29 s clip and copy).

Copy ``j`` of a clip draws ``u = (u_pitch, u_tempo, u_gain)``, uniform in ``[-1, 1]``, from
``numpy.random.default_rng([seed, crc32(rel_path)])`` (row ``j`` of a ``(k, 3)`` draw; ``rel_path``
is the file as its source names it), so a copy is the same on any machine, in any unit, whichever
other clips are prepared with it, and the first copies of ``k = 3`` are those of ``k = 2``::

    semitones = pitch_semitones * u_pitch   pitch shifted, duration kept
    rate      = tempo ** u_tempo            tempo x rate, pitch kept: log-uniform between
                                            1/tempo and tempo (as often slower as faster)
    gain      = gain_db * u_gain            level, in dB

The copy is the decoded file stretched, then pitch-shifted, then scaled (the functions of
``autotag robustness``, :mod:`autotag.common.perturb_signal`), then featurized like the store's
clip: its centre window, log-mel, float16. A faster copy is shorter, and is zero-padded around
the centre, as the robustness evaluation pads it.

Only training clips are varied (validation and test never read a copy). The variants file of a
store sits beside it, ``<store stem>.variants-k<k>-<hash>.h5`` (the hash: the store's name, which
hashes the collection and features, and the spec and seed), and holds, one row per clip::

    mel                    float16 (N, k, n_rows, n_frames)   copy j of clip i: one chunk
    path                   str (N,)       the audio path: the store's key, joined by it
    file_size, file_mtime  int64 (N,)     the file the store's item was prepared from; a row
                                          whose file changed since is stale (not served)
    params                 float64 (N, k, 3)   (semitones, rate, gain_db) of each copy
    status                 str (N,)       "ok", or "broken: <reason>" (no copies)
    attrs: version, store, variants (JSON), features (JSON), features_digest, complete
"""

from __future__ import annotations

import hashlib
import json
import zlib
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from autotag.common.keywords import check_fields
from autotag.common.perturb_signal import apply_gain, pitch_shift, time_stretch
from autotag.data.features import FeatureConfig
from autotag.data.store import LazyReader, is_complete

VERSION = 1


@dataclass(frozen=True)
class Variants:
    """The ``store.variants`` config, field for field (the values: ``conf/store/default.yaml``)."""

    k: int  # copies per training clip (0: off)
    pitch_semitones: float  # pitch shift uniform in +-pitch_semitones
    tempo: float  # tempo x tempo**u, u uniform in [-1, 1] (>= 1; 1: none)
    gain_db: float  # gain uniform in +-gain_db dB
    seed: int

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Variants:
        check_fields(cls.__dataclass_fields__, d, "store.variants")
        v = cls(**dict(d))
        if v.k < 0:
            raise ValueError(f"store.variants.k must be 0 (off) or more, got {v.k}")
        if v.pitch_semitones < 0 or v.gain_db < 0:
            raise ValueError("store.variants.pitch_semitones and gain_db are ranges: >= 0")
        if not v.tempo >= 1.0:
            raise ValueError(f"store.variants.tempo must be >= 1 (1/tempo to tempo), got {v.tempo}")
        return v

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def key(self) -> str:
        """What the copies depend on (with the store): the variants file's name hashes it."""
        return json.dumps(self.to_dict(), sort_keys=True)

    def params(self, rel_path: str) -> np.ndarray:
        """``(k, 3)``: (semitones, rate, gain_db) of each copy of the clip at ``rel_path``."""
        rng = np.random.default_rng([int(self.seed), zlib.crc32(rel_path.encode())])
        u = rng.uniform(-1.0, 1.0, size=(self.k, 3))
        return np.stack(
            [self.pitch_semitones * u[:, 0], self.tempo ** u[:, 1], self.gain_db * u[:, 2]], axis=1
        )


def perturb_clip(wav: np.ndarray, sample_rate: int, params: np.ndarray) -> np.ndarray:
    """A copy of a decoded clip: stretched by ``rate``, pitch-shifted by ``semitones``, scaled by
    ``gain_db`` (``params``: one row of :meth:`Variants.params`)."""
    semitones, rate, gain_db = (float(p) for p in params)
    y = time_stretch(wav, sample_rate, rate)
    return apply_gain(pitch_shift(y, sample_rate, semitones), gain_db)


def variants_path(store: str | Path, spec: Variants) -> Path:
    """The variants file of ``store`` for ``spec``: beside it, named by both."""
    store = Path(store)
    h = hashlib.sha1(f"{store.name}:{spec.key()}".encode()).hexdigest()[:10]
    return store.with_name(f"{store.stem}.variants-k{spec.k}-{h}.h5")


class VariantStore(LazyReader):
    """Read access to a complete variants file; the HDF5 file opens lazily (per process, as
    :class:`~autotag.data.store.MelStore`: safe across DataLoader forks)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if not is_complete(self.path):
            raise FileNotFoundError(
                f"{self.path}: no complete variants file (prepare it: python -m autotag.prepare "
                "with the same store.variants)"
            )
        with h5py.File(self.path, "r") as f:
            self.paths = f["path"].asstr()[()]
            self.stamps = np.stack([f["file_size"][()], f["file_mtime"][()]], axis=1)
            self.status = f["status"].asstr()[()]
            self.params = f["params"][()]
            self.spec = Variants.from_dict(json.loads(f.attrs["variants"]))
            self.features = FeatureConfig.from_dict(json.loads(f.attrs["features"]))
            self.store_name = str(f.attrs["store"])

    @property
    def k(self) -> int:
        return self.spec.k

    def __len__(self) -> int:
        return len(self.paths)

    def rows_of(
        self, paths: list[str] | np.ndarray, stamps: np.ndarray | None = None
    ) -> np.ndarray:
        """The row of each audio path (-1 where the file has none, its copies are broken, or,
        given the store's ``stamps`` of the paths, its copies were made from another file)."""
        row = {p: r for r, p in enumerate(self.paths.tolist()) if self.status[r] == "ok"}
        rows = np.array([row.get(str(p), -1) for p in paths], dtype=np.int64)
        if stamps is not None:
            stale = (rows >= 0) & (self.stamps[np.maximum(rows, 0)] != stamps).any(axis=1)
            rows[stale] = -1
        return rows

    def mel(self, row: int, j: int) -> np.ndarray:
        """Copy ``j`` of row ``row``: ``(n_rows, n_frames)`` float16."""
        return self.file["mel"][int(row), int(j)]

    def mels(self, rows: np.ndarray) -> np.ndarray:
        """``(len(rows), k, n_rows, n_frames)`` in the order given; a row -1 reads as zeros."""
        rows = np.asarray(rows, dtype=np.int64)
        f = self.features
        out = np.zeros((len(rows), self.k, f.n_rows, f.n_frames), dtype=np.float16)
        have = np.flatnonzero(rows >= 0)
        if len(have):
            uniq, back = np.unique(rows[have], return_inverse=True)  # h5py: increasing rows
            out[have] = self.file["mel"][uniq][back.reshape(-1)]
        return out
