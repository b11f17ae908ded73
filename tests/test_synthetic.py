"""Tests of the synthetic MagnaTagATune generator (autotag.data.synthetic)."""

from __future__ import annotations

import csv
import json
import re
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from autotag.data import synthetic as syn
from autotag.data.datasets.mtat import layout
from autotag.data.datasets.mtat import synth as mtat_synth
from autotag.data.datasets.mtat.synth_plan import corpus_plan
from autotag.data.synthetic import cli as synthetic_cli

N_CLIPS, SECONDS, SEED = 48, 4.0, 3
NAME = re.compile(r"^([0-9a-f])/([a-z0-9_]+)-([a-z0-9_]+)-(\d\d)-([a-z0-9_]+)-(\d+)-(\d+)\.mp3$")
QUOTED_LINE = re.compile(r'^"[^"\t]*"(\t"[^"\t]*")*$')


def read_tsv(path: Path) -> tuple[list[str], list[list[str]]]:
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f, delimiter="\t"))
    return rows[0], rows[1:]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    root = tmp_path_factory.mktemp("mtat")
    summary = mtat_synth.generate(root, N_CLIPS, SECONDS, seed=SEED, workers=2, progress=False)
    return root, summary


@pytest.fixture(scope="module")
def corpus_serial(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same corpus made by a single process (determinism across worker counts)."""
    root = tmp_path_factory.mktemp("mtat_serial")
    mtat_synth.generate(root, N_CLIPS, SECONDS, seed=SEED, workers=1, progress=False)
    return root


def test_top50_and_resources() -> None:
    tags = syn.tag_names()
    assert len(tags) == 188 and list(tags) == sorted(tags)
    top = syn.top50_tags()
    assert len(top) == 50 and top[0] == "guitar" and top[-1] == "choral"
    # the tie at the cut ("female voice" == "metal" == 505 clips) is broken by column order
    assert syn.real_tag_counts()["female voice"] == syn.real_tag_counts()["metal"]
    assert top.index("female voice") < top.index("metal")


def test_layout_and_names(corpus: tuple[Path, dict]) -> None:
    root, summary = corpus
    _, rows = read_tsv(root / layout.ANNOTATIONS)
    paths = [r[-1] for r in rows]
    assert len(paths) == len(set(paths)) == N_CLIPS
    album_folders: dict[tuple[str, str], set[str]] = {}
    for path in paths:
        m = NAME.match(path)
        assert m, path
        folder, artist, album, _, _, start, end = m.groups()
        assert int(end) - int(start) == 29 and int(start) % 30 == 0
        album_folders.setdefault((artist, album), set()).add(folder)
    assert all(len(f) == 1 for f in album_folders.values()), "every album sits in one folder"
    counts = summary["folders"]
    assert sorted(counts) == list(layout.FOLDERS) and sum(counts.values()) == N_CLIPS
    assert min(counts.values()) >= 1, "every folder gets clips"
    assert {p.name for p in root.iterdir() if p.is_dir()} == set(layout.FOLDERS)
    assert not list(root.glob("*/.*.tmp")), "no temporary files left behind"


def test_annotations_format(corpus: tuple[Path, dict]) -> None:
    root, _ = corpus
    text = (root / layout.ANNOTATIONS).read_text(encoding="utf-8")
    lines = text.splitlines()
    assert all(QUOTED_LINE.match(line) for line in lines), "tab-separated, every field quoted"
    header, rows = read_tsv(root / layout.ANNOTATIONS)
    assert header == ["clip_id", *syn.tag_names(), "mp3_path"]
    assert len(rows) == N_CLIPS and all(len(r) == 190 for r in rows)
    ids = [int(r[0]) for r in rows]
    assert ids[0] == 2 and all(b > a for a, b in zip(ids, ids[1:], strict=False))
    assert any(b - a > 1 for a, b in zip(ids, ids[1:], strict=False)), "ids have gaps"
    assert {v for r in rows for v in r[1:-1]} <= {"0", "1"}


def test_clip_info_format(corpus: tuple[Path, dict]) -> None:
    root, _ = corpus
    lines = (root / layout.CLIP_INFO).read_text(encoding="utf-8").splitlines()
    assert all(QUOTED_LINE.match(line) for line in lines)
    header, rows = read_tsv(root / layout.CLIP_INFO)
    assert tuple(header) == layout.CLIP_INFO_COLUMNS
    _, ann = read_tsv(root / layout.ANNOTATIONS)
    assert [(r[0], r[-1]) for r in rows] == [(r[0], r[-1]) for r in ann]
    for _, track, title, artist, album, url, start, end, original, path in rows:
        _, _, _, track_in_path, _, start_in_path, end_in_path = NAME.match(path).groups()
        assert int(track) == int(track_in_path) and (start, end) == (start_in_path, end_in_path)
        assert title and artist and album
        assert url.startswith("http://www.magnatune.com/artists/albums/")
        assert original.startswith("http://he3.magnatune.com/all/") and original.endswith(".mp3")


def test_broken_entries(corpus: tuple[Path, dict]) -> None:
    root, summary = corpus
    info = json.loads((root / layout.INFO).read_text())
    broken = info["broken_clip_ids"]
    assert set(broken) == set(layout.BROKEN_KINDS) and broken == summary["broken_clip_ids"]
    _, rows = read_tsv(root / layout.ANNOTATIONS)
    path_of = {int(r[0]): root / r[-1] for r in rows}
    _, info_rows = read_tsv(root / layout.CLIP_INFO)
    assert set(broken.values()) <= {int(r[0]) for r in info_rows}, "listed in both CSVs"
    for clip_id in broken.values():
        assert path_of[clip_id].parent.name in layout.TRAIN_FOLDERS
    assert path_of[broken["empty"]].stat().st_size == 0
    assert not path_of[broken["missing"]].exists()
    assert path_of[broken["not_mp3"]].read_bytes().startswith(b"This is not an MP3")
    truncated = path_of[broken["truncated"]].read_bytes()
    assert len(truncated) == 1024 and truncated[:2] == b"\xff\xf3"  # an mp3 frame header
    for kind in ("empty", "not_mp3", "missing"):
        with pytest.raises(sf.LibsndfileError):
            sf.read(path_of[broken[kind]])
    try:
        audio, _ = sf.read(path_of[broken["truncated"]])
        assert len(audio) < 16000 * SECONDS / 2
    except sf.LibsndfileError:
        pass


def test_audio_is_16k_mono_of_requested_length(corpus: tuple[Path, dict]) -> None:
    root, summary = corpus
    _, rows = read_tsv(root / layout.ANNOTATIONS)
    broken = set(summary["broken_clip_ids"].values())
    good = [root / r[-1] for r in rows if int(r[0]) not in broken]
    assert len(good) == N_CLIPS - len(layout.BROKEN_KINDS)
    for path in good[:: len(good) // 8]:
        info = sf.info(path)
        assert info.samplerate == 16000 and info.channels == 1 and info.format == "MP3"
        audio, sr = sf.read(path, dtype="float32")
        # LAME adds its encoder delay and frame padding (< 2 frames of 1152 samples)
        assert audio.ndim == 1 and 0 <= len(audio) - SECONDS * sr <= 2 * 1152
        assert 0.0005 < float(np.sqrt(np.mean(audio**2))) < 0.7 and np.abs(audio).max() <= 1.0


def test_deterministic_across_worker_counts(corpus: tuple[Path, dict], corpus_serial: Path) -> None:
    root, _ = corpus
    for name in (layout.ANNOTATIONS, layout.CLIP_INFO):
        assert (root / name).read_bytes() == (corpus_serial / name).read_bytes()
    _, rows = read_tsv(root / layout.ANNOTATIONS)
    for r in rows[::5]:
        a, b = root / r[-1], corpus_serial / r[-1]
        assert a.exists() == b.exists()
        if a.exists() and a.stat().st_size > 1024:
            same_bytes = a.read_bytes() == b.read_bytes()
            assert same_bytes or np.array_equal(sf.read(a)[0], sf.read(b)[0])


def test_rerun_is_quick_and_resume_fills_gaps(corpus_serial: Path) -> None:
    root = corpus_serial
    again = mtat_synth.generate(root, N_CLIPS, SECONDS, seed=SEED, workers=1, progress=False)
    assert again["generated"] == 0 and again["skipped"] == N_CLIPS
    _, rows = read_tsv(root / layout.ANNOTATIONS)
    victim = root / rows[-1][-1]
    original = sf.read(victim)[0]
    annotations = (root / layout.ANNOTATIONS).read_bytes()
    victim.unlink()
    (root / layout.ANNOTATIONS).unlink()  # an interrupted run leaves no CSVs behind
    info = json.loads((root / layout.INFO).read_text())
    (root / layout.INFO).write_text(json.dumps({"params": info["params"], "complete": False}))
    resumed = mtat_synth.generate(root, N_CLIPS, SECONDS, seed=SEED, workers=1, progress=False)
    assert resumed["generated"] == 1
    assert (root / layout.ANNOTATIONS).read_bytes() == annotations
    assert np.array_equal(sf.read(victim)[0], original)
    with pytest.raises(FileExistsError):
        mtat_synth.generate(root, N_CLIPS, SECONDS, seed=SEED + 1, workers=1, progress=False)


def test_cli_without_broken_entries(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["--root", str(tmp_path), "--clips", "20", "--seconds", "2", "--workers", "1"]
    assert synthetic_cli.main([*argv, "--no-broken", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "top-50 labels per clip" in out and "clips without a top-50 tag" in out
    info = json.loads((tmp_path / layout.INFO).read_text())
    assert info["complete"] and info["broken_clip_ids"] == {}
    _, rows = read_tsv(tmp_path / layout.ANNOTATIONS)
    for r in rows:
        assert 0 <= len(sf.read(tmp_path / r[-1])[0]) - 32000 <= 2 * 1152  # LAME padding


@pytest.mark.parametrize("sr", [16000, 22050])
def test_every_source_renders(sr: int) -> None:
    plans, _ = corpus_plan(16, seed=0, broken=False)
    for genre, pace in (("rock", "fast"), ("indian", "slow"), ("jazz", "medium"), ("pop", "fast")):
        plan = replace(plans[0], genre=genre, pace=pace, sources=tuple(syn.SOURCES), featured=None)
        audio = syn.synthesize(plan, 3 * sr, sr, seed=0)
        assert audio.shape == (3 * sr,) and audio.dtype == np.float32
        assert np.isfinite(audio).all() and 0.01 < np.abs(audio).max() <= 0.99
    for source in syn.SOURCES:  # each source alone makes sound
        plan = replace(plans[0], sources=(source,), featured=source, dynamics="normal")
        audio = syn.synthesize(plan, 3 * sr, sr, seed=1)
        assert np.sqrt(np.mean(audio**2)) > 0.02, source


def test_voices_are_pitched_apart() -> None:
    """Male singers (fundamental ~100-185 Hz) put energy below 200 Hz, female singers do not."""
    plan = corpus_plan(16, seed=0, broken=False)[0][0]
    sr, n = 16000, 4 * 16000
    freq = np.fft.rfftfreq(n, 1 / sr)
    low_share = {}
    for voice in ("voice_male", "voice_female"):
        solo_voice = replace(plan, sources=(voice,), featured=voice, dynamics="normal")
        power = np.abs(np.fft.rfft(syn.synthesize(solo_voice, n, sr, seed=1))) ** 2
        low = power[(freq > 80) & (freq < 200)].sum()
        low_share[voice] = low / power[(freq > 80) & (freq < 600)].sum()
    assert low_share["voice_male"] > 0.2 and low_share["voice_female"] < 0.05


def test_tag_statistics_follow_mtat() -> None:
    """On a medium corpus (labels only, no audio) the top-50 statistics look like MTAT's."""
    n = 4000
    plans, _ = corpus_plan(n, seed=1)
    labels = syn.sample_labels(plans, seed=1, label_drop=0.2)
    stats = syn.tag_statistics(labels, n)
    assert 2.3 < stats["mean_top50_per_clip"] < 3.1
    assert 0.12 < stats["frac_no_top50"] < 0.24
    assert stats["freq_correlation"] > 0.95
    observed = np.array([o for o, _ in stats["top50"].values()])
    expected = np.array([e for _, e in stats["top50"].values()])
    assert (observed > 0).all()
    assert np.median(observed / expected) == pytest.approx(1.0, abs=0.15)
    # label drop: no drop gives about 1 / (1 - 0.2) times as many labels
    full = syn.sample_labels(plans, seed=1, label_drop=0.0)
    assert full.sum() / labels.sum() == pytest.approx(1.25, rel=0.05)
    # every folder holds a mix of tags (split is by folder)
    folders = np.array([p.path[0] for p in plans])
    for f in layout.FOLDERS:
        assert stats_in_folder(labels[folders == f]) >= 40


def stats_in_folder(labels: np.ndarray) -> int:
    """How many top-50 tags occur in a set of clips."""
    cols = [syn.tag_names().index(t) for t in syn.top50_tags()]
    return int((labels[:, cols].sum(axis=0) > 0).sum())


def summary_features(path: Path) -> np.ndarray | None:
    """40-band log-mel (16 kHz, n_fft 1024, hop 512, f_max 8 kHz) summarised per band: mean,
    std and mean absolute frame difference, plus the normalised onset modulation spectrum."""
    import torch
    import torchaudio

    try:
        audio, sr = sf.read(path, dtype="float32")
    except sf.LibsndfileError:
        return None
    if len(audio) < sr:
        return None
    mel = torchaudio.transforms.MelSpectrogram(
        sr, n_fft=1024, hop_length=512, n_mels=40, f_max=8000
    )
    m = torchaudio.transforms.AmplitudeToDB(top_db=80)(mel(torch.from_numpy(audio))).numpy()
    onset = np.maximum(np.diff(m, axis=1), 0).mean(axis=0)
    power = np.abs(np.fft.rfft(onset - onset.mean())) ** 2
    freq = np.fft.rfftfreq(len(onset), 512 / sr)
    edges = (0.25, 0.5, 1, 2, 4, 8, 16)
    mod = np.array([power[(freq >= a) & (freq < b)].sum() for a, b in zip(edges, edges[1:])])
    flux = np.abs(np.diff(m, axis=1)).mean(axis=1)
    return np.concatenate([m.mean(1), m.std(1), flux, np.log(mod / mod.sum() + 1e-6)])


def learnability(root: Path) -> tuple[float, dict[str, float]]:
    """Macro ROC-AUC over top-50 tags of a logistic regression on summary features, trained on
    folders 0-b and tested on d-f."""
    import torch
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.preprocessing import StandardScaler

    header, rows = read_tsv(root / layout.ANNOTATIONS)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:  # later tests in this process keep their thread count
        feats = [summary_features(root / r[-1]) for r in rows]
    finally:
        torch.set_num_threads(threads)
    keep = [i for i, f in enumerate(feats) if f is not None]
    x = np.array([feats[i] for i in keep])
    cols = [header.index(t) for t in syn.top50_tags()]
    y = np.array([[int(rows[i][c]) for c in cols] for i in keep])
    folder = np.array([rows[i][-1][0] for i in keep])
    train, test = np.isin(folder, list(layout.TRAIN_FOLDERS)), np.isin(folder, list("def"))
    scaler = StandardScaler().fit(x[train])
    aucs = {}
    for j, tag in enumerate(syn.top50_tags()):
        if y[train, j].sum() < 2 or y[test, j].sum() == 0:
            continue
        clf = LogisticRegression(C=0.1, max_iter=3000).fit(scaler.transform(x[train]), y[train, j])
        aucs[tag] = roc_auc_score(y[test, j], clf.decision_function(scaler.transform(x[test])))
    return float(np.mean(list(aucs.values()))), aucs


@pytest.mark.slow
def test_tags_are_learnable(tmp_path: Path) -> None:
    """Summary features + logistic regression learn the top-50 tags well above chance."""
    mtat_synth.generate(tmp_path, 400, 10.0, seed=0, progress=False)
    macro, aucs = learnability(tmp_path)
    assert len(aucs) >= 35
    assert macro > 0.75, sorted(aucs.items(), key=lambda kv: kv[1])[:5]
