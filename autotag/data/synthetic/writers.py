"""What the synthetic twins share to write their files: the mp3 bytes (LAME via
:func:`autotag.common.mp3.encode_mp3`, libsndfile when lameenc is missing) and the loop that
renders the files in a crash-safe pool (:func:`autotag.common.pool.crash_safe_map`)."""

from __future__ import annotations

import io
import logging
from collections.abc import Callable, Iterator, Sequence
from typing import TypeVar

import numpy as np
import soundfile as sf

from autotag.common.console import progress as progress_bar
from autotag.common.mp3 import encode_mp3

T = TypeVar("T")
R = TypeVar("R")

MP3_KBPS = 32  # MTAT's clips are ~32 kbps
LAME_QUALITY = 7  # the fastest: about 6x faster than libsndfile's encoder, inaudible to a mel

log = logging.getLogger(__name__)


def mp3_bytes(audio: np.ndarray, sr: int, kbps: int = MP3_KBPS) -> bytes:
    """Mono mp3 of ``audio`` at ``kbps``. LAME pads ~0.1 s at the end, like real MTAT clips a
    little longer than 29.1 s."""
    try:
        return encode_mp3(audio, sr, kbps, quality=LAME_QUALITY)
    except ImportError:  # no lameenc
        buf = io.BytesIO()
        sf.write(buf, audio, sr, format="MP3")
        return buf.getvalue()


def render_all(
    render: Callable[[T], R],
    tasks: Sequence[T],
    workers: int | None,
    *,
    unit: str,
    name: Callable[[T], object],
    desc: str,
    progress: bool,
) -> Iterator[tuple[T, R | None]]:
    """``(task, render(task))`` for every task, with a progress bar of ``unit``s: in this
    process when ``workers`` is 1 (or there is one task), else in ``workers`` processes (None:
    every usable core) as they finish. None in place of the result of a task whose worker died
    (it died alone too, so rendering it here would kill this process): warned with
    ``name(task)``, the file not written."""
    from autotag.common.pool import WorkerCrash, crash_safe_map  # imports torch: only here
    from autotag.common.worker import usable_cores

    workers = max(1, workers or usable_cores())
    if workers == 1 or len(tasks) <= 1:
        results: Iterator[tuple[T, R | WorkerCrash]] = ((t, render(t)) for t in tasks)
    else:
        results = crash_safe_map(render, tasks, workers, ordered=False)
    bar = progress_bar(len(tasks), desc, unit, disable=not progress)
    for task, res in results:
        if isinstance(res, WorkerCrash):
            log.warning("%s %s: its worker died while rendering it; run again", unit, name(task))
        bar.update()
        yield task, None if isinstance(res, WorkerCrash) else res
    bar.close()
