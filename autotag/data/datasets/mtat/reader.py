"""Read MagnaTagATune exactly as distributed (tab-separated, every field quoted)."""

from __future__ import annotations

import csv
import logging
from pathlib import Path

import numpy as np

from autotag.data.datasets.mtat.layout import ANNOTATIONS, CLIP_INFO, folder_split
from autotag.data.manifest import DataError, Manifest, top_k_tags, unit_keys

log = logging.getLogger(__name__)

SPLIT_RULES = ("folds", "clean")
CLEAN_MIN_SECONDS = 29.1
META_COLUMNS = ("track_number", "title", "artist", "album", "url", "segmentStart", "segmentEnd")
# The bootstrap's units, from clip_info's columns: a song's clips (up to ~10 segments of one
# track, all in one folder: one split) are not independent; its album's and artist's neither.
UNITS = {
    "song": ("artist", "album", "track_number", "title"),
    "album": ("artist", "album"),
    "artist": ("artist",),
}


def _read_tsv(path: Path) -> tuple[list[str], list[list[str]]]:
    if not path.is_file():
        raise DataError(
            f"{path}: file not found (an MTAT root holds {ANNOTATIONS} and {CLIP_INFO})"
        )
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f, delimiter="\t", quotechar='"'))
    if not rows:
        raise DataError(f"{path}: file is empty")
    header, body = rows[0], rows[1:]
    for n, row in enumerate(body, start=2):
        if len(row) != len(header):
            raise DataError(
                f"{path}, line {n}: {len(row)} fields but the header has {len(header)} "
                "(MTAT files are tab-separated with every field quoted)"
            )
    return header, body


def _column(header: list[str], name: str, path: Path) -> int:
    try:
        return header.index(name)
    except ValueError:
        raise DataError(f"{path}: no column named {name!r} in the header") from None


def read_mtat(root: str | Path, *, split: str, top_k: int) -> Manifest:
    """Read an MTAT root into a :class:`Manifest` with labels for all tags.

    ``split`` is ``folds`` (all clips; folders 0-b/c/d-f) or ``clean`` (only clips with at
    least one top-``top_k`` tag; clips shorter than 29.1 s are dropped once decoded); the
    ``data`` config gives both (``conf/data/synthetic.yaml``: folds, 50).
    Rows whose audio file is missing stay in the manifest; ``prepare`` reports and skips them.
    """
    if split not in SPLIT_RULES:
        raise DataError(f"data.split={split!r}: choose one of {', '.join(SPLIT_RULES)}")
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"{root}: MTAT root folder not found (set data.root)")
    ann_path = root / ANNOTATIONS
    header, body = _read_tsv(ann_path)
    id_col = _column(header, "clip_id", ann_path)
    path_col = _column(header, "mp3_path", ann_path)
    tag_cols = [i for i in range(len(header)) if i not in (id_col, path_col)]
    tag_names = [header[i] for i in tag_cols]
    if not body:
        raise DataError(f"{ann_path}: no clips listed")

    labels = np.zeros((len(body), len(tag_cols)), dtype=np.uint8)
    clip_ids = np.zeros(len(body), dtype=np.int64)
    rel_paths: list[str] = []
    for r, row in enumerate(body):
        line = r + 2
        try:
            clip_ids[r] = int(row[id_col])
        except ValueError:
            raise DataError(
                f"{ann_path}, line {line}, column 'clip_id': {row[id_col]!r} is not an integer"
            ) from None
        for j, c in enumerate(tag_cols):
            v = row[c]
            if v == "1":
                labels[r, j] = 1
            elif v != "0":
                raise DataError(
                    f"{ann_path}, line {line}, column {header[c]!r}: value {v!r} is not 0 or 1"
                )
        rel = row[path_col]
        if not rel:
            raise DataError(f"{ann_path}, line {line}, column 'mp3_path': empty path")
        rel_paths.append(rel)
    if len(set(clip_ids.tolist())) != len(clip_ids):
        raise DataError(f"{ann_path}: duplicate clip_id values")

    splits = []
    for r, rel in enumerate(rel_paths):
        folder = rel.split("/", 1)[0]
        try:
            splits.append(folder_split(folder))
        except ValueError:
            raise DataError(
                f"{ann_path}, line {r + 2}, column 'mp3_path': {rel!r} is not in an MTAT folder 0-9/a-f"
            ) from None

    tag_counts = labels.sum(axis=0).astype(np.int64)
    min_seconds = 0.0
    if split == "clean":
        top = set(top_k_tags(tag_names, tag_counts, top_k))
        top_idx = [j for j, t in enumerate(tag_names) if t in top]
        has_top = labels[:, top_idx].any(axis=1)
        splits = [s if has_top[r] else "" for r, s in enumerate(splits)]
        min_seconds = CLEAN_MIN_SECONDS

    meta = _read_clip_info(root / CLIP_INFO, clip_ids)
    paths = [str(root / rel) for rel in rel_paths]
    missing = [
        (r + 2, rel) for r, (p, rel) in enumerate(zip(paths, rel_paths)) if not Path(p).is_file()
    ]
    if missing and len(missing) == len(paths):
        raise DataError(
            f"{ann_path}, line {missing[0][0]}, column 'mp3_path': {missing[0][1]} not found under {root} "
            "(no audio file listed exists: is the mp3 archive extracted there?)"
        )
    for line, rel in missing[:10]:
        log.warning(
            "%s, line %d: audio file %s is missing; it will be skipped", ann_path, line, rel
        )
    if len(missing) > 10:
        log.warning("... and %d more missing audio files", len(missing) - 10)

    return Manifest(
        source=f"mtat:{split}",
        clip_ids=clip_ids,
        paths=paths,
        rel_paths=rel_paths,
        split=splits,
        tag_names=tag_names,
        labels=labels,
        meta=meta,
        tag_counts=tag_counts,
        min_seconds=min_seconds,
        units={u: unit_keys(clip_ids, *(meta[c] for c in cols)) for u, cols in UNITS.items()},
    )


def _read_clip_info(path: Path, clip_ids: np.ndarray) -> dict[str, list[str]]:
    """Join ``clip_info_final.csv`` on clip id (empty strings where a clip has no row)."""
    header, body = _read_tsv(path)
    id_col = _column(header, "clip_id", path)
    cols = {name: _column(header, name, path) for name in META_COLUMNS}
    by_id: dict[int, list[str]] = {}
    for n, row in enumerate(body, start=2):
        try:
            by_id[int(row[id_col])] = row
        except ValueError:
            raise DataError(
                f"{path}, line {n}, column 'clip_id': {row[id_col]!r} is not an integer"
            ) from None
    meta: dict[str, list[str]] = {name: [] for name in META_COLUMNS}
    for cid in clip_ids.tolist():
        row = by_id.get(cid)
        for name, c in cols.items():
            meta[name].append(row[c] if row is not None else "")
    return meta
