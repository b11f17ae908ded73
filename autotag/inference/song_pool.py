"""The tagger's song pool: on the CPU, each worker process tags whole songs (decoding and
network with one torch thread), so the cores never wait for each other. The workers are forked
from the tagging process (:func:`autotag.common.worker.pool_context`): they start in
milliseconds with the model already loaded (Linux only: elsewhere the decoding pool serves).
A worker that crashes fails its song only (:func:`autotag.common.pool.crash_safe_map`).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

from autotag.common.pool import WorkerCrash, crash_safe_map
from autotag.common.worker import pool_context
from autotag.inference.decode import crash_error
from autotag.inference.prediction import SongPrediction

FORK = pool_context().get_start_method() == "fork"
SONGS_PER_TASK = 4

# the jobs of the song pools running in this process, by key; a worker forked while a job is
# here finds it (a second pool started meanwhile, or a restarted one, has its own key)
_pool_jobs: dict[int, tuple[Any, float | None, str, int]] = {}
_job_keys = itertools.count()
SongTask = tuple[int, tuple[str, ...]]


def _tag_in_worker(task: SongTask) -> list[SongPrediction]:
    key, paths = task
    tagger, hop, agg, batch_size = _pool_jobs[key]
    return tagger._tag_songs(paths, hop, agg, batch_size)


def _one_by_one(task: SongTask) -> list[SongTask]:
    key, paths = task
    return [(key, (p,)) for p in paths]


def _songs_crashed(task: SongTask) -> list[SongPrediction]:
    return [SongPrediction(p, error=crash_error(p)) for p in task[1]]


def tag_in_song_pool(
    tagger: Any, paths: list[str], hop: float | None, agg: str, batch_size: int, workers: int
) -> Iterator[SongPrediction]:
    """``tagger._tag_songs`` over ``paths`` in ``workers`` forked processes, in order."""
    key = next(_job_keys)
    _pool_jobs[key] = (tagger, hop, agg, batch_size)  # inherited by the forked workers
    # a few songs per task: the network runs 1.35x faster per window on batches of 4
    # windows than of 1 (one thread); few enough that every worker gets several tasks
    size = min(SONGS_PER_TASK, max(1, len(paths) // (2 * workers)))
    tasks = [(key, tuple(paths[i : i + size])) for i in range(0, len(paths), size)]
    try:
        for task, songs in crash_safe_map(
            _tag_in_worker, tasks, workers, prefetch=2, split=_one_by_one
        ):
            yield from _songs_crashed(task) if isinstance(songs, WorkerCrash) else songs
    finally:
        del _pool_jobs[key]
