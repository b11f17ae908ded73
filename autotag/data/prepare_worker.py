"""What a ``prepare`` worker does with one unit of files: decode and featurize each through
:class:`autotag.data.frontend.FrontEnd`, keeping what the excerpt policy says, a broken file
becoming a status string (:func:`process_unit`); after a worker died, the units in flight are
redone file by file (:func:`one_by_one`) and the file that kills a worker is :func:`crashed`. :mod:`autotag.data.prepare` plans the units and runs them in the pool.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from autotag.data.assemble import broken_unit
from autotag.data.audio import AudioError
from autotag.data.excerpt import Excerpt
from autotag.data.features import FeatureConfig
from autotag.data.frontend import FrontEnd

log = logging.getLogger(__name__)

# a unit: (unit number, paths, clip ids, min_audio_seconds)
Task = tuple[int, list[str], list[int], float]

_worker_front: FrontEnd | None = None
_worker_excerpt: Excerpt | None = None


def init(features: dict[str, Any], excerpt: dict[str, Any] | None) -> None:
    set_front(FeatureConfig.from_dict(features), excerpt and Excerpt.from_dict(excerpt))


def set_front(features: FeatureConfig, excerpt: Excerpt | None) -> None:
    global _worker_front, _worker_excerpt
    _worker_front = FrontEnd(features)
    _worker_excerpt = excerpt  # build_store passes None for the fixed window


def process_unit(task: Task) -> dict[str, Any]:
    """Decode and featurize one unit of clips; broken clips become status strings."""
    shard, paths, clip_ids, min_audio_seconds = task
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
        "paths": np.array(paths, dtype=object),  # the assembly checks a unit is the one planned
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


def one_by_one(task: Task) -> list[Task]:
    """A unit as units of one file each: the pool's ``split``, so that a crash is pinned to the
    file that caused it while the unit's other files are prepared as usual."""
    shard, paths, clip_ids, *limits = task
    return [(shard, [p], [c], *limits) for p, c in zip(paths, clip_ids)]


def crashed(task: Task, features: FeatureConfig, ragged: bool) -> dict[str, Any]:
    """The unit of a file whose decoding killed its worker (twice): recorded as broken, like
    any undecodable file."""
    log.warning("%s: the decoder crashed on this file; it is left out", task[1][0])
    return broken_unit(task[0], task[1][0], features, ragged, "the decoder crashed on this file")
