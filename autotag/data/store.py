"""The HDF5 mel store: building it (parallel, resumable) and reading it.

Layout of ``<name>.h5`` (one clip per chunk of ``mel``, so random reads touch one chunk)::

    mel        float16 (N, n_mels, n_frames)   dB of power mel
    labels     uint8   (N, n_tags)              all tags of the source, not only the top K
    tag_names, tag_counts, clip_id, path, rel_path, split, status, valid, duration, meta/<column>
    stats/     training-split statistics over valid clips: global_mean, global_std,
               band_mean (n_mels,), band_std (n_mels,), n_clips, n_values
    attrs:     features (JSON), features_digest, manifest_fingerprint, source, autotag_version,
               complete

Building writes atomic ``.npz`` shards into ``<name>.parts/`` (a kill loses at most the shards
in flight), then assembles ``<name>.h5.partial`` and renames it: a file named ``.h5`` is
always complete.
"""

from __future__ import annotations

import hashlib
import json
import logging
import multiprocessing as mp
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import torch
from tqdm.auto import tqdm

from autotag import __version__
from autotag.data.audio import AudioError, center_crop_or_pad, load_audio
from autotag.data.features import FeatureConfig, LogMel
from autotag.data.manifest import Manifest

log = logging.getLogger(__name__)

STR = h5py.string_dtype()


def store_name(data_name: str, split: str, features: FeatureConfig, manifest: Manifest) -> str:
    """File name that changes whenever the features or the clip list change."""
    key = f"{features.digest()}:{manifest.fingerprint()}"
    return f"{data_name}-{split}-{features.name}-{hashlib.sha1(key.encode()).hexdigest()[:10]}.h5"


# --------------------------------------------------------------------------- building

_worker_front: LogMel | None = None
_worker_cfg: FeatureConfig | None = None


def _init_worker(features: dict[str, Any]) -> None:
    global _worker_front, _worker_cfg
    torch.set_num_threads(1)
    _worker_cfg = FeatureConfig.from_dict(features)
    _worker_front = LogMel(_worker_cfg)


def _process_shard(task: tuple[int, list[str], float, float]) -> dict[str, Any]:
    """Decode and featurize one shard of clips; broken clips become status strings."""
    shard, paths, min_audio_seconds, min_seconds = task
    assert _worker_front is not None and _worker_cfg is not None
    cfg = _worker_cfg
    mel = np.zeros((len(paths), cfg.n_mels, cfg.n_frames), dtype=np.float16)
    duration = np.zeros(len(paths), dtype=np.float32)
    status = []
    for k, path in enumerate(paths):
        try:
            x = load_audio(path, cfg.sample_rate, min_seconds=min_audio_seconds)
        except AudioError as e:
            status.append(f"broken: {e.reason}")
            continue
        duration[k] = len(x) / cfg.sample_rate
        if min_seconds and duration[k] < min_seconds - 0.01:
            status.append(f"excluded: {duration[k]:.2f} s is shorter than {min_seconds} s")
            continue
        x = center_crop_or_pad(x, cfg.n_samples)
        with torch.inference_mode():
            mel[k] = _worker_front(torch.from_numpy(x)).numpy().astype(np.float16)
        status.append("silent" if not np.any(x) else "ok")
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
    workers: int | None = None,
    shard_size: int = 32,
    min_audio_seconds: float = 1.0,
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
    workers = (os.cpu_count() or 1) if workers is None else workers
    bar = tqdm(
        total=total,
        initial=initial,
        unit="clip",
        desc="prepare",
        disable=not progress,
        smoothing=0.1,
    )
    t0, n0 = time.perf_counter(), 0

    def results() -> Iterator[dict[str, Any]]:
        if workers <= 1:
            _init_worker(features.to_dict())
            yield from map(_process_shard, tasks)
            return
        ctx = mp.get_context("spawn")  # no fork after torch has started its thread pools
        with ctx.Pool(workers, initializer=_init_worker, initargs=(features.to_dict(),)) as pool:
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
    n, m, t = len(manifest), features.n_mels, features.n_frames
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
