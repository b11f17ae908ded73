"""Build a mel store from a manifest: parallel, resumable, atomic (``python -m autotag.prepare``).

Workers decode and featurize shards of clips through :class:`autotag.data.frontend.FrontEnd`
(the tagger's path too) and write atomic ``.npz`` shards into ``<name>.parts/``: a kill loses at
most the shards in flight. The shards are then assembled into ``<name>.h5.partial``, with the
training-split statistics, and renamed. The layout is documented in :mod:`autotag.data.store`.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import torch

from autotag import __version__
from autotag.data.audio import AudioError
from autotag.data.features import FeatureConfig
from autotag.data.frontend import FrontEnd
from autotag.data.manifest import Manifest
from autotag.data.progress import progress as progress_bar
from autotag.data.readers import load_manifest
from autotag.data.store import STR, is_complete, report, store_name
from autotag.data.worker import init_worker_process, pool_context, usable_cores

log = logging.getLogger(__name__)


def ensure_store(
    data: Mapping[str, Any], features: Mapping[str, Any], progress: bool = True
) -> Path:
    """Path of the store for the ``data`` and ``features`` configs, building it when missing.

    Paths in ``data`` (``root``, ``store_dir``) are used as given: entry points make them
    absolute.
    """
    fcfg = FeatureConfig.from_dict(features)
    manifest = load_manifest(data)
    path = Path(data["store_dir"]).expanduser() / store_name(
        data["name"], data["split"], fcfg, manifest
    )
    return build_store(
        manifest,
        fcfg,
        path,
        workers=data["prepare_workers"],
        shard_size=data["shard_size"],
        min_audio_seconds=data["min_audio_seconds"],
        progress=progress,
    )


_worker_front: FrontEnd | None = None


def _init_worker(features: dict[str, Any]) -> None:
    init_worker_process()
    _set_front(FeatureConfig.from_dict(features))


def _set_front(features: FeatureConfig) -> None:
    global _worker_front
    _worker_front = FrontEnd(features)


def _process_shard(task: tuple[int, list[str], float, float]) -> dict[str, Any]:
    """Decode and featurize one shard of clips; broken clips become status strings."""
    shard, paths, min_audio_seconds, min_seconds = task
    front = _worker_front
    assert front is not None
    cfg = front.cfg
    mel = np.zeros((len(paths), cfg.n_rows, cfg.n_frames), dtype=np.float16)
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
        clip = front.centre(x)  # what the store keeps of the file
        mel[k] = front.mels(clip[None])[0].astype(np.float16)
        status.append("silent" if not np.any(clip) else "ok")
    return {
        "shard": shard,
        "mel": mel,
        "duration": duration,
        "status": np.array(status, dtype=object),
    }


def _shard_file(parts: Path, shard: int) -> Path:
    return parts / f"shard-{shard:06d}.npz"


def _save_shard(parts: Path, result: dict[str, Any]) -> None:
    final = _shard_file(parts, result["shard"])
    tmp = final.with_suffix(".tmp.npz")
    np.savez(
        tmp, mel=result["mel"], duration=result["duration"], status=result["status"].astype(str)
    )
    os.replace(tmp, final)


def build_store(
    manifest: Manifest,
    features: FeatureConfig,
    path: str | Path,
    workers: int | None,
    shard_size: int,
    min_audio_seconds: float,
    progress: bool = True,
) -> Path:
    """Build the mel store for ``manifest`` at ``path`` (resumes an interrupted build)."""
    path = Path(path)
    if is_complete(path):
        log.info("store %s is complete", path)
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    manifest = manifest.included()
    if len(manifest) == 0:
        raise ValueError(
            f"no clips to prepare for {path.name} (does the split rule exclude them all?)"
        )
    parts = path.with_suffix(".parts")
    key = {
        "features": features.digest(),
        "manifest": manifest.fingerprint(),
        "shard_size": shard_size,
    }
    key_file = parts / "key.json"
    if parts.exists() and (not key_file.exists() or json.loads(key_file.read_text()) != key):
        log.warning("%s holds shards of another configuration; starting over", parts)
        shutil.rmtree(parts)
    parts.mkdir(exist_ok=True)
    key_file.write_text(json.dumps(key))

    n_shards = (len(manifest) + shard_size - 1) // shard_size
    todo = [s for s in range(n_shards) if not _shard_file(parts, s).exists()]
    done_clips = len(manifest) - sum(
        len(range(s * shard_size, min((s + 1) * shard_size, len(manifest)))) for s in todo
    )
    if done_clips:
        log.info(
            "resuming %s: %d of %d clips already prepared", path.name, done_clips, len(manifest)
        )
    tasks = [
        (
            s,
            manifest.paths[s * shard_size : (s + 1) * shard_size],
            min_audio_seconds,
            manifest.min_seconds,
        )
        for s in todo
    ]
    _run_tasks(tasks, features, parts, workers, progress, total=len(manifest), initial=done_clips)
    _assemble(manifest, features, parts, path, shard_size)
    shutil.rmtree(parts)
    report(path)
    return path


def _run_tasks(
    tasks: list[tuple[int, list[str], float, float]],
    features: FeatureConfig,
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
    t0, n0 = time.perf_counter(), 0

    def results() -> Iterator[dict[str, Any]]:
        if workers <= 1:  # in this process: its torch thread count is restored afterwards
            threads = torch.get_num_threads()
            try:
                torch.set_num_threads(1)  # not init_worker_process: the allocator is the caller's
                _set_front(features)
                yield from map(_process_shard, tasks)
            finally:
                torch.set_num_threads(threads)
            return
        with pool_context().Pool(
            workers, initializer=_init_worker, initargs=(features.to_dict(),)
        ) as pool:
            yield from pool.imap_unordered(_process_shard, tasks)

    try:
        for res in results():
            _save_shard(parts, res)
            n0 += len(res["status"])
            bar.update(len(res["status"]))
            rate = n0 / max(time.perf_counter() - t0, 1e-9)
            bar.set_postfix_str(f"{rate * features.clip_seconds:.0f}x real time")
    except KeyboardInterrupt:
        bar.close()
        log.warning(
            "interrupted: the shards written so far are kept in %s; run again to continue", parts
        )
        raise
    bar.close()


def _assemble(
    manifest: Manifest, features: FeatureConfig, parts: Path, path: Path, shard_size: int
) -> None:
    n, m, t = len(manifest), features.n_rows, features.n_frames
    tmp = path.with_suffix(".h5.partial")
    band_sum = np.zeros(m, dtype=np.float64)
    band_sq = np.zeros(m, dtype=np.float64)
    n_train = 0
    status_all: list[str] = []
    duration_all = np.zeros(n, dtype=np.float32)
    with h5py.File(tmp, "w") as f:
        mel = f.create_dataset("mel", shape=(n, m, t), dtype=np.float16, chunks=(1, m, t))
        for s in range((n + shard_size - 1) // shard_size):
            with np.load(_shard_file(parts, s)) as z:
                block, dur, st = z["mel"], z["duration"], [str(x) for x in z["status"]]
            lo = s * shard_size
            mel[lo : lo + len(block)] = block
            duration_all[lo : lo + len(block)] = dur
            status_all.extend(st)
            for k, x in enumerate(block):
                if manifest.split[lo + k] == "train" and st[k] in ("ok", "silent"):
                    x64 = x.astype(np.float64)
                    band_sum += x64.sum(axis=1)
                    band_sq += np.square(x64).sum(axis=1)
                    n_train += 1
        valid = np.array([s in ("ok", "silent") for s in status_all])
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
        count = n_train * t
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
