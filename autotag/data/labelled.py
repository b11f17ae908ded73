"""A store's items joined with a manifest's labels, tags and splits: what training reads.

A store holds the audio of a collection (:mod:`autotag.data.store`); a manifest says which of
its files are in which split, with which tags (:mod:`autotag.data.manifest`). The two are
joined here by audio path, at load time, so one store serves every split and tag set of its
data set. :class:`LabelledStore` reads like a store of the manifest's clips alone: item ``i`` is
the manifest's ``i``-th clip in a split, in the manifest's order.

The normalization statistics are the training split's, summed from the items' stored sums (no
pass over the spectrograms) and cached beside the store in ``<store>.stats/<key>.json``, the key
a hash of the store file (its name and modification time) and the training items' rows: every
run of a split reads the same figures, and a store rewritten with more items computes them anew.
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path
from typing import Any

import numpy as np

from autotag.common.files import write_json
from autotag.data.manifest import Manifest
from autotag.data.store import MelStore
from autotag.data.variants import VariantStore

log = logging.getLogger(__name__)
SHORT_BY = 0.01  # a clip counts as long enough this far below a split rule's minimum (decoders)


class StoreMismatch(ValueError):
    """A manifest names audio that its store does not hold (or holds from another file)."""


class LabelledStore:
    """The clips of ``manifest`` (those in a split) read from ``store``; with a version 1 store
    and no manifest, the clips and labels that store holds itself. ``variants``: the offline
    copies of the training clips (:mod:`autotag.data.variants`), joined by path too
    (:meth:`variant_rows`); the loaders serve them to training only."""

    def __init__(
        self,
        store: MelStore | str | Path,
        manifest: Manifest | None = None,
        variants: VariantStore | None = None,
    ) -> None:
        self.items = store if isinstance(store, MelStore) else MelStore(store)
        self.variants = variants
        if variants is not None and variants.features.digest() != self.items.features.digest():
            raise StoreMismatch(f"{variants.path} holds copies of other features than {self.path}")
        if self.items.legacy is not None:  # a store of one split: its own clips and labels
            self._from_legacy()
            return
        if manifest is None:
            raise StoreMismatch(
                f"{self.items.path}: this store holds audio features only (one store serves "
                "every split of its data set): the split and labels come from the data "
                "config; train with it (python train.py data=...), or give the run folder"
            )
        manifest = manifest.included()
        self.rows = self.items.rows_of(manifest.paths)
        lacking = np.flatnonzero(self.rows < 0)
        if len(lacking):
            raise StoreMismatch(
                f"{self.items.path} lacks {len(lacking)} clip(s) of the manifest (first: "
                f"{manifest.paths[lacking[0]]}): prepare them (python -m autotag.prepare with "
                "the same data config and store.add_missing=true)"
            )
        self.manifest = manifest
        self.tag_names = list(manifest.tag_names)
        self.tag_counts = manifest.tag_counts
        self.labels = manifest.labels
        self.split = np.asarray(manifest.split, dtype=object)
        self.clip_ids = manifest.clip_ids
        self.units = {u: np.asarray(keys, dtype=object) for u, keys in manifest.units.items()}
        self.paths = np.asarray(manifest.paths, dtype=object)
        self.duration = self.items.duration[self.rows]
        self.status = self.items.status[self.rows].astype(object)
        self.valid = self.items.valid[self.rows].copy()
        if manifest.min_seconds:  # the split rule's minimum (MTAT's clean): once decoded
            short = self.valid & (self.duration < manifest.min_seconds - SHORT_BY)
            for k in np.flatnonzero(short):
                self.status[k] = (
                    f"excluded: {self.duration[k]:.2f} s is shorter than {manifest.min_seconds} s"
                )
            self.valid &= ~short
        self._stats: dict[str, Any] | None = None

    def _from_legacy(self) -> None:
        legacy = self.items.legacy
        assert legacy is not None
        self.rows = np.arange(len(self.items))
        self.manifest = None
        self.tag_names, self.tag_counts = legacy.tag_names, legacy.tag_counts
        self.labels, self.split = legacy.labels, legacy.split
        self.clip_ids, self.paths = self.items.clip_ids, self.items.paths
        self.units = {}  # a store of one split names no songs or artists
        self.duration, self.status, self.valid = (
            self.items.duration,
            self.items.status,
            self.items.valid,
        )
        self._stats = legacy.stats

    # ------------------------------------------------------------------ the store's reading API

    @property
    def path(self) -> Path:
        return self.items.path

    @property
    def features(self):  # noqa: ANN201 (FeatureConfig)
        return self.items.features

    @property
    def ragged(self) -> bool:
        return self.items.ragged

    def __len__(self) -> int:
        return len(self.rows)

    def indices(self, split: str) -> np.ndarray:
        """Item indices of the valid clips of ``split``."""
        return np.flatnonzero((self.split == split) & self.valid)

    def mel(self, i: int) -> np.ndarray:
        return self.items.mel(self.rows[int(i)])

    def mels(self, index: np.ndarray) -> np.ndarray:
        return self.items.mels(self.rows[np.asarray(index, dtype=np.int64)])

    def segments_of(self, i: int) -> np.ndarray:
        return self.items.segments_of(self.rows[int(i)])

    def frames(self, i: int) -> int:
        return self.items.frames(self.rows[int(i)])

    def read(self, column: int, start: int, length: int) -> np.ndarray:
        return self.items.read(column, start, length)

    def variant_rows(self, index: np.ndarray) -> np.ndarray | None:
        """The variants file's row of each clip of ``index`` (-1: no copies of it, or copies of
        a file changed since the store's item); None without variants."""
        if self.variants is None:
            return None
        rows = self.rows[np.asarray(index, dtype=np.int64)]
        stamps = self.items.stamps[rows] if self.items.legacy is None else None
        return self.variants.rows_of(self.items.paths[rows], stamps)

    def close(self) -> None:
        self.items.close()
        if self.variants is not None:
            self.variants.close()

    # ------------------------------------------------------------------ statistics

    @property
    def stats(self) -> dict[str, Any]:
        """The training split's statistics over valid clips: ``global_mean``, ``global_std``,
        ``band_mean``, ``band_std`` (per row of the features), ``n_clips``, ``n_values``."""
        if self._stats is None:
            self._stats = self._cached_stats()
        return self._stats

    def _cached_stats(self) -> dict[str, Any]:
        train = self.rows[self.indices("train")]
        if len(train) == 0:
            raise ValueError(
                f"{self.path.name}: no valid training clip; cannot compute normalization statistics"
            )
        h = hashlib.sha1(f"{self.path.name}:{self.items.stamp}".encode())  # as read at open
        h.update(np.ascontiguousarray(train).tobytes())
        cache = self.path.with_suffix(".stats") / f"{h.hexdigest()[:16]}.json"
        try:
            saved = json.loads(cache.read_text())
            return {k: np.asarray(v) if k.startswith("band") else v for k, v in saved.items()}
        except (OSError, ValueError):
            pass
        stats = split_stats(self.items, train)
        try:  # a read-only store folder (a shared cluster copy) only loses the cache
            cache.parent.mkdir(exist_ok=True)
            write_json(cache, {k: np.asarray(v).tolist() for k, v in stats.items()})
        except OSError as e:
            log.debug("statistics not cached (%s)", e)
        return stats


def split_stats(store: MelStore, rows: np.ndarray) -> dict[str, Any]:
    """Mean and std, per row of the features and over all, of the frames of store ``rows``,
    summed from the items' stored sums in the order given (the order a pass over the
    spectrograms would add them in, so the figures are that pass's to the last bit)."""
    m = store.features.n_rows
    band_sum = np.zeros(m, dtype=np.float64)
    band_sq = np.zeros(m, dtype=np.float64)
    count = 0
    for r in rows:
        band_sum += store.item_sum[r]
        band_sq += store.item_sqsum[r]
        count += int(store.item_frames[r])
    band_mean = band_sum / count
    band_std = np.sqrt(np.maximum(band_sq / count - band_mean**2, 0.0))
    gmean = band_sum.sum() / (count * m)
    gstd = np.sqrt(max(band_sq.sum() / (count * m) - gmean**2, 0.0))
    return {
        "band_mean": band_mean,
        "band_std": band_std,
        "global_mean": float(gmean),
        "global_std": float(gstd),
        "n_clips": len(rows),
        "n_values": count * m,
    }
