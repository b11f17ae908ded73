"""One crash-safe process pool over files: prepare's units, the tagger's decoding and its song
pool, and the synthetic twins' rendering all run through it.

``multiprocessing.Pool`` replaces a worker that dies (a decoder segfault, ``os._exit``, the
kernel's OOM killer) and loses its task, so ``imap_unordered`` waits for it forever. A
:class:`~concurrent.futures.ProcessPoolExecutor` instead breaks (``BrokenProcessPool``) on every
future in flight; :func:`crash_safe_map` then reruns those items, the first alone in a pool of its
own (so the item that kills its worker is found and fails alone: a :class:`WorkerCrash` in its
place), the others in a new pool, and goes on. Nothing waits on a dead process.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Any, TypeVar

from autotag.common.worker import init_worker_process, pool_context

T = TypeVar("T")
R = TypeVar("R")


class WorkerCrash(RuntimeError):
    """The worker process died while on this item (it killed a pool of its own too)."""


def _start_worker(initializer: Callable[..., None] | None, initargs: tuple[Any, ...]) -> None:
    init_worker_process()  # one torch thread, freed memory kept: every worker of autotag's
    if initializer is not None:
        initializer(*initargs)


def crash_safe_map(
    task: Callable[[T], R],
    items: Iterable[T],
    workers: int,
    *,
    initializer: Callable[..., None] | None = None,
    initargs: tuple[Any, ...] = (),
    prefetch: int = 2,
    ordered: bool = True,
    split: Callable[[T], list[T]] | None = None,
) -> Iterator[tuple[T, R | WorkerCrash]]:
    """``(item, task(item))`` for every item, computed in ``workers`` processes
    (:func:`~autotag.common.worker.pool_context`; each runs
    :func:`~autotag.common.worker.init_worker_process`, then ``initializer(*initargs)``).

    ``ordered``: in the items' order (else as they finish). At most ``workers * prefetch``
    items are in flight, so memory stays bounded however slow the consumer is. An exception
    raised by ``task`` reaches the caller (a bug is not a crash). A worker that dies fails the
    item it was on only: the items in flight are rerun (``split`` first cuts a group of files
    into single ones), each crash isolating one item that gets a :class:`WorkerCrash` as its
    result; the others go on in a new pool.
    """

    def pool(n: int) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(
            n, pool_context(), initializer=_start_worker, initargs=(initializer, initargs)
        )

    todo = deque(items)
    ex = pool(workers)
    pending: deque[tuple[T, Future]] = deque()
    try:
        while todo or pending:
            while todo and len(pending) < workers * prefetch:
                try:
                    fut = ex.submit(task, todo[0])
                except BrokenProcessPool:  # a worker died since the last submission
                    break
                pending.append((todo.popleft(), fut))
            if not pending:  # the pool broke with nothing in flight: start a new one
                ex.shutdown(wait=False, cancel_futures=True)
                ex = pool(workers)
                continue
            if not ordered:  # the first to finish goes first
                wait([f for _, f in pending], return_when=FIRST_COMPLETED)
                pending.rotate(-next(i for i, (_, f) in enumerate(pending) if f.done()))
            item, fut = pending.popleft()
            try:
                yield item, fut.result()
                continue
            except BrokenProcessPool:
                pass
            # a worker died: rerun the items in flight, the first alone, then in a new pool
            ex.shutdown(wait=False, cancel_futures=True)
            if not ordered:  # those finished before the crash need no rerun
                for q, f in [(q, f) for q, f in pending if _finished(f)]:
                    yield q, f.result()
                pending = deque((q, f) for q, f in pending if not _finished(f))
            retry = [item, *(q for q, _ in pending)]
            if split is not None:
                retry = [one for it in retry for one in split(it)]
            pending.clear()
            head = retry.pop(0)
            yield head, _isolated(pool, task, head)
            todo.extendleft(reversed(retry))
            ex = pool(workers)
        ex.shutdown(wait=True)
    finally:  # the consumer stopped early (an error, ^C): do not wait for the work ahead
        ex.shutdown(wait=False, cancel_futures=True)


def _finished(fut: Future) -> bool:
    return fut.done() and not fut.cancelled() and fut.exception() is None


def _isolated(
    pool: Callable[[int], ProcessPoolExecutor], task: Callable[[T], R], item: T
) -> R | WorkerCrash:
    """``task(item)`` in a pool of its own; a crash fails this item only."""
    with pool(1) as ex:
        try:
            return ex.submit(task, item).result()
        except BrokenProcessPool:
            return WorkerCrash("the worker process died on this item")
