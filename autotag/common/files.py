"""Atomic writes: a file is written whole under a temporary name beside it, then renamed over
its final name, so a reader (or a resumed run) sees the old file or the new one, never half of
one. The temporary name holds this host and process, so two tasks writing the same file (shard
tasks of a cluster array job) never share a half-written temporary."""

from __future__ import annotations

import contextlib
import json
import os
import re
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

TEMP = re.compile(r"\..+\.[^.]+\.\d+\.tmp(\.\w+)?")  # .<name>.<host>.<pid>.tmp[.suffix]


def temp_beside(path: Path, suffix: str = "") -> Path:
    """A temporary name beside ``path``, of this host and process: ``.<name>.<host>.<pid>.tmp``
    (+ ``suffix``, for writers that insist on an extension, like ``np.savez``). Hidden: a folder
    scan (``find_audio``, a glob of units) never takes it for a finished file; a clean-up of
    what killed writers left finds it with ``.*.tmp*``."""
    return path.with_name(f".{path.name}.{socket.gethostname()}.{os.getpid()}.tmp{suffix}")


def remove_temps(folder: Path) -> int:
    """Delete the temporaries (:func:`temp_beside`) that killed writers left in ``folder``
    (call it where no writer is at work); returns how many."""
    stale = [p for p in Path(folder).glob(".*.*.tmp*") if TEMP.fullmatch(p.name)]
    for path in stale:
        path.unlink(missing_ok=True)
    return len(stale)


@contextlib.contextmanager
def atomic_path(path: str | Path, suffix: str = "") -> Iterator[Path]:
    """A temporary path to write ``path``'s content to (any writer: h5py, ``np.savez``, ...);
    renamed to ``path`` when the block ends, removed if it raises."""
    path = Path(path)
    tmp = temp_beside(path, suffix)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_bytes(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def write_text(path: str | Path, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    return write_bytes(path, text.encode("utf-8"))


def write_json(path: str | Path, obj: Any, *, end: str = "", **dump: Any) -> Path:
    """Write ``obj`` as JSON to ``path`` atomically; ``end``: text after it (``"\\n"`` for a
    file people read with ``cat``); ``dump``: :func:`json.dumps`'s options (``indent``,
    ``sort_keys``, ``default``...)."""
    return write_text(path, json.dumps(obj, **dump) + end)
