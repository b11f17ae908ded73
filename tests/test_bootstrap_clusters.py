"""The units of the bootstrap: the readers name each clip's song (MTAT), artist (MTG-Jamendo)
and album (a catalogue)."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from autotag.data.datasets.catalog.reader import read_catalog
from autotag.data.datasets.jamendo.reader import read_jamendo
from autotag.data.datasets.mtat.reader import read_mtat
from tests.helpers import CATALOG, MTAT, quote_row, write_mini_jamendo, write_mini_mtat


def _same_partition(a, b) -> bool:
    """Whether two key sequences group the same positions together (whatever the keys)."""
    a, b = np.asarray(a), np.asarray(b)
    return bool(np.array_equal(a[:, None] == a[None, :], b[:, None] == b[None, :]))


def _rewrite_clip_info(root: Path, credits: dict[int, tuple[str, str, str, str] | None]) -> None:
    """Give clip index ``i`` (clip id 2 + 3 i) the (track, title, artist, album) of
    ``credits[i]``, or no row of clip_info_final.csv at all (None)."""
    path = root / "clip_info_final.csv"
    with open(path, newline="") as f:
        header, *rows = list(csv.reader(f, delimiter="\t", quotechar='"'))
    kept = []
    for row in rows:
        i = (int(row[0]) - 2) // 3
        if i in credits and credits[i] is None:
            continue
        if i in credits:
            row[1:5] = credits[i]
        kept.append(row)
    path.write_text("\n".join(quote_row(r) for r in [header, *kept]) + "\n")


def test_mtat_clips_of_one_song_share_a_unit_and_clips_without_credits_stand_alone(tmp_path):
    root = write_mini_mtat(tmp_path / "mtat", n_clips=12, seconds=0.5)
    credits = {
        0: ("1", "Intro", "Ann", "First"),
        1: ("1", "Intro", "Ann", "First"),  # song 0 again
        2: ("1", "Intro", "Bob", "First"),  # another artist's "Intro": another song
        3: ("2", "Intro", "Ann", "First"),  # another track of Ann's album
        4: ("2", "Intro", "Ann", "First"),
        5: ("1", "Intro", "Ann", "Second"),  # Ann's other album
        6: None,  # no clip_info row: a unit of its own
        7: None,
        8: ("", "", "", ""),  # all empty: a unit of its own
    }
    _rewrite_clip_info(root, credits)
    m = read_mtat(root, **MTAT)
    assert list(m.units) == ["song", "album", "artist"]  # the natural unit first
    song = [0, 0, 1, 2, 2, 3, 4, 5, 6, 7, 8, 9]  # clips 9-11 keep the helper's own songs
    album = [0, 0, 1, 0, 0, 2, 4, 5, 6, 7, 8, 9]
    artist = [0, 0, 1, 0, 0, 0, 4, 5, 6, 7, 8, 9]
    assert _same_partition(m.units["song"], song)
    assert _same_partition(m.units["album"], album)
    assert _same_partition(m.units["artist"], artist)
    sub = m.subset([5, 0, 1])
    assert sub.units["song"] == [m.units["song"][i] for i in (5, 0, 1)]


def test_jamendo_tracks_are_grouped_by_artist(tmp_path):
    root = write_mini_jamendo(tmp_path / "jamendo", n_tracks=30, seconds=(0.5, 1.0))
    m = read_jamendo(
        root, subset="all", split_index=0, categories=None, audio="audio", audio_root=None,
        missing_audio="error",
    )  # fmt: skip
    lines = (root / "data" / "autotagging.tsv").read_text().splitlines()[1:]
    artist_of = {int(f[0].split("_")[1]): f[1] for f in (line.split("\t") for line in lines)}
    album_of = {int(f[0].split("_")[1]): f[2] for f in (line.split("\t") for line in lines)}
    assert list(m.units) == ["artist", "album"]
    assert _same_partition(m.units["artist"], [artist_of[t] for t in m.clip_ids.tolist()])
    assert _same_partition(m.units["album"], [album_of[t] for t in m.clip_ids.tolist()])
    test = [k for k, s in enumerate(m.split) if s == "test"]
    assert len({m.units["artist"][k] for k in test}) < len(test)  # artists with several tracks


def test_a_catalogue_is_grouped_by_album_and_artist_when_it_names_them(tmp_path):
    rows = [
        ("a.wav", "rock", "Hits", "X"),
        ("b.wav", "rock", "Hits", "X"),
        ("c.wav", "pop", "Hits", "Y"),  # another artist's album of the same name
        ("d.wav", "pop", "Live", "Y"),
        ("e.wav", "pop", "", ""),  # names neither: a unit of its own
        ("f.wav", "rock", "", ""),
    ]
    path = tmp_path / "cat.csv"
    path.write_text("path,tags,album,artist\n" + "\n".join(",".join(r) for r in rows) + "\n")
    m = read_catalog(path, **CATALOG)
    assert list(m.units) == ["album", "artist"]
    assert _same_partition(m.units["album"], [0, 0, 1, 2, 3, 4])
    assert _same_partition(m.units["artist"], [0, 0, 1, 1, 3, 4])
    plain = tmp_path / "plain.csv"
    plain.write_text("path,tags\na.wav,rock\nb.wav,pop\n")
    assert read_catalog(plain, **CATALOG).units == {}  # auto then draws clips
