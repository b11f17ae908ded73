"""A catalogue job: tag and embed every song of a catalogue, resumable and shardable.

The songs (sorted absolute paths, :mod:`autotag.inference.catalogue_input`) are cut into units of
``unit_size``; each unit is tagged (:meth:`Tagger.tag_files`: the CPU song pool, or the GPU) and
written atomically as ``<out>/parts/part-NNNNNN.h5`` (:mod:`autotag.inference.catalogue_file`).
A killed job, rerun, tags only the units whose part is missing; each unit is always tagged alone
with the same settings, so the result equals an uninterrupted run's value for value. Task
``shard`` of ``num_shards`` (a cluster array job) tags units ``shard``, ``shard + num_shards``,
...; the task that finds every part written merges them (under prepare's lock,
:mod:`autotag.data.parts`) into:

- ``catalogue.h5``: every song, failed ones included (the table's layout);
- ``index.h5``: the songs that are ok, in ``autotag embed``'s index format (``autotag similar``);
- ``errors.csv``: ``path,id,error`` of each failed song.

``catalogue.h5`` is written last: it marks the job done (its ``job`` attribute names the job).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import h5py
import torch

from autotag.common.console import progress as progress_bar
from autotag.common.files import write_text
from autotag.data.parts import STALE_LOCK_S, claim_parts, idle, take_lock
from autotag.inference.catalogue_file import (
    TABLE_FORMAT,
    Table,
    concatenate,
    read_table,
    table_of,
    write_table,
)
from autotag.inference.catalogue_input import CatalogueInputError
from autotag.inference.embed import write_index
from autotag.inference.tagger import DEFAULT_AGG, DEFAULT_BATCH, Tagger

DEFAULT_UNIT = 64  # songs per part: a kill loses at most one unit's work per task
TABLE, INDEX, ERRORS = "catalogue.h5", "index.h5", "errors.csv"


@dataclass
class CatalogueRun:
    """What a call did: ``complete`` when the merged files are there."""

    out: Path
    complete: bool
    n_songs: int
    n_failed: int  # failed songs among those this call tagged (all of them once merged)
    tagged: int  # songs tagged by this call (0: all were done already)


def pick_device(device: str) -> str:
    """``auto``: ``cuda`` when a CUDA device is present, else ``cpu``; other names as given."""
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


def part_file(parts: Path, unit: int) -> Path:
    return parts / f"part-{unit:06d}.h5"


def job_key(tagger: Tagger, paths: Sequence[str], ids: Sequence[str], unit_size: int,
            hop: float | None, agg: str) -> dict:  # fmt: skip
    """What makes a job's parts: a part of another key is never merged with this job's."""
    songs = hashlib.sha256("\n".join(f"{p}\t{i}" for p, i in zip(paths, ids)).encode())
    return {
        "format": TABLE_FORMAT,
        "model": tagger.sha256,
        "layer": tagger.embedding_layer,
        "hop": hop,
        "agg": agg,
        "unit_size": unit_size,
        "songs": songs.hexdigest(),
    }


def is_done(out: Path, key: dict) -> bool:
    """Whether ``out`` holds this job's merged files."""
    try:
        with h5py.File(out / TABLE, "r") as f:
            done = f.attrs.get("job") == json.dumps(key, sort_keys=True)
    except (OSError, KeyError):
        return False
    return done and (out / INDEX).is_file() and (out / ERRORS).is_file()


