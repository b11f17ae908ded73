"""The audio files a store is prepared from: one item per file, keyed by its path.

A manifest may list a file twice or leave it out of every split; the store takes each file once,
whatever the split (another split or tag set of the data set may want it), and records the
file's size and modification time, so a file that changed is prepared again
(:func:`lacking`).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

from autotag.data.manifest import Manifest
from autotag.data.store import MelStore, file_stamps


@dataclass
class Items:
    """Audio files to prepare: their paths (the items' keys), names and ids in the source, and
    their files' ``(size, mtime_ns)`` when planned (:func:`autotag.data.store.file_stamps`)."""

    paths: list[str]
    rel_paths: list[str]
    clip_ids: np.ndarray
    stamps: np.ndarray  # int64 (N, 2)

    def __len__(self) -> int:
        return len(self.paths)

    def fingerprint(self) -> str:
        h = hashlib.sha1("\n".join(self.paths).encode())
        h.update(np.ascontiguousarray(self.clip_ids, dtype=np.int64).tobytes())
        h.update(np.ascontiguousarray(self.stamps, dtype=np.int64).tobytes())
        return h.hexdigest()[:12]


def items_of(manifest: Manifest) -> Items:
    """Every audio file of ``manifest``, in a split or not (another split or tag set of the data
    set may want it), each once, with its file's stamp now."""
    first: dict[str, int] = {}
    for k, p in enumerate(manifest.paths):
        first.setdefault(p, k)
    rows = list(first.values())
    paths = [manifest.paths[k] for k in rows]
    return Items(
        paths=paths,
        rel_paths=[manifest.rel_paths[k] for k in rows],
        clip_ids=np.asarray(manifest.clip_ids[rows], dtype=np.int64),
        stamps=file_stamps(paths),
    )


def lacking(store: MelStore, items: Items) -> Items:
    """The ``items`` that ``store`` does not hold, or holds from a file changed since."""
    rows = store.rows_of(items.paths)
    old = (rows < 0) | (store.stamps[np.maximum(rows, 0)] != items.stamps).any(axis=1)
    keep = np.flatnonzero(old)
    return Items(
        paths=[items.paths[k] for k in keep],
        rel_paths=[items.rel_paths[k] for k in keep],
        clip_ids=items.clip_ids[keep],
        stamps=items.stamps[keep],
    )
