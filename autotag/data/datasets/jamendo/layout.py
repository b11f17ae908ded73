"""MTG-Jamendo's on-disk layout: the ``data/`` folder of the MTG/mtg-jamendo-dataset repository
and the extracted audio, written once for the reader, the downloader and the synthetic corpus::

    data/autotagging[_<subset>].tsv
    data/splits/split-<i>/autotagging[_<subset>]-{train,validation,test}.tsv
    audio/NN/<id>.mp3          (the audio-low set: NN/<id>.low.mp3)

Metadata rows are tab-separated, CRLF-terminated in the published files, with :data:`COLUMNS`;
the tags are the last column and every field after it, each ``category---name``.
"""

from __future__ import annotations

COLUMNS = ("TRACK_ID", "ARTIST_ID", "ALBUM_ID", "PATH", "DURATION", "TAGS")
CATEGORIES = ("genre", "instrument", "mood/theme")
SUBSETS = {"all": "", "top50tags": "_top50tags", "genre": "_genre"}  # name → file suffix
SUBSETS |= {"instrument": "_instrument", "moodtheme": "_moodtheme"}
PARTS = ("train", "validation", "test")
N_SPLITS = 5
AUDIO_DIR = "audio"
AUDIO_SUFFIX = {"audio": ".mp3", "audio-low": ".low.mp3"}  # audio set → its files' suffix


def metadata_path(subset: str) -> str:
    """``data/autotagging[_<subset>].tsv`` (relative to the root)."""
    return f"data/autotagging{SUBSETS[subset]}.tsv"


def split_path(subset: str, split_index: int, part: str) -> str:
    """The file of ``part`` of split ``split_index`` of ``subset`` (relative to the root)."""
    return f"data/splits/split-{split_index}/autotagging{SUBSETS[subset]}-{part}.tsv"
