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

import logging
import shutil
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import torch

from autotag.common.console import progress as progress_bar
from autotag.common.keywords import check_keywords
from autotag.common.pool import WorkerCrash, crash_safe_map
from autotag.common.worker import usable_cores
from autotag.data import prepare_worker as unit_worker
from autotag.data.assemble import assemble, merge_units
from autotag.data.datasets import load_manifest
from autotag.data.excerpt import Excerpt
from autotag.data.features import FeatureConfig
from autotag.data.items import items_of, lacking
from autotag.data.labelled import LabelledStore, StoreMismatch
from autotag.data.manifest import Manifest
from autotag.data.parts import claim_parts, idle, save_unit, store_stamp, take_lock, unit_file
from autotag.data.prepare_variants import ensure_variants
from autotag.data.store import (
    MelStore,
    collection_of,
    is_complete,
    mention_old_stores,
    report,
    store_name,
)
from autotag.data.variants import Variants, VariantStore, variants_path

log = logging.getLogger(__name__)
# a reader's keys that say which audio files it names under its root (Jamendo's audio set, and
# where the audio folders are): they are the collection's, as the root is
WHERE_KEYS = ("audio", "audio_root")


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
    add_missing: bool,
    variants: Mapping[str, Any],
    progress: bool = True,
    manifest: Manifest | None = None,
) -> Path:
    """Path of the store of the ``data`` set's audio with the ``features`` in ``dir``, built
    when missing, and given the files of the data set's manifest that it lacks.

    The keyword arguments are the ``store`` config's (``conf/store/default.yaml``); ``manifest``
    is ``data``'s when the caller has read it already. Paths (``data.root``, ``dir``) are used
    as given: entry points make them absolute. With ``shard`` set this task prepares its share
    only (:func:`build_store`), and the path returned may not exist yet. With
    ``variants.k`` > 0 the training clips' offline copies are prepared too, beside the store
    (:func:`~autotag.data.prepare_variants.ensure_variants`; not by a shard task).
    """
    fcfg = FeatureConfig.from_dict(features)
    kept, spec = Excerpt.from_dict(excerpt), Variants.from_dict(variants)
    manifest = load_manifest(data) if manifest is None else manifest
    reader, root = str(data["reader"]), Path(data["root"]).expanduser()
    where = {k: data[k] for k in WHERE_KEYS if data.get(k) is not None}
    collection = collection_of(reader, root, where)
    label = reader if root.stem == reader else f"{reader}-{root.stem}"
    path = Path(dir).expanduser() / store_name(collection, label, fcfg, kept.key())
    if not path.exists():
        mention_old_stores(path.parent, f"{data['name']}-{data['split']}-{fcfg.name}-")
    units = dict(workers=workers, shard_size=shard_size, min_audio_seconds=min_audio_seconds,
                 progress=progress, add_missing=add_missing)  # fmt: skip
    build_store(manifest, fcfg, path, **units, excerpt=kept, shard=shard, num_shards=num_shards,
                collection=collection)  # fmt: skip
    if spec.k and shard is None:
        ensure_variants(path, manifest, spec, **units)
    return path


def store_of(cfg: Mapping[str, Any], manifest: Manifest | None = None) -> Path:
    """:func:`ensure_store` of a composed config's ``data``, ``features`` and ``store`` groups;
    a key of ``store`` that it does not take is one clear error, before anything runs."""
    passed = ("data", "features", "progress", "manifest")
    check_keywords(ensure_store, cfg["store"], "store", passed=passed)
    return ensure_store(cfg["data"], cfg["features"], **cfg["store"], manifest=manifest)


