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
import math
import multiprocessing as mp
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

import soundfile as sf
import torch

from autotag.data.audio import AudioError, decode_error, native_stderr_silenced
from autotag.data.features import FeatureConfig
from autotag.data.frontend import FrontEnd
from autotag.inference.decode import Decoded, decode
from autotag.serve.errors import Rejected

# What an upload may hold, checked from its header before decoding. A file of a few kB can
# announce 8 channels at 192 kHz for half an hour (2.7 GB decoded), or a rate such as 16001 Hz
# whose ratio to the model's rate reduces to nothing: torchaudio's resampling filter then has
# thousands of phases (7 GB for 32 samples at 16001 Hz → 16 kHz, measured).
MIN_RATE, MAX_RATE = 8000, 192000
MAX_CHANNELS = 8
MAX_RATIO_TERM = 1000  # 44.1 kHz → 16 kHz is 441/160; 16001 → 16000 would be 16001/16000
SAMPLES_PER_SECOND = 2 * 48000  # the decoded-sample cap: the duration cap of 48 kHz stereo

_front: FrontEnd | None = None


def _init(features: dict[str, Any]) -> None:
    global _front
    # One torch thread, and unlike autotag's other workers the C allocator keeps its defaults:
    # a long upload's buffers go back to the system after it, instead of staying with the slot
    torch.set_num_threads(1)
    _front = FrontEnd(FeatureConfig.from_dict(features))


def probe(path: str) -> Any:
    """The file's header (rate, channels, frames) without decoding it; :class:`AudioError`
    when no decoder recognises it."""
    try:
        with native_stderr_silenced():
            return sf.info(path)
    except Exception as e:  # LibsndfileError, RuntimeError, TypeError by format
        raise AudioError(path, decode_error(e)) from None


def check_header(path: str, info: Any, rate: int, max_seconds: float) -> None:
    """:class:`Rejected` for audio this service will not decode (see the limits above)."""
    sr, ch = int(info.samplerate), int(info.channels)
    if not MIN_RATE <= sr <= MAX_RATE or sr // math.gcd(sr, rate) > MAX_RATIO_TERM:
        raise Rejected(
            415,
            "unsupported_audio",
            f"{path}: sample rate {sr} Hz is not supported (use a common rate between "
            f"{MIN_RATE} and {MAX_RATE} Hz: 22050, 44100, 48000...)",
        )
    if not 1 <= ch <= MAX_CHANNELS:
        raise Rejected(
            415, "unsupported_audio", f"{path}: {ch} channels (at most {MAX_CHANNELS} accepted)"
        )
    seconds = info.frames / sr
    if seconds > max_seconds:
        raise Rejected(
            413,
            "too_long",
            f"{path}: {seconds / 60:.1f} min of audio, over this service's cap of "
            f"{max_seconds / 60:g} min",
        )
    if info.frames * ch > max_seconds * SAMPLES_PER_SECOND:
        raise Rejected(
            413,
            "too_long",
            f"{path}: {ch} channels at {sr} Hz for {seconds / 60:.1f} min is more audio than "
            f"this service decodes ({max_seconds / 60:g} min of 48 kHz stereo)",
        )


def decode_upload(path: str, hop: float | None, max_seconds: float) -> Decoded:
    """An upload's window log-mels; :class:`Rejected` for a file that is no audio, or too long
    or too large to decode (:func:`check_header`)."""
    assert _front is not None, "decode_upload runs in a decoding process"
    try:
        info = probe(path)
    except AudioError as e:
        raise Rejected(415, "not_audio", str(e)) from None
    check_header(path, info, _front.cfg.sample_rate, max_seconds)
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
        self._ctx.set_forkserver_preload(
            ["autotag.serve.forkserver_signals", "autotag.serve.decoders"]
        )
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
            try:
                fut = ex.submit(self._task, path, hop, max_seconds)
            except BrokenProcessPool:  # its process died while idle (the OOM killer): not
                self._retire(ex)  # this upload's doing, so it gets a fresh slot
                ex = self._slot()
                fut = ex.submit(self._task, path, hop, max_seconds)
            return await asyncio.wrap_future(fut)
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
