"""Cold-start tagging: tagger.pt → Tagger, `autotag tag/embed/similar/export` (CLI and library)."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
import soundfile as sf
import torch

from autotag.cli import main
from autotag.data.audio import window_starts
from autotag.inference import Tagger, TaggerError, find_audio
from tests.helpers import ROOT, TONE_TAGS, mini_overrides, train_run

SR = 16000


@pytest.fixture(scope="session")
def tagger_run(mini_mtat, mini_store_dir, tmp_path_factory) -> Path:
    """One tiny FCN trained on the mini corpus (6 epochs, seconds); its run folder."""
    run = tmp_path_factory.mktemp("tagger_run")
    res = train_run(
        [*mini_overrides(mini_mtat, mini_store_dir), "epochs=6", "optimizer.lr=3e-3"], run
    )
    assert res["val"]["roc_auc"] > 0.8, res["history"]
    return run


@pytest.fixture(scope="session")
def model(tagger_run) -> Path:
    return tagger_run / "tagger.pt"


@pytest.fixture(scope="session")
def tagger(model) -> Tagger:
    return Tagger.load(model)


def tone(seconds: float, tags: tuple[str, ...] = ("guitar",), sr: int = SR, seed: int = 0):
    """Low noise plus the tones of ``tags`` (as in the mini corpus)."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    x = 0.01 * rng.standard_normal(len(t))
    for tag in tags:
        x += 0.2 * np.sin(2 * np.pi * TONE_TAGS[tag] * t + rng.random() * 6.28)
    return x.astype(np.float32)


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


# --------------------------------------------------------------------------- loading


def test_load_rebuilds_the_saved_model(model, tagger):
    blob = torch.load(model, weights_only=True)
    assert tagger.tag_names == blob["tag_names"] == list(TONE_TAGS)
    np.testing.assert_allclose(tagger.thresholds, blob["thresholds"], rtol=1e-6)
    assert tagger.features.n_mels == 24 and tagger.front.window_samples == 3 * SR
    assert len(tagger.sha256) == 64 and tagger.embedding_dim == tagger.net.embedding_dim


def test_tagger_gives_the_trained_modules_test_predictions(tagger, tagger_run):
    """The Tagger rebuilt from tagger.pt scores the store's test rows as the LightningModule
    did in ``trainer.test`` (saved by the run in predictions.npz)."""
    from autotag.data.store import MelStore

    res = json.loads((tagger_run / "results.json").read_text())
    saved = np.load(tagger_run / "predictions.npz")
    assert list(saved["tag_names"]) == tagger.tag_names
    store = MelStore(res["store"])
    rows = store.indices("test")
    np.testing.assert_array_equal(saved["test_clip_ids"], store.clip_ids[rows])
    probs, _ = tagger.predict_mels(store.mels(rows).astype(np.float32))
    np.testing.assert_allclose(probs, saved["test_scores"], atol=1e-5)


def test_store_and_tagger_compute_identical_features(tagger, mini_store, mini_mtat):
    """One audio→features path: a file through `prepare` and through the Tagger."""
    from autotag.data.readers.mtat import read_mtat
    from autotag.data.store import MelStore

    store, manifest = MelStore(mini_store), read_mtat(mini_mtat)
    assert store.features.digest() == tagger.features.digest()  # every value-changing field
    for row in (0, 77, 159):
        path = manifest.paths[row]
        song = tagger.front.song_mels(tagger.front.load(path))  # what tag_file computes
        assert song.shape == (1, *store.mel(row).shape)
        np.testing.assert_array_equal(song[0].astype(np.float16), store.mel(row))


def test_files_that_are_not_taggers_get_clear_errors(tmp_path, tagger_run, capsys):
    marker = tmp_path / "code_ran"

    class Evil:
        def __reduce__(self):
            return (Path.touch, (marker,))

    torch.save({"format": "autotag-tagger/1", "x": Evil()}, tmp_path / "evil.pt")
    torch.save({"weights": torch.zeros(2)}, tmp_path / "plain.pt")
    (tmp_path / "notes.txt").write_text("hello")
    cases = {
        tmp_path / "missing.pt": "model file not found",
        tmp_path / "evil.pt": "not an autotag tagger file",
        tmp_path / "plain.pt": "no 'autotag-tagger/' format",
        tmp_path / "notes.txt": "not an autotag tagger file",
        tagger_run / "checkpoints" / "last.ckpt": "Lightning checkpoint",
    }
    for path, msg in cases.items():
        with pytest.raises(TaggerError, match=msg) as e:
            Tagger.load(path)
        assert str(path) in str(e.value)
    assert not marker.exists()  # weights_only: loading never runs code
    code, out, err = run_cli(capsys, "tag", tmp_path, "--model", tmp_path / "missing.pt")
    assert code == 2 and "model file not found" in err and "Traceback" not in err