def run_catalogue(
    tagger: Tagger,
    paths: Sequence[str],
    ids: Sequence[str],
    out: str | Path,
    *,
    unit_size: int = DEFAULT_UNIT,
    shard: int | None = None,
    num_shards: int = 1,
    workers: int | None = None,
    batch_size: int = DEFAULT_BATCH,
    hop: float | None = None,
    agg: str = DEFAULT_AGG,
    progress: bool = True,
    on_error: Callable[[str], None] | None = None,
) -> CatalogueRun:
    """Tag and embed ``paths`` (sorted, with their ``ids``) into the folder ``out``; resumes
    what a killed run left. ``shard``: this task's share of ``num_shards`` (None: every unit
    still missing). ``on_error`` sees the error line of each failed song."""
    out = Path(out)
    if unit_size < 1:
        raise CatalogueInputError(f"unit_size={unit_size} must be at least 1")
    if shard is not None and not 0 <= shard < num_shards:
        raise CatalogueInputError(f"shard={shard} must be in 0..num_shards-1 ({num_shards - 1})")
    if not paths:
        raise CatalogueInputError("no songs to tag")
    key = job_key(tagger, paths, ids, unit_size, hop, agg)
    parts = out / "parts"
    if is_done(out, key):
        if parts.exists() and idle(parts):  # left by a task stopped after the merge
            shutil.rmtree(parts, ignore_errors=True)
        return CatalogueRun(out, True, len(paths), _failed_count(out), 0)
    out.mkdir(parents=True, exist_ok=True)
    try:
        claim_parts(parts, key)
    except RuntimeError:  # parts of other songs or settings, written in the last minutes
        raise CatalogueInputError(
            f"{parts}: another catalogue job (other songs or settings) wrote here in the last "
            f"{STALE_LOCK_S:.0f} s: run again when it has finished, or delete {parts}"
        ) from None
    n_units = -(-len(paths) // unit_size)
    mine = range(n_units) if shard is None else range(shard, n_units, num_shards)
    pending = [u for u in mine if not part_file(parts, u).exists()]
    size = {u: len(paths[u * unit_size : (u + 1) * unit_size]) for u in mine}
    total = sum(size.values())
    attrs = {"model_sha256": tagger.sha256, "hop_seconds": hop or tagger.window_seconds,
             "agg": agg, "embedding_layer": tagger.embedding_layer}  # fmt: skip
    failed = tagged = 0
    bar = progress_bar(total, "catalogue", "song", initial=total - sum(size[u] for u in pending),
                       disable=not progress, final=True)  # fmt: skip
    with bar:
        for u in pending:
            lo, hi = u * unit_size, (u + 1) * unit_size
            songs = []
            for song in tagger.tag_files(paths[lo:hi], hop, agg, batch_size, workers):
                songs.append(song)
                bar.update(1)
                if not song.ok:
                    failed += 1
                    bar.set_postfix_str(f"{failed} failed")
                    if on_error is not None:
                        on_error(song.error or song.path)
            write_table(part_file(parts, u), table_of(songs, ids[lo:hi], tagger, attrs))
            tagged += len(songs)
    if any(not part_file(parts, u).exists() for u in range(n_units)):
        return CatalogueRun(out, False, len(paths), failed, tagged)  # other shards' to come
    try:
        lock = take_lock(parts, shard_task=shard is not None)
    except RuntimeError as e:  # a plain run while a live task merges
        raise CatalogueInputError(str(e).replace("the store", "the catalogue")) from None
    if lock is None:  # another task merges
        return CatalogueRun(out, False, len(paths), failed, tagged)
    try:
        table = concatenate([read_table(part_file(parts, u)) for u in range(n_units)])
        merge(table, tagger, out, key, hop, agg)
    except BaseException:
        lock.unlink(missing_ok=True)  # a rerun (or another shard task) merges again
        raise
    shutil.rmtree(parts, ignore_errors=True)
    return CatalogueRun(out, True, len(paths), _failed_count(out), tagged)


def merge(table: Table, tagger: Tagger, out: Path, key: dict, hop: float | None, agg: str) -> None:
    """Write the merged files of a job's rows: errors, the index, then the table (its mark)."""
    c = table.columns
    lines = io.StringIO()
    writer = csv.writer(lines, lineterminator="\n")
    writer.writerow(["path", "id", "error"])
    for path, id_, error in zip(c["paths"], c["ids"], c["errors"]):
        if error:
            writer.writerow([path, id_, error])
    write_text(out / ERRORS, lines.getvalue())
    ok = [s for s in table.songs() if s.ok]
    write_index(out / INDEX, tagger, iter(ok), dict(zip(c["paths"], c["ids"])), hop, agg)
    table.attrs["job"] = json.dumps(key, sort_keys=True)
    write_table(out / TABLE, table)


def _failed_count(out: Path) -> int:
    with open(out / ERRORS, newline="") as f:
        return max(0, sum(1 for _ in csv.reader(f)) - 1)
