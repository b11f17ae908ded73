"""The units of a store being prepared and their assembly into the HDF5 store.

``prepare`` writes each unit of ``shard_size`` clips as an atomic ``<name>.parts/shard-NNNNNN.npz``
(:func:`save_unit`): the spectrograms (ragged stores: every segment's frames back to back, with
``seg_frames`` and ``n_segs`` per clip), durations and statuses. :func:`assemble` reads them in
order into ``<name>.h5.partial`` with the training-split statistics and renames it: the layout is
:mod:`autotag.data.store`'s.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from autotag import __version__
from autotag.common.files import atomic_path
from autotag.data.excerpt import Excerpt
from autotag.data.features import FeatureConfig
from autotag.data.manifest import Manifest
from autotag.data.store import STR, chunk_frames

log = logging.getLogger(__name__)


def task_id() -> str:
    """``<host>.<pid>``: names what this task writes in a folder shared by several tasks."""
    return f"{socket.gethostname()}.{os.getpid()}"


def unit_file(parts: Path, shard: int) -> Path:
    """The file of unit ``shard`` (units are called shards in the file names)."""
    return parts / f"shard-{shard:06d}.npz"


def save_unit(parts: Path, result: dict[str, Any]) -> None:
    """Write a unit atomically (a temporary name of this host and process, then a rename: two
    tasks writing the same unit never share a half-written file)."""
    ragged = {k: result[k] for k in ("seg_frames", "n_segs") if k in result}
    with atomic_path(unit_file(parts, result["shard"]), suffix=".npz") as tmp:
        np.savez(
            tmp,
            mel=result["mel"],
            duration=result["duration"],
            status=result["status"].astype(str),
            **ragged,
        )


def broken_unit(shard: int, cfg: FeatureConfig, ragged: bool, reason: str) -> dict[str, Any]:
    """The unit of one clip that could not be prepared (its decoding killed the worker):
    status ``broken: <reason>``, as an undecodable file's."""
    out: dict[str, Any] = {
        "shard": shard,
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
    if "seg_frames" in units[0]:  # ragged: the segments' frames side by side
        return out | {
            "mel": cat("mel", -1),
            "seg_frames": cat("seg_frames"),
            "n_segs": cat("n_segs"),
        }
    return out | {"mel": cat("mel")}


def assemble(
    manifest: Manifest,
    features: FeatureConfig,
    excerpt: Excerpt | None,
    parts: Path,
    path: Path,
    shard_size: int,
    heartbeat: Callable[[], None] = lambda: None,
) -> None:
    """Read the units in order into ``<path>.partial`` with the training-split statistics, then
    rename it to ``path``; ``heartbeat`` is called after every unit."""
    n, m, t = len(manifest), features.n_rows, features.n_frames
    tmp = path.with_suffix(".h5.partial")
    band_sum = np.zeros(m, dtype=np.float64)
    band_sq = np.zeros(m, dtype=np.float64)
    n_train = count = 0  # training clips and their frames
    status_all: list[str] = []
    duration_all = np.zeros(n, dtype=np.float32)
    segments: list[tuple[int, int]] = []  # ragged: (first column, frames)
    item_segments = [0]
    with h5py.File(tmp, "w") as f:
        if excerpt is None:
            mel = f.create_dataset("mel", shape=(n, m, t), dtype=np.float16, chunks=(1, m, t))
        else:
            mel = f.create_dataset(
                "mel", shape=(m, 0), maxshape=(m, None), dtype=np.float16,
                chunks=(m, chunk_frames(m)),
            )  # fmt: skip
        for s in range((n + shard_size - 1) // shard_size):
            with np.load(unit_file(parts, s)) as z:
                block, dur, st = z["mel"], z["duration"], [str(x) for x in z["status"]]
                seg_frames, n_segs = (z["seg_frames"], z["n_segs"]) if excerpt else (None, None)
            heartbeat()
            lo = s * shard_size
            duration_all[lo : lo + len(dur)] = dur
            status_all.extend(st)
            if excerpt is None:
                mel[lo : lo + len(block)] = block
                items = [x for x in block]
            else:
                col = mel.shape[1]
                mel.resize(col + block.shape[1], axis=1)
                mel[:, col:] = block
                ends = np.cumsum(seg_frames)
                starts = ends - seg_frames
                segments += [(col + int(a), int(b - a)) for a, b in zip(starts, ends)]
                bounds = np.concatenate([[0], np.cumsum(n_segs)])
                item_segments += (item_segments[-1] + bounds[1:]).tolist()
                items = [
                    block[:, starts[bounds[k]] : ends[bounds[k + 1] - 1]] if n_segs[k] else None
                    for k in range(len(dur))
                ]
            for k, x in enumerate(items):
                if manifest.split[lo + k] == "train" and st[k] in ("ok", "silent"):
                    x64 = x.astype(np.float64)
                    band_sum += x64.sum(axis=1)
                    band_sq += np.square(x64).sum(axis=1)
                    n_train += 1
                    count += x.shape[-1]
        valid = np.array([s in ("ok", "silent") for s in status_all])
        if excerpt is not None:
            f.create_dataset("segments", data=np.asarray(segments, dtype=np.int64).reshape(-1, 2))
            f.create_dataset("item_segments", data=np.asarray(item_segments, dtype=np.int64))
            f.attrs.update(layout="ragged", excerpt=json.dumps(excerpt.to_dict(), sort_keys=True))
        f.create_dataset("labels", data=manifest.labels, dtype=np.uint8)
        f.create_dataset("tag_names", data=np.array(manifest.tag_names, dtype=object), dtype=STR)
        f.create_dataset("tag_counts", data=manifest.tag_counts)
        f.create_dataset("clip_id", data=manifest.clip_ids)
        for name, values in (
            ("path", manifest.paths),
            ("rel_path", manifest.rel_paths),
            ("split", manifest.split),
            ("status", status_all),
        ):
            f.create_dataset(name, data=np.array(values, dtype=object), dtype=STR)
        f.create_dataset("valid", data=valid)
        f.create_dataset("duration", data=duration_all)
        g = f.create_group("meta")
        for name, values in manifest.meta.items():
            g.create_dataset(name, data=np.array(values, dtype=object), dtype=STR)
        st = f.create_group("stats")
        if n_train == 0:
            raise ValueError(
                f"{path.name}: no valid training clip; cannot compute normalization statistics"
            )
        band_mean = band_sum / count
        band_std = np.sqrt(np.maximum(band_sq / count - band_mean**2, 0.0))
        gmean = band_sum.sum() / (count * m)
        gstd = np.sqrt(max(band_sq.sum() / (count * m) - gmean**2, 0.0))
        st.create_dataset("band_mean", data=band_mean)
        st.create_dataset("band_std", data=band_std)
        st.attrs.update(global_mean=gmean, global_std=gstd, n_clips=n_train, n_values=count * m)
        f.attrs.update(
            features=json.dumps(features.to_dict(), sort_keys=True),
            features_digest=features.digest(),
            manifest_fingerprint=manifest.fingerprint(),
            source=manifest.source,
            autotag_version=__version__,
            complete=True,
        )
    os.replace(tmp, path)


STALE_LOCK_S = 600.0  # an assembler touches its lock after every unit, far more often than this


def take_lock(parts: Path, shard_task: bool) -> Path | None:
    """Take ``parts/assemble.lock``: one assembler among the shard tasks. The assembler touches
    it after every unit, so a lock untouched for :data:`STALE_LOCK_S` (or held by a dead process
    of this host) was left by a killed task and is taken over. A live lock: a shard task returns
    None (the holder assembles), a plain run stops naming the holder."""
    lock = parts / "assemble.lock"
    for _ in range(2):
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            owner = lock.read_text().strip() if lock.exists() else ""
            if _stale(lock, owner):
                log.warning("%s was left by a stopped task (%s); taking it over", lock, owner)
                lock.unlink(missing_ok=True)
                continue
            if shard_task:
                log.info("%s assembles the store (%s)", owner or "another task", lock)
                return None
            raise RuntimeError(
                f"{lock}: {owner or 'another task'} is assembling the store; run again when it "
                f"has finished (a lock untouched for {STALE_LOCK_S:.0f} s is taken over)"
            ) from None
        with os.fdopen(fd, "w") as f:
            f.write(f"{task_id()} since {time.strftime('%Y-%m-%d %H:%M:%S')}")
        return lock
    raise RuntimeError(f"{lock}: could not take the assembly lock")


def _stale(lock: Path, owner: str) -> bool:
    try:
        if time.time() - lock.stat().st_mtime > STALE_LOCK_S:
            return True
    except FileNotFoundError:
        return True
    host, _, pid = owner.split(" ", 1)[0].rpartition(".")
    if host == socket.gethostname() and pid.isdigit():
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            return False
    return False
