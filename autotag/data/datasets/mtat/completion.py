"""Is an MTAT root already complete? Its completion manifest (``root/.mtat_complete.tsv``): every
extracted audio file with its size (:mod:`autotag.data.download.completion`'s size list), written
when the extraction has finished. A copy extracted by hand is adopted (manifest written) when
``annotations_final.csv`` confirms it.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from pathlib import Path, PurePosixPath

from autotag.common.console import log
from autotag.data.datasets.mtat.sources import AUDIO_FOLDERS
from autotag.data.download.completion import files_intact, write_size_list

MANIFEST = ".mtat_complete.tsv"


def write_manifest(root: Path, entries: Iterable[tuple[str, int]]) -> None:
    """Write ``(relative path, size)`` entries as ``root/MANIFEST``."""
    write_size_list(root / MANIFEST, entries)


def audio_complete(root: Path) -> bool:
    """True if the manifest exists and every audio file it lists is present with its size.

    A manifest with missing or changed files is deleted (so the audio gets extracted again).
    """
    return files_intact(root / MANIFEST, root, f"listed in {MANIFEST}")


def adopt_extracted_copy(root: Path, max_missing: int = 10) -> bool:
    """Accept an already extracted copy (e.g. unzipped by hand) if the annotations confirm it.

    Every ``mp3_path`` of ``annotations_final.csv`` must exist, up to ``max_missing`` absences
    and at most 0.1 % of the clips (the real data set lacks at least one clip, 35644). Writes the
    manifest and returns True on success.
    """
    ann = root / "annotations_final.csv"
    if not ann.is_file() or not any((root / d).is_dir() for d in AUDIO_FOLDERS):
        return False
    try:
        with open(ann, encoding="utf-8", newline="") as f:
            rows = csv.DictReader(f, delimiter="\t")
            paths = [r["mp3_path"] for r in rows if r.get("mp3_path")]
    except (KeyError, csv.Error, UnicodeDecodeError):
        return False
    if not paths:
        return False
    entries, missing = [], 0
    for rel in paths:
        p = root / rel
        if p.is_file():
            entries.append((PurePosixPath(rel).as_posix(), p.stat().st_size))
        else:
            missing += 1
    if missing > min(max_missing, len(paths) // 1000):
        return False
    write_manifest(root, entries)
    log(
        f"found an extracted copy in {root}: {len(entries)} clips"
        + (f", {missing} listed clip(s) missing" if missing else "")
    )
    return True
