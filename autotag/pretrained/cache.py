"""The cache folder of downloaded and converted models, and its cross-process lock."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def cache_dir() -> Path:
    """``$AUTOTAG_CACHE``, else ``$XDG_CACHE_HOME/autotag``, else ``~/.cache/autotag``."""
    if os.environ.get("AUTOTAG_CACHE"):
        return Path(os.environ["AUTOTAG_CACHE"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "autotag"


@contextmanager
def cache_lock(name: str) -> Iterator[None]:
    """One process at a time fetches or converts ``name``'s files (a Slurm array's first jobs all
    start with an empty cache); the others wait, then find the files done. Not reentrant: a
    process that holds it must not take it again (a second ``flock`` on a new descriptor waits
    for the first)."""
    lock = cache_dir() / f".{name}.lock"
    lock.parent.mkdir(parents=True, exist_ok=True)
    with open(lock, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)
