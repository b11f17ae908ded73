"""Songs that arrive together share the network: a thread that gathers decoded uploads for up to
``max_wait`` seconds after the first (at most ``max_batch`` songs) and tags them in one call of
:meth:`autotag.inference.tagger.Tagger.tag_decoded`, whose windows share forward passes.

A thread and not the event loop: a forward pass holds a core for tens of milliseconds, and the
loop must go on reading uploads meanwhile (torch releases the GIL while it computes).
"""

from __future__ import annotations

import queue
import threading
import time
from concurrent.futures import Future

from autotag.inference.decode import Decoded
from autotag.inference.prediction import SongPrediction
from autotag.inference.tagger import Tagger

_STOP = object()


class Batcher:
    """``submit(decoded)`` → a future of its :class:`SongPrediction`."""

    def __init__(
        self, tagger: Tagger, max_batch: int, max_wait_s: float, agg: str, batch_size: int
    ) -> None:
        self.tagger, self.max_batch, self.max_wait_s = tagger, max_batch, max_wait_s
        self.agg, self.batch_size = agg, batch_size
        self._queue: queue.Queue = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="autotag-model", daemon=True)
        self.batches = 0  # forward calls made, and songs they held: the mean batch is their ratio
        self.songs = 0

    def start(self) -> None:
        self._thread.start()

    def submit(self, song: Decoded) -> Future[SongPrediction]:
        fut: Future[SongPrediction] = Future()
        self._queue.put((song, fut))
        return fut

    def close(self) -> None:
        """Finish what is queued, then stop the thread."""
        self._queue.put(_STOP)
        self._thread.join()

    def _gather(self) -> tuple[list[tuple[Decoded, Future]], bool]:
        first = self._queue.get()
        if first is _STOP:
            return [], True
        batch = [first]
        deadline = time.monotonic() + self.max_wait_s
        while len(batch) < self.max_batch:
            left = deadline - time.monotonic()
            try:
                item = self._queue.get(timeout=left) if left > 0 else self._queue.get_nowait()
            except queue.Empty:
                break
            if item is _STOP:
                self._queue.put(_STOP)  # stop after this batch
                break
            batch.append(item)
        return batch, False

    def _run(self) -> None:
        while True:
            batch, stop = self._gather()
            if stop:
                return
            # a request given up meanwhile (its task cancelled) is not computed; a future cannot
            # be cancelled once running, so every one kept here takes its result
            batch = [(s, f) for s, f in batch if f.set_running_or_notify_cancel()]
            if not batch:
                continue
            try:
                results = list(
                    self.tagger.tag_decoded([s for s, _ in batch], self.agg, self.batch_size)
                )
            except Exception as e:  # a bug must fail its requests, not stop the thread
                for _, fut in batch:
                    fut.set_exception(e)
                continue
            self.batches += 1
            self.songs += len(batch)
            for (_, fut), res in zip(batch, results):
                fut.set_result(res)
