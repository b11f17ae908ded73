"""Read MTG-Jamendo as published (Bogdanov et al. 2019; the MTG/mtg-jamendo-dataset repository).

The files are read by column name, never by position::

    <root>/data/autotagging[_<subset>].tsv                    one row per track of the subset
    <root>/data/splits/split-<i>/autotagging[_<subset>]-{train,validation,test}.tsv
    <root>/audio/NN/<id>.mp3        (the "audio-low" set: NN/<id>.low.mp3)

Rows are tab-separated: ``TRACK_ID ARTIST_ID ALBUM_ID PATH DURATION TAGS``, where the tags are
the sixth field *and every field after it*, each ``category---name`` (``genre---rock``,
``instrument---piano``, ``mood/theme---happy``). Tag names keep their category (``happy`` the
mood and a genre of the same name stay two tags). The splits are the published ones, which keep
every artist in one part: they are never redrawn here.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

import numpy as np

from autotag.data.datasets.jamendo.layout import (
    AUDIO_DIR,
    CATEGORIES,
    COLUMNS,
    N_SPLITS,
    SUBSETS,
    metadata_path,
    split_path,
)
from autotag.data.datasets.jamendo.layout import AUDIO_SUFFIX as AUDIO_SETS
from autotag.data.datasets.jamendo.layout import PARTS as LAYOUT_PARTS
from autotag.data.manifest import DataError, Manifest, unit_keys

log = logging.getLogger(__name__)

PARTS = dict(zip(LAYOUT_PARTS, ("train", "val", "test")))  # file name → our split
MISSING_AUDIO = ("error", "skip")
_TRACK = re.compile(r"track_(\d+)")


def metadata_file(root: Path, subset: str) -> Path:
    return root / metadata_path(subset)


def split_file(root: Path, subset: str, split_index: int, part: str) -> Path:
    return root / split_path(subset, split_index, part)


def _rows(path: Path) -> list[tuple[int, list[str]]]:
    """``(line number, fields)`` of a Jamendo TSV after checking its header by name."""
    if not path.is_file():
        raise DataError(f"{path}: file not found (is data.root a MTG-Jamendo root? `make jamendo`)")
    with open(path, encoding="utf-8") as f:
        lines = f.read().splitlines()
    if not lines:
        raise DataError(f"{path}: file is empty")
    header = lines[0].split("\t")
    if tuple(header) != COLUMNS:
        raise DataError(
            f"{path}, line 1: header {header} is not {list(COLUMNS)} (tab-separated; the tags "
            "are the last column and every field after it)"
        )
    rows = []
    for n, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) < len(COLUMNS) - 1:
            raise DataError(f"{path}, line {n}: {len(fields)} fields, expected at least 5")
        rows.append((n, fields))
    return rows


def _track_id(path: Path, line: int, value: str) -> int:
    m = _TRACK.fullmatch(value)
    if m is None:
        raise DataError(f"{path}, line {line}, field TRACK_ID: {value!r} is not track_<number>")
    return int(m.group(1))


def _tags(path: Path, line: int, fields: list[str], categories: tuple[str, ...]) -> list[str]:
    out = []
    for k, tag in enumerate(fields[5:], start=6):
        category, sep, name = tag.partition("---")
        if not sep or not name or category not in CATEGORIES:
            raise DataError(
                f"{path}, line {line}, field {k} (TAGS): {tag!r} is not category---name with a "
                f"category among {', '.join(CATEGORIES)}"
            )
        if category in categories:
            out.append(tag)
    return out


def read_jamendo(
    root: str | Path,
    *,
    subset: str,
    split_index: int,
    categories: list[str] | None,
    audio: str,
    audio_root: str | Path | None,
    missing_audio: str,
) -> Manifest:
    """The tracks of ``subset`` with the published split ``split_index`` (0-4).

    A track's tags are those of its row in the split's file; the vocabulary is every tag of the
    split's three files (``tag_counts`` count their tracks). The rows are the subset's tracks,
    then the data set's others (``autotagging.tsv``) in no split, so that every subset names
    the same audio (one store). ``categories`` keeps the tags of
    those categories only (None: all); a track left without a tag is excluded. Tracks of the
    subset in none of the split's three files are excluded too.
    ``audio`` picks the file names of the 320 kbps set (``audio``) or of ``audio-low``; the
    files live under ``audio_root`` (default ``<root>/audio``). A split track whose file is
    missing is an error naming its line, or with ``missing_audio="skip"`` a warning and the
    track is left out (a partial download).
    """
    root = Path(root)
    if subset not in SUBSETS:
        raise DataError(f"data.subset={subset!r}: choose one of {', '.join(SUBSETS)}")
    if not 0 <= int(split_index) < N_SPLITS:
        raise DataError(f"data.split_index={split_index}: choose one of 0-{N_SPLITS - 1}")
    if audio not in AUDIO_SETS:
        raise DataError(f"data.audio={audio!r}: choose one of {', '.join(AUDIO_SETS)}")
    if missing_audio not in MISSING_AUDIO:
        raise DataError(f"data.missing_audio={missing_audio!r}: choose error or skip")
    cats = tuple(CATEGORIES if categories is None else categories)
    for c in cats:
        if c not in CATEGORIES:
            raise DataError(f"data.categories: {c!r} is not one of {', '.join(CATEGORIES)}")
    if not root.is_dir():
        raise DataError(
            f"{root}: MTG-Jamendo root folder not found (set data.root; `make jamendo`)"
        )

    meta_path = metadata_file(root, subset)
    ids, rel_paths, tag_lists, lines, origin = [], [], [], [], []
    meta: dict[str, list[str]] = {"track_id": [], "artist_id": [], "album_id": [], "duration": []}
    # The subset's tracks, then the data set's others (autotagging.tsv), in no split: every
    # subset and split then names the same audio, and one store serves them all.
    everything = metadata_file(root, "all")
    sources = [meta_path] + ([everything] if subset != "all" and everything.is_file() else [])
    for source in sources:
        seen = set(ids)
        for n, f in _rows(source):
            tid = _track_id(source, n, f[0])
            if source is everything and tid in seen:
                continue
            try:
                float(f[4])
            except ValueError:
                raise DataError(
                    f"{source}, line {n}, field DURATION: {f[4]!r} is not a number"
                ) from None
            if not f[3]:
                raise DataError(f"{source}, line {n}, field PATH: empty path")
            ids.append(tid)
            rel_paths.append(f[3])
            tag_lists.append(_tags(source, n, f, cats))
            lines.append(n)
            origin.append(source)
            for key, value in zip(meta, (f[0], f[1], f[2], f[4])):
                meta[key].append(value)
        if not ids:
            raise DataError(f"{meta_path}: no tracks listed")
        if len(set(ids)) != len(ids):
            raise DataError(f"{meta_path}: a TRACK_ID is listed twice")
    row_of = {tid: r for r, tid in enumerate(ids)}

    split = [""] * len(ids)
    for part, name in PARTS.items():
        path = split_file(root, subset, split_index, part)
        for n, f in _rows(path):
            tid = _track_id(path, n, f[0])
            r = row_of.get(tid)
            if r is None:
                raise DataError(
                    f"{path}, line {n}, field TRACK_ID: {f[0]} is not in {meta_path.name}"
                )
            if split[r]:
                raise DataError(
                    f"{path}, line {n}, field TRACK_ID: {f[0]} is already in the {split[r]} part"
                )
            split[r] = name
            tag_lists[r] = _tags(path, n, f, cats)  # the split's tags rule (see below)

    # The labels are the split files' tags: the published splits drop a few rare tags of the
    # metadata files "to guarantee the same list of tags across all splits" (the dataset's
    # README), and the published results use the splits' tags.
    tag_names = sorted({t for r, tags in enumerate(tag_lists) if split[r] for t in tags})
    if not tag_names:
        raise DataError(
            f"{split_file(root, subset, split_index, 'train')}: no tag of the categories "
            f"{', '.join(cats)} in the split's files"
        )
    col = {t: j for j, t in enumerate(tag_names)}
    labels = np.zeros((len(ids), len(tag_names)), dtype=np.uint8)
    for r, tags in enumerate(tag_lists):
        labels[r, [col[t] for t in tags if t in col]] = 1
        if not labels[r].any():
            split[r] = ""
    base = Path(audio_root) if audio_root else root / AUDIO_DIR
    suffix = AUDIO_SETS[audio]
    paths = [
        str(base / (rel[: -len(".mp3")] + suffix if rel.endswith(".mp3") else rel))
        for rel in rel_paths
    ]
    missing = [r for r in range(len(ids)) if split[r] and not Path(paths[r]).is_file()]
    if missing:
        r = missing[0]
        where = (
            f"{origin[r]}, line {lines[r]}, field PATH: {paths[r]} not found "
            f"(and {len(missing) - 1} more of the split's {sum(map(bool, split))} tracks)"
        )
        if missing_audio == "error":
            raise DataError(
                f"{where}; is data.audio={audio} the set you extracted under {base}? To train on "
                "the tracks you have (a partial download), set data.missing_audio=skip"
            )
        log.warning("%s: left out (data.missing_audio=skip)", where)
        for r in missing:
            split[r] = ""

    return Manifest(
        source=f"jamendo:{subset}:split-{split_index}:{','.join(cats)}:{audio}",
        clip_ids=np.asarray(ids, dtype=np.int64),
        paths=paths,
        rel_paths=rel_paths,
        split=split,
        tag_names=tag_names,
        labels=labels,
        meta=meta,
        tag_counts=labels[[bool(x) for x in split]].sum(axis=0).astype(np.int64),
        # the bootstrap's units: an artist's tracks are not independent (one test split holds
        # all of them: the published splits are artist-disjoint), nor an album's
        units={u: unit_keys(np.asarray(ids), meta[f"{u}_id"]) for u in ("artist", "album")},
    )