def test_usage_errors_exit_2(model, mini_mtat, capsys):
    clip = next((mini_mtat / "0").glob("*.mp3"))
    for bad in (["--top-k", "0"], ["--threshold", "1.5"], ["--hop", "-1"], ["--agg", "median"]):
        code, _, err = run_cli(capsys, "tag", clip, "--model", model, *bad)
        assert code == 2 and "error" in err
    assert run_cli(capsys, "tag", clip)[0] == 2  # --model is required
    assert run_cli(capsys, "--help")[0] == 0


# --------------------------------------------------------------------------- windows


def test_windows_form_a_centred_grid(tagger):
    assert window_starts(100, 30, 30) == [5, 35, 65]
    assert window_starts(30, 30, 10) == [0] and window_starts(10, 30, 10) == [0]
    assert window_starts(31, 30, 30) == [0]  # MTAT-like: one centre crop
    front = tagger.front
    w = front.windows(np.arange(SR, dtype=np.float32))  # 1 s → one padded 3 s window
    assert w.shape == (1, 3 * SR) and w[0, SR] == 0 and w[0, -1] == 0
    assert front.song_mels(tone(60.0)).shape == (20, 24, 188)
    assert front.song_mels(tone(60.0), hop_seconds=1.5).shape == (39, 24, 188)


# --------------------------------------------------------------------------- tagging


def test_tags_of_test_folder_clips_are_mostly_right(model, mini_mtat, capsys):
    from autotag.data.readers.mtat import read_mtat

    m = read_mtat(mini_mtat)
    cols = [m.tag_names.index(t) for t in TONE_TAGS]
    truth = {str(Path(p).resolve()): m.labels[i, cols] for i, p in enumerate(m.paths)}
    folders = [mini_mtat / f for f in "def"]
    code, out, _ = run_cli(capsys, "tag", *folders, "--model", model, "--json", "--workers", "0")
    assert code == 0
    rows = json.loads(out)
    assert len(rows) == len(find_audio(folders)[0]) == 30
    hits, n, exact = 0, 0, 0
    for r in rows:
        y = truth[str(Path(r["path"]).resolve())]
        assert len(r["top"]) == 4 and r["windows"] == 1 and r["duration_s"] == pytest.approx(3.0)
        present = {t for t, v in zip(TONE_TAGS, y) if v}
        exact += set(r["present"]) == present
        if y.any():
            n += 1
            hits += r["top"][0]["tag"] in present
    assert hits / n > 0.7, (hits, n)
    assert exact / len(rows) > 0.6


def test_any_rate_channels_length_and_format(tagger, tmp_path, capsys, model):
    guitar = tone(10.0)
    stereo44 = np.stack([tone(10.0, sr=44100), tone(10.0, sr=44100, seed=1)], axis=1)
    files = {
        "stereo44k.wav": (stereo44, 44100),
        "short_1s.wav": (tone(1.0), SR),
        "long_60s.flac": (tone(60.0, ("classical",)), SR),
        "clip.ogg": (guitar, SR),
        "clip.mp3": (guitar, SR),
        "clip22k.flac": (tone(10.0, sr=22050), 22050),
    }
    for name, (x, sr) in files.items():
        sf.write(tmp_path / name, x, sr)
    code, out, err = run_cli(capsys, "tag", tmp_path, "--model", model, "--json", "--workers", "0")
    assert code == 0, err
    rows = {Path(r["path"]).name: r for r in json.loads(out)}
    assert set(rows) == set(files)
    assert rows["short_1s.wav"]["windows"] == 1
    assert rows["long_60s.flac"]["windows"] == 20
    assert rows["stereo44k.wav"]["duration_s"] == pytest.approx(10.0, abs=0.01)
    for name, r in rows.items():
        assert all(0.0 <= p <= 1.0 for p in r["probabilities"].values())
        if name != "short_1s.wav":  # 2 s of zero padding: unlike any training clip
            want = "classical" if name.startswith("long") else "guitar"
            assert r["top"][0]["tag"] == want, (name, r["top"])
    # --hop and --agg change the windows and the aggregation
    long = tmp_path / "long_60s.flac"
    hop = tagger.tag_file(long, hop=1.5)
    mx = tagger.tag_file(long, agg="max")
    mean = tagger.tag_file(long)
    assert hop.n_windows == 39 and (mx.probs >= mean.probs - 1e-6).all()


