"""The Tagger: rebuilt from tagger.pt, the same features and predictions as training, any registered network, older files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from autotag.data.audio import window_starts
from autotag.inference import Tagger, TaggerError
from tests.helpers import MTAT, SR, TONE_TAGS, band_mean_arch, tone


def test_load_rebuilds_the_saved_model(model, tagger):
    blob = torch.load(model, weights_only=True)
    assert tagger.tag_names == blob["tag_names"] == list(TONE_TAGS)
    np.testing.assert_allclose(tagger.thresholds, blob["thresholds"], rtol=1e-6)
    assert tagger.features.n_mels == 24 and tagger.front.window_samples == 3 * SR
    assert len(tagger.sha256) == 64 and tagger.embedding_dim == tagger.net.embedding_dim


def test_tagger_gives_the_trained_modules_test_predictions(tagger, tagger_run, mini_mtat):
    """The Tagger rebuilt from tagger.pt scores the store's test rows as the LightningModule
    did in ``trainer.test`` (saved by the run in predictions.npz)."""
    from tests.helpers import labelled

    res = json.loads((tagger_run / "results.json").read_text())
    saved = np.load(tagger_run / "predictions.npz")
    assert list(saved["tag_names"]) == tagger.tag_names
    store = labelled(res["store"], mini_mtat)
    rows = store.indices("test")
    np.testing.assert_array_equal(saved["test_clip_ids"], store.clip_ids[rows])
    probs, _ = tagger.predict_mels(store.mels(rows).astype(np.float32))
    np.testing.assert_allclose(probs, saved["test_scores"], atol=1e-5)


def test_store_and_tagger_compute_identical_features(tagger, mini_store, mini_mtat):
    """One audio→features path: a file through `prepare` and through the Tagger."""
    from autotag.data.datasets.mtat.reader import read_mtat
    from autotag.data.store import MelStore

    store, manifest = MelStore(mini_store), read_mtat(mini_mtat, **MTAT)
    assert store.features.digest() == tagger.features.digest()  # every value-changing field
    for row in (0, 77, 159):
        path = manifest.paths[row]
        song = tagger.front.song_mels(tagger.front.load(path))  # what tag_file computes
        assert song.shape == (1, *store.mel(row).shape)
        np.testing.assert_array_equal(song[0].astype(np.float16), store.mel(row))


def test_windows_cover_the_song(tagger):
    assert window_starts(100, 30, 30, max_unheard=10) == [5, 35, 65]  # a centred grid
    # 10 samples would go unheard: one more window, spread from the first sample to the last
    assert window_starts(100, 30, 30, max_unheard=9) == [0, 23, 47, 70]
    assert window_starts(100, 30, 20, max_unheard=0) == [0, 18, 35, 52, 70]
    assert window_starts(30, 30, 10, 0) == [0] and window_starts(10, 30, 10, 0) == [0]
    assert window_starts(31, 30, 30, max_unheard=1) == [0]  # MTAT-like: one centre crop
    for n, win, hop in ((58, 29, 29), (1000, 291, 291), (1000, 291, 100), (77, 30, 7)):
        starts = window_starts(n, win, hop, 0)
        assert starts[0] == 0 and starts[-1] + win == n  # from the first sample to the last
        assert all(b - a <= hop for a, b in zip(starts, starts[1:]))  # no gap
    front = tagger.front
    w = front.windows(np.arange(SR, dtype=np.float32))  # 1 s → one padded 3 s window
    assert w.shape == (1, 3 * SR) and w[0, SR] == 0 and w[0, -1] == 0
    assert front.song_mels(tone(60.0)).shape == (20, 24, 188)
    assert front.song_mels(tone(60.0), hop_seconds=1.5).shape == (39, 24, 188)


def crashing_decode(path: str):
    """A decoding task whose process dies on files named *crash* (a decoder segfault)."""
    import os

    from autotag.inference.decode import _decode_in_worker

    if "crash" in Path(path).name:
        os._exit(3)
    return _decode_in_worker(path)


def test_a_decoder_crash_fails_only_that_file(tagger, mini_mtat, tmp_path):
    from autotag.inference.decode import decode_files

    good = sorted((mini_mtat / "4").glob("*.mp3"))[:6]
    crash = tmp_path / "crash.mp3"
    crash.write_bytes(good[0].read_bytes())
    paths = [str(p) for p in [*good[:3], crash, *good[3:]]]
    out = list(decode_files(tagger.front, paths, workers=2, prefetch=2, task=crashing_decode))
    assert [d.path for d in out] == paths
    errors = [d.error for d in out]
    assert [e is None for e in errors] == [p != str(crash) for p in paths], errors
    assert "decoder crashed" in out[3].error and str(crash) in out[3].error
    # a worker computes with one torch thread, this process with more: float32 rounding may differ
    ref = tagger.front.song_mels(tagger.front.load(good[0]))
    np.testing.assert_allclose(out[0].mels, ref, rtol=1e-6, atol=1e-4)


def test_a_decoder_crash_while_the_consumer_is_busy_fails_only_that_file(
    tagger, mini_mtat, tmp_path
):
    """The pool breaks between two submissions (the consumer is slow): the next submission finds
    it broken, and the files in flight are still retried one by one."""
    import time

    from autotag.inference.decode import decode_files

    good = sorted((mini_mtat / "4").glob("*.mp3"))[:4]
    crash = tmp_path / "crash.mp3"
    crash.write_bytes(good[0].read_bytes())
    paths = [str(p) for p in [good[0], crash, *good[1:]]]
    out = []
    for d in decode_files(tagger.front, paths, workers=2, prefetch=1, task=crashing_decode):
        out.append(d)
        time.sleep(1.0)  # the crash kills the pool while this consumer works
    assert [d.path for d in out] == paths
    assert [d.error is None for d in out] == [p != str(crash) for p in paths], out
    assert "decoder crashed" in out[1].error


def test_the_song_pool_tags_like_this_process_in_order(tagger, mini_mtat, tmp_path):
    """workers=2 on the CPU: forked workers tag groups of whole songs with one torch thread;
    the results come in input order, failures included, equal to the in-process path."""
    good = sorted((mini_mtat / "4").glob("*.mp3"))[:7]
    bad = tmp_path / "corrupt.mp3"
    bad.write_bytes(np.random.default_rng(0).bytes(3000))
    paths = [str(p) for p in [*good[:3], bad, *good[3:]]]
    pooled = list(tagger.tag_files(paths, workers=2))
    alone = list(tagger.tag_files(paths, workers=0))
    assert [s.path for s in pooled] == paths
    assert [s.ok for s in pooled] == [s.ok for s in alone] == [p != str(bad) for p in paths]
    assert "cannot decode" in pooled[3].error
    for a, b in zip(pooled, alone):
        if a.ok:  # one torch thread there, more here: float32 rounding may differ
            np.testing.assert_allclose(a.probs, b.probs, atol=1e-5)
            np.testing.assert_allclose(a.embedding, b.embedding, atol=1e-4)
            assert a.n_windows == b.n_windows and a.peak_dbfs == b.peak_dbfs


def test_two_song_pools_consumed_in_turn_keep_their_own_settings(tagger, mini_mtat):
    paths = [str(p) for p in sorted((mini_mtat / "4").glob("*.mp3"))[:6]]
    a = tagger.tag_files(paths, agg="mean", workers=2)
    b = tagger.tag_files(paths, hop=1.0, agg="max", workers=2)
    got_a, got_b = [], []
    for x, y in zip(a, b):  # both pools alive, their workers forked in turn
        got_a.append(x)
        got_b.append(y)
    for got, hop, agg in ((got_a, None, "mean"), (got_b, 1.0, "max")):
        alone = list(tagger.tag_files(paths, hop=hop, agg=agg, workers=0))
        assert [s.n_windows for s in got] == [s.n_windows for s in alone]
        for g, r in zip(got, alone):
            np.testing.assert_allclose(g.probs, r.probs, atol=1e-5)


def test_a_decoder_crash_in_the_song_pool_fails_only_that_file(
    tagger, mini_mtat, tmp_path, monkeypatch
):
    """The workers are forked: a decode that kills its process on *crash* files reaches them
    through the patched module; the group in flight is retried song by song."""
    import os

    import autotag.inference.tagger as tagger_module

    real = tagger_module.decode

    def crashing(front, path, hop):
        if "crash" in Path(path).name:
            os._exit(3)
        return real(front, path, hop)

    monkeypatch.setattr(tagger_module, "decode", crashing)
    good = sorted((mini_mtat / "4").glob("*.mp3"))[:9]
    crash = tmp_path / "crash.mp3"
    crash.write_bytes(good[0].read_bytes())
    paths = [str(p) for p in [*good[:4], crash, *good[4:]]]
    out = list(tagger.tag_files(paths, workers=2))
    assert [s.path for s in out] == paths
    assert [s.ok for s in out] == [p != str(crash) for p in paths], [s.error for s in out]
    assert "decoder crashed" in out[4].error and str(crash) in out[4].error


def test_the_gpu_path_decodes_in_a_pool_and_batches_here(tagger, mini_mtat, monkeypatch):
    """With the network off the CPU, workers only decode and this process runs the network
    (checked on the CPU by making the song pool unavailable, as it is on a GPU)."""
    import autotag.inference.tagger as tagger_module

    monkeypatch.setattr(tagger_module, "FORK", False)
    paths = [str(p) for p in sorted((mini_mtat / "4").glob("*.mp3"))[:5]]
    pooled = list(tagger.tag_files(paths, workers=2))
    alone = list(tagger.tag_files(paths, workers=0))
    assert [s.path for s in pooled] == paths and all(s.ok for s in pooled)
    for a, b in zip(pooled, alone):
        np.testing.assert_allclose(a.probs, b.probs, atol=1e-5)


def _faults_of_repeated_rounds(keep: bool) -> int:
    import resource

    from autotag.common.worker import keep_freed_memory

    if keep:
        assert keep_freed_memory()

    def one_round() -> None:  # two 72 MB tensors touched and freed: a layer's activations
        x = torch.ones(18 * 2**20)
        (x * 2).sum()

    one_round()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(9):
        one_round()
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before


def test_a_worker_reuses_freed_memory_instead_of_faulting_it_in_again():
    """By default glibc maps blocks over 32 MB afresh on every allocation (a page fault per
    4 kB: 9 rounds fault ~330,000 times); a worker set up by init_worker_process reuses them."""
    import multiprocessing as mp

    with mp.get_context("spawn").Pool(1) as pool:
        default = pool.apply(_faults_of_repeated_rounds, (False,))
    with mp.get_context("spawn").Pool(1) as pool:
        kept = pool.apply(_faults_of_repeated_rounds, (True,))
    assert default > 250_000 and kept < default / 2, (default, kept)


def test_resampled_stereo_files_get_the_same_features_in_store_and_tagger(
    tagger, mini_features, tmp_path
):
    """Decode, downmix, resample, crop and pad happen once: 22.05 kHz stereo files longer and
    shorter than the 3 s window give the store's rows exactly through the tagger's decode."""
    from autotag.data.features import FeatureConfig
    from autotag.data.manifest import Manifest
    from autotag.data.prepare import build_store
    from autotag.data.store import MelStore
    from autotag.inference.decode import decode

    paths = []
    for i, seconds in enumerate((3.4, 2.5, 3.0)):
        left, right = (
            tone(seconds, ("guitar",), sr=22050, seed=i),
            tone(seconds, ("slow",), sr=22050),
        )
        paths.append(str(tmp_path / f"song{i}.wav"))
        sf.write(paths[-1], np.stack([left, 0.5 * right], axis=1), 22050)
    manifest = Manifest(
        source="test",
        clip_ids=np.arange(3),
        paths=paths,
        rel_paths=[Path(p).name for p in paths],
        split=["train", "val", "test"],
        tag_names=["guitar"],
        labels=np.ones((3, 1), np.uint8),
    )
    path = build_store(manifest, FeatureConfig.from_dict(mini_features), tmp_path / "s.h5",
                       workers=0, shard_size=2, min_audio_seconds=1.0, progress=False)  # fmt: skip
    store = MelStore(path)
    assert list(store.status) == ["ok"] * 3
    for row, p in enumerate(paths):
        decoded = decode(tagger.front, p, None)  # what `autotag tag` does with the file
        assert decoded.mels.shape == (1, 24, 188)
        np.testing.assert_array_equal(decoded.mels[0].astype(np.float16), store.mel(row))


def test_a_tagger_file_of_format_1_still_loads(model, tagger, tmp_path):
    """tagger.pt files written before the redesign (the LightningModule's whole state, a norm
    without amin, a model config with `name`) load and tag as before."""
    from autotag.runs.tagger_file import read_tagger

    new = read_tagger(model)
    state = {f"net.{k}": v for k, v in new.weights.items()}
    state |= {
        "normalizer.global_mean": torch.tensor(new.norm["global_mean"]),
        "normalizer.global_std": torch.tensor(new.norm["global_std"]),
        "loss_fn.pos_weight": torch.ones(len(new.tag_names)),
    }
    old = {
        "format": "autotag-tagger/1",
        "autotag_version": "0.1.0",
        "state_dict": state,
        "config": new.config,
        "model": {"name": "fcn", "features": "stats", **new.model},  # a grid's key for rf
        "features": new.features,
        "norm": {k: new.norm[k] for k in ("mode", "global_mean", "global_std")},
        "tag_names": new.tag_names,
        "thresholds": new.thresholds,
        "input_shape": new.input_shape,
        "metrics": new.metrics,
    }
    torch.save(old, tmp_path / "v1.pt")
    legacy = Tagger.load(tmp_path / "v1.pt")
    assert legacy.normalizer.describe() == tagger.normalizer.describe()
    x = tone(7.0, ("techno",))
    np.testing.assert_array_equal(legacy.tag_audio(x).probs, tagger.tag_audio(x).probs)
    torch.save({**old, "format": "autotag-tagger/9"}, tmp_path / "v9.pt")
    with pytest.raises(TaggerError, match="newer than this autotag"):
        Tagger.load(tmp_path / "v9.pt")


def test_any_registered_network_tags_embeds_and_exports(tmp_path, mini_features):
    """The network contract (embed, head, embedding_dim, classifier) is all inference needs."""
    from autotag.inference.export import to_torchscript
    from autotag.runs.tagger_file import TaggerFile, write_tagger

    BandMean = band_mean_arch()
    torch.manual_seed(0)
    net = BandMean(24, 188, 4, hidden=5)
    norm = {"mode": "per_spec", "global_mean": 0.0, "global_std": 1.0, "eps": 1e-5, "amin": 1e-10}
    model = {"arch": "test_band_mean", "hidden": 5}
    tf = TaggerFile(model, net.state_dict(), mini_features, norm, list(TONE_TAGS),
                    [0.5] * 4, [24, 188])  # fmt: skip
    tagger = Tagger.load(write_tagger(tmp_path / "toy.pt", tf))
    x = tone(7.0, ("slow",))
    song = tagger.tag_audio(x)
    mels = torch.from_numpy(tagger.front.song_mels(x))
    with torch.no_grad():
        ref = torch.sigmoid(net(tagger.normalizer(mels))).mean(0).numpy()
    np.testing.assert_allclose(song.probs, ref, atol=1e-6)
    assert song.embedding.shape == (5,)
    exported = to_torchscript(tagger)
    windows = torch.from_numpy(tagger.front.windows(x))
    with torch.no_grad():
        probs = exported(windows).numpy()
    np.testing.assert_allclose(probs, tagger.predict_windows(windows), atol=1e-6)


def test_a_sound_only_at_the_end_is_heard(tagger):
    """8.5 s of faint noise whose last 1.2 s hold techno's tone: a centred grid of 3 s windows
    (two windows, 1.25 s left out at each end) would never hear the tone."""
    from autotag.data.audio import window_starts as starts_of

    rng = np.random.default_rng(0)
    quiet = 0.001 * rng.standard_normal(int(8.5 * SR)).astype(np.float32)
    song = quiet.copy()
    t = np.arange(int(1.2 * SR)) / SR
    song[-len(t) :] += 0.5 * np.sin(2 * np.pi * TONE_TAGS["techno"] * t).astype(np.float32)
    j = tagger.tag_names.index("techno")
    heard = tagger.tag_audio(song, agg="max")
    assert heard.n_windows == 3
    # what the centred grid alone would have given: the quiet song's level
    grid = starts_of(len(song), 3 * SR, 3 * SR, max_unheard=len(song))
    old = tagger.predict_mels(tagger.front.mels(np.stack([song[s : s + 3 * SR] for s in grid])))[0]
    assert old[:, j].max() < tagger.tag_audio(quiet, agg="max").probs[j] + 0.05
    assert heard.probs[j] > old[:, j].max() + 0.05, (heard.probs[j], old[:, j].max())  # 0.23, 0.14
