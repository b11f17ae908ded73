"""The units of a store being prepared and their assembly into the HDF5 store.

``prepare`` writes each unit of ``shard_size`` files as an atomic ``<name>.parts/shard-NNNNNN.npz``
(:func:`autotag.data.parts.save_unit`): the spectrograms (ragged stores: every segment's frames
back to back, with ``seg_frames`` and ``n_segs`` per clip), durations, statuses and the files'
paths. :func:`assemble` reads them in order into ``<name>.h5.partial`` (added to the store they
complete, if any, whose items keep their rows), with each item's sums for the statistics, and
renames it: the layout is :mod:`autotag.data.store`'s.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from autotag import __version__
from autotag.data.excerpt import Excerpt
from autotag.data.features import FeatureConfig
from autotag.data.items import Items
from autotag.data.parts import unit_file
from autotag.data.store import STR, VERSION, MelStore, chunk_frames

log = logging.getLogger(__name__)


def broken_unit(
    shard: int, path: str, cfg: FeatureConfig, ragged: bool, reason: str
) -> dict[str, Any]:
    """The unit of one clip that could not be prepared (its decoding killed the worker):
    status ``broken: <reason>``, as an undecodable file's."""
    out: dict[str, Any] = {
        "shard": shard,
        "paths": np.array([path], dtype=object),
        "duration": np.zeros(1, np.float32),
        "status": np.array([f"broken: {reason}"], dtype=object),
    }
    if ragged:
        out["mel"] = np.zeros((cfg.n_rows, 0), np.float16)
        out["seg_frames"] = np.zeros(0, np.int64)
        out["n_segs"] = np.zeros(1, np.int64)
    else:
        out["mel"] = np.zeros((1, cfg.n_rows, cfg.n_frames), np.float16)
    return out


def merge_units(units: list[dict[str, Any]]) -> dict[str, Any]:
    """Units of consecutive clips (of one shard) as one: what preparing them together gives."""
    cat = lambda key, axis=0: np.concatenate([u[key] for u in units], axis=axis)  # noqa: E731
    out = {"shard": units[0]["shard"], "duration": cat("duration"), "status": cat("status")}
    out["paths"] = cat("paths")
    if "seg_frames" in units[0]:  # ragged: the segments' frames side by side
        return out | {
            "mel": cat("mel", -1),
            "seg_frames": cat("seg_frames"),
            "n_segs": cat("n_segs"),
        }
    return out | {"mel": cat("mel")}


