"""Build a store from a manifest: parallel, resumable, atomic, shardable across machines
(``python -m autotag.prepare``).

Workers decode and featurize units of ``shard_size`` clips through
:class:`autotag.data.frontend.FrontEnd` (the tagger's path too), keeping of each file what the
excerpt policy says (:mod:`autotag.data.excerpt`), and write each unit atomically into
``<name>.parts/`` (:mod:`autotag.data.assemble`): a kill loses at most the units in flight. The
units are then assembled into the store. Task ``shard`` of ``num_shards`` (a cluster array job)
prepares every ``num_shards``-th unit; the task that finds them all written assembles.
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from autotag.common.console import progress as progress_bar
from autotag.common.files import write_json
from autotag.common.pool import WorkerCrash, crash_safe_map
from autotag.common.worker import usable_cores
from autotag.data.assemble import (
    assemble,
    broken_unit,
    merge_units,
    save_unit,
    take_lock,
    unit_file,
)
from autotag.data.audio import AudioError
from autotag.data.datasets import load_manifest
from autotag.data.excerpt import Excerpt
from autotag.data.features import FeatureConfig
from autotag.data.frontend import FrontEnd
from autotag.data.manifest import Manifest
from autotag.data.store import is_complete, report, store_name

log = logging.getLogger(__name__)


def ensure_store(
    data: Mapping[str, Any],
    features: Mapping[str, Any],
    *,
    dir: str | Path,
    workers: int | None,
    shard_size: int,
    shard: int | None,
    num_shards: int,
    excerpt: Mapping[str, Any],
    min_audio_seconds: float,
    progress: bool = True,
) -> Path:
    """Path of the store of the ``data`` and ``features`` configs in ``dir``, built when missing.

    The keyword arguments are the ``store`` config's (``conf/store/default.yaml``). Paths
    (``data.root``, ``dir``) are used as given: entry points make them absolute. With ``shard``
    set this task prepares its share of the store only (:func:`build_store`), and the path
    returned may not exist yet.
    """
    fcfg = FeatureConfig.from_dict(features)
    kept = Excerpt.from_dict(excerpt)
    manifest = load_manifest(data)
    path = Path(dir).expanduser() / store_name(
        data["name"], data["split"], fcfg, manifest, kept.key()
    )
    return build_store(
        manifest,
        fcfg,
        path,
        workers=workers,
        shard_size=shard_size,
        min_audio_seconds=min_audio_seconds,
        progress=progress,
        excerpt=kept,
        shard=shard,
        num_shards=num_shards,
    )


_worker_front: FrontEnd | None = None
_worker_excerpt: Excerpt | None = None


def _init_worker(features: dict[str, Any], excerpt: dict[str, Any] | None) -> None:
    _set_front(FeatureConfig.from_dict(features), excerpt and Excerpt.from_dict(excerpt))


def _set_front(features: FeatureConfig, excerpt: Excerpt | None) -> None:
    global _worker_front, _worker_excerpt
    _worker_front = FrontEnd(features)
    _worker_excerpt = excerpt  # build_store passes None for the fixed window


Task = tuple[int, list[str], list[int], float, float]


def _process_shard(task: Task) -> dict[str, Any]:
    """Decode and featurize one unit of clips; broken clips become status strings."""
    shard, paths, clip_ids, min_audio_seconds, min_seconds = task
    front, excerpt = _worker_front, _worker_excerpt
    assert front is not None
    cfg = front.cfg
    if excerpt is None:
        mel = np.zeros((len(paths), cfg.n_rows, cfg.n_frames), dtype=np.float16)
    pieces: list[np.ndarray] = []  # ragged: every segment's frames, in order
    seg_frames: list[int] = []
    n_segs = np.zeros(len(paths), dtype=np.int64)
    duration = np.zeros(len(paths), dtype=np.float32)
    status = []
    for k, path in enumerate(paths):
        try:
            x = front.load(path, min_seconds=min_audio_seconds)
        except AudioError as e:
            status.append(f"broken: {e.reason}")
            continue
        duration[k] = len(x) / cfg.sample_rate
        if min_seconds and duration[k] < min_seconds - 0.01:
            status.append(f"excluded: {duration[k]:.2f} s is shorter than {min_seconds} s")
            continue
        if excerpt is None:
            clip = front.centre(x)  # what the store keeps of the file
            mel[k] = front.mels(clip[None])[0].astype(np.float16)
            status.append("silent" if not np.any(clip) else "ok")
            continue
        spans = excerpt.spans(len(x), cfg.sample_rate, clip_ids[k])
        for a, b in spans:
            pieces.append(front.all_frames(x[a:b]).astype(np.float16))
            seg_frames.append(pieces[-1].shape[-1])
        n_segs[k] = len(spans)
        status.append("silent" if not any(np.any(x[a:b]) for a, b in spans) else "ok")
    out: dict[str, Any] = {
        "shard": shard,
        "duration": duration,
        "status": np.array(status, dtype=object),
    }
    if excerpt is None:
        out["mel"] = mel
    else:
        out["mel"] = (
            np.concatenate(pieces, axis=-1) if pieces else np.zeros((cfg.n_rows, 0), np.float16)
        )
        out["seg_frames"] = np.asarray(seg_frames, dtype=np.int64)
        out["n_segs"] = n_segs
    return out


def build_store(
    manifest: Manifest,
    features: FeatureConfig,
    path: str | Path,
    workers: int | None,
    shard_size: int,
    min_audio_seconds: float,
    progress: bool = True,
    excerpt: Excerpt | None = None,
    shard: int | None = None,
    num_shards: int = 1,
) -> Path:
    """Build the store for ``manifest`` at ``path`` (resumes an interrupted build).

    The clips are prepared in units of ``shard_size`` (one ``.npz`` file each in
    ``<name>.parts/``), then assembled. ``excerpt`` (default: the features' centre window) says
    what part of each file is kept. With ``shard`` set, this call is task ``shard`` of
    ``num_shards`` (a cluster array job): it prepares units ``shard``, ``shard + num_shards``, ...
    only, and the task that finds every unit written assembles the store; without it, every
    missing unit is prepared here, so a plain run also finishes what killed shards left.
    """
    path = Path(path)
    if shard is not None and not 0 <= shard < num_shards:
        raise ValueError(f"store.shard={shard} must be in 0..store.num_shards-1 ({num_shards - 1})")
    parts = path.with_suffix(".parts")
    if is_complete(path):
        log.info("store %s is complete", path)
        if parts.exists():  # a task stopped between the store's rename and this clean-up
            shutil.rmtree(parts, ignore_errors=True)
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    manifest = manifest.included()
    if len(manifest) == 0:
        raise ValueError(
            f"no clips to prepare for {path.name} (does the split rule exclude them all?)"
        )
    excerpt = excerpt if excerpt is not None and excerpt.ragged else None
    key = {
        "features": features.digest(),
        "manifest": manifest.fingerprint(),
        "shard_size": shard_size,
        **({"excerpt": excerpt.key()} if excerpt else {}),
    }
    key_file = parts / "key.json"
    if parts.exists() and (not key_file.exists() or json.loads(key_file.read_text()) != key):
        log.warning("%s holds shards of another configuration; starting over", parts)
        shutil.rmtree(parts)
    parts.mkdir(exist_ok=True)
    write_json(key_file, key)  # concurrent shard tasks write the same key: each its own temp

    n_units = (len(manifest) + shard_size - 1) // shard_size
    mine = range(n_units) if shard is None else range(shard, n_units, num_shards)
    todo = [s for s in mine if not unit_file(parts, s).exists()]
    size = {s: len(range(s * shard_size, min((s + 1) * shard_size, len(manifest)))) for s in mine}
    total = sum(size.values())
    done_clips = total - sum(size[s] for s in todo)
    what = path.name if shard is None else f"shard {shard} of {num_shards} of {path.name}"
    if done_clips:
        log.info("resuming %s: %d of %d clips already prepared", what, done_clips, total)
    tasks = [
        (
            s,
            manifest.paths[s * shard_size : (s + 1) * shard_size],
            manifest.clip_ids[s * shard_size : (s + 1) * shard_size].tolist(),
            min_audio_seconds,
            manifest.min_seconds,
        )
        for s in todo
    ]
    _run_tasks(tasks, features, excerpt, parts, workers, progress, total, done_clips)
    missing = [s for s in range(n_units) if not unit_file(parts, s).exists()]
    if missing:  # only a shard task gets here: the others' units are still to come
        log.info(
            "%s is prepared; %d of %d units of the store are missing (other shards); the task "
            "that finishes the last one assembles the store",
            what, len(missing), n_units,
        )  # fmt: skip
        return path
    lock = take_lock(parts, shard_task=shard is not None)
    if lock is None:
        return path
    try:
        assemble(manifest, features, excerpt, parts, path, shard_size, heartbeat=lock.touch)
    except BaseException:
        lock.unlink(missing_ok=True)  # a rerun (or the next shard task) assembles again
        raise
    shutil.rmtree(parts)
    report(path)
    return path


def _run_tasks(
    tasks: list[Task],
    features: FeatureConfig,
    excerpt: Excerpt | None,
    parts: Path,
    workers: int | None,
    progress: bool,
    total: int,
    initial: int,
) -> None:
    if not tasks:
        return
    workers = usable_cores() if workers is None else workers
    bar = progress_bar(total, "prepare", "clip", initial=initial, disable=not progress)
    t0, seconds = time.perf_counter(), 0.0

    def results() -> Iterator[dict[str, Any]]:
        if workers <= 1:  # in this process: its torch thread count is restored afterwards
            threads = torch.get_num_threads()
            try:
                torch.set_num_threads(1)  # not init_worker_process: the allocator is the caller's
                _set_front(features, excerpt)
                yield from map(_process_shard, tasks)
            finally:
                torch.set_num_threads(threads)
            return
        init = (features.to_dict(), excerpt and excerpt.to_dict())
        for task, res in crash_safe_map(
            _process_shard, tasks, workers, initializer=_init_worker, initargs=init, ordered=False
        ):
            yield _clip_by_clip(task, init, workers) if isinstance(res, WorkerCrash) else res

    try:
        for res in results():
            save_unit(parts, res)
            bar.update(len(res["status"]))
            # audio decoded per second of wall time (whole tracks vary: clips/s would not say)
            seconds += float(res["duration"].sum())
            rate = seconds / max(time.perf_counter() - t0, 1e-9)
            bar.set_postfix_str(f"{rate:.0f}x real time")
    except KeyboardInterrupt:
        bar.close()
        log.warning(
            "interrupted: the shards written so far are kept in %s; run again to continue", parts
        )
        raise
    bar.close()


def _clip_by_clip(task: Task, init: tuple[Any, ...], workers: int) -> dict[str, Any]:
    """A unit whose worker died (a decoder crash): its clips prepared one by one, a clip that
    kills its worker again recorded as broken like any undecodable file, then the unit again."""
    shard, paths, clip_ids, *limits = task
    singles = [(shard, [p], [c], *limits) for p, c in zip(paths, clip_ids)]
    run = crash_safe_map(_process_shard, singles, min(workers, len(singles)),
                         initializer=_init_worker, initargs=init)  # fmt: skip
    units = []
    for (_, [path], *_), res in run:  # in the clips' order
        if isinstance(res, WorkerCrash):
            log.warning("%s: the decoder crashed on this file; it is left out", path)
            cfg, ragged = FeatureConfig.from_dict(init[0]), init[1] is not None
            res = broken_unit(shard, cfg, ragged, "the decoder crashed on this file")
        units.append(res)
    return merge_units(units)
