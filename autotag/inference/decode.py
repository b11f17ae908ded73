"""Find audio files and decode them to window log-mels, in a process pool that survives a
decoder crash (:func:`autotag.common.pool.crash_safe_map`). The features come from :class:`autotag.data.frontend.FrontEnd`: the store's path.
The peak level of each decoded song is measured here too (before any padding), so that the
tagger can tell silence from music whichever process decoded the file.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from autotag.common.pool import WorkerCrash, crash_safe_map
from autotag.common.signal import peak_dbfs
from autotag.common.worker import usable_cores
from autotag.data.audio import AudioError
from autotag.data.features import FeatureConfig
from autotag.data.frontend import FrontEnd

AUDIO_EXTENSIONS = (".mp3", ".wav", ".flac", ".ogg", ".oga", ".aif", ".aiff")
POOL_MIN_FILES = 8  # fewer files are decoded in the main process unless workers are asked for


def find_audio(
    inputs: Iterable[str | Path], extensions: Sequence[str] = AUDIO_EXTENSIONS
) -> tuple[list[str], list[str]]:
    """Expand files and folders (recursively, sorted) into audio file paths.

    Returns ``(files, problems)``. A named file is kept whatever its extension (decoding decides);
    a missing path is kept too, so that it is reported in order as a failed file. ``problems``
    lists folders holding no audio file. A file named twice (or found in two folders given) is
    kept once, where it first comes: an index must not hold a song twice.
    """
    exts = {e.lower() for e in extensions}
    files: list[str] = []
    problems: list[str] = []
    seen: set[str] = set()

    def keep(path: str) -> None:
        key = os.path.realpath(path)
        if key not in seen:
            seen.add(key)
            files.append(path)

    for item in inputs:
        p = Path(item)
        if p.is_dir():
            found = sorted(
                str(f)
                for f in p.rglob("*")
                if f.suffix.lower() in exts and f.is_file() and not f.name.startswith(".")
            )
            if not found:
                problems.append(f"{p}: no audio files ({' '.join(sorted(exts))}) in this folder")
            for f in found:
                keep(f)
        else:
            keep(str(item))
    return files, problems


@dataclass
class Decoded:
    """One decoded file: its window log-mels and peak level, or the reason it failed.

    ``peak_dbfs`` is measured on the decoded mono waveform at the model's rate, before any
    padding (NaN: not measured).
    """

    path: str
    mels: np.ndarray | None
    duration: float = 0.0
    error: str | None = None
    peak_dbfs: float = math.nan


def decode(front: FrontEnd, path: str, hop_seconds: float | None) -> Decoded:
    """Load and featurize one file; never raises for a bad file."""
    try:
        wav = front.load(path)
        return Decoded(
            path,
            front.song_mels(wav, hop_seconds),
            len(wav) / front.cfg.sample_rate,
            peak_dbfs=peak_dbfs(wav),
        )
    except AudioError as e:
        return Decoded(path, None, error=str(e))
    except Exception as e:  # a decoder crash on one file must not stop a batch
        return Decoded(path, None, error=f"{path}: cannot process ({type(e).__name__}: {e})")


_worker_front: FrontEnd | None = None
_worker_hop: float | None = None


def _init_worker(features: dict[str, Any], hop_seconds: float | None) -> None:
    global _worker_front, _worker_hop
    _worker_front = FrontEnd(FeatureConfig.from_dict(features))
    _worker_hop = hop_seconds


def _decode_in_worker(path: str) -> Decoded:
    assert _worker_front is not None
    return decode(_worker_front, path, _worker_hop)


def pool_workers(workers: int | None, n_files: int) -> int:
    """Processes for ``n_files`` files: ``workers`` (0 or 1: none, work in this process), or
    with None all cores from :data:`POOL_MIN_FILES` files on (the pool's start costs more than
    it saves on a few files); never more than the files."""
    if workers is None:
        workers = usable_cores() if n_files >= POOL_MIN_FILES else 0
    return min(workers, n_files)


def decode_files(
    front: FrontEnd,
    paths: Sequence[str],
    hop_seconds: float | None = None,
    workers: int | None = None,
    prefetch: int = 4,
    task: Callable[[str], Decoded] = _decode_in_worker,
) -> Iterator[Decoded]:
    """Decode ``paths`` in order, in a process pool of ``workers`` processes
    (:func:`pool_workers`; each computes with one torch thread).

    At most ``prefetch`` files per worker are decoded ahead of the consumer, so memory stays
    bounded however slow the model is. A worker that dies (a decoder crash on a corrupt file)
    fails that file only (:func:`~autotag.common.pool.crash_safe_map`).
    """
    workers = pool_workers(workers, len(paths))
    if workers <= 1:
        for p in paths:
            yield decode(front, p, hop_seconds)
        return
    init = (front.cfg.to_dict(), hop_seconds)
    for path, res in crash_safe_map(
        task, paths, workers, initializer=_init_worker, initargs=init, prefetch=prefetch
    ):
        yield Decoded(path, None, error=crash_error(path)) if isinstance(res, WorkerCrash) else res


def crash_error(path: str) -> str:
    """The error of a file whose decoding killed its worker process."""
    return f"{path}: the decoder crashed on this file"
