"""The HDF5 mel store: its layout, its name, and reading it.

Layout of ``<name>.h5`` (one clip per chunk of ``mel``, so random reads touch one chunk)::

    mel        float16 (N, n_mels, n_frames)   dB of power mel (rows of the features' kind)
    labels     uint8   (N, n_tags)              all tags of the source, not only the top K
    tag_names, tag_counts, clip_id, path, rel_path, split, status, valid, duration, meta/<column>
    stats/     training-split statistics over valid clips: global_mean, global_std,
               band_mean (n_mels,), band_std (n_mels,), n_clips, n_values
    attrs:     features (JSON), features_digest, manifest_fingerprint, source, autotag_version,
               complete, layout ("fixed"; absent in stores written before "ragged" existed)

A store of variable-length items (``layout = "ragged"``: whole tracks or excerpts of them,
:mod:`autotag.data.excerpt`) keeps every item's frames back to back instead, so a random crop
reads one or two chunks of ``CHUNK_BYTES``, whatever the track's length::

    mel        float16 (n_mels, total_frames)   item i = its segments, in time order
    segments   int64   (S, 2)                   (first column in mel, frames) of each segment
    item_segments int64 (N + 1,)                item i's segments: item_segments[i]:[i + 1]
    attrs:     layout = "ragged", excerpt (JSON); statistics are over the training frames

:mod:`autotag.data.prepare` builds it (atomic shards, then ``<name>.h5.partial`` renamed when
complete: a file named ``.h5`` is always complete); this module names and reads it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from autotag.data.features import FeatureConfig
from autotag.data.manifest import Manifest

log = logging.getLogger(__name__)

STR = h5py.string_dtype()
CHUNK_BYTES = 1 << 17  # a ragged store's chunk: 512 frames of 128 mels, 4 s of 16 kHz audio


def store_name(
    data_name: str, split: str, features: FeatureConfig, manifest: Manifest, excerpt: str = ""
) -> str:
    """File name that changes whenever the features, the clip list or the excerpt policy
    (:meth:`autotag.data.excerpt.Excerpt.key`, "" for the fixed window) change."""
    key = f"{features.digest()}:{manifest.fingerprint()}" + (f":{excerpt}" if excerpt else "")
    return f"{data_name}-{split}-{features.name}-{hashlib.sha1(key.encode()).hexdigest()[:10]}.h5"


def chunk_frames(n_rows: int) -> int:
    """Frames per chunk of a ragged store's ``mel``."""
    return max(64, CHUNK_BYTES // (2 * n_rows))


def is_complete(path: str | Path) -> bool:
    path = Path(path)
    if not path.is_file():
        return False
    try:
        with h5py.File(path, "r") as f:
            return bool(f.attrs.get("complete", False))
    except OSError:
        return False


def _why_not_a_store(path: Path) -> str:
    """Why ``path`` cannot be read as a store; deleting it is suggested only for a store that
    an interrupted prepare left incomplete (never for another kind of file)."""
    try:
        with h5py.File(path, "r") as f:
            is_store = "features" in f.attrs and "mel" in f
    except OSError:
        with open(path, "rb") as f:
            if f.read(4) == b"\x89HDF":  # the signature of HDF5, cut short or not
                return "an HDF5 file that cannot be read (incomplete or damaged: cut off while written?)"
        return "not a mel store (not an HDF5 file: a tagger.pt, an audio file?)"
    if not is_store:
        return "not a mel store (an HDF5 file without one: an embedding index?)"
    return "an incomplete store (its prepare was interrupted): run the prepare again to finish it"


def report(path: str | Path, limit: int = 20) -> str:
    """Log (and return) a short summary of a store: clips per split, broken files."""
    with h5py.File(path, "r") as f:
        status = f["status"].asstr()[()]
        split = f["split"].asstr()[()]
        paths = f["path"].asstr()[()]
        valid = f["valid"][()]
    lines = [f"store {path}"]
    for s in ("train", "val", "test"):
        lines.append(f"  {s:5s}: {int(((split == s) & valid).sum())} clips")
    bad = [(p, st) for p, st in zip(paths, status) if st not in ("ok",)]
    if bad:
        lines.append(f"  {len(bad)} clip(s) skipped or flagged:")
        lines += [f"    {p}: {st}" for p, st in bad[:limit]]
        if len(bad) > limit:
            lines.append(f"    ... and {len(bad) - limit} more (see the store's 'status' dataset)")
    text = "\n".join(lines)
    log.info(text)
    return text


# --------------------------------------------------------------------------- reading


class MelStore:
    """Read access to a complete store; the HDF5 file opens lazily (safe across DataLoader forks)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise FileNotFoundError(
                f"{self.path}: mel store not found (run `python -m autotag.prepare`)"
            )
        if not is_complete(self.path):
            raise ValueError(f"{self.path}: {_why_not_a_store(self.path)}")
        self._file: h5py.File | None = None
        self._pid: int | None = None
        with h5py.File(self.path, "r") as f:
            self.features = FeatureConfig.from_dict(json.loads(f.attrs["features"]))
            self.tag_names = list(f["tag_names"].asstr()[()])
            self.tag_counts = f["tag_counts"][()]
            self.labels = f["labels"][()]
            self.clip_ids = f["clip_id"][()]
            self.split = f["split"].asstr()[()]
            self.paths = f["path"].asstr()[()]
            self.status = f["status"].asstr()[()]
            self.valid = f["valid"][()]
            self.duration = f["duration"][()]
            self.stats = {
                "band_mean": f["stats/band_mean"][()],
                "band_std": f["stats/band_std"][()],
                **{k: float(v) for k, v in f["stats"].attrs.items()},
            }
            self.attrs = dict(f.attrs)
            self.ragged = self.attrs.get("layout") == "ragged"
            if self.ragged:
                self.segments = f["segments"][()]
                self.item_segments = f["item_segments"][()]

    def __len__(self) -> int:
        return len(self.clip_ids)

    @property
    def file(self) -> h5py.File:
        if self._file is None or self._pid != os.getpid():
            self._file = h5py.File(self.path, "r")
            self._pid = os.getpid()
        return self._file

    def indices(self, split: str) -> np.ndarray:
        """Row indices of the valid clips of ``split``."""
        return np.flatnonzero((self.split == split) & self.valid)

    def mel(self, i: int) -> np.ndarray:
        """Item ``i``: ``(n_rows, n_frames)``; in a ragged store all its frames (its segments
        back to back)."""
        if not self.ragged:
            return self.file["mel"][int(i)]
        return np.concatenate([self.read(c, 0, n) for c, n in self.segments_of(i)], axis=-1)

    def segments_of(self, i: int) -> np.ndarray:
        """``(first column, frames)`` of item ``i``'s segments (ragged stores)."""
        return self.segments[self.item_segments[int(i)] : self.item_segments[int(i) + 1]]

    def frames(self, i: int) -> int:
        """Frames of item ``i`` (all segments)."""
        if not self.ragged:
            return self.features.n_frames
        return int(self.segments_of(i)[:, 1].sum())

    def read(self, column: int, start: int, length: int) -> np.ndarray:
        """``length`` frames from ``column + start`` of a ragged store's ``mel``."""
        lo = int(column) + int(start)
        return self.file["mel"][:, lo : lo + int(length)]

    def mels(self, index: np.ndarray) -> np.ndarray:
        """Several rows at once (sorted index, as h5py requires); fixed-size stores only."""
        if self.ragged:
            raise ValueError(
                f"{self.path.name} holds items of their own lengths (whole tracks): they are read "
                "as crops and chunks, not loaded whole (set loader.in_memory=false)"
            )
        index = np.asarray(index)
        order = np.argsort(index)
        out = np.empty((len(index), *self.file["mel"].shape[1:]), dtype=np.float16)
        out[order] = self.file["mel"][index[order]]
        return out

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_file"] = None
        return state
