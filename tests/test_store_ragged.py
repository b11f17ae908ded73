"""Stores of whole tracks (excerpt policies full / center / k_random), their crops and evaluation
chunks, and the sharded prepare (two shards through Hydra's submitit_local launcher)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
import torchaudio

from autotag.data import prepare as prepare_mod
from autotag.data.crops import ragged_chunks, ragged_crop
from autotag.data.datasets.jamendo.reader import read_jamendo
from autotag.data.excerpt import Excerpt
from autotag.data.features import FeatureConfig
from autotag.data.labelled import LabelledStore
from autotag.data.parts import STALE_LOCK_S
from autotag.data.prepare import build_store
from autotag.data.store import MelStore, is_complete
from tests.helpers import assert_same_store, write_mini_jamendo

READ = dict(subset="top50tags", split_index=0, categories=None, audio="audio", audio_root=None)
READ |= dict(missing_audio="error")
POLICY = dict(policy="full", seconds=2.0, k=3, max_minutes=10.0, seed=7)
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def mini_jamendo(tmp_path_factory) -> Path:
    return write_mini_jamendo(tmp_path_factory.mktemp("mini_jamendo"), n_tracks=24)


@pytest.fixture(scope="module")
def features(mini_features) -> FeatureConfig:
    return FeatureConfig.from_dict(mini_features)


def _build(root, features, path, workers=0, **policy) -> LabelledStore:
    excerpt = Excerpt.from_dict({**POLICY, **policy})
    manifest = read_jamendo(root, **READ)
    build_store(manifest, features, path, workers=workers, shard_size=5,
                min_audio_seconds=1.0, progress=False, excerpt=excerpt)  # fmt: skip
    return LabelledStore(path, manifest)


def _db_mel(x: np.ndarray, f: FeatureConfig) -> np.ndarray:
    """The features written out with torchaudio: dB of the power mel, centred frames."""
    mel = torchaudio.transforms.MelSpectrogram(
        f.sample_rate, n_fft=f.n_fft, hop_length=f.hop_length, f_min=f.f_min, f_max=f.f_max,
        n_mels=f.n_mels, power=2.0, norm=f.mel_norm, mel_scale=f.mel_scale, center=True,
    )(torch.from_numpy(x))  # fmt: skip
    return (10 * torch.log10(torch.clamp(mel, min=f.amin))).numpy()


def _decoded(path: str, sr: int) -> np.ndarray:
    x, rate = sf.read(path, dtype="float32", always_2d=True)
    assert rate == sr
    return x.mean(axis=1)


def test_full_tracks_are_stored_whole_and_statistics_cover_every_training_frame(
    mini_jamendo, features, tmp_path
):
    store = _build(mini_jamendo, features, tmp_path / "full.h5")
    assert store.ragged and len(store) == 24
    train = []
    for i in range(len(store)):
        x = _decoded(store.paths[i], features.sample_rate)
        ((col, frames),) = store.segments_of(i)
        assert frames == 1 + len(x) // features.hop_length
        expected = _db_mel(x, features).astype(np.float16)
        np.testing.assert_allclose(store.mel(i), expected, atol=0.07)  # mp3 decoders differ a hair
        if store.split[i] == "train":
            train.append(store.mel(i).astype(np.float64))
    frames = np.concatenate(train, axis=1)
    np.testing.assert_allclose(store.stats["band_mean"], frames.mean(axis=1), rtol=1e-9)
    np.testing.assert_allclose(store.stats["band_std"], frames.std(axis=1), rtol=1e-6)
    assert store.stats["global_mean"] == pytest.approx(frames.mean())
    assert store.stats["n_values"] == frames.size


def test_k_random_excerpts_are_drawn_from_the_seed_and_the_track_id(
    mini_jamendo, features, tmp_path
):
    store = _build(mini_jamendo, features, tmp_path / "k.h5", policy="k_random")
    length = 2 * features.sample_rate
    for i in range(len(store)):
        x = _decoded(store.paths[i], features.sample_rate)
        rng = np.random.default_rng([7, int(store.clip_ids[i])])
        starts = np.sort(rng.integers(0, len(x) - length + 1, size=3))
        segs = store.segments_of(i)
        assert len(segs) == 3
        for (col, frames), s in zip(segs, starts):
            expected = _db_mel(x[s : s + length], features).astype(np.float16)
            assert frames == expected.shape[-1]
            np.testing.assert_allclose(store.read(col, 0, frames), expected, atol=0.07)
    # fewer evaluation chunks than excerpts: one in each of the excerpts spread over the track
    segs = store.segments_of(0)
    first = [store.read(c, (f - 10) // 2, 10) for c, f in segs]  # one chunk: a segment's centre
    np.testing.assert_array_equal(
        ragged_chunks(store, 0, 10, 2), np.concatenate([first[0], first[2]], axis=1)
    )
    np.testing.assert_array_equal(ragged_chunks(store, 0, 10, 1), first[1])
    centre = _build(mini_jamendo, features, tmp_path / "c.h5", policy="center")
    assert all(centre.segments_of(i)[0, 1] == 1 + length // features.hop_length for i in range(24))


def test_crops_come_from_anywhere_in_the_track_and_chunks_are_spread_over_it(
    mini_jamendo, features, tmp_path
):
    store = _build(mini_jamendo, features, tmp_path / "full.h5")
    i = int(np.argmax([store.frames(j) for j in range(len(store))]))
    whole = store.mel(i)
    length = 40
    starts = set()
    rng = np.random.RandomState(0)
    for _ in range(400):
        crop = ragged_crop(store, i, length, rng)
        hits = [
            s
            for s in range(whole.shape[1] - length + 1)
            if np.array_equal(whole[:, s : s + length], crop)
        ]
        assert hits
        starts.update(hits)
    assert len(starts) > 0.4 * (whole.shape[1] - length + 1)  # 400 draws over 514 starts

    class Edge:  # the smallest or the largest draw
        def __init__(self, last: bool) -> None:
            self.last = last

        def randint(self, lo: int, hi: int) -> int:
            return hi - 1 if self.last else lo

    np.testing.assert_array_equal(ragged_crop(store, i, length, Edge(False)), whole[:, :length])
    np.testing.assert_array_equal(ragged_crop(store, i, length, Edge(True)), whole[:, -length:])
    n = 5
    chunks = ragged_chunks(store, i, length, n)
    span = whole.shape[1] - length
    expected = [whole[:, round(k * span / (n - 1)) :][:, :length] for k in range(n)]
    np.testing.assert_array_equal(chunks, np.concatenate(expected, axis=1))
    # a track shorter than the chunk: padded with its floor, repeated n times
    short = ragged_chunks(store, i, whole.shape[1] + 10, 2)
    assert short.shape == (whole.shape[0], 2 * (whole.shape[1] + 10))
    np.testing.assert_array_equal(short[:, 5 : 5 + whole.shape[1]], whole)


def test_a_killed_shard_reruns_alone_and_the_last_shard_assembles(
    mini_jamendo, features, tmp_path, monkeypatch
):
    ref = _build(mini_jamendo, features, tmp_path / "one.h5")
    m, ex = read_jamendo(mini_jamendo, **READ), Excerpt.from_dict(POLICY)
    target = tmp_path / "sharded.h5"
    run = dict(
        workers=0, shard_size=5, min_audio_seconds=1.0, progress=False, excerpt=ex, num_shards=2
    )
    processed: list[int] = []
    real = prepare_mod.unit_worker.process_unit
    monkeypatch.setattr(
        prepare_mod.unit_worker, "process_unit", lambda t: processed.append(t[0]) or real(t)
    )
    build_store(m, features, target, shard=0, **run)  # units 0, 2, 4 of 5
    parts = target.with_suffix(".parts")
    assert processed == [0, 2, 4] and not target.exists()
    (parts / "shard-000002.npz").unlink()  # shard 0 was killed before its unit 2 was kept
    build_store(m, features, target, shard=1, **run)
    assert processed[3:] == [1, 3] and not target.exists()  # unit 2 missing: no assembly
    build_store(m, features, target, shard=0, **run)
    assert processed[5:] == [2] and is_complete(target) and not parts.exists()
    assert_same_store(ref.path, target)


def test_two_shards_through_submitit_local_equal_the_single_process_store(mini_jamendo, tmp_path):
    common = [
        "data=jamendo", f"data.root={mini_jamendo}", "features=won96", "store.shard_size=4",
        "store.min_audio_seconds=1.0", "store.workers=1",
    ]  # fmt: skip
    env = {"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", "HYDRA_FULL_ERROR": "1"}
    single = subprocess.run(
        [sys.executable, "-m", "autotag.prepare", *common, f"store.dir={tmp_path / 'one'}",
         f"hydra.run.dir={tmp_path / 'run'}"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert single.returncode == 0, single.stderr[-3000:]
    sharded = subprocess.run(
        [sys.executable, "-m", "autotag.prepare", "-m", *common,
         f"store.dir={tmp_path / 'two'}", "hydra/launcher=local", "store.num_shards=2",
         "store.shard=0,1", f"hydra.sweep.dir={tmp_path / 'multirun'}"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert sharded.returncode == 0, sharded.stderr[-3000:]
    (one,) = (tmp_path / "one").glob("*.h5")
    (two,) = (tmp_path / "two").glob("*.h5")
    assert one.name == two.name and MelStore(two).ragged
    assert_same_store(one, two)
    logs = "".join(p.read_text() for p in (tmp_path / "multirun").rglob("*_log.out"))
    # one task assembled (the other said so; both say "ready" if it finished before the check)
    assert "store ready" in logs and logs.count("of 2 prepared") <= 1, logs


def test_a_crash_during_assembly_frees_the_lock_and_a_stale_lock_is_taken_over(
    mini_jamendo, features, tmp_path, monkeypatch
):
    m, ex = read_jamendo(mini_jamendo, **READ), Excerpt.from_dict(POLICY)
    target = tmp_path / "s.h5"
    run = dict(workers=0, shard_size=5, min_audio_seconds=1.0, progress=False, excerpt=ex)
    real = prepare_mod.assemble

    def crash(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(prepare_mod, "assemble", crash)
    build_store(m, features, target, shard=1, num_shards=2, **run)
    with pytest.raises(OSError, match="disk full"):  # the last to finish assembles, and fails
        build_store(m, features, target, shard=0, num_shards=2, **run)
    lock = target.with_suffix(".parts") / "assemble.lock"
    assert not lock.exists()  # released: the rerun assembles
    monkeypatch.setattr(prepare_mod, "assemble", real)
    lock.write_text("otherhost.123 since yesterday")  # a live task elsewhere...
    build_store(m, features, target, shard=1, num_shards=2, **run)
    assert not target.exists()  # ...so this shard task leaves the assembly to it
    with pytest.raises(RuntimeError, match="otherhost.123 since yesterday is assembling"):
        build_store(m, features, target, **run)
    old = 2 * STALE_LOCK_S
    os.utime(lock, (lock.stat().st_atime - old, lock.stat().st_mtime - old))  # killed long ago
    build_store(m, features, target, **run)
    assert is_complete(target) and not lock.parent.exists()
