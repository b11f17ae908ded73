"""Prepare a store's variants file (:mod:`autotag.data.variants`): the training clips of a
manifest that it lacks, decoded and perturbed in units written atomically into
``<variants>.parts/`` (:mod:`autotag.data.parts`, as ``prepare`` writes the store's: a kill
loses at most the units in flight, a rerun continues), then assembled into
``<variants>.h5.partial`` and renamed. Clips the file holds keep their rows; a training split
that names other files (another split rule) adds them, as the store adds the files a manifest
names later. Each clip's copies depend on the clip alone, so any plan gives the same rows.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import torch

from autotag import __version__
from autotag.common.console import progress as progress_bar
from autotag.common.pool import WorkerCrash, crash_safe_map
from autotag.common.worker import usable_cores
from autotag.data.audio import AudioError
from autotag.data.features import FeatureConfig
from autotag.data.frontend import FrontEnd
from autotag.data.items import Items
from autotag.data.labelled import StoreMismatch
from autotag.data.manifest import Manifest
from autotag.data.parts import claim_parts, save_unit, store_stamp, take_lock, unit_file
from autotag.data.store import STR, MelStore, is_complete
from autotag.data.variants import VERSION, Variants, VariantStore, perturb_clip, variants_path

log = logging.getLogger(__name__)
Task = tuple[int, list[str], list[str], float]  # (unit, paths, rel_paths, min_audio_seconds)


def ensure_variants(
    store: str | Path,
    manifest: Manifest,
    spec: Variants,
    *,
    workers: int | None,
    shard_size: int,
    min_audio_seconds: float,
    add_missing: bool = True,
    progress: bool = True,
) -> Path:
    """Path of the variants file of ``store`` (complete) for ``spec``, holding the copies of
    every valid training clip of ``manifest``: prepared, or completed, here. The keyword
    arguments are the store's (``store.workers``, ...); with ``add_missing`` false, a complete
    file that lacks clips is an error naming them."""
    items = MelStore(store)
    if items.ragged:
        raise ValueError(
            f"{Path(store).name} holds whole tracks: store.variants are copies of fixed "
            "windows (a store with store.excerpt.policy=window); set store.variants.k=0"
        )
    path = variants_path(store, spec)
    train = manifest.included()
    paths = list(dict.fromkeys(p for p, s in zip(train.paths, train.split) if s == "train"))
    rows = items.rows_of(paths)
    rows = rows[(rows >= 0) & items.valid[np.maximum(rows, 0)]]  # a broken clip: no copies
    wanted = Items(
        paths=items.paths[rows].tolist(), rel_paths=items.rel_paths[rows].tolist(),
        clip_ids=items.clip_ids[rows], stamps=items.stamps[rows],
    )  # fmt: skip
    held = VariantStore(path) if is_complete(path) else None
    at = {} if held is None else {p: r for r, p in enumerate(held.paths.tolist())}
    old = [
        p not in at or bool((held.stamps[at[p]] != s).any())
        for p, s in zip(wanted.paths, wanted.stamps)
    ]
    todo = Items(
        paths=[p for p, o in zip(wanted.paths, old) if o],
        rel_paths=[p for p, o in zip(wanted.rel_paths, old) if o],
        clip_ids=wanted.clip_ids[old], stamps=wanted.stamps[old],
    )  # fmt: skip
    if len(todo) == 0:
        return path
    if held is not None and not add_missing:
        raise StoreMismatch(
            f"{path} lacks the copies of {len(todo)} training clip(s) (first: {todo.paths[0]}); "
            "prepare them with store.add_missing=true"
        )
    parts = path.with_suffix(".parts")
    features = items.features
    key = {"variants": spec.key(), "features": features.digest(), "items": todo.fingerprint()}
    claim_parts(parts, {**key, "shard_size": shard_size})
    planned = None if held is None else store_stamp(path)
    n_units = (len(todo) + shard_size - 1) // shard_size
    tasks = [
        (s, todo.paths[s * shard_size : (s + 1) * shard_size],
         todo.rel_paths[s * shard_size : (s + 1) * shard_size], min_audio_seconds)
        for s in range(n_units) if not unit_file(parts, s).exists()
    ]  # fmt: skip
    done = len(todo) - sum(len(t[1]) for t in tasks)
    log.info("%s: %d copies of each of %d training clips (%d prepared)", path.name, spec.k,
             len(todo), done)  # fmt: skip
    bar = progress_bar(len(todo), "variants", "clip", initial=done, disable=not progress)
    try:
        for res in _run(tasks, features, spec, workers):
            save_unit(parts, res)
            bar.update(len(res["status"]))
    finally:
        bar.close()
    lock = take_lock(parts, shard_task=False)
    if lock is None:  # another run assembled them meanwhile
        return path
    if store_stamp(path) != planned:  # another run rewrote the file meanwhile: plan again
        shutil.rmtree(parts)
        again = dict(workers=workers, shard_size=shard_size, add_missing=add_missing,
                     min_audio_seconds=min_audio_seconds, progress=progress)  # fmt: skip
        return ensure_variants(store, manifest, spec, **again)
    try:
        _assemble(held, todo, spec, features, parts, path, shard_size, Path(store).name,
                  heartbeat=lock.touch)  # fmt: skip
    except BaseException:
        lock.unlink(missing_ok=True)
        raise
    finally:
        if held is not None:
            held.close()
    shutil.rmtree(parts)
    return path


# --------------------------------------------------------------------------- the workers

_front: FrontEnd | None = None
_spec: Variants | None = None


def init(features: dict[str, Any], spec: dict[str, Any]) -> None:
    global _front, _spec
    _front, _spec = FrontEnd(FeatureConfig.from_dict(features)), Variants.from_dict(spec)


def vary_unit(task: Task) -> dict[str, Any]:
    """The ``k`` copies of each clip of a unit: ``mel (n, k, n_rows, n_frames)`` float16."""
    unit, paths, rel_paths, min_audio_seconds = task
    front, spec = _front, _spec
    assert front is not None and spec is not None
    cfg = front.cfg
    mel = np.zeros((len(paths), spec.k, cfg.n_rows, cfg.n_frames), dtype=np.float16)
    duration = np.zeros(len(paths), dtype=np.float32)
    status = []
    for i, (path, rel) in enumerate(zip(paths, rel_paths)):
        try:
            x = front.load(path, min_seconds=min_audio_seconds)
        except AudioError as e:  # the store decoded it: the file went bad since
            status.append(f"broken: {e.reason}")
            continue
        duration[i] = len(x) / cfg.sample_rate
        for j, params in enumerate(spec.params(rel)):
            mel[i, j] = front.clip_mel(perturb_clip(x, cfg.sample_rate, params))
        status.append("ok")
    out = {"shard": unit, "mel": mel, "duration": duration}
    return out | {"status": np.array(status, dtype=object), "paths": np.array(paths, dtype=object)}


def _run(
    tasks: list[Task], features: FeatureConfig, spec: Variants, workers: int | None
) -> Iterator[dict[str, Any]]:
    workers = usable_cores() if workers is None else workers
    if workers <= 1:  # in this process, one torch thread (restored afterwards)
        threads = torch.get_num_threads()
        try:
            torch.set_num_threads(1)
            init(features.to_dict(), spec.to_dict())
            yield from map(vary_unit, tasks)
        finally:
            torch.set_num_threads(threads)
        return
    initargs = (features.to_dict(), spec.to_dict())
    for task, res in crash_safe_map(vary_unit, tasks, workers, ordered=False, initializer=init,
                                    initargs=initargs):  # fmt: skip
        if isinstance(res, WorkerCrash):  # these files decoded for the store: not the decoder
            raise RuntimeError(
                f"a worker died preparing the variants of {task[1][0]} and {len(task[1]) - 1} "
                "more (out of memory?); the units written are kept: run again to continue"
            )
        yield res


# --------------------------------------------------------------------------- assembly


def _assemble(
    held: VariantStore | None,
    todo: Items,
    spec: Variants,
    features: FeatureConfig,
    parts: Path,
    path: Path,
    shard_size: int,
    store_name: str,
    heartbeat: Callable[[], None],
) -> None:
    """``<path>.partial`` holding ``held``'s rows (in place; a stale one replaced) and then
    ``todo``'s, renamed to ``path``."""
    m, t, k = features.n_rows, features.n_frames, spec.k
    n_held = 0 if held is None else len(held)
    at = {} if held is None else {p: r for r, p in enumerate(held.paths.tolist())}
    rows, n = [], n_held
    for p in todo.paths:
        rows.append(at.get(p, n))
        n += p not in at
    paths, status = [""] * n, [""] * n
    stamps, params = np.full((n, 2), -1, np.int64), np.zeros((n, k, 3), np.float64)
    if held is not None:
        paths[:n_held], status[:n_held] = held.paths.tolist(), held.status.tolist()
        stamps[:n_held], params[:n_held] = held.stamps, held.params
    tmp = path.with_suffix(".h5.partial")
    with h5py.File(tmp, "w") as f:
        mel = f.create_dataset("mel", (n, k, m, t), dtype=np.float16, chunks=(1, 1, m, t))
        if held is not None:
            step = max(1, (64 << 20) // (k * m * t * 2))  # about 64 MB a block
            for lo in range(0, n_held, step):
                block = held.file["mel"][lo : lo + step]
                mel[lo : lo + len(block)] = block
                heartbeat()
        k0 = 0
        for s in range((len(todo) + shard_size - 1) // shard_size):
            with np.load(unit_file(parts, s)) as z:
                block, st, unit_paths = z["mel"], [str(x) for x in z["status"]], list(z["paths"])
            if [str(p) for p in unit_paths] != todo.paths[k0 : k0 + len(st)]:
                raise RuntimeError(f"{unit_file(parts, s)} holds other files than planned: "
                                   f"delete {parts} and run again")  # fmt: skip
            for i, x in enumerate(block):
                mel[rows[k0 + i]] = x
                status[rows[k0 + i]] = st[i]
            heartbeat()
            k0 += len(st)
        for i, r in enumerate(rows):
            paths[r], stamps[r] = todo.paths[i], todo.stamps[i]
            params[r] = spec.params(todo.rel_paths[i])
        f.create_dataset("path", data=np.array(paths, dtype=object), dtype=STR)
        f.create_dataset("status", data=np.array(status, dtype=object), dtype=STR)
        f.create_dataset("file_size", data=stamps[:, 0])
        f.create_dataset("file_mtime", data=stamps[:, 1])
        f.create_dataset("params", data=params)
        f.attrs.update(
            version=VERSION, store=store_name, variants=spec.key(),
            features=json.dumps(features.to_dict(), sort_keys=True),
            features_digest=features.digest(), autotag_version=__version__, complete=True,
        )  # fmt: skip
    os.replace(tmp, path)
