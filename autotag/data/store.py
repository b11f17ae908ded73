"""The HDF5 mel store: its layout, its name, and reading it.

Layout of ``<name>.h5`` (one clip per chunk of ``mel``, so random reads touch one chunk)::

    mel        float16 (N, n_mels, n_frames)   dB of power mel
    labels     uint8   (N, n_tags)              all tags of the source, not only the top K
    tag_names, tag_counts, clip_id, path, rel_path, split, status, valid, duration, meta/<column>
    stats/     training-split statistics over valid clips: global_mean, global_std,
               band_mean (n_mels,), band_std (n_mels,), n_clips, n_values
    attrs:     features (JSON), features_digest, manifest_fingerprint, source, autotag_version,
               complete

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


def store_name(data_name: str, split: str, features: FeatureConfig, manifest: Manifest) -> str:
    """File name that changes whenever the features or the clip list change."""
    key = f"{features.digest()}:{manifest.fingerprint()}"
    return f"{data_name}-{split}-{features.name}-{hashlib.sha1(key.encode()).hexdigest()[:10]}.h5"


def is_complete(path: str | Path) -> bool:
    path = Path(path)
    if not path.is_file():
        return False
    try:
        with h5py.File(path, "r") as f:
            return bool(f.attrs.get("complete", False))
    except OSError:
        return False


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
            raise ValueError(
                f"{self.path}: store is incomplete or unreadable; delete it and prepare again"
            )
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
        return self.file["mel"][int(i)]

    def mels(self, index: np.ndarray) -> np.ndarray:
        """Several rows at once (sorted index, as h5py requires)."""
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
