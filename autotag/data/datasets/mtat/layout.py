"""MTAT's on-disk layout: folders, file names of the CSVs, their columns, broken entry kinds."""

from __future__ import annotations

FORMAT_VERSION = 1
FOLDERS = "0123456789abcdef"
TRAIN_FOLDERS = FOLDERS[:12]


ANNOTATIONS = "annotations_final.csv"
CLIP_INFO = "clip_info_final.csv"
INFO = "synthetic_info.json"
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
BROKEN_KINDS = ("empty", "truncated", "not_mp3", "missing")
