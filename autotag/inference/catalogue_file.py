"""The catalogue table: one row per song of a catalogue job, in HDF5 (its only reader and writer).

A catalogue job (:mod:`autotag.inference.catalogue`) writes its songs in parts of ``unit_size``
rows (``parts/part-NNNNNN.h5``), then concatenates them into ``catalogue.h5``; both have this
layout, rows in the job's order (sorted absolute paths):

- ``ids`` str: the path relative to the input folder (a CSV's or manifest's path as written);
- ``paths`` str: the absolute path; ``errors`` str: why the song failed, empty when it is ok;
- ``probabilities`` float32 ``(n, n_tags)`` and ``embeddings`` float32 ``(n, embedding_dim)``:
  as ``autotag tag`` / ``autotag embed`` give them (NaN rows for a failed song);
- ``present`` bool ``(n, n_tags)``: the tags judged present by the tagger's thresholds, as
  ``autotag tag`` decides them (none for a silent or failed song);
- ``silent`` bool, ``durations`` float32 seconds, ``peak_dbfs`` float32, ``n_windows`` int32;
- ``tag_names`` str, ``thresholds`` float32; attrs: ``format``, ``model_sha256``, ``hop_seconds``,
  ``agg``, ``embedding_layer``, ``autotag_version``.

Why HDF5: it adds no dependency (h5py is the stores' and the index's), it is the format of
``autotag embed``'s index (the job also writes one, :mod:`autotag.inference.embed`, that
``autotag similar`` reads), its datasets are columns that a reader slices without loading the
rest, and one part is one small file written under a temporary name and renamed (atomic).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from autotag import __version__
from autotag.common.files import atomic_path
from autotag.inference.prediction import SongPrediction

TABLE_FORMAT = "autotag-catalogue/1"
_STR = h5py.string_dtype()
COLUMNS = ("ids", "paths", "errors", "probabilities", "embeddings", "present", "silent")
COLUMNS += ("durations", "peak_dbfs", "n_windows")


@dataclass
class Table:
    """Rows of the catalogue table (or of one part) in memory: ``columns`` by name, plus the
    model's ``tag_names``, ``thresholds`` and the file's ``attrs``."""

    columns: dict[str, np.ndarray]
    tag_names: list[str]
    thresholds: np.ndarray
    attrs: dict[str, Any]

    def __len__(self) -> int:
        return len(self.columns["paths"])

    def songs(self) -> list[SongPrediction]:
        """The rows as the tagger's results (what :func:`autotag.inference.embed.write_index`
        takes)."""
        c = self.columns
        return [
            SongPrediction(
                str(c["paths"][i]),
                probs=None if c["errors"][i] else c["probabilities"][i],
                embedding=None if c["errors"][i] else c["embeddings"][i],
                duration=float(c["durations"][i]),
                n_windows=int(c["n_windows"][i]),
                error=str(c["errors"][i]) or None,
                peak_dbfs=float(c["peak_dbfs"][i]),
            )
            for i in range(len(self))
        ]


def table_of(
    songs: Sequence[SongPrediction], ids: Sequence[str], tagger: Any, attrs: dict[str, Any]
) -> Table:
    """The rows of ``songs`` (with their ``ids``), the tags present decided by ``tagger``."""
    n, t, d = len(songs), len(tagger.tag_names), tagger.embedding_dim
    probs = np.full((n, t), np.nan, np.float32)
    embs = np.full((n, d), np.nan, np.float32)
    present = np.zeros((n, t), bool)
    index = {name: j for j, name in enumerate(tagger.tag_names)}
    for i, s in enumerate(songs):
        if s.ok:
            probs[i], embs[i] = s.probs, s.embedding
            for name, _ in tagger.present_tags(s):
                present[i, index[name]] = True
    columns = {
        "ids": np.array(list(ids), dtype=object),
        "paths": np.array([s.path for s in songs], dtype=object),
        "errors": np.array([s.error or "" for s in songs], dtype=object),
        "probabilities": probs,
        "embeddings": embs,
        "present": present,
        "silent": np.array([s.silent for s in songs], bool),
        "durations": np.array([s.duration for s in songs], np.float32),
        "peak_dbfs": np.array([s.peak_dbfs for s in songs], np.float32),
        "n_windows": np.array([s.n_windows for s in songs], np.int32),
    }
    meta = {"format": TABLE_FORMAT, "autotag_version": __version__, **attrs}
    return Table(columns, list(tagger.tag_names), np.asarray(tagger.thresholds, np.float32), meta)


def write_table(path: str | Path, table: Table) -> Path:
    """Write ``table`` to ``path`` atomically (a temporary name of this task, then a rename)."""
    path = Path(path)
    with atomic_path(path, suffix=".h5") as tmp, h5py.File(tmp, "w") as f:
        for name in COLUMNS:
            data = table.columns[name]
            f.create_dataset(name, data=data, dtype=_STR if data.dtype == object else data.dtype)
        f.create_dataset("tag_names", data=np.array(table.tag_names, dtype=object), dtype=_STR)
        f.create_dataset("thresholds", data=table.thresholds)
        f.attrs.update(table.attrs)
    return path


def read_table(path: str | Path) -> Table:
    """Read a part or a whole catalogue table; ``ValueError`` naming the file if it is not one."""
    path = Path(path)
    try:
        with h5py.File(path, "r") as f:
            if f.attrs.get("format") != TABLE_FORMAT:
                raise ValueError(f"{path}: not an autotag catalogue table")
            columns = {name: f[name][:] for name in COLUMNS}
            names = [_text(s) for s in f["tag_names"][:]]
            thresholds, attrs = f["thresholds"][:], dict(f.attrs)
    except OSError as e:
        raise ValueError(f"{path}: not a readable catalogue table ({e})") from None
    for name in ("ids", "paths", "errors"):
        columns[name] = np.array([_text(s) for s in columns[name]], dtype=object)
    return Table(columns, names, thresholds, attrs)


def concatenate(tables: Sequence[Table]) -> Table:
    """The rows of ``tables`` one after the other (the parts of a job, in order)."""
    if not tables:
        raise ValueError("no catalogue parts to concatenate")
    first = tables[0]
    columns = {n: np.concatenate([t.columns[n] for t in tables]) for n in COLUMNS}
    return Table(columns, first.tag_names, first.thresholds, dict(first.attrs))


def _text(s: bytes | str) -> str:
    return s.decode() if isinstance(s, bytes) else str(s)
