"""Tests of the synthetic MTG-Jamendo generator (autotag.data.datasets.jamendo.synth.generate_jamendo).

The files are parsed here with plain string splitting, as the published TSVs are defined, not
with the generator's code."""

from __future__ import annotations

import json
import re
import shutil
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from autotag.data.datasets.jamendo import synth as jamendo_synth
from autotag.data.datasets.jamendo import synth_audio as jamendo_synth_audio
from autotag.data.datasets.jamendo import synth_plan as jamendo_synth_plan
from autotag.data.datasets.jamendo import synth_tags as jamendo_synth_tags
from autotag.data.synthetic import cli as synthetic_cli

N_TRACKS, MIN_S, MAX_S, SEED = 80, 3.0, 8.0, 5
ARGS = {"n_tracks": N_TRACKS, "min_seconds": MIN_S, "max_seconds": MAX_S, "seed": SEED}
HEADER = ["TRACK_ID", "ARTIST_ID", "ALBUM_ID", "PATH", "DURATION", "TAGS"]
TAG = re.compile(r"^(genre|instrument|mood/theme)---[a-z0-9]+$")
SUBSETS = {"": None, "_top50tags": None, "_genre": "genre", "_instrument": "instrument"}
SUBSETS["_moodtheme"] = "mood/theme"
PARTS = ("train", "validation", "test")


def read_tsv(path: Path) -> list[list[str]]:
    """Rows (header first) of a Jamendo TSV: CRLF line ends, tab-separated, never quoted."""
    text = path.read_bytes().decode("utf-8")
    assert text.endswith("\r\n") and "\n" not in text.replace("\r\n", "")
    return [line.split("\t") for line in text[:-2].split("\r\n")]


def body(path: Path) -> dict[str, list[str]]:
    """Track id -> row of a TSV, after checking its header."""
    rows = read_tsv(path)
    assert rows[0] == HEADER
    return {r[0]: r for r in rows[1:]}


