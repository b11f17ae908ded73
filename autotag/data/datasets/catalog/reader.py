"""Read a user's own catalogue: a CSV with ``path``, ``tags`` and optionally ``split``.

``tags`` holds tag names separated by ``;``. Without a ``split`` column, clips are split by
*group* (the ``album`` column if present, else ``artist``, else the audio file's folder) with a
stable hash, so all clips of one album/song land in the same split: a random clip split would
leak segments of one song between train and test. The same columns are the bootstrap's units
(an album's clips are not independent): ``album`` (with ``artist`` where both are given, so two
artists' albums of one name stay two), then ``artist``.
"""

from __future__ import annotations

import csv
import hashlib
from pathlib import Path

import numpy as np

from autotag.data.manifest import SPLITS, DataError, Manifest, top_k_tags, unit_keys

GROUP_COLUMNS = ("album", "artist")


def group_split(group: str, val_percent: float, test_percent: float) -> str:
    """Deterministic split of a group name from its hash (same group, same split, any machine)."""
    bucket = int(hashlib.md5(group.encode("utf-8")).hexdigest()[:8], 16) % 10_000 / 100.0
    if bucket < test_percent:
        return "test"
    if bucket < test_percent + val_percent:
        return "val"
    return "train"


def read_catalog(
    csv_path: str | Path,
    *,
    split: str,
    top_k: int,
    val_percent: float,
    test_percent: float,
    audio_root: str | Path | None,
) -> Manifest:
    """Read a catalogue CSV into a :class:`Manifest`.

    Relative audio paths are resolved against ``audio_root`` (default: the CSV's folder).
    ``split="clean"`` keeps only clips with at least one top-``top_k`` tag.
    """
    csv_path = Path(csv_path)
    if not csv_path.is_file():
        raise DataError(f"{csv_path}: catalogue CSV not found (set data.root)")
    base = Path(audio_root) if audio_root else csv_path.parent
    with open(csv_path, newline="", encoding="utf-8") as f:
        sample = f.read(4096)
        f.seek(0)
        delimiter = "\t" if sample.count("\t") > sample.count(",") else ","
        reader = csv.DictReader(f, delimiter=delimiter)
        fields = reader.fieldnames or []
        for col in ("path", "tags"):
            if col not in fields:
                raise DataError(f"{csv_path}: no column named {col!r} (found: {', '.join(fields)})")
        rows = list(reader)
    if not rows:
        raise DataError(f"{csv_path}: no clips listed")

    group_col = next((c for c in GROUP_COLUMNS if c in fields), None)
    meta_cols = [c for c in fields if c not in ("path", "tags", "split", "id")]
    rel_paths, splits, tag_sets, ids = [], [], [], []
    for n, row in enumerate(rows, start=2):
        rel = (row.get("path") or "").strip()
        if not rel:
            raise DataError(f"{csv_path}, line {n}, column 'path': empty path")
        rel_paths.append(rel)
        tag_sets.append({t.strip() for t in (row.get("tags") or "").split(";") if t.strip()})
        if "split" in fields:
            s = (row.get("split") or "").strip().lower()
            s = {"valid": "val", "validation": "val"}.get(s, s)
            if s not in SPLITS:
                raise DataError(
                    f"{csv_path}, line {n}, column 'split': {s!r} is not one of train, val, test"
                )
        else:
            group = (row.get(group_col) or "").strip() if group_col else ""
            s = group_split(group or str(Path(rel).parent), val_percent, test_percent)
        splits.append(s)
        if "id" in fields:
            try:
                ids.append(int(row["id"]))
            except ValueError:
                raise DataError(
                    f"{csv_path}, line {n}, column 'id': {row['id']!r} is not an integer"
                ) from None
        else:
            ids.append(n - 2)

    tag_names = sorted(set().union(*tag_sets))
    if not tag_names:
        raise DataError(f"{csv_path}: no tags at all in column 'tags'")
    col = {t: j for j, t in enumerate(tag_names)}
    labels = np.zeros((len(rows), len(tag_names)), dtype=np.uint8)
    for r, tags in enumerate(tag_sets):
        for t in tags:
            labels[r, col[t]] = 1
    tag_counts = labels.sum(axis=0).astype(np.int64)
    if split == "clean":
        top = [col[t] for t in top_k_tags(tag_names, tag_counts, min(top_k, len(tag_names)))]
        has_top = labels[:, top].any(axis=1)
        splits = [s if has_top[r] else "" for r, s in enumerate(splits)]
    elif split != "folds":
        raise DataError(f"data.split={split!r}: choose one of folds, clean")

    paths = [str(p if (p := Path(rel)).is_absolute() else base / p) for rel in rel_paths]
    clip_ids = np.asarray(ids, dtype=np.int64)
    column = {c: [(row.get(c) or "").strip() for row in rows] for c in GROUP_COLUMNS}
    by = {"album": [c for c in ("artist", "album") if c in fields], "artist": ["artist"]}
    units = {u: unit_keys(clip_ids, *(column[c] for c in by[u])) for u in by if u in fields}
    return Manifest(
        source=f"csv:{split}",
        clip_ids=clip_ids,
        paths=paths,
        rel_paths=rel_paths,
        split=splits,
        tag_names=tag_names,
        labels=labels,
        meta={c: [row.get(c) or "" for row in rows] for c in meta_cols},
        tag_counts=tag_counts,
        units=units,
    )
