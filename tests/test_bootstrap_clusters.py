"""The cluster bootstrap: the test set's units (MTAT's songs, Jamendo's artists, a catalogue's
albums) are drawn whole, so clips that are alike do not count as independent evidence; the
readers name the units, and they reach results.json, predictions.npz and `autotag compare`."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, roc_auc_score

from autotag.common.metrics import macro_scores
from autotag.data.datasets.catalog.reader import read_catalog
from autotag.data.datasets.jamendo.reader import read_jamendo
from autotag.data.datasets.mtat.reader import read_mtat
from autotag.experiments.compare import CompareError, compare_runs
from autotag.runs.predictions import write_predictions
from autotag.training.bootstrap import (
    confidence_interval,
    mean_paired_difference,
    paired_difference,
    resample_counts,
    unit_of,
)
from tests.helpers import (
    CATALOG,
    MTAT,
    mini_overrides,
    quote_row,
    run_cli,
    train_run,
    write_mini_jamendo,
    write_mini_mtat,
)

TAGS = ["rock", "piano", "quiet"]


def _example(n: int, k: int = 4, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = (rng.random((n, k)) < 0.3).astype(int)
    return np.round(np.clip(0.5 * y + rng.random((n, k)), 0, 1), 2), y


def _width(ci: dict, metric: str) -> float:
    return ci[metric][1] - ci[metric][0]


def _same_partition(a, b) -> bool:
    """Whether two key sequences group the same positions together (whatever the keys)."""
    a, b = np.asarray(a), np.asarray(b)
    return bool(np.array_equal(a[:, None] == a[None, :], b[:, None] == b[None, :]))


def test_five_copies_of_each_clip_in_one_unit_keep_the_interval_clips_narrow_it():
    """Known answer: a set in which every clip appears 5 times (one unit per original clip)
    holds no more evidence than the originals. Drawing the units gives exactly the originals'
    clip interval (the same draws: units are numbered in key order, the original clips' order);
    drawing the copies as clips narrows it by about 1/sqrt(5)."""
    s, y = _example(300)
    copies = np.repeat(np.arange(300), 5)
    shuffled = np.random.default_rng(1).permutation(len(copies))  # position does not matter
    s5, y5, keys = s[copies][shuffled], y[copies][shuffled], copies[shuffled]
    originals = confidence_interval(s, y, 1000, 0, "clip")
    units = confidence_interval(s5, y5, 1000, 0, "auto", {"song": keys})
    naive = confidence_interval(s5, y5, 1000, 0, "clip")
    assert (units["unit"], units["n_units"]) == ("song", 300)
    assert (naive["unit"], naive["n_units"], originals["n_units"]) == ("clip", 1500, 300)
    for metric in ("roc_auc", "pr_auc"):
        np.testing.assert_allclose(units[metric], originals[metric], rtol=0, atol=1e-12)
        ratio = _width(naive, metric) / _width(originals, metric)
        assert 0.37 < ratio < 0.53, (metric, ratio)  # 1/sqrt(5) = 0.447


def test_cluster_resamples_are_drawn_units_scored_on_all_their_clips_by_scikit_learn():
    """Each resample draws G of the G units with replacement (``integers(0, G, (B, G))``,
    units in sorted key order) and takes every clip of each drawn unit; scikit-learn's macro
    ROC-AUC and PR-AUC on those clips are the resample's values, their percentiles the interval."""
    rng = np.random.default_rng(3)
    sizes = [2, 5, 3, 2, 7, 4, 2, 3, 6, 2, 3, 4]
    names = [f"artist {c}" for c in "qwertyuiopas"]
    keys = np.array([n for n, size in zip(names, sizes) for _ in range(size)])
    order = rng.permutation(len(keys))
    keys = keys[order]
    y = (rng.random((len(keys), 3)) < 0.4).astype(int)
    for name in names:  # a positive and a negative of every tag in each unit: every tag defined
        first, second = np.flatnonzero(keys == name)[:2]
        y[first], y[second] = 1, 0
    s = np.round(0.6 * y + rng.random(y.shape), 1)
    members = [np.flatnonzero(keys == name) for name in sorted(names)]
    draws = np.random.default_rng(11).integers(0, len(names), size=(300, len(names)))
    roc, ap = [], []
    for drawn in draws:
        rows = np.concatenate([members[g] for g in drawn])
        roc.append(roc_auc_score(y[rows], s[rows], average="macro"))
        ap.append(average_precision_score(y[rows], s[rows], average="macro"))
    got_roc, got_ap = macro_scores(s, y, resample_counts(len(s), 300, 11, keys))
    np.testing.assert_allclose(got_roc, roc, rtol=0, atol=1e-12)
    np.testing.assert_allclose(got_ap, ap, rtol=0, atol=1e-12)
    ci = confidence_interval(s, y, 300, 11, "artist", {"song": np.arange(len(s)), "artist": keys})
    assert (ci["unit"], ci["n_units"], ci["resamples_missing_a_tag"]) == ("artist", 12, 0.0)
    np.testing.assert_allclose(ci["roc_auc"], np.percentile(roc, [2.5, 97.5]), atol=1e-12)
    np.testing.assert_allclose(ci["pr_auc"], np.percentile(ap, [2.5, 97.5]), atol=1e-12)


def test_a_seed_averaged_difference_scores_every_run_on_the_same_drawn_units():
    """A sweep row against its reference over 3 seeds: on each resample (G of the G units
    drawn, as above) every run is scored by scikit-learn on the drawn clips, and the resample's
    value is the mean over seeds of (row − reference); the interval is its percentiles. One
    pair is paired_difference; a row equal to its reference differs by exactly 0."""
    rng = np.random.default_rng(5)
    keys = np.repeat([f"song {i}" for i in range(15)], 3)[rng.permutation(45)]
    y = (rng.random((45, 3)) < 0.4).astype(int)
    for name in np.unique(keys):  # every tag defined in every resample
        first, second = np.flatnonzero(keys == name)[:2]
        y[first], y[second] = 1, 0
    runs = [np.round(0.4 * y + rng.random(y.shape), 2) for _ in range(6)]
    pairs = [(runs[0], runs[3]), (runs[1], runs[4]), (runs[2], runs[5])]
    res = mean_paired_difference(pairs, y, 200, 7, keys, "song")
    members = [np.flatnonzero(keys == k) for k in sorted(set(keys))]
    diffs = []
    for drawn in np.random.default_rng(7).integers(0, 15, size=(200, 15)):
        rows = np.concatenate([members[g] for g in drawn])
        diffs.append(np.mean([roc_auc_score(y[rows], b[rows]) - roc_auc_score(y[rows], a[rows])
                              for a, b in pairs]))  # fmt: skip
    full = np.mean([roc_auc_score(y, b) - roc_auc_score(y, a) for a, b in pairs])
    assert (res["unit"], res["n_units"], res["n_pairs"]) == ("song", 15, 3)
    assert res["roc_auc"]["difference"] == pytest.approx(full, abs=1e-12)
    each = [roc_auc_score(y, b) - roc_auc_score(y, a) for a, b in pairs]
    np.testing.assert_allclose(res["roc_auc"]["pairs"], each, rtol=0, atol=1e-12)
    np.testing.assert_allclose(res["roc_auc"]["interval"], np.percentile(diffs, [2.5, 97.5]),
                               atol=1e-12)  # fmt: skip
    assert res["roc_auc"]["b_better_share"] == pytest.approx(np.mean(np.array(diffs) > 0))
    one = mean_paired_difference(pairs[:1], y, 200, 7, keys, "song")
    alone = paired_difference(*pairs[0], y, 200, 7, keys, "song")
    for metric in ("roc_auc", "pr_auc"):
        assert one[metric]["difference"] == pytest.approx(alone[metric]["difference"])
        np.testing.assert_allclose(one[metric]["interval"], alone[metric]["interval"])
    same = mean_paired_difference([(a, a) for a, _ in pairs], y, 200, 7, keys, "song")
    assert same["roc_auc"]["difference"] == 0 and same["roc_auc"]["interval"] == [0.0, 0.0]


def test_the_cluster_setting_names_a_unit_of_the_data_set():
    units = {"song": [], "album": [], "artist": []}
    assert unit_of(units, "auto") == "song" and unit_of(units, "artist") == "artist"
    assert unit_of({}, "auto") == "clip" and unit_of(units, "clip") == "clip"
    with pytest.raises(ValueError, match=r"cluster='genre': choose auto, clip, song, album, art"):
        unit_of(units, "genre")
    with pytest.raises(ValueError, match=r"cluster='song': choose auto, clip \(the units"):
        unit_of({}, "song")


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


def _run(folder: Path, scores, labels, clip_ids, songs=None) -> Path:
    folder.mkdir(parents=True)
    units = None if songs is None else {"test": {"song": songs, "artist": np.char.add("a", songs)}}
    write_predictions(folder, TAGS, {"test": scores}, {"test": labels}, {"test": clip_ids}, units)
    return folder


def test_compare_draws_the_runs_shared_units_and_refuses_other_groupings(tmp_path, capsys):
    rng = np.random.default_rng(0)
    labels = (rng.random((120, 3)) < 0.35).astype(np.uint8)
    weak, strong = 0.2 * labels + rng.random(labels.shape), 0.5 * labels + rng.random(labels.shape)
    ids, songs = np.arange(500, 620), np.array([f"song {k // 4:02d}" for k in range(120)])
    a = _run(tmp_path / "a", weak, labels, ids, songs)
    perm = rng.permutation(120)  # B saved its clips in another order
    b = _run(tmp_path / "b", strong[perm], labels[perm], ids[perm], songs[perm])
    res = compare_runs(a, b, "test", 400, 5, "auto")
    assert (res["unit"], res["n_units"], res["n_clips"]) == ("song", 30, 120)
    # written out: draw 30 songs, take their clips, score both runs with scikit-learn
    members = [np.flatnonzero(songs == name) for name in sorted(set(songs))]
    diffs = {"roc_auc": [], "pr_auc": []}
    for drawn in np.random.default_rng(5).integers(0, 30, size=(400, 30)):
        r = np.concatenate([members[g] for g in drawn])
        ok = [j for j in range(3) if 0 < labels[r, j].sum() < len(r)]
        for key, metric in (("roc_auc", roc_auc_score), ("pr_auc", average_precision_score)):
            b_, a_ = (np.mean([metric(labels[r, j], x[r, j]) for j in ok]) for x in (strong, weak))
            diffs[key].append(b_ - a_)
    for key in diffs:
        want = np.percentile(diffs[key], [2.5, 97.5])
        assert res[key]["interval"] == pytest.approx(want, abs=1e-9)
    clips = compare_runs(a, b, "test", 400, 5, "clip")
    assert (clips["unit"], clips["n_units"]) == ("clip", 120)
    assert _width(clips["roc_auc"], "interval") < _width(res["roc_auc"], "interval")
    code, out, _ = run_cli(capsys, "compare", a, b, "--resamples", "200")
    assert code == 0 and "120 test clips of 30 songs; paired bootstrap over songs" in out
    code, out, _ = run_cli(capsys, "compare", a, b, "--resamples", "200", "--cluster", "artist")
    assert code == 0 and "of 30 artists; paired bootstrap over artists" in out

    regrouped = songs.copy()
    regrouped[:2] = "song 99"  # the same clips, grouped otherwise
    other = _run(tmp_path / "c", strong, labels, ids, regrouped)
    with pytest.raises(CompareError, match="group the same clips into other songs"):
        compare_runs(a, other, "test", 100, 0, "auto")
    older = _run(tmp_path / "d", strong, labels, ids)  # a run saved before the units
    with pytest.raises(CompareError, match="draws songs, .*d/predictions.npz names no units"):
        compare_runs(a, older, "test", 100, 0, "auto")
    with pytest.raises(CompareError, match="has no song of its clips .*none"):
        compare_runs(older, a, "test", 100, 0, "song")
    assert compare_runs(a, older, "test", 100, 0, "clip")["unit"] == "clip"
    code, _, err = run_cli(capsys, "compare", a, older)
    assert code == 2 and "--cluster clip" in err


def test_runs_record_the_unit_of_their_interval_and_check_it_before_training(tmp_path):
    """A baseline on an MTAT corpus whose test clips come 2-3 to a song: results.json's
    interval drew the songs; predictions.npz keeps them for `autotag compare`."""
    root = write_mini_mtat(tmp_path / "mtat", n_clips=48, seconds=3.0)
    # clip i is in folder i % 16 (test: d-f); clips of one folder and half of the corpus
    # share a song
    credits: dict = {i: ("1", f"song {i % 16}-{i // 24}", "artist", "album") for i in range(48)}
    _rewrite_clip_info(root, credits)
    test = [i for i in range(48) if i % 16 >= 13]
    n_songs = len({credits[i][1] for i in test})
    assert (len(test), n_songs) == (9, 6)
    base = [o for o in mini_overrides(root, tmp_path / "stores") if not o.startswith("model.")]
    base += ["model=knn", "model.n_neighbors=5", "model.n_jobs=1"]
    res = train_run(base, tmp_path / "knn")
    interval = json.loads((tmp_path / "knn" / "results.json").read_text())["test"]["interval"]
    assert interval == res["test"]["interval"]
    assert (interval["unit"], interval["n_units"]) == ("song", n_songs)
    z = np.load(tmp_path / "knn" / "predictions.npz")
    assert [str(u) for u in z["units"]] == ["song", "album", "artist"]
    titles = {2 + 3 * i: credits[i][1] for i in range(48)}
    assert _same_partition(z["test_unit_song"], [titles[c] for c in z["test_clip_ids"].tolist()])
    clip = train_run([*base, "bootstrap.cluster=clip"], tmp_path / "clip")["test"]["interval"]
    assert (clip["unit"], clip["n_units"]) == ("clip", 9)
    with pytest.raises(ValueError, match="bootstrap.cluster='genre': choose auto, clip, song"):
        train_run([*base, "bootstrap.cluster=genre"], tmp_path / "genre")
    assert not (tmp_path / "genre" / "results.json").exists()