def test_table_output_and_python_m_entry(model, mini_mtat, capsys):
    from autotag.predict import main as predict_main

    folder = mini_mtat / "0"
    code, out, err = run_cli(capsys, "tag", folder, "--model", model, "-k", "2", "--workers", "0")
    lines = out.splitlines()
    assert code == 0 and lines[0].split()[:2] == ["file", "length"]
    n = len(list(folder.glob("*.mp3")))
    assert len(lines) == n + 1 and "tagged 10 of 10 files" in err
    first = lines[1]
    assert first.startswith(str(folder)) and " 3.0 s " in first
    assert len({line.index(" s ") for line in lines[1:]}) == 1  # aligned columns
    assert predict_main([str(folder), "--model", str(model), "--workers", "0", "-k", "2"]) == 0
    assert capsys.readouterr().out == out


def test_corrupt_and_missing_files_do_not_stop_the_batch(model, mini_mtat, tmp_path, capsys):
    good = sorted((mini_mtat / "1").glob("*.mp3"))[:5]
    folder = tmp_path / "mixed"
    folder.mkdir()
    for f in good:
        (folder / f.name).write_bytes(f.read_bytes())
    (folder / "corrupt.mp3").write_bytes(np.random.default_rng(0).bytes(5000))
    (folder / "empty.wav").write_bytes(b"")
    (folder / "notes.txt").write_text("not audio, not picked up from a folder")
    missing = tmp_path / "missing.flac"
    # the decoding pool (2 workers) is used here
    code, out, err = run_cli(
        capsys, "tag", folder, missing, "--model", model, "--csv", "--workers", "2"
    )
    assert code == 1
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(errors) == 3
    assert any("corrupt.mp3" in e and "cannot decode" in e for e in errors)
    assert any("empty.wav" in e and "empty file" in e for e in errors)
    assert any(str(missing) in e and "not found" in e for e in errors)
    rows = list(csv.DictReader(io.StringIO(out)))
    assert sorted(Path(r["path"]).name for r in rows) == sorted(f.name for f in good)
    assert "tagged 5 of 8 files" in err and "3 failed" in err
    # an empty folder is an error line too
    (tmp_path / "void").mkdir()
    code, out, err = run_cli(capsys, "tag", tmp_path / "void", "--model", model)
    assert code == 1 and "no audio files" in err


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
    assert [d.error is None for d in out] == [p != str(crash) for p in paths]
    assert "decoder crashed" in out[3].error and str(crash) in out[3].error
    np.testing.assert_allclose(out[0].mels, tagger.front.song_mels(tagger.front.load(good[0])))


def test_thresholds_decide_presence_and_can_be_overridden(tagger, model, mini_mtat, capsys):
    th = tagger.thresholds
    probs = np.where(np.arange(4) % 2 == 0, th + 0.01, th - 0.01).astype(np.float32)
    assert [t for t, _ in tagger.present(probs)] == [
        tagger.tag_names[j] for j in np.argsort(-probs) if j % 2 == 0
    ]
    assert len(tagger.present(probs, threshold=0.0)) == 4 and tagger.present(probs, 1.0) == []
    clip = sorted((mini_mtat / "2").glob("*.mp3"))[0]
    outs = {}
    for extra in ([], ["--threshold", "0"], ["--threshold", "1"]):
        code, out, _ = run_cli(capsys, "tag", clip, "--model", model, "--json", *extra)
        outs[tuple(extra)] = json.loads(out)[0]
    row = outs[()]
    assert row["present"] == [
        t
        for t, p in sorted(row["probabilities"].items(), key=lambda kv: -kv[1])
        if p >= th[tagger.tag_names.index(t)] - 1e-4
    ]
    assert len(outs[("--threshold", "0")]["present"]) == 4
    assert outs[("--threshold", "1")]["present"] == []


