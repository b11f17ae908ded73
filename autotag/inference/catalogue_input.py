"""What a catalogue job tags: the songs of folders (recursive), of CSV files (a ``path``
column) or of a data set's manifest, as one deterministic list (sorted absolute paths)."""

from __future__ import annotations

import csv
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from autotag.inference.decode import AUDIO_EXTENSIONS, find_audio


class CatalogueInputError(ValueError):
    """An input a catalogue job cannot use (an empty folder, a CSV without a ``path`` column);
    the message names it."""


def read_csv_paths(path: Path) -> list[tuple[str, str]]:
    """``(absolute path, path as written)`` of each row of a CSV's ``path`` column; relative
    paths are relative to the CSV's folder. A missing file is kept (the job lists it failed)."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            reader = csv.DictReader(f)
            columns = [c.strip() for c in reader.fieldnames or []]
            if "path" not in columns:
                raise CatalogueInputError(
                    f"{path}: no 'path' column (columns: {', '.join(columns) or 'none'})"
                )
            key = (reader.fieldnames or [])[columns.index("path")]
            written = [(row.get(key) or "").strip() for row in reader]
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise CatalogueInputError(f"{path}: cannot read the CSV ({e})") from None
    written = [w for w in written if w]
    if not written:
        raise CatalogueInputError(f"{path}: the 'path' column names no file")
    return [(str((path.parent / Path(w).expanduser()).resolve()), w) for w in written]


def songs_of_inputs(inputs: Sequence[str | Path]) -> list[tuple[str, str]]:
    """``(absolute path, id)`` of the songs of folders, CSV files and audio files: the id is the
    path relative to the folder, as written in the CSV, or the file's name."""
    if not inputs:
        raise CatalogueInputError("no input: give folders, CSV files of paths or audio files")
    songs: list[tuple[str, str]] = []
    for item in inputs:
        p = Path(item).expanduser()
        if p.suffix.lower() == ".csv":
            if not p.is_file():
                raise CatalogueInputError(f"{p}: CSV file not found")
            songs += read_csv_paths(p)
        elif p.is_dir():
            files, problems = find_audio([p], AUDIO_EXTENSIONS)
            if problems:
                raise CatalogueInputError(problems[0])
            root = p.resolve()
            songs += [
                (str(Path(f).resolve()), str(Path(f).resolve().relative_to(root))) for f in files
            ]
        else:  # an audio file, or a missing one: listed failed with its reason
            songs.append((str(p.resolve()), p.name))
    return songs


def songs_of_manifest(data: Mapping[str, Any]) -> list[tuple[str, str]]:
    """``(absolute path, path as written)`` of every file of a data set's manifest (``data``: a
    composed ``data`` config, as ``train.py`` and ``prepare`` take it)."""
    from autotag.data.datasets import load_manifest  # the data sets' registry: only when asked

    manifest = load_manifest(data)
    if len(manifest) == 0:
        raise CatalogueInputError(f"the manifest of {data.get('name', data['reader'])} is empty")
    return [(str(Path(p).resolve()), r) for p, r in zip(manifest.paths, manifest.rel_paths)]


def catalogue_songs(
    inputs: Sequence[str | Path] = (), data: Mapping[str, Any] | None = None
) -> tuple[list[str], list[str]]:
    """The job's songs: ``(paths, ids)``, sorted by absolute path, each file once."""
    songs = songs_of_manifest(data) if data is not None else []
    if inputs or data is None:
        songs += songs_of_inputs(inputs)
    unique = dict(sorted(dict(reversed(songs)).items()))  # the first id given for a path
    return list(unique), list(unique.values())
