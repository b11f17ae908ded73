"""Log-mel features and the HDF5 store: values, statistics, broken files, resume."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest
import soundfile as sf
import torch
import torchaudio

from autotag.common.signal import crop_or_pad as center_crop_or_pad
from autotag.data import prepare as prepare_mod
from autotag.data.audio import AudioError, load_audio
from autotag.data.datasets.mtat.reader import read_mtat
from autotag.data.features import FeatureConfig, LogMel
from autotag.data.labelled import LabelledStore
from autotag.data.prepare import build_store
from autotag.data.store import MelStore, is_complete
from tests.helpers import MTAT, assert_same_store, write_mini_mtat

ROOT = Path(__file__).resolve().parents[1]


def test_logmel_matches_direct_stft_and_filterbank():
    cfg = FeatureConfig(
        name="t",
        sample_rate=16000,
        n_fft=1024,
        hop_length=512,
        n_mels=40,
        f_min=0.0,
        f_max=8000.0,
        clip_seconds=2.0,
        n_frames=63,
        mel_scale="slaney",
        mel_norm="slaney",
        amin=1e-10,
    )
    x = torch.randn(cfg.n_samples) * 0.1
    ours = LogMel(cfg)(x)
    spec = torch.stft(
        x,
        cfg.n_fft,
        cfg.hop_length,
        window=torch.hann_window(cfg.n_fft),
        center=True,
        pad_mode="reflect",
        return_complex=True,
    )
    power = spec.abs() ** 2
    fb = torchaudio.functional.melscale_fbanks(
        cfg.n_fft // 2 + 1,
        cfg.f_min,
        cfg.f_max,
        cfg.n_mels,
        cfg.sample_rate,
        norm="slaney",
        mel_scale="slaney",
    )
    ref = 10 * torch.log10(torch.clamp(fb.T @ power, min=1e-10))
    assert ours.shape == (40, 63) and ref.shape == (40, 63)
    torch.testing.assert_close(ours, ref, atol=1e-3, rtol=1e-4)


def test_presets_give_the_published_shapes():
    for name, shape in (("seed", (40, 909)), ("choi", (96, 1366))):
        import yaml

        d = yaml.safe_load((ROOT / "conf/features" / f"{name}.yaml").read_text())
        d.pop("defaults", None)
        if name == "choi":
            base = yaml.safe_load((ROOT / "conf/features/seed.yaml").read_text())
            d = {**base, **d}
        cfg = FeatureConfig.from_dict(d)
        raw = LogMel(cfg).mel(torch.zeros(cfg.n_samples)).shape
        assert LogMel(cfg)(torch.zeros(cfg.n_samples)).shape == shape
        assert abs(raw[-1] - shape[1]) <= 1  # n_frames only trims a frame the centred STFT adds


def test_feature_config_rejects_bad_values(mini_features):
    with pytest.raises(ValueError, match="unknown key"):
        FeatureConfig.from_dict({**mini_features, "n_mel": 40})
    with pytest.raises(ValueError, match=r"missing key\(s\) \['n_mels'\]"):
        FeatureConfig.from_dict({k: v for k, v in mini_features.items() if k != "n_mels"})
    with pytest.raises(ValueError, match="f_max"):
        FeatureConfig.from_dict({**mini_features, "f_max": 9000.0})


def test_load_audio_resamples_downmixes_and_names_bad_files(tmp_path):
    t = np.arange(44100) / 44100
    stereo = np.stack([np.sin(2 * np.pi * 440 * t), np.zeros_like(t)], axis=1).astype(np.float32)
    sf.write(tmp_path / "s.flac", stereo, 44100)
    x = load_audio(tmp_path / "s.flac", 16000)
    assert x.shape == (16000,) and abs(np.abs(x).max() - 0.5) < 0.02
    (tmp_path / "empty.mp3").touch()
    (tmp_path / "text.mp3").write_text("hello")
    for name, msg in (
        ("empty.mp3", "empty file"),
        ("text.mp3", "cannot decode"),
        ("none.mp3", "not found"),
    ):
        with pytest.raises(AudioError, match=msg) as e:
            load_audio(tmp_path / name, 16000)
        assert name in str(e.value)
    with pytest.raises(AudioError, match="truncated"):
        load_audio(tmp_path / "s.flac", 16000, min_seconds=2.0)
    assert center_crop_or_pad(np.arange(5.0), 3).tolist() == [1, 2, 3]
    assert center_crop_or_pad(np.ones(2), 4).tolist() == [0, 1, 1, 0]


def test_downmix_is_the_channel_mean():
    from autotag.data.audio import downmix

    rng = np.random.default_rng(0)
    for ch in (1, 2, 3, 6):
        x = rng.uniform(-1, 1, (1000, ch)).astype(np.float32)
        np.testing.assert_allclose(downmix(x), x.astype(np.float64).mean(axis=1), atol=1e-6)
    a, b = rng.uniform(-1, 1, (2, 1000)).astype(np.float32)
    assert np.array_equal(downmix(np.stack([a, b], axis=1)), (a + b) * np.float32(0.5))


def test_store_round_trip(mini_store, mini_mtat, mini_features):
    m = read_mtat(mini_mtat, **MTAT)
    s = LabelledStore(mini_store, m)
    assert len(s) == 160 and s.tag_names == m.tag_names
    np.testing.assert_array_equal(s.labels, m.labels)
    np.testing.assert_array_equal(s.clip_ids, m.clip_ids)
    assert list(s.split) == m.split and s.valid.all()
    assert s.features.to_dict() == mini_features
    # a stored row equals the features computed directly from the file
    cfg = s.features
    x = center_crop_or_pad(load_audio(m.paths[5], cfg.sample_rate), cfg.n_samples)
    direct = LogMel(cfg)(torch.from_numpy(x)).numpy().astype(np.float16)
    np.testing.assert_array_equal(s.mel(5), direct)
    assert s.mel(5).dtype == np.float16 and s.mel(5).shape == (24, 188)
    np.testing.assert_array_equal(s.mels(np.array([7, 2])), np.stack([s.mel(7), s.mel(2)]))
    with h5py.File(mini_store) as f:
        assert f["mel"].chunks == (1, 24, 188)
        assert f.attrs["autotag_version"] and f.attrs["complete"] and f.attrs["version"] == 2
        assert "labels" not in f and "split" not in f and "stats" not in f  # audio only


# the store of the mini corpus as autotag 760656c built it (before issue 11's prepare changes:
# forked workers, freed memory kept, the downmix without BLAS), with 0 and with 2 workers
# (the features hashed by name and digest since musicnn's front end added keys: the value was
# computed by the code of 34f1180, whose store equalled 760656c's byte for byte)
STORE_DIGEST_760656C = "20b62f6db56d6ecdf37ba98fea0e66999ac6b1d17c731bf25c185bdd8b8aa14c"


def test_the_store_is_the_same_as_before_the_speed_work(
    mini_store, mini_mtat, mini_features, tmp_path
):
    from autotag.data.datasets.mtat.reader import read_mtat
    from autotag.data.features import FeatureConfig
    from autotag.data.prepare import build_store
    from tests.helpers import MTAT, store_digest

    pooled = build_store(read_mtat(mini_mtat, **MTAT), FeatureConfig.from_dict(mini_features),
                         tmp_path / "pooled.h5", workers=2, shard_size=32, min_audio_seconds=1.0,
                         progress=False)  # fmt: skip
    m = read_mtat(mini_mtat, **MTAT)
    assert store_digest(pooled, m) == store_digest(mini_store, m) == STORE_DIGEST_760656C


def test_training_statistics_equal_numpy(mini_store, mini_mtat):
    s = LabelledStore(mini_store, read_mtat(mini_mtat, **MTAT))
    train = s.mels(s.indices("train")).astype(np.float64)
    np.testing.assert_allclose(s.stats["global_mean"], train.mean(), rtol=1e-9)
    np.testing.assert_allclose(s.stats["global_std"], train.std(), rtol=1e-7)
    np.testing.assert_allclose(s.stats["band_mean"], train.mean(axis=(0, 2)), rtol=1e-9)
    np.testing.assert_allclose(s.stats["band_std"], train.std(axis=(0, 2)), rtol=1e-7)
    assert s.stats["n_clips"] == 120


def _broken_files(root: Path) -> list[Path]:
    """Empty, text, truncated, missing and silent files of :func:`_broken_corpus`."""
    files = sorted((root / "1").glob("*.mp3")) + sorted((root / "2").glob("*.mp3"))
    missing = root / (root / "missing.txt").read_text()
    silent = sorted((root / "5").glob("*.mp3"))[0]
    return [f.resolve() for f in (*files[:3], missing, silent)]


def _broken_corpus(root: Path) -> Path:
    write_mini_mtat(root, n_clips=32, seconds=2.0, seed=1)
    files = sorted((root / "1").glob("*.mp3")) + sorted((root / "2").glob("*.mp3"))
    (root / "missing.txt").write_text(str(files[3].relative_to(root)))
    files[0].write_bytes(b"")  # empty
    files[1].write_text("this is not audio")  # text named .mp3
    good = sorted((root / "4").glob("*.mp3"))[0].read_bytes()
    files[2].write_bytes(good[: len(good) // 4])  # truncated: decodes to ~0.5 s of 2 s
    files[3].unlink()  # listed, missing
    sf.write(
        sorted((root / "5").glob("*.mp3"))[0], np.zeros(32000, np.float32), 16000, format="MP3"
    )  # silent
    return root


def test_broken_files_are_skipped_and_reported(tmp_path, mini_features, caplog):
    root = _broken_corpus(tmp_path / "c")
    caplog.set_level("INFO")
    path = build_store(
        read_mtat(root, **MTAT),
        FeatureConfig.from_dict({**mini_features, "clip_seconds": 2.0}),
        tmp_path / "s.h5",
        workers=0,
        shard_size=32,
        min_audio_seconds=1.0,
        progress=False,
    )
    s = MelStore(path)
    status = {Path(p).resolve(): st for p, st in zip(s.paths, s.status)}
    empty, text, truncated, missing, silent_file = _broken_files(root)
    assert sum(st != "ok" for st in status.values()) == 5 and sum(not v for v in s.valid) == 4
    assert status[empty].startswith("broken: empty file")
    assert status[text].startswith("broken: cannot decode")
    assert status[truncated].startswith("broken: only") and "truncated" in status[truncated]
    assert status[missing].startswith("broken: file not found")
    assert status[silent_file] == "silent"
    assert "5 clip(s) skipped or flagged" in caplog.text
    silent = int(np.flatnonzero(s.status == "silent")[0])
    assert s.valid[silent] and np.all(s.mel(silent) == -100)


def test_resume_after_interrupt_gives_identical_store(
    tmp_path, mini_mtat, mini_features, monkeypatch
):
    m, cfg = read_mtat(mini_mtat, **MTAT), FeatureConfig.from_dict(mini_features)
    ref = build_store(
        m, cfg, tmp_path / "ref.h5", workers=0, shard_size=8, min_audio_seconds=1.0, progress=False
    )
    saved = []
    real_save = prepare_mod.save_unit

    def save_then_die(parts, result):
        real_save(parts, result)
        saved.append(result["shard"])
        if len(saved) == 3:
            raise KeyboardInterrupt

    monkeypatch.setattr(prepare_mod, "save_unit", save_then_die)
    target = tmp_path / "resumed.h5"
    with pytest.raises(KeyboardInterrupt):
        build_store(m, cfg, target, workers=0, shard_size=8, min_audio_seconds=1.0, progress=False)
    assert not target.exists() and not is_complete(target)
    assert len(list(target.with_suffix(".parts").glob("shard-*.npz"))) == 3
    monkeypatch.setattr(prepare_mod, "save_unit", real_save)
    processed = []
    real_process = prepare_mod.unit_worker.process_unit
    monkeypatch.setattr(
        prepare_mod.unit_worker, "process_unit", lambda t: processed.append(t[0]) or real_process(t)
    )
    build_store(m, cfg, target, workers=0, shard_size=8, min_audio_seconds=1.0, progress=False)
    assert sorted(processed) == list(range(3, 20))  # only the missing shards were redone
    assert not target.with_suffix(".parts").exists()
    assert_same_store(ref, target)


def test_half_written_store_is_not_taken_for_complete(tmp_path):
    p = tmp_path / "x.h5"
    p.write_bytes(b"\x89HDF garbage")
    assert not is_complete(p)
    with pytest.raises(ValueError, match="incomplete"):
        MelStore(p)


@pytest.mark.slow
def test_kill_9_then_rerun_gives_identical_store(tmp_path):
    root = write_mini_mtat(tmp_path / "c", n_clips=160, seconds=3.0)
    args = [
        sys.executable,
        "-m",
        "autotag.prepare",
        "data=mtat",
        f"data.root={root}",
        "store.shard_size=4",
        "store.workers=2",
        "features.clip_seconds=3.0",
        "features.n_frames=94",
        f"hydra.run.dir={tmp_path}/h",
    ]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    ref = subprocess.run(
        [*args, f"store.dir={tmp_path}/ref"], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert ref.returncode == 0, ref.stderr
    proc = subprocess.Popen(
        [*args, f"store.dir={tmp_path}/s"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.time() + 120
    while time.time() < deadline and len(list((tmp_path / "s").glob("*.parts/shard-*.npz"))) < 5:
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not list((tmp_path / "s").glob("*.h5")), (
        "killed too late: the store was already complete"
    )
    again = subprocess.run(
        [*args, f"store.dir={tmp_path}/s"], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert again.returncode == 0, again.stderr
    assert "resuming" in again.stderr + again.stdout
    (a,), (b,) = list((tmp_path / "ref").glob("*.h5")), list((tmp_path / "s").glob("*.h5"))
    assert a.name == b.name
    assert_same_store(a, b)


def test_preparing_in_this_process_keeps_its_torch_threads(tmp_path, mini_mtat, mini_features):
    threads = torch.get_num_threads()
    build_store(read_mtat(mini_mtat, **MTAT), FeatureConfig.from_dict(mini_features),
                tmp_path / "s.h5", workers=0, shard_size=64, min_audio_seconds=1.0,
                progress=False)  # fmt: skip
    assert torch.get_num_threads() == threads
