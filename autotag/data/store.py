"""The HDF5 mel store: its layout, its name, and reading it.

A store belongs to an audio collection, not to a split or a tag set: it holds what the audio
gives (features, durations, statuses), one item per audio file, and nothing of the labels.
Labels, tag names and split membership come from a data set's manifest at load time, joined to
the items by their audio path (:mod:`autotag.data.labelled`), so every split and tag subset of a
data set reads one store. Layout of ``<name>.h5`` (``version`` 2; one item per chunk of ``mel``,
so random reads touch one chunk)::

    mel          float16 (N, n_rows, n_frames)  dB of power mel (rows of the features' kind)
    path         str (N,)     the audio file, absolute: the key items are joined by
    rel_path, clip_id         the file as its source names it, and its id there
    file_size, file_mtime     int64 (N,): the file when it was prepared (-1: it was missing);
                              a file that changed since is prepared again
    status, valid, duration   "ok", "silent" or "broken: <reason>"; valid = ok or silent
    item_sum, item_sqsum      float64 (N, n_rows): each item's sums over its frames, from which
    item_frames               int64 (N,)  any split's normalization statistics follow at once
    attrs:  version (2), features (JSON), features_digest, collection, autotag_version,
            complete, layout ("fixed" or "ragged"; ragged: excerpt (JSON))

A store of variable-length items (``layout = "ragged"``: whole tracks or excerpts of them,
:mod:`autotag.data.excerpt`) keeps every item's frames back to back instead, so a random crop
reads one or two chunks of ``CHUNK_BYTES``, whatever the track's length::

    mel        float16 (n_rows, total_frames)   item i = its segments, in time order
    segments   int64   (S, 2)                   (first column in mel, frames) of each segment
    item_segments int64 (N + 1,)                item i's segments: item_segments[i]:[i + 1]

Stores written before version 2 (one per data set, split and tag set) hold the labels, tag
names, splits and training statistics too (``labels``, ``tag_names``, ``tag_counts``, ``split``,
``stats/``); they are still read, as they are (:attr:`MelStore.legacy`).

:mod:`autotag.data.prepare` builds it (atomic units, then ``<name>.h5.partial`` renamed when
complete: a file named ``.h5`` is always complete; items a manifest adds later are prepared
alone and the store rewritten with them); this module names and reads it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from autotag.data.features import FeatureConfig

log = logging.getLogger(__name__)

STR = h5py.string_dtype()
CHUNK_BYTES = 1 << 17  # a ragged store's chunk: 512 frames of 128 mels, 4 s of 16 kHz audio


VERSION = 2  # stores of audio only; 1 (no attribute): a store per split, labels inside


def store_name(collection: str, label: str, features: FeatureConfig, excerpt: str = "") -> str:
    """File name of the store of an audio ``collection`` (:func:`collection_of`); ``label``
    makes it readable (the data set's reader and folder). It changes whenever the collection,
    the features or the excerpt policy (:meth:`autotag.data.excerpt.Excerpt.key`, "" for the
    fixed window) change, and never with the labels or the splits."""
    key = f"{features.digest()}:{collection}" + (f":{excerpt}" if excerpt else "")
    return f"{label}-{features.name}-{hashlib.sha1(key.encode()).hexdigest()[:10]}.h5"


def collection_of(reader: str, root: str | Path, where: dict[str, Any] | None = None) -> str:
    """An audio collection: a data set's reader on its root, with the reader's keys that say
    which audio files it names (``where``: e.g. Jamendo's ``audio`` set and ``audio_root``).
    The root is absolute as given, not resolved: items are joined by their paths, which the
    reader spells from the root as given. Its files are checked item by item (size and
    modification time), so the name need not hash them all."""
    extra = "".join(f":{k}={v}" for k, v in sorted((where or {}).items()) if v is not None)
    return f"{reader}:{Path(root).expanduser().absolute()}{extra}"


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
    """Log (and return) a short summary of a store: its items, broken files."""
    with h5py.File(path, "r") as f:
        status = f["status"].asstr()[()]
        paths = f["path"].asstr()[()]
        valid = f["valid"][()]
        split = f["split"].asstr()[()] if "split" in f else None  # a version 1 store
    lines = [f"store {path}"]
    if split is None:
        lines.append(f"  {int(valid.sum())} of {len(valid)} items ok or silent")
    else:
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


def mention_old_stores(folder: Path, prefix: str) -> None:
    """Point at the stores of one split that older versions made for this data set: they are
    not used (one store now serves every split) and can go once the new one is made."""
    old = [p for p in sorted(folder.glob(f"{prefix}*.h5")) if is_complete(p)]
    if old:
        gb = sum(p.stat().st_size for p in old) / 1e9
        log.warning(
            "%s: %d store(s) of one split made before stores were shared by every split (%s, "
            "%.1f GB): they are not used here (`autotag robustness --store` still reads them); "
            "delete them once this store is prepared",
            folder, len(old), ", ".join(p.name for p in old[:3]), gb,
        )  # fmt: skip


def file_stamps(paths: list[str]) -> np.ndarray:
    """``(size, mtime_ns)`` of each file, ``(-1, -1)`` for a missing one: what a store records
    of the file each item was prepared from."""
    out = np.full((len(paths), 2), -1, dtype=np.int64)
    for k, p in enumerate(paths):
        try:
            st = os.stat(p)
        except OSError:
            continue
        out[k] = (st.st_size, st.st_mtime_ns)
    return out


# --------------------------------------------------------------------------- reading


@dataclass
class LegacyTables:
    """What a version 1 store holds beyond the audio: its manifest's labels and splits, and its
    training statistics (its items are one split rule's clips, in the manifest's order)."""

    tag_names: list[str]
    tag_counts: np.ndarray
    labels: np.ndarray
    split: np.ndarray
    stats: dict[str, Any]


class LazyReader:
    """A read-only HDF5 file at ``self.path``, opened on first use in each process: a handle
    does not survive a fork, so a DataLoader worker opens its own, and pickles carry none."""

    path: Path
    _file: h5py.File | None = None
    _pid: int | None = None

    @property
    def file(self) -> h5py.File:
        if self._file is None or self._pid != os.getpid():
            self._file = h5py.File(self.path, "r")
            self._pid = os.getpid()
        return self._file

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_file"] = None
        return state


class MelStore(LazyReader):
    """Read access to a complete store; the HDF5 file opens lazily (safe across DataLoader forks)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise FileNotFoundError(
                f"{self.path}: mel store not found (run `python -m autotag.prepare`)"
            )
        if not is_complete(self.path):
            raise ValueError(f"{self.path}: {_why_not_a_store(self.path)}")
        with h5py.File(self.path, "r") as f:
            self.features = FeatureConfig.from_dict(json.loads(f.attrs["features"]))
            self.clip_ids = f["clip_id"][()]
            self.paths = f["path"].asstr()[()]
            self.rel_paths = f["rel_path"].asstr()[()]
            self.status = f["status"].asstr()[()]
            self.valid = f["valid"][()]
            self.duration = f["duration"][()]
            self.attrs = dict(f.attrs)
            self.stamp = os.fstat(f.id.get_vfd_handle()).st_mtime_ns  # the file opened here
            self.version = int(self.attrs.get("version", 1))
            self.ragged = self.attrs.get("layout") == "ragged"
            if self.ragged:
                self.segments = f["segments"][()]
                self.item_segments = f["item_segments"][()]
            self.legacy: LegacyTables | None = None
            if self.version >= 2:
                self.stamps = np.stack([f["file_size"][()], f["file_mtime"][()]], axis=1)
                self.item_sum = f["item_sum"][()]
                self.item_sqsum = f["item_sqsum"][()]
                self.item_frames = f["item_frames"][()]
            else:
                self.legacy = LegacyTables(
                    tag_names=list(f["tag_names"].asstr()[()]),
                    tag_counts=f["tag_counts"][()],
                    labels=f["labels"][()],
                    split=f["split"].asstr()[()],
                    stats={
                        "band_mean": f["stats/band_mean"][()],
                        "band_std": f["stats/band_std"][()],
                        **{k: float(v) for k, v in f["stats"].attrs.items()},
                    },
                )

    def rows_of(self, paths: list[str] | np.ndarray) -> np.ndarray:
        """The row of each audio path (-1 where the store has none)."""
        row = {p: r for r, p in enumerate(self.paths.tolist())}
        return np.array([row.get(str(p), -1) for p in paths], dtype=np.int64)

    def __len__(self) -> int:
        return len(self.clip_ids)

    def mel(self, i: int) -> np.ndarray:
        """Item ``i``: ``(n_rows, n_frames)``; in a ragged store all its frames (its segments
        back to back)."""
        if not self.ragged:
            return self.file["mel"][int(i)]
        pieces = [self.read(c, 0, n) for c, n in self.segments_of(i)]
        if not pieces:  # a broken file: no frames
            return np.zeros((self.features.n_rows, 0), dtype=np.float16)
        return np.concatenate(pieces, axis=-1)

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
        """Several rows at once, in the order given; fixed-size stores only."""
        if self.ragged:
            raise ValueError(
                f"{self.path.name} holds items of their own lengths (whole tracks): they are read "
                "as crops and chunks, not loaded whole (set loader.in_memory=false)"
            )
        # h5py reads increasing, distinct rows: a file listed twice in a manifest is one row
        rows, back = np.unique(np.asarray(index, dtype=np.int64), return_inverse=True)
        return self.file["mel"][rows][back.reshape(-1)]