def assemble(
    items: Items,
    features: FeatureConfig,
    excerpt: Excerpt | None,
    parts: Path,
    path: Path,
    shard_size: int,
    collection: str,
    base: MelStore | None = None,
    heartbeat: Callable[[], None] = lambda: None,
) -> None:
    """Write ``<path>.partial``, then rename it to ``path``: the units of ``items`` read in
    order, added to ``base`` (a complete store) when given; ``heartbeat`` is called after
    every unit.

    The base's items keep their rows, and a ragged store's frames keep their columns: an item
    of ``items`` that the base holds (its file changed) is replaced in its row, the others come
    after. A reader that opened the store before (a training job's DataLoader worker reopens
    it by name) thus still finds every item where it was.
    """
    m, t = features.n_rows, features.n_frames
    tmp = path.with_suffix(".h5.partial")
    n_base = 0 if base is None else len(base)
    at = {} if base is None else {p: r for r, p in enumerate(base.paths.tolist())}
    rows, n = [], n_base
    for p in items.paths:  # each item's row: its base row, or the next new one
        rows.append(at.get(p, n))
        n += p not in at
    table = _base_table(base, n, m)
    cols = table["cols"]
    item_segs: list[np.ndarray] = table["segments"]  # ragged: (first column, frames) per item
    with h5py.File(tmp, "w") as f:
        if excerpt is None:
            mel = f.create_dataset("mel", shape=(n, m, t), dtype=np.float16, chunks=(1, m, t))
        else:
            mel = f.create_dataset(
                "mel", shape=(m, 0), maxshape=(m, None), dtype=np.float16,
                chunks=(m, chunk_frames(m)),
            )  # fmt: skip
        if base is not None:
            _copy_mel(base, mel, excerpt is not None, heartbeat)
        k0 = 0  # the unit's first item
        for s in range((len(items) + shard_size - 1) // shard_size):
            with np.load(unit_file(parts, s)) as z:
                block, dur, st = z["mel"], z["duration"], [str(x) for x in z["status"]]
                seg_frames, n_segs = (z["seg_frames"], z["n_segs"]) if excerpt else (None, None)
                held = [str(x) for x in z["paths"]] if "paths" in z else []
            if held != items.paths[k0 : k0 + len(held)] or len(held) != len(dur):
                raise RuntimeError(
                    f"{unit_file(parts, s)} holds other files than this prepare planned (two "
                    f"prepares of other files in one folder?): delete {parts} and run again"
                )
            heartbeat()
            if excerpt is None:
                clips = list(block)
                for k, x in enumerate(clips):
                    mel[rows[k0 + k]] = x
            else:
                col = mel.shape[1]
                mel.resize(col + block.shape[1], axis=1)
                mel[:, col:] = block
                ends = np.cumsum(seg_frames)
                starts = ends - seg_frames
                bounds = np.concatenate([[0], np.cumsum(n_segs)]).astype(np.int64)
                clips = []
                for k in range(len(dur)):
                    a, b = bounds[k], bounds[k + 1]
                    item_segs[rows[k0 + k]] = np.stack(
                        [col + starts[a:b], ends[a:b] - starts[a:b]], axis=1
                    )
                    clips.append(block[:, starts[a] : ends[b - 1]] if b > a else None)
            for k, x in enumerate(clips):
                r = rows[k0 + k]
                cols["status"][r], cols["duration"][r] = st[k], dur[k]
                cols["frames"][r] = 0
                table["sum"][r] = table["sqsum"][r] = 0.0
                if st[k] in ("ok", "silent"):  # the sums a split's statistics are made of
                    x64 = x.astype(np.float64)
                    table["sum"][r] = x64.sum(axis=1)
                    table["sqsum"][r] = np.square(x64).sum(axis=1)
                    cols["frames"][r] = x.shape[-1]
            k0 += len(dur)
        for k, r in enumerate(rows):
            cols["path"][r], cols["rel_path"][r] = items.paths[k], items.rel_paths[k]
            cols["clip_id"][r], table["stamps"][r] = items.clip_ids[k], items.stamps[k]
        if excerpt is not None:
            segments = np.concatenate([s.reshape(-1, 2) for s in item_segs]).astype(np.int64)
            bounds = np.concatenate([[0], np.cumsum([len(s) for s in item_segs])])
            f.create_dataset("segments", data=segments.reshape(-1, 2))
            f.create_dataset("item_segments", data=bounds.astype(np.int64))
            f.attrs.update(excerpt=json.dumps(excerpt.to_dict(), sort_keys=True))
        for name in ("path", "rel_path", "status"):
            f.create_dataset(name, data=np.array(cols[name], dtype=object), dtype=STR)
        f.create_dataset("clip_id", data=np.asarray(cols["clip_id"], dtype=np.int64))
        f.create_dataset("file_size", data=table["stamps"][:, 0])
        f.create_dataset("file_mtime", data=table["stamps"][:, 1])
        f.create_dataset("valid", data=np.array([s in ("ok", "silent") for s in cols["status"]]))
        f.create_dataset("duration", data=np.asarray(cols["duration"], dtype=np.float32))
        f.create_dataset("item_sum", data=table["sum"])
        f.create_dataset("item_sqsum", data=table["sqsum"])
        f.create_dataset("item_frames", data=np.asarray(cols["frames"], dtype=np.int64))
        f.attrs.update(
            version=VERSION,
            layout="fixed" if excerpt is None else "ragged",
            features=json.dumps(features.to_dict(), sort_keys=True),
            features_digest=features.digest(),
            collection=collection,
            autotag_version=__version__,
            complete=True,
        )
    os.replace(tmp, path)


def _base_table(base: MelStore | None, n: int, m: int) -> dict[str, Any]:
    """The per-item columns of a store of ``n`` items, the base's filled in (its rows first)."""
    k = 0 if base is None else len(base)
    cols: dict[str, list[Any]] = {
        "path": [""] * n, "rel_path": [""] * n, "status": [""] * n, "clip_id": [0] * n,
        "duration": [0.0] * n, "frames": [0] * n,
    }  # fmt: skip
    table: dict[str, Any] = {
        "cols": cols,
        "sum": np.zeros((n, m), np.float64),
        "sqsum": np.zeros((n, m), np.float64),
        "stamps": np.full((n, 2), -1, np.int64),
        "segments": [np.zeros((0, 2), np.int64) for _ in range(n)],
    }
    if base is None:
        return table
    for name, values in (("path", base.paths), ("rel_path", base.rel_paths),
                         ("status", base.status), ("clip_id", base.clip_ids),
                         ("duration", base.duration), ("frames", base.item_frames)):  # fmt: skip
        cols[name][:k] = np.asarray(values).tolist()
    table["sum"][:k], table["sqsum"][:k] = base.item_sum, base.item_sqsum
    table["stamps"][:k] = base.stamps
    if base.ragged:
        table["segments"][:k] = [base.segments_of(r) for r in range(k)]
    return table


def _copy_mel(
    base: MelStore, mel: h5py.Dataset, ragged: bool, heartbeat: Callable[[], None]
) -> None:
    """The base's spectrograms into ``mel`` at the same rows (columns), a block at a time."""
    src = base.file["mel"]
    if not ragged:
        step = max(1, (64 << 20) // max(1, src[0].nbytes))  # about 64 MB a block
        for lo in range(0, len(src), step):
            block = src[lo : lo + step]  # the new store has more rows: the base's come first
            mel[lo : lo + len(block)] = block
            heartbeat()
        return
    total = src.shape[1]
    mel.resize(total, axis=1)
    step = max(1, (64 << 20) // (2 * src.shape[0]))
    for lo in range(0, total, step):
        mel[:, lo : lo + step] = src[:, lo : lo + step]
        heartbeat()