def test_json_and_csv_agree(model, mini_mtat, capsys):
    clips = sorted((mini_mtat / "3").glob("*.mp3"))[:3]
    _, js, _ = run_cli(capsys, "tag", *clips, "--model", model, "--json", "--workers", "0")
    _, cs, _ = run_cli(capsys, "tag", *clips, "--model", model, "--csv", "--workers", "0")
    rows_j = json.loads(js)
    rows_c = list(csv.DictReader(io.StringIO(cs)))
    assert [r["path"] for r in rows_j] == [r["path"] for r in rows_c] == [str(c) for c in clips]
    for j, c in zip(rows_j, rows_c):
        assert c["top_tags"].split(";")[0] == j["top"][0]["tag"]
        assert c["present_tags"] == ";".join(j["present"])
        for t in TONE_TAGS:
            assert float(c[t]) == pytest.approx(j["probabilities"][t], abs=1e-4)


# --------------------------------------------------------------------------- embed / similar


@pytest.fixture(scope="session")
def catalogue(model, mini_mtat, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("catalogue") / "catalogue.h5"
    assert main(["embed", str(mini_mtat / "0"), str(mini_mtat / "1"), "--model", str(model),
                 "--out", str(out), "--workers", "0"]) == 0  # fmt: skip
    return out


def test_embed_writes_embeddings_paths_and_tags(catalogue, tagger, mini_mtat):
    with h5py.File(catalogue, "r") as f:
        emb, probs = f["embeddings"][:], f["probabilities"][:]
        paths = [p.decode() for p in f["paths"][:]]
        ids = [p.decode() for p in f["ids"][:]]
        assert emb.shape == (20, tagger.embedding_dim) and probs.shape == (20, 4)
        assert f.attrs["model_sha256"] == tagger.sha256
        assert f.attrs["model_path"] == str(tagger.path)
        assert [t.decode() for t in f["tag_names"][:]] == tagger.tag_names
    assert all(Path(p).is_absolute() and Path(p).exists() for p in paths)
    assert ids == [Path(p).name for p in paths]  # relative to the folders given
    song = tagger.tag_file(paths[3])
    np.testing.assert_allclose(emb[3], song.embedding, atol=1e-5)
    np.testing.assert_allclose(probs[3], song.probs, atol=1e-6)


def test_similar_puts_the_query_first(catalogue, mini_mtat, tmp_path, capsys, model):
    query = sorted((mini_mtat / "1").glob("*.mp3"))[2]
    code, out, _ = run_cli(capsys, "similar", query, "--index", catalogue, "-n", "5", "--json")
    res = json.loads(out)
    assert code == 0 and res["in_index"] and len(res["results"]) == 5
    assert Path(res["results"][0]["path"]) == query.resolve()
    assert res["results"][0]["similarity"] == pytest.approx(1.0)
    sims = [r["similarity"] for r in res["results"]]
    assert sims == sorted(sims, reverse=True)
    # by id, table output
    code, out, _ = run_cli(capsys, "similar", query.name, "--index", catalogue, "-n", "3")
    lines = out.splitlines()
    assert code == 0 and "in the index" in lines[0] and lines[2].split()[2] == query.name
    # an audio file outside the index: embedded with the model recorded in the index
    new = tmp_path / "new_song.wav"
    sf.write(new, tone(7.0, ("techno",)), SR)
    code, out, err = run_cli(capsys, "similar", new, "--index", catalogue, "--json")
    res = json.loads(out)
    assert code == 0 and not res["in_index"] and res["query_tags"][0]["tag"] == "techno"
    assert len(res["results"]) == 10 and "techno" in [t["tag"] for t in res["results"][0]["tags"]]
    # another model is refused; a missing query is an error line
    other = tmp_path / "other.pt"
    blob = torch.load(model, weights_only=True)
    blob["thresholds"] = [0.5] * 4
    torch.save(blob, other)
    code, _, err = run_cli(capsys, "similar", new, "--index", catalogue, "--model", other)
    assert code == 2 and "not the model that made" in err
    code, _, err = run_cli(capsys, "similar", tmp_path / "nope.mp3", "--index", catalogue)
    assert code == 1 and "nope.mp3" in err
    code, _, err = run_cli(capsys, "similar", new, "--index", tmp_path / "no.h5")
    assert code == 2 and "index file not found" in err


# --------------------------------------------------------------------------- export


def test_torchscript_export_matches_the_checkpoint(model, tagger, tmp_path, capsys):
    out = tmp_path / "tagger.ts"
    code, msg, _ = run_cli(capsys, "export", "--model", model, "--out", out)
    assert code == 0 and out.exists() and "TorchScript" in msg
    x = tone(20.0, ("guitar", "slow"))
    windows = tagger.front.windows(x)
    ref = tagger.predict_windows(windows)
    song = tagger.tag_audio(x)
    torch.save(torch.from_numpy(windows), tmp_path / "windows.pt")
    script = f"""
import json, sys, torch
extra = {{"autotag.json": ""}}
m = torch.jit.load({str(out)!r}, _extra_files=extra)
w = torch.load({str(tmp_path / "windows.pt")!r}, weights_only=True)
with torch.inference_mode():
    p = m(w)
    one = m(w[0])
    e = m.embed(w)
assert not any(k.startswith("autotag") for k in sys.modules), "needs autotag"
meta = json.loads(extra["autotag.json"])
print(json.dumps({{"p": p.tolist(), "one": one.tolist(), "emb": list(e.shape), "meta": meta,
                   "tags": list(m.tag_names), "sr": m.sample_rate, "n": m.n_samples}}))
"""
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=tmp_path, timeout=120
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    p = np.array(res["p"])
    np.testing.assert_allclose(p, ref, atol=1e-5)
    np.testing.assert_allclose(np.array(res["one"]), ref[0], atol=1e-5)
    np.testing.assert_allclose(p.mean(axis=0), song.probs, atol=1e-5)
    assert res["emb"] == [len(windows), tagger.embedding_dim]
    assert res["tags"] == res["meta"]["tag_names"] == tagger.tag_names
    np.testing.assert_allclose(res["meta"]["thresholds"], tagger.thresholds, rtol=1e-6)
    assert res["sr"] == SR and res["n"] == 3 * SR


def test_onnx_export_matches_the_tagger(model, tagger, tmp_path, capsys, monkeypatch):
    import onnxruntime as ort

    from autotag.cli import export as export_cmd

    monkeypatch.setattr(export_cmd, "onnx_available", lambda: False)  # a machine without onnx
    code, _, err = run_cli(capsys, "export", "--model", model, "--out", tmp_path / "t.ts",
                           "--onnx", tmp_path / "t.onnx")  # fmt: skip
    assert code == 2 and "needs the `onnx` package" in err and not (tmp_path / "t.ts").exists()
    monkeypatch.undo()
    code, _, _ = run_cli(capsys, "export", "--model", model, "--out", tmp_path / "t.ts",
                         "--onnx", tmp_path / "t.onnx")  # fmt: skip
    assert code == 0
    meta = json.loads((tmp_path / "t.onnx.json").read_text())
    sess = ort.InferenceSession(str(tmp_path / "t.onnx"))
    windows = tagger.front.windows(tone(9.0, ("classical",)))
    if meta["input"] == "waveform":
        feed = windows
    else:
        feed = tagger.front.song_mels(tone(9.0, ("classical",)))
    probs = sess.run(None, {sess.get_inputs()[0].name: feed})[0]
    np.testing.assert_allclose(probs, tagger.predict_windows(windows), atol=1e-4)


def test_console_script_is_declared():
    text = (ROOT / "pyproject.toml").read_text()
    assert 'autotag = "autotag.cli:main"' in text


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
    from autotag.models.tagger_file import read_tagger

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
    from torch import nn

    from autotag.inference.export import to_torchscript
    from autotag.models import register
    from autotag.models.tagger_file import TaggerFile, write_tagger

    @register("test_band_mean")
    class BandMean(nn.Module):
        def __init__(self, n_mels: int, n_frames: int, n_classes: int, *, hidden: int) -> None:
            super().__init__()
            self.proj = nn.Linear(n_mels, hidden)
            self.embedding_dim = hidden
            self.classifier = nn.Linear(hidden, n_classes)

        def embed(self, x: torch.Tensor) -> torch.Tensor:
            return torch.tanh(self.proj(x.reshape(len(x), -1, x.shape[-1]).mean(-1)))

        def head(self, emb: torch.Tensor) -> torch.Tensor:
            return self.classifier(emb)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.head(self.embed(x))

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