def all_files(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    root = tmp_path_factory.mktemp("jamendo")
    summary = jamendo_synth.generate_jamendo(root, **ARGS, workers=2, progress=False)
    return root, summary


@pytest.fixture(scope="module")
def corpus_serial(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same corpus made by one process (determinism across worker counts)."""
    root = tmp_path_factory.mktemp("jamendo_serial")
    jamendo_synth.generate_jamendo(root, **ARGS, workers=1, progress=False)
    return root


def test_rows_ids_paths_and_tags(corpus: tuple[Path, dict]) -> None:
    root, _ = corpus
    rows = read_tsv(root / "data/autotagging.tsv")
    assert rows[0] == HEADER
    rows = rows[1:]
    assert len(rows) == N_TRACKS
    ids = [int(r[0].removeprefix("track_")) for r in rows]
    assert ids == sorted(set(ids)), "rows in track id order, ids distinct"
    assert max(ids) - min(ids) + 1 > N_TRACKS and max(ids) < 1_500_000, "ids not contiguous"
    categories, n_tags = set(), set()
    for r in rows:
        assert re.fullmatch(r"track_\d{7}", r[0]) and re.fullmatch(r"artist_\d{6}", r[1])
        assert re.fullmatch(r"album_\d{6}", r[2]) and re.fullmatch(r"\d+\.\d", r[4])
        track_id = int(r[0][6:])
        assert r[3] == f"{track_id % 100:02d}/{track_id}.mp3"
        assert (root / "audio" / r[3]).is_file(), "every listed track has a file"
        tags = r[5:]
        assert tags and len(tags) == len(set(tags)) and tags == sorted(tags)
        assert all(TAG.match(t) for t in tags), tags
        categories |= {t.split("---")[0] for t in tags}
        n_tags.add(len(tags))
    assert categories == {"genre", "instrument", "mood/theme"}
    assert len(n_tags) > 2, "variable numbers of tag fields"
    assert len({r[1] for r in rows}) >= 5 and len({r[2] for r in rows}) > len({r[1] for r in rows})
    album_artist = {}
    for r in rows:
        assert album_artist.setdefault(r[2], r[1]) == r[1], "an album belongs to one artist"
    assert len({p.name for p in (root / "audio").iterdir()}) == len({r[3][:2] for r in rows})


def test_durations_match_the_audio(corpus: tuple[Path, dict]) -> None:
    root, summary = corpus
    broken = {b["track_id"] for b in summary["broken"]}
    rows = [r for r in body(root / "data/autotagging.tsv").values() if r[0] not in broken]
    assert len(rows) == N_TRACKS - 3
    for r in rows:
        duration = float(r[4])
        assert MIN_S <= duration <= MAX_S
        audio, sr = sf.read(root / "audio" / r[3], dtype="float32")
        assert sr == 16000 and audio.ndim == 1
        assert abs(len(audio) / sr - duration) <= 0.1
    audio, _ = sf.read(root / "audio" / rows[0][3], dtype="float32")
    assert 0.0005 < float(np.sqrt(np.mean(audio**2))) < 0.7 and np.abs(audio).max() <= 1.0


def test_subsets_hold_the_right_tracks_and_tags(corpus: tuple[Path, dict]) -> None:
    root, _ = corpus
    full = body(root / "data/autotagging.tsv")
    counts = Counter(t for r in full.values() for t in r[5:])
    assert len(counts) > 50, "enough tags for a real top-50 cut"
    top50 = {t for r in body(root / "data/autotagging_top50tags.tsv").values() for t in r[5:]}
    assert len(top50) == 50
    assert min(counts[t] for t in top50) >= max(counts[t] for t in counts if t not in top50)
    for suffix, cat in SUBSETS.items():
        sub = body(root / f"data/autotagging{suffix}.tsv")
        expected = {}
        for track, r in full.items():
            if suffix == "_top50tags":
                tags = [t for t in r[5:] if t in top50]
            else:
                tags = [t for t in r[5:] if cat is None or t.startswith(cat + "---")]
            if tags:
                expected[track] = r[:5] + tags
        assert sub == expected, suffix
        assert list(sub) == sorted(sub) and 0 < len(sub) <= N_TRACKS


def test_splits_are_artist_disjoint_partitions(corpus: tuple[Path, dict]) -> None:
    root, _ = corpus
    partitions = []
    for split in range(5):
        for suffix in SUBSETS:
            subset = body(root / f"data/autotagging{suffix}.tsv")
            parts = {
                p: body(root / f"data/splits/split-{split}/autotagging{suffix}-{p}.tsv")
                for p in PARTS
            }
            seen: dict[str, str] = {}
            for p, rows in parts.items():
                assert rows, (split, suffix, p)
                for track, r in rows.items():
                    assert subset[track] == r, "split rows are the subset's rows"
                    assert seen.setdefault(track, p) == p, "parts are disjoint"
            assert set(seen) == set(subset), "parts cover the subset"
            artists = [{r[1] for r in rows.values()} for rows in parts.values()]
            assert not (
                artists[0] & artists[1] or artists[0] & artists[2] or artists[1] & artists[2]
            )
            if suffix == "":
                sizes = [len(parts[p]) for p in PARTS]
                assert sizes[0] > sizes[1] and sizes[0] > sizes[2] and sum(sizes) == N_TRACKS
                partitions.append(tuple(sorted(parts["test"])))
    assert len(set(partitions)) > 1, "five different random splits"


def test_broken_files_are_listed_and_do_not_decode(corpus: tuple[Path, dict]) -> None:
    root, summary = corpus
    info = json.loads((root / "INFO.json").read_text())
    assert info["complete"] and info["broken"] == summary["broken"]
    assert info["params"]["n_tracks"] == N_TRACKS and info["params"]["seed"] == SEED
    assert info["params"]["min_seconds"] == MIN_S and info["params"]["max_seconds"] == MAX_S
    kinds = {b["kind"]: root / b["path"] for b in info["broken"]}
    assert set(kinds) == {"empty", "truncated", "not_audio"}
    full = body(root / "data/autotagging.tsv")
    for b in info["broken"]:
        assert b["why"] and b["path"] == f"audio/{full[b['track_id']][3]}", "listed like any"
        assert MIN_S <= float(full[b["track_id"]][4]) <= MAX_S
    assert kinds["empty"].stat().st_size == 0
    assert kinds["truncated"].read_bytes()[:2] == b"\xff\xf3"  # an mp3 frame header
    for kind in ("empty", "not_audio"):
        with pytest.raises(sf.LibsndfileError):
            sf.read(kinds[kind])
    try:
        audio, sr = sf.read(kinds["truncated"])
        assert len(audio) < 0.5 * sr
    except sf.LibsndfileError:
        pass


def test_same_seed_same_bytes(corpus: tuple[Path, dict], corpus_serial: Path) -> None:
    root, _ = corpus
    a, b = all_files(root), all_files(corpus_serial)
    a.pop("INFO.json"), b.pop("INFO.json")  # holds the root's path
    assert len(a) == N_TRACKS + 4 + 1 + 5 * 5 * 3 and a == b


def test_resume_after_a_kill(corpus_serial: Path, tmp_path: Path) -> None:
    original = all_files(corpus_serial)
    root = tmp_path / "copy"
    shutil.copytree(corpus_serial, root)
    args = {**ARGS, "workers": 1}
    again = jamendo_synth.generate_jamendo(root, **args, progress=False)
    assert again["generated"] == 0 and again["skipped"] == N_TRACKS
    victim = sorted((root / "audio").rglob("*.mp3"), key=lambda p: -p.stat().st_size)[0]
    victim.unlink()
    (root / "data/autotagging_genre.tsv").unlink()
    (root / "data/splits/split-3/autotagging-test.tsv").unlink()
    (victim.parent / f".{victim.name}.123.tmp").write_bytes(b"half an mp3")  # a killed worker's
    resumed = jamendo_synth.generate_jamendo(root, **args, progress=False)
    assert resumed["generated"] == 1
    after = all_files(root)
    assert after.keys() == original.keys()
    for name, data in original.items():
        if name != "INFO.json":
            assert after[name] == data, name
    # a run killed before the metadata: no data/autotagging.tsv, INFO.json not complete
    (root / "data/autotagging.tsv").unlink()
    info = json.loads((root / "INFO.json").read_text())
    (root / "INFO.json").write_text(json.dumps({"params": info["params"], "complete": False}))
    assert jamendo_synth.generate_jamendo(root, **args, progress=False)["generated"] == 0
    assert (root / "data/autotagging.tsv").read_bytes() == original["data/autotagging.tsv"]
    with pytest.raises(FileExistsError):
        jamendo_synth.generate_jamendo(root, **{**args, "seed": SEED + 1}, progress=False)


def test_cli_jamendo_layout(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["--layout", "jamendo", "--root", str(tmp_path), "--tracks", "12"]
    argv += ["--min-seconds", "2", "--max-seconds", "3", "--workers", "1", "--no-broken"]
    assert synthetic_cli.main([*argv, "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "synthetic MTG-Jamendo" in out and "split sizes" in out
    info = json.loads((tmp_path / "INFO.json").read_text())
    assert info["complete"] and info["broken"] == [] and info["params"]["n_tracks"] == 12
    rows = body(tmp_path / "data/autotagging.tsv")
    assert len(rows) == 12 and all(2.0 <= float(r[4]) <= 3.0 for r in rows.values())


def test_vocabulary_and_long_tracks() -> None:
    names = jamendo_synth_tags.jamendo_tag_names()
    assert 50 <= len(names) <= 70 and all(TAG.match(t) for t in names)
    assert {t.split("---")[0] for t in names} == {"genre", "instrument", "mood/theme"}
    for t in ("genre---electronic", "instrument---acousticguitar", "mood/theme---relaxing"):
        assert t in names
    tracks = jamendo_synth_plan.jamendo_plan(2000, 40.0, 300.0, seed=0, broken=False)
    tags = jamendo_synth_tags.sample_jamendo_tags([t.plan for t in tracks], seed=0, label_drop=0.2)
    counts = Counter(t for ts in tags for t in ts).most_common()
    assert len(counts) >= 60 and counts[0][1] > 20 * counts[-1][1], "a long tail"
    seconds = np.array([t.seconds for t in tracks])
    assert 40.0 < seconds.min() and seconds.max() < 300.0 and np.median(seconds) < 130.0
    # a track longer than a section: cross-faded sections, no silence at the joins
    long = next(t for t in tracks if 70.0 < t.seconds < 90.0)
    audio = jamendo_synth_audio.render_jamendo_track(long, 16000, seed=0)
    assert audio.dtype == np.float32 and len(audio) == round(long.seconds * 16000) - 2304
    assert len(long.sections) == 3 and np.isfinite(audio).all()
    for join in (30 * 16000, 60 * 16000):
        assert np.abs(audio[join - 4000 : join + 4000]).max() > 1e-3


def test_the_jamendo_reader_reads_the_corpus_and_prepare_reports_the_broken_files(
    corpus: tuple[Path, dict], mini_features: dict, tmp_path: Path
) -> None:
    from autotag.data.datasets.jamendo.reader import read_jamendo
    from autotag.data.excerpt import Excerpt
    from autotag.data.features import FeatureConfig
    from autotag.data.prepare import build_store
    from autotag.data.store import MelStore

    root, _ = corpus
    assert b"\r\n" in (root / "data" / "autotagging.tsv").read_bytes()  # CRLF, as the real files
    m = read_jamendo(root, subset="top50tags", split_index=3, categories=None, audio="audio",
                     audio_root=None, missing_audio="error")  # fmt: skip
    assert len(m.tag_names) == 50 and all("\r" not in t for t in m.tag_names)
    excerpt = Excerpt(policy="full", seconds=30.0, k=3, max_minutes=10.0, seed=0)
    store = MelStore(
        build_store(m, FeatureConfig.from_dict(mini_features), tmp_path / "s.h5", workers=0,
                    shard_size=16, min_audio_seconds=1.0, progress=False, excerpt=excerpt)
    )  # fmt: skip
    info = json.loads((root / "INFO.json").read_text())
    broken = {int(b["track_id"].removeprefix("track_")) for b in info["broken"]}
    in_subset = broken & set(m.clip_ids.tolist())
    bad = {int(c) for c, ok in zip(store.clip_ids, store.valid) if not ok}
    assert in_subset and bad == in_subset  # every broken file of the subset, and only those
    assert all(st.startswith("broken") for st, ok in zip(store.status, store.valid) if not ok)
