"""MagnaTagATune's on-disk layout, written once for the reader, the download and the twin::

    <root>/0 .. <root>/f/<artist>-<album>-<track>-<title>-<start>-<end>.mp3
    <root>/annotations_final.csv    clip_id, one 0/1 column per tag, mp3_path
    <root>/clip_info_final.csv      clip_id and the columns of CLIP_INFO_COLUMNS
    <root>/comparisons_final.csv    (downloaded; not read)

The CSVs are tab-separated with every field quoted. Folders ``0``-``b`` are the training split,
``c`` validation, ``d``-``f`` test (the split of the papers that use MTAT).
"""

from __future__ import annotations

FOLDERS = "0123456789abcdef"
TRAIN_FOLDERS = FOLDERS[:12]
VAL_FOLDERS = "c"
TEST_FOLDERS = "def"

ANNOTATIONS = "annotations_final.csv"
CLIP_INFO = "clip_info_final.csv"
COMPARISONS = "comparisons_final.csv"
CLIP_INFO_COLUMNS = (
    "clip_id",
    "track_number",
    "title",
    "artist",
    "album",
    "url",
    "segmentStart",
    "segmentEnd",
    "original_url",
    "mp3_path",
)

# The synthetic twin's own files: its parameters and summary, and its kinds of broken entry.
FORMAT_VERSION = 1
INFO = "synthetic_info.json"
BROKEN_KINDS = ("empty", "truncated", "not_mp3", "missing")


def folder_split(folder: str) -> str:
    """Split of an MTAT folder: ``0``-``b`` train, ``c`` validation, ``d``-``f`` test."""
    if len(folder) == 1 and folder in TRAIN_FOLDERS:
        return "train"
    if len(folder) == 1 and folder in VAL_FOLDERS:
        return "val"
    if len(folder) == 1 and folder in TEST_FOLDERS:
        return "test"
    raise ValueError(f"not an MTAT folder: {folder!r}")
