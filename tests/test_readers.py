"""MTAT reader and catalogue CSV adapter."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from autotag.data.datasets.catalog.reader import group_split, read_catalog
from autotag.data.datasets.mtat.layout import folder_split
from autotag.data.datasets.mtat.reader import read_mtat
from autotag.data.manifest import DataError, top_k_tags
from tests.helpers import CATALOG, MTAT, TAGS188, quote_row, write_mini_mtat


def test_top_k_orders_by_count_and_breaks_ties_by_column_order():
    names = ["a", "b", "c", "d", "e"]
    counts = np.array([5, 9, 7, 9, 7])
    assert top_k_tags(names, counts, 3) == ["b", "d", "c"]  # b before d, then c before e
    assert top_k_tags(names, counts, 5) == ["b", "d", "c", "e", "a"]
    with pytest.raises(ValueError, match="top_k=6"):
        top_k_tags(names, counts, 6)


def test_real_mtat_counts_give_the_documented_tie_order():
    from importlib import resources

    rows = (
        resources.files("autotag.data.resources")
        .joinpath("tag_counts.tsv")
        .read_text()
        .split("\n")[1:]
    )
    counts = dict(r.split("\t") for r in rows if r)
    names = TAGS188  # column order of annotations_final.csv is alphabetical
    top = top_k_tags(names, np.array([int(counts[t]) for t in names]), 50)
    assert top[:3] == ["guitar", "classical", "slow"]
    # "female voice" and "metal" tie (505 clips); alphabetical column order puts "female voice" first
    assert top.index("female voice") < top.index("metal") and top[-1] == "choral"


def test_folder_split():
    assert [folder_split(f) for f in "0ab"] == ["train"] * 3
    assert folder_split("c") == "val"
    assert [folder_split(f) for f in "def"] == ["test"] * 3


def test_read_mtat_folds(mini_mtat):
    m = read_mtat(mini_mtat, **MTAT)
    assert len(m) == 160 and m.tag_names == TAGS188
    assert m.split_counts() == {"train": 120, "val": 10, "test": 30}
    assert m.clip_ids[0] == 2 and m.meta["artist"][0] == "artist 0"
    assert m.labels.dtype == np.uint8 and m.labels.shape == (160, 188)
    assert top_k_tags(m.tag_names, m.tag_counts, 4) == ["guitar", "classical", "techno", "slow"]


def test_read_mtat_clean_drops_clips_without_top_tag(mini_mtat):
    m = read_mtat(mini_mtat, split="clean", top_k=2)
    top = [m.tag_names.index(t) for t in ("guitar", "classical")]
    has = m.labels[:, top].any(axis=1)
    assert [bool(s) for s in m.split] == has.tolist()
    assert m.min_seconds == pytest.approx(29.1)


def test_mtat_errors_name_file_line_and_column(tmp_path):
    root = write_mini_mtat(tmp_path / "c", n_clips=16, seconds=0.5)
    with pytest.raises(DataError, match="not found"):
        read_mtat(tmp_path / "nowhere", **MTAT)
    with pytest.raises(DataError, match="data.split"):
        read_mtat(root, split="random", top_k=50)
    ann = root / "annotations_final.csv"
    lines = ann.read_text().split("\n")
    cells = lines[3].split("\t")
    cells[5] = '"2"'
    bad = lines[:3] + ["\t".join(cells)] + lines[4:]
    ann.write_text("\n".join(bad))
    with pytest.raises(
        DataError,
        match=rf"annotations_final.csv, line 4, column '{TAGS188[4]}': value '2' is not 0 or 1",
    ):
        read_mtat(root, **MTAT)
    (root / "clip_info_final.csv").unlink()
    ann.write_text("\n".join(lines))
    with pytest.raises(DataError, match="clip_info_final.csv: file not found"):
        read_mtat(root, **MTAT)


def test_missing_audio_is_kept_for_prepare_but_all_missing_is_an_error(tmp_path, caplog):
    root = write_mini_mtat(tmp_path / "c", n_clips=16, seconds=0.5)
    victim = next((root / "3").glob("*.mp3"))
    victim.unlink()
    m = read_mtat(root, **MTAT)
    assert len(m) == 16
    assert "is missing" in caplog.text and victim.name in caplog.text
    for d in "0123456789abcdef":
        shutil.rmtree(root / d)
    with pytest.raises(DataError, match="no audio file listed exists"):
        read_mtat(root, **MTAT)


def test_catalog_csv_with_split(tmp_path):
    (tmp_path / "a.wav").touch()
    csv = tmp_path / "cat.csv"
    csv.write_text(
        "path,tags,split,artist\na.wav,rock;loud,train,x\nb.wav,rock,val,y\nc.wav,jazz,test,z\n"
    )
    m = read_catalog(csv, **CATALOG)
    assert m.tag_names == ["jazz", "loud", "rock"]
    assert m.split == ["train", "val", "test"]
    assert m.labels.tolist() == [[0, 1, 1], [0, 0, 1], [1, 0, 0]]
    assert m.paths[0] == str(tmp_path / "a.wav") and m.meta["artist"] == ["x", "y", "z"]
    assert top_k_tags(m.tag_names, m.tag_counts, 1) == ["rock"]


def test_catalog_without_split_keeps_albums_together(tmp_path):
    lines = ["path,tags,album"] + [f"song{i}.mp3,t{i % 3},album{i // 4}" for i in range(200)]
    (tmp_path / "c.csv").write_text("\n".join(lines))
    m = read_catalog(tmp_path / "c.csv", **CATALOG)
    by_album: dict[str, set] = {}
    for alb, s in zip(m.meta["album"], m.split):
        by_album.setdefault(alb, set()).add(s)
    assert all(len(s) == 1 for s in by_album.values())
    assert set(m.split) == {"train", "val", "test"}
    assert group_split("album3", 10.0, 10.0) == group_split("album3", 10.0, 10.0)


def test_catalog_errors(tmp_path):
    (tmp_path / "c.csv").write_text("file,tags\nx.mp3,a\n")
    with pytest.raises(DataError, match="no column named 'path'"):
        read_catalog(tmp_path / "c.csv", **CATALOG)
    (tmp_path / "c.csv").write_text("path,tags,split\nx.mp3,a,train\ny.mp3,a,dev\n")
    with pytest.raises(DataError, match=r"c.csv, line 3, column 'split': 'dev'"):
        read_catalog(tmp_path / "c.csv", **CATALOG)


def test_quote_row_matches_mtat_quoting():
    assert quote_row(["clip_id", 1]) == '"clip_id"\t"1"'
