"""`autotag embed/similar/export`: the embedding index, similar songs, TorchScript and ONNX."""

from __future__ import annotations

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
from tests.helpers import SR, run_cli, tone


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