def labelled_store_of(cfg: Mapping[str, Any]) -> LabelledStore:
    """The store of a composed config (prepared or completed first) joined with its data
    set's labels and split (and the training clips' offline variants, when on): what a run
    trains and evaluates on."""
    manifest = load_manifest(cfg["data"])
    path, spec = store_of(cfg, manifest), Variants.from_dict(cfg["store"]["variants"])
    variants = VariantStore(variants_path(path, spec)) if spec.k else None
    return LabelledStore(path, manifest, variants)


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
    add_missing: bool = True,
    collection: str = "",
) -> Path:
    """Build the store of ``manifest``'s audio files at ``path``, or add the files it lacks
    (new, or changed since they were prepared) to the complete store there; an interrupted
    build resumes.

    The files are prepared in units of ``shard_size`` (one ``.npz`` file each in
    ``<name>.parts/``), then assembled (after the store's items, when adding). ``excerpt``
    (default: the features' centre window) says what part of each file is kept. With ``shard``
    set, this call is task ``shard`` of ``num_shards`` (a cluster array job): it prepares units
    ``shard``, ``shard + num_shards``, ... only, and the task that finds every unit written
    assembles the store; without it, every missing unit is prepared here, so a plain run also
    finishes what killed shards left. With ``add_missing`` false, a complete store that lacks
    some of the files is an error naming them instead.
    """
    path = Path(path)
    if shard is not None and not 0 <= shard < num_shards:
        raise ValueError(f"store.shard={shard} must be in 0..store.num_shards-1 ({num_shards - 1})")
    parts = path.with_suffix(".parts")
    if len(manifest.included()) == 0:
        raise ValueError(
            f"no clips to prepare for {path.name} (does the split rule exclude them all?)"
        )
    items = items_of(manifest)
    base = MelStore(path) if is_complete(path) else None
    if base is not None and base.legacy is not None:
        raise ValueError(
            f"{path}: a store of one split, made before stores were shared; move or delete it"
        )
    todo = items if base is None else lacking(base, items)
    if len(todo) == 0:
        log.info("store %s is complete", path)
        if parts.exists() and idle(parts):  # left by a task stopped after the store's rename
            shutil.rmtree(parts, ignore_errors=True)
        return path
    if base is not None:
        where = (
            f"{len(todo)} of the {len(items)} audio files of the manifest (first: {todo.paths[0]})"
        )
        if not add_missing:
            raise StoreMismatch(
                f"{path} lacks {where}, or holds them from files changed since; prepare them "
                "with store.add_missing=true"
            )
        log.info("%s lacks %s: preparing those, then adding them to it", path.name, where)
    path.parent.mkdir(parents=True, exist_ok=True)
    excerpt = excerpt if excerpt is not None and excerpt.ragged else None
    key = {
        "features": features.digest(),
        "items": todo.fingerprint(),
        "shard_size": shard_size,
        **({"excerpt": excerpt.key()} if excerpt else {}),
    }
    claim_parts(parts, key)
    planned = None if base is None else base.stamp  # the store this plan adds to

    n_units = (len(todo) + shard_size - 1) // shard_size
    mine = range(n_units) if shard is None else range(shard, n_units, num_shards)
    pending = [s for s in mine if not unit_file(parts, s).exists()]
    size = {s: len(range(s * shard_size, min((s + 1) * shard_size, len(todo)))) for s in mine}
    total = sum(size.values())
    done_clips = total - sum(size[s] for s in pending)
    what = path.name if shard is None else f"shard {shard} of {num_shards} of {path.name}"
    if done_clips:
        log.info("resuming %s: %d of %d clips already prepared", what, done_clips, total)
    tasks = [
        (
            s,
            todo.paths[s * shard_size : (s + 1) * shard_size],
            todo.clip_ids[s * shard_size : (s + 1) * shard_size].tolist(),
            min_audio_seconds,
        )
        for s in pending
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
    if store_stamp(path) != planned:  # another task rewrote the store since: plan again
        log.warning("%s changed while this task prepared (another task added to it); "
                    "planning again", path)  # fmt: skip
        shutil.rmtree(parts)
        again = dict(workers=workers, shard_size=shard_size, min_audio_seconds=min_audio_seconds,
                     progress=progress, excerpt=excerpt, add_missing=add_missing,
                     collection=collection)  # fmt: skip
        return build_store(manifest, features, path, **again)
    try:
        assemble(todo, features, excerpt, parts, path, shard_size, collection, base,
                 heartbeat=lock.touch)  # fmt: skip
    except BaseException:
        lock.unlink(missing_ok=True)  # a rerun (or the next shard task) assembles again
        raise
    finally:
        if base is not None:
            base.close()
    shutil.rmtree(parts)
    report(path)
    return path


def _run_tasks(
    tasks: list[unit_worker.Task],
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
                unit_worker.set_front(features, excerpt)
                yield from map(unit_worker.process_unit, tasks)
            finally:
                torch.set_num_threads(threads)
            return
        init = (features.to_dict(), excerpt and excerpt.to_dict())
        run = crash_safe_map(unit_worker.process_unit, tasks, workers, ordered=False,
                             initializer=unit_worker.init, initargs=init,
                             split=unit_worker.one_by_one)  # fmt: skip
        clips = {task[0]: task[2] for task in tasks}  # a unit's clip ids, in order
        pieces: dict[int, dict[int, dict[str, Any]]] = {}  # a unit redone file by file
        for task, res in run:
            unit = task[0]
            if isinstance(res, WorkerCrash):  # one file: split pins a crash to its file
                res = unit_worker.crashed(task, features, excerpt is not None)
            if len(task[2]) == len(clips[unit]):
                yield res
                continue
            got = pieces.setdefault(unit, {})
            got[task[2][0]] = res
            if len(got) == len(clips[unit]):  # its last file: the unit, as a whole run gives
                yield merge_units([got[c] for c in clips[unit]])
                del pieces[unit]

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
