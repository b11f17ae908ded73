"""Decoding of uploads in processes of their own, one upload per process at a time.

Why not threads: a decoder that segfaults on a hostile file would take the service down. Why not
one :class:`~concurrent.futures.ProcessPoolExecutor` of N processes: a worker's death breaks the
whole executor and every upload in it fails (:mod:`autotag.common.pool` reruns them, but a
request cannot wait for a rerun). So each slot is an executor of one process: a crash fails the
one upload it held, and the slot gets a new process. Processes come from a ``forkserver`` that
imported torch once (a crashed slot is back in milliseconds, not torch's 1.8 s import), never
forked from the service itself, whose threads (the event loop, the model) may hold locks.
"""

from __future__ import annotations

import asyncio
import multiprocessing as mp
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

import soundfile as sf

from autotag.common.worker import init_worker_process
from autotag.data.audio import AudioError, decode_error, native_stderr_silenced
from autotag.data.features import FeatureConfig
from autotag.data.frontend import FrontEnd
from autotag.inference.decode import Decoded, decode
from autotag.serve.errors import Rejected

_front: FrontEnd | None = None


def _init(features: dict[str, Any]) -> None:
    global _front
    init_worker_process()
    _front = FrontEnd(FeatureConfig.from_dict(features))


def probe_seconds(path: str) -> float:
    """The length a file's header announces, without decoding it; :class:`AudioError` when
    no decoder recognises it."""
    try:
        with native_stderr_silenced():
            info = sf.info(path)
    except Exception as e:  # LibsndfileError, RuntimeError, TypeError by format
        raise AudioError(path, decode_error(e)) from None
    return info.frames / info.samplerate if info.samplerate else 0.0


def decode_upload(path: str, hop: float | None, max_seconds: float) -> Decoded:
    """An upload's window log-mels; :class:`Rejected` for a file that is no audio or too long."""
    assert _front is not None, "decode_upload runs in a decoding process"
    try:
        seconds = probe_seconds(path)
    except AudioError as e:
        raise Rejected(415, "not_audio", str(e)) from None
    if seconds > max_seconds:
        raise Rejected(
            413,
            "too_long",
            f"{path}: {seconds / 60:.1f} min of audio, over this service's cap of "
            f"{max_seconds / 60:g} min",
        )
    song = decode(_front, path, hop)
    if song.mels is None:
        raise Rejected(415, "not_audio", song.error or f"{path}: cannot decode audio")
    return song


def _ready() -> bool:
    return True


class DecoderPool:
    """``workers`` one-process slots; :meth:`decode` awaits a free one."""

    def __init__(self, features: FeatureConfig, workers: int, task=decode_upload) -> None:
        self._features = features.to_dict()
        self._task = task
        self._workers = workers
        self._ctx = mp.get_context("forkserver")
        self._ctx.set_forkserver_preload(["autotag.serve.decoders"])
        self._idle: asyncio.Queue[ProcessPoolExecutor] | None = None
        self._all: list[ProcessPoolExecutor] = []
        self.crashes = 0

    def _slot(self) -> ProcessPoolExecutor:
        ex = ProcessPoolExecutor(1, self._ctx, initializer=_init, initargs=(self._features,))
        self._all.append(ex)
        return ex

    async def start(self) -> None:
        """Start every process now (and wait for it), not on the first upload."""
        self._idle = asyncio.Queue()
        slots = [self._slot() for _ in range(self._workers)]
        await asyncio.gather(*(asyncio.wrap_future(ex.submit(_ready)) for ex in slots))
        for ex in slots:
            self._idle.put_nowait(ex)

    async def decode(self, path: str, shown: str, hop: float | None, max_seconds: float) -> Decoded:
        """Decode ``path`` in a free slot; errors name ``shown`` (the client's file name), never
        the temporary path."""
        assert self._idle is not None, "start() the pool first"
        ex = await self._idle.get()
        try:
            return await asyncio.wrap_future(ex.submit(self._task, path, hop, max_seconds))
        except BrokenProcessPool:
            self.crashes += 1
            self._retire(ex)
            ex = self._slot()
            raise Rejected(
                422, "decoder_crash", f"{shown}: the decoder crashed on this file"
            ) from None
        except Rejected as e:
            raise Rejected(e.status, e.code, e.message.replace(path, shown)) from None
        finally:
            self._idle.put_nowait(ex)

    def _retire(self, ex: ProcessPoolExecutor) -> None:
        ex.shutdown(wait=False, cancel_futures=True)
        self._all.remove(ex)

    def close(self) -> None:
        for ex in self._all:
            ex.shutdown(wait=True, cancel_futures=True)
        self._all.clear()
