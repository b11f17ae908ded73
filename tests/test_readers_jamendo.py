"""The MTG-Jamendo reader on a corpus written by the test helpers (not by the generator)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from autotag.data.datasets.jamendo.reader import read_jamendo
from autotag.data.manifest import DataError
from tests.helpers import write_mini_jamendo

ARGS = dict(categories=None, audio="audio", audio_root=None, missing_audio="error")


@pytest.fixture(scope="module")
def mini_jamendo(tmp_path_factory) -> Path:
    # two tracks in no split: tag counts over split tracks differ from counts over every row
    return write_mini_jamendo(tmp_path_factory.mktemp("mini_jamendo"), n_tracks=30, orphans=2)


def _rows(path: Path) -> list[list[str]]:
    return [line.split("\t") for line in path.read_text().splitlines()[1:]]


def _copy(src: Path, tmp_path: Path) -> Path:
    dst = tmp_path / "jamendo"
    shutil.copytree(src / "data", dst / "data")
    (dst / "audio").symlink_to(src / "audio")
    return dst


def test_labels_paths_and_splits_follow_the_files(mini_jamendo):
    m = read_jamendo(mini_jamendo, subset="all", split_index=2, **ARGS)
    rows = _rows(mini_jamendo / "data" / "autotagging.tsv")
    assert len(m) == len(rows)
    assert any(len(r) > 7 for r in rows) and any(len(r) == 6 for r in rows)  # variable tag fields
    for r, row in enumerate(rows):
        tid = int(row[0].removeprefix("track_"))
        assert m.clip_ids[r] == tid
        assert m.paths[r] == str(mini_jamendo / "audio" / row[3])
        assert {m.tag_names[j] for j in np.flatnonzero(m.labels[r])} == set(row[5:])
        assert m.meta["artist_id"][r] == row[1] and m.meta["duration"][r] == row[4]
    parts = {"train": "train", "validation": "val", "test": "test"}
    for part, name in parts.items():
        split_file = mini_jamendo / "data/splits/split-2" / f"autotagging-{part}.tsv"
        ids = {int(r[0].removeprefix("track_")) for r in _rows(split_file)}
        assert ids == {int(c) for c, s in zip(m.clip_ids, m.split) if s == name}
    # categories stay in the names; the counts are the column sums over the split's tracks
    # (the published splits drop a few tracks and rare tags), not over every metadata row
    assert "mood/theme---happy" in m.tag_names and "genre---rock" in m.tag_names
    in_split = np.array([bool(s) for s in m.split])
    assert (~in_split).sum() == 2  # the orphans: in the metadata, in no split file
    np.testing.assert_array_equal(m.tag_counts, m.labels[in_split].sum(axis=0))
    assert not np.array_equal(m.tag_counts, m.labels.sum(axis=0))


def test_subsets_categories_and_audio_sets(mini_jamendo):
    genre = read_jamendo(mini_jamendo, subset="genre", split_index=0, **ARGS)
    assert genre.tag_names and all(t.startswith("genre---") for t in genre.tag_names)
    only_mood = read_jamendo(
        mini_jamendo, subset="all", split_index=0, **{**ARGS, "categories": ["mood/theme"]}
    )
    assert only_mood.tag_names == ["mood/theme---happy"]
    untagged = only_mood.labels.sum(axis=1) == 0
    assert untagged.any() and all(s == "" for s, u in zip(only_mood.split, untagged) if u)
    low = read_jamendo(
        mini_jamendo,
        subset="all",
        split_index=0,
        **{**ARGS, "missing_audio": "skip", "audio": "audio-low"},
    )
    assert low.paths[0].endswith(".low.mp3") and low.split_counts() == {
        "train": 0,
        "val": 0,
        "test": 0,
    }


def test_splits_keep_artists_apart(mini_jamendo):
    for i in range(5):
        m = read_jamendo(mini_jamendo, subset="top50tags", split_index=i, **ARGS)
        artists = {
            s: {a for a, x in zip(m.meta["artist_id"], m.split) if x == s}
            for s in ("train", "val", "test")
        }
        assert not (
            artists["train"] & artists["val"]
            or artists["train"] & artists["test"]
            or artists["val"] & artists["test"]
        )


def _rewrite(path: Path, edit) -> None:
    lines = path.read_text().splitlines()
    path.write_text("\n".join(edit(lines)) + "\n")


def test_errors_name_the_file_line_and_field(mini_jamendo, tmp_path):
    root = _copy(mini_jamendo, tmp_path)
    split_test = root / "data/splits/split-1/autotagging_genre-test.tsv"
    split_test.unlink()
    with pytest.raises(DataError, match=r"split-1/autotagging_genre-test.tsv: file not found"):
        read_jamendo(root, subset="genre", split_index=1, **ARGS)

    val = root / "data/splits/split-0/autotagging-validation.tsv"
    _rewrite(
        val,
        lambda ls: [
            *ls,
            "track_0099999\tartist_000001\talbum_000001\t99/99999.mp3\t31.0\tgenre---rock",
        ],
    )
    n = len(val.read_text().splitlines())
    with pytest.raises(
        DataError,
        match=rf"autotagging-validation.tsv, line {n}, field TRACK_ID: track_0099999 is not in autotagging.tsv",
    ):
        read_jamendo(root, subset="all", split_index=0, **ARGS)

    meta = root / "data/autotagging_instrument.tsv"
    _rewrite(meta, lambda ls: [ls[0], ls[1] + "\tpiano", *ls[2:]])
    with pytest.raises(
        DataError, match=r"autotagging_instrument.tsv, line 2, field \d+ \(TAGS\): 'piano'"
    ):
        read_jamendo(root, subset="instrument", split_index=0, **ARGS)

    moods = root / "data/autotagging_moodtheme.tsv"
    _rewrite(moods, lambda ls: [ls[0].replace("PATH", "FILE"), *ls[1:]])
    with pytest.raises(DataError, match=r"autotagging_moodtheme.tsv, line 1: header"):
        read_jamendo(root, subset="moodtheme", split_index=0, **ARGS)


def test_a_missing_audio_file_is_an_error_naming_its_line_or_a_warning_when_asked(
    mini_jamendo, tmp_path
):
    root = tmp_path / "jamendo"
    shutil.copytree(mini_jamendo, root)
    rows = _rows(root / "data" / "autotagging_top50tags.tsv")
    (root / "audio" / rows[3][3]).unlink()
    with pytest.raises(
        DataError, match=rf"autotagging_top50tags.tsv, line 5, field PATH: .*{rows[3][3]} not found"
    ):
        read_jamendo(root, subset="top50tags", split_index=0, **ARGS)
    m = read_jamendo(root, subset="top50tags", split_index=0, **{**ARGS, "missing_audio": "skip"})
    orphans = 2  # the fixture's tracks in no split
    assert m.split[3] == "" and sum(map(bool, m.split)) == len(rows) - 1 - orphans


def test_labels_come_from_the_split_files_which_may_drop_rare_tags(mini_jamendo, tmp_path):
    root = _copy(mini_jamendo, tmp_path)
    for part in ("train", "validation", "test"):  # the published splits drop a few tags
        path = root / f"data/splits/split-4/autotagging-{part}.tsv"
        _rewrite(
            path,
            lambda ls: [
                ls[0],
                *(
                    "\t".join(t for t in line.split("\t") if t != "instrument---voice")
                    for line in ls[1:]
                ),
            ],
        )
    assert "instrument---voice" in (root / "data/autotagging.tsv").read_text()
    m = read_jamendo(root, subset="all", split_index=4, **ARGS)
    assert "instrument---voice" not in m.tag_names
    assert (
        read_jamendo(root, subset="all", split_index=3, **ARGS).tag_names.count(
            "instrument---voice"
        )
        == 1
    )
