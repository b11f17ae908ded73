"""A prepare's units folder, ``<store>.parts/``: what it prepares (``key.json``), its units
(``shard-NNNNNN.npz``, each written atomically), and the lock of the task that assembles them.

Several cluster tasks write one folder (a sharded prepare), so every name a task writes carries
its host and process, and the folder of another prepare is never deleted while it is written to.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import socket
import time
from pathlib import Path
from typing import Any

import numpy as np

from autotag.common.files import atomic_path, write_json
from autotag.data.store import is_complete

log = logging.getLogger(__name__)


def task_id() -> str:
    """``<host>.<pid>``: names what this task writes in a folder shared by several tasks."""
    return f"{socket.gethostname()}.{os.getpid()}"


def unit_file(parts: Path, shard: int) -> Path:
    """The file of unit ``shard`` (units are called shards in the file names)."""
    return parts / f"shard-{shard:06d}.npz"


def save_unit(parts: Path, result: dict[str, Any]) -> None:
    """Write a unit atomically (a temporary name of this host and process, then a rename: two
    tasks writing the same unit never share a half-written file)."""
    ragged = {k: result[k] for k in ("seg_frames", "n_segs") if k in result}
    with atomic_path(unit_file(parts, result["shard"]), suffix=".npz") as tmp:
        np.savez(
            tmp,
            mel=result["mel"],
            duration=result["duration"],
            status=result["status"].astype(str),
            paths=result["paths"].astype(str),
            **ragged,
        )


STALE_LOCK_S = 600.0  # an assembler touches its lock after every unit, far more often than this


def claim_parts(parts: Path, key: dict[str, Any]) -> None:
    """Make ``parts`` this prepare's units folder (``key.json`` names what it prepares). A
    folder of another key is cleared when it has been idle for :data:`STALE_LOCK_S` (a stopped
    prepare); one written to since is another prepare under way, and is an error: its units are
    never deleted under it."""
    key_file = parts / "key.json"
    if parts.exists() and (not key_file.exists() or json.loads(key_file.read_text()) != key):
        if not idle(parts):
            raise RuntimeError(
                f"{parts}: another prepare of other files is under way (written in the last "
                f"{STALE_LOCK_S:.0f} s): run again when it has finished (or delete {parts} if "
                "no prepare runs)"
            )
        log.warning("%s holds shards of another configuration; starting over", parts)
        shutil.rmtree(parts)
    parts.mkdir(exist_ok=True)
    write_json(key_file, key)  # concurrent shard tasks write the same key: each its own temp


def idle(parts: Path) -> bool:
    """Nothing in ``parts`` written for :data:`STALE_LOCK_S` (its prepare stopped or ended)."""
    newest = max((p.stat().st_mtime for p in parts.iterdir() if p.exists()), default=0.0)
    return time.time() - newest > STALE_LOCK_S


def store_stamp(path: Path) -> int | None:
    """The modification time of the complete store at ``path`` (None: none there): a store
    rewritten by another task while this one prepared has another."""
    try:
        return os.stat(path).st_mtime_ns if is_complete(path) else None
    except OSError:
        return None


def take_lock(parts: Path, shard_task: bool) -> Path | None:
    """Take ``parts/assemble.lock``: one assembler among the shard tasks. The assembler touches
    it after every unit, so a lock untouched for :data:`STALE_LOCK_S` (or held by a dead process
    of this host) was left by a killed task and is taken over. A live lock: a shard task returns
    None (the holder assembles), a plain run stops naming the holder. A folder already gone
    (another task assembled and removed it while this one finished its last unit): None."""
    lock = parts / "assemble.lock"
    for _ in range(2):
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileNotFoundError:  # the folder is gone: another task assembled and cleared it
            log.info("%s is gone: another task has assembled its units", parts)
            return None
        except FileExistsError:
            owner = lock.read_text().strip() if lock.exists() else ""
            if _stale(lock, owner):
                log.warning("%s was left by a stopped task (%s); taking it over", lock, owner)
                lock.unlink(missing_ok=True)
                continue
            if shard_task:
                log.info("%s assembles the store (%s)", owner or "another task", lock)
                return None
            raise RuntimeError(
                f"{lock}: {owner or 'another task'} is assembling the store; run again when it "
                f"has finished (a lock untouched for {STALE_LOCK_S:.0f} s is taken over)"
            ) from None
        with os.fdopen(fd, "w") as f:
            f.write(f"{task_id()} since {time.strftime('%Y-%m-%d %H:%M:%S')}")
        return lock
    raise RuntimeError(f"{lock}: could not take the assembly lock")


def _stale(lock: Path, owner: str) -> bool:
    try:
        if time.time() - lock.stat().st_mtime > STALE_LOCK_S:
            return True
    except FileNotFoundError:
        return True
    host, _, pid = owner.split(" ", 1)[0].rpartition(".")
    if host == socket.gethostname() and pid.isdigit():
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            return False
    return False
