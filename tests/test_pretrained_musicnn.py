"""musicnn's released models converted without TensorFlow: equal to the original on real music
(reference outputs the original computed once: tests/fixtures/musicnn/), usable by every command,
fine-tunable, and every bad input gets an error naming the file and the variable."""

from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf

from autotag.inference import Tagger
from autotag.models import build_model
from autotag.pretrained import PretrainedError, is_pretrained_name, musicnn, resolve, wheel
from autotag.pretrained.musicnn_weights import ARCHS, load_weights
from autotag.pretrained.tf_checkpoint import read_checkpoint
from tests.helpers import ROOT, compose_train, run_cli

DATA = ROOT / "tests/fixtures/musicnn"
CLIPS = sorted(DATA.glob("*.wav"))
TOL = 1e-4  # the bound on probabilities, per window and per song


@pytest.fixture(scope="session")
def musicnn_cache(tmp_path_factory) -> Path:
    """A cache folder holding the four converted models (from the wheel `make setup` fetched)."""
    whl = wheel.fetch_wheel(progress=False)
    cache = tmp_path_factory.mktemp("cache")
    (cache / "downloads").mkdir()
    (cache / "downloads" / wheel.WHEEL).symlink_to(whl)
    source = wheel.Source.from_wheel(whl)
    for model in musicnn.MODELS:
        musicnn.convert(model, cache / f"musicnn-{wheel.VERSION}" / f"{model}.pt", source)
    return cache


@pytest.fixture
def cached(musicnn_cache, monkeypatch) -> Path:
    monkeypatch.setenv("AUTOTAG_CACHE", str(musicnn_cache))
    return musicnn_cache


@pytest.fixture(scope="session")
def reference() -> dict[str, np.ndarray]:
    with np.load(DATA / "reference.npz") as z:
        return {k: z[k] for k in z.files}


def test_reference_clips_are_there():
    assert len(CLIPS) >= 3, "tests/fixtures/musicnn/*.wav: the real-music clips"


@pytest.mark.parametrize("model", musicnn.MODELS)
def test_converted_tagger_equals_the_original(cached, reference, model):
    tagger = Tagger.load(f"musicnn:{model}")
    first = ["guitar", "classical", "slow"] if "MTT" in model else ["rock", "pop", "alternative"]
    assert tagger.tag_names[:3] == first and len(tagger.tag_names) == 50  # musicnn's FAQ lists
    for clip in CLIPS:
        key = f"{clip.stem}/{model}"
        wav = tagger.front.load(clip)
        mels = tagger.front.song_mels(wav)  # (windows, 96, 187)
        # musicnn's input: the log-mel of the whole clip cut into 187-frame patches
        logmel = reference[f"{clip.stem}/logmel"].T
        for i, window in enumerate(mels):
            np.testing.assert_allclose(window, logmel[:, i * 187 : (i + 1) * 187], atol=2e-3)
        probs, emb = tagger.predict_mels(mels)
        taggram = reference[f"{key}/taggram"]
        assert probs.shape == taggram.shape
        assert np.abs(probs - taggram).max() < TOL, f"{key}: per-window probabilities"
        song = tagger.tag_file(clip)
        assert np.abs(song.probs - taggram.mean(axis=0)).max() < TOL, f"{key}: song"
        last = "penultimate" if "musicnn" in model else "pool5"
        want = reference[f"{key}/{last}"].reshape(len(emb), -1)
        np.testing.assert_allclose(emb, want, atol=1e-3 * max(1.0, np.abs(want).max()))


def test_pooled_midend_embeddings_equal_the_original(cached, reference):
    tagger = Tagger.load("musicnn:MSD_musicnn")
    assert tagger.embedding_layers == {"penultimate": 200, "mean_pool": 753, "max_pool": 753}
    clip = CLIPS[0]
    mels = tagger.front.song_mels(tagger.front.load(clip))
    for layer in ("mean_pool", "max_pool"):
        tagger.embedding_layer = layer
        probs, emb = tagger.predict_mels(mels)
        want = reference[f"{clip.stem}/MSD_musicnn/{layer}"]
        np.testing.assert_allclose(emb, want, atol=1e-3 * np.abs(want).max())
        assert np.abs(probs - reference[f"{clip.stem}/MSD_musicnn/taggram"]).max() < TOL
    with pytest.raises(ValueError, match="has penultimate, mean_pool, max_pool"):
        tagger.embedding_layer = "cnn9"


def test_the_file_is_a_normal_tagger_file(cached):
    path = resolve("musicnn:MTT_musicnn")
    blob = torch.load(path, weights_only=True)  # plain tensors and values: no code runs
    assert blob["format"] == "autotag-tagger/2"
    assert blob["model"]["arch"] == "pons_musicnn"
    assert blob["thresholds"] == [0.5] * 50
    assert "Permission to use, copy, modify" in (path.parent / "LICENSE.musicnn.md").read_text()
    assert "Permission to use, copy, modify" in blob["config"]["pretrained"]["license"]
    assert blob["metrics"]["test"] == pytest.approx({"roc_auc": 0.9067, "pr_auc": 0.3831}, abs=1e-4)


def test_presets_describe_the_converted_networks_and_front_end(cached):
    """conf/features/musicnn.yaml and conf/model/pons_*.yaml are the converted files' front end
    and networks (only the clip length differs: training clips against 3 s windows)."""
    composed = compose_train(["model=pons_musicnn"])
    features = OmegaConf.to_container(composed.features, resolve=True)
    for model, preset in (("MTT_musicnn", "pons_musicnn"), ("MSD_vgg", "pons_vgg")):
        tagger = Tagger.load(f"musicnn:{model}")
        converted = tagger.features.to_dict()
        clip = ("clip_seconds", "n_frames", "song_windows")  # tagging windows, not front end
        assert {k: v for k, v in converted.items() if k not in clip} == {
            k: v for k, v in features.items() if k not in clip
        }
        cfg = OmegaConf.to_container(compose_train([f"model={preset}"]).model, resolve=True)
        cfg.pop("input_seconds")
        assert cfg == tagger.model_config
        frames = tagger.features.frames_of(compose_train([f"model={preset}"]).model.input_seconds)
        assert frames == tagger.features.n_frames == 187


def test_second_call_reuses_and_old_conversions_are_redone(cached, monkeypatch):
    path = musicnn.converted_path("MSD_vgg")
    stamp = path.stat().st_mtime_ns
    assert musicnn.converted("MSD_vgg") == path and path.stat().st_mtime_ns == stamp
    monkeypatch.setattr(musicnn, "CONVERTER", musicnn.CONVERTER + 1)  # files of an older one
    assert musicnn.converted("MSD_vgg") == path and path.stat().st_mtime_ns != stamp


def test_tag_embed_similar_commands_take_the_names(cached, tmp_path, capsys):
    code, out, err = run_cli(capsys, "tag", "-m", "musicnn:MTT_musicnn", "--json", *CLIPS)
    assert code == 0, err
    rows = json.loads(out)
    assert len(rows) == len(CLIPS) and all(len(r["top"]) == 5 for r in rows)
    rock = next(r for r in rows if "rock_metal" in r["path"])
    assert [t["tag"] for t in rock["top"][:2]] == ["rock", "metal"]  # what the original says too
    index = tmp_path / "idx.h5"
    code, _, err = run_cli(
        capsys, "embed", "-m", "musicnn:MSD_musicnn", "--layer", "mean_pool", "-o", index, *CLIPS
    )
    assert code == 0 and "753-d mean_pool" in err
    # a query outside the index is embedded from the same layer
    query = tmp_path / "query.wav"
    shutil.copy(CLIPS[1], query)
    code, out, err = run_cli(
        capsys, "similar", query, "--index", index, "-m", "musicnn:MSD_musicnn", "--json"
    )
    assert code == 0, err
    top = json.loads(out)["results"][0]
    assert top["id"] == CLIPS[1].name and top["similarity"] == pytest.approx(1.0, abs=1e-5)
    code, _, err = run_cli(
        capsys, "embed", "-m", "musicnn:MSD_vgg", "--layer", "x", "-o", index, *CLIPS
    )
    assert code == 2 and "--layer" in err
    code, _, err = run_cli(capsys, "tag", "-m", "musicnn:MTT_nope", CLIPS[0])
    assert code == 2 and "musicnn:MTT_musicnn" in err


@pytest.mark.parametrize("model", ["MTT_musicnn", "MSD_vgg"])
def test_exported_models_equal_the_tagger(cached, tmp_path, model):
    from autotag.inference.export import export_onnx, export_torchscript, load_torchscript

    tagger = Tagger.load(f"musicnn:{model}")
    wav = tagger.front.load(CLIPS[0])
    n = tagger.front.window_samples
    windows = np.stack([wav[:n], wav[n // 3 : n // 3 + n]])
    want = tagger.predict_windows(windows)
    module, meta = load_torchscript(export_torchscript(tagger, tmp_path / "m.ts"))
    with torch.no_grad():
        got = module(torch.from_numpy(windows)).numpy()
    assert np.abs(got - want).max() < 1e-5 and meta["tag_names"] == tagger.tag_names
    assert "Permission to use, copy, modify" in meta["license"] and "Pons" in meta["credit"]
    import onnxruntime as ort

    path, kind = export_onnx(tagger, tmp_path / "m.onnx")
    assert kind == "waveform"
    session = ort.InferenceSession(str(path))
    got = session.run(None, {session.get_inputs()[0].name: windows})[0]
    assert np.abs(got - want).max() < 1e-4


def test_init_from_matches_classifier_rows_by_tag_name(cached):
    from autotag.data.features import FeatureConfig
    from autotag.training.warm_start import warm_start

    src = Tagger.load("musicnn:MTT_musicnn")
    cfg = OmegaConf.to_container(compose_train(["model=pons_musicnn"]), resolve=True)
    tags = ["piano", "new tag", "rock"]
    net = build_model(cfg["model"], 96, 187, len(tags))
    fresh = net.classifier.weight[1].clone()
    origin = warm_start(
        net, "musicnn:MTT_musicnn", tags, "fresh", FeatureConfig.from_dict(cfg["features"])
    )
    assert origin["name"] == "musicnn:MTT_musicnn" and "ISC" not in origin["name"]
    assert "Permission to use, copy, modify" in origin["license"]  # carried into the new file
    old = src.net.state_dict()
    for j, tag in ((0, "piano"), (2, "rock")):
        i = src.tag_names.index(tag)
        assert torch.equal(net.classifier.weight[j], old["classifier.weight"][i])
    assert torch.equal(net.classifier.weight[1], fresh)
    assert torch.equal(net.timbral[0].conv.weight, old["timbral.0.conv.weight"])
    vgg = OmegaConf.to_container(compose_train(["model=pons_vgg"]).model, resolve=True)
    with pytest.raises(ValueError, match="model.arch=pons_musicnn"):
        warm_start(
            build_model(vgg, 96, 187, 3),
            "musicnn:MTT_musicnn", tags, "fresh", FeatureConfig.from_dict(cfg["features"]),
        )  # fmt: skip


def test_names_are_not_paths(tmp_path, monkeypatch):
    assert is_pretrained_name("musicnn:MTT_musicnn")
    assert not is_pretrained_name(tmp_path / "run" / "tagger.pt")
    monkeypatch.chdir(tmp_path)
    Path("musicnn:MTT_musicnn").write_bytes(b"")  # a file of that name is a file
    assert not is_pretrained_name("musicnn:MTT_musicnn")


# ---------------------------------------------------------------------------- bad input


def _wheel_files() -> dict[str, bytes]:
    with zipfile.ZipFile(wheel.fetch_wheel(progress=False)) as zf:
        return {
            n: zf.read(n)
            for n in zf.namelist()
            if "MTT_musicnn" in n or "dist-info" in n or n.endswith(".py")
        }


def test_truncated_checkpoint_names_the_file_and_the_variable(tmp_path):
    files = _wheel_files()
    data = "musicnn/MTT_musicnn/.data-00000-of-00001"
    files[data] = files[data][: len(files[data]) // 2]
    source = wheel.Source("musicnn.whl", files.__getitem__)
    with pytest.raises(
        PretrainedError, match=r"musicnn.whl:musicnn/MTT_musicnn/.*truncated.*variable"
    ):
        musicnn.convert("MTT_musicnn", tmp_path / "m.pt", source)
    assert not (tmp_path / "m.pt").exists()
    del files[data]
    with pytest.raises(
        PretrainedError, match=r"musicnn.whl: musicnn/MTT_musicnn/.data.* is missing"
    ):
        musicnn.convert("MTT_musicnn", tmp_path / "m.pt", source)


def test_other_shapes_name_the_variable():
    files = _wheel_files()
    ckpt = read_checkpoint(
        files["musicnn/MTT_musicnn/.index"],
        files["musicnn/MTT_musicnn/.data-00000-of-00001"],
        name="x.whl:musicnn/MTT_musicnn/",
    )
    spec = {**ARCHS["musicnn"], "timbral_filters": 100}  # not the released network
    net = build_model(spec, 96, 187, 50)
    with pytest.raises(
        PretrainedError,
        match=r"x.whl:musicnn/MTT_musicnn/: variable conv2d/kernel has shape \(7, 38, 1, 204\).*\(7, 38, 1, 100\)",
    ):
        load_weights(ckpt, "pons_musicnn", net, "musicnn MTT_musicnn")
    vgg = build_model(ARCHS["vgg"], 96, 187, 50)
    with pytest.raises(PretrainedError, match="variable 1CNN/kernel is missing"):
        load_weights(ckpt, "pons_vgg", vgg, "musicnn MTT_vgg")


def test_missing_or_wrong_wheel(tmp_path, monkeypatch):
    with pytest.raises(PretrainedError, match="no such wheel file"):
        wheel.find_source(tmp_path / "nope.whl")
    fake = tmp_path / wheel.WHEEL
    fake.write_bytes(b"not a wheel")
    with pytest.raises(PretrainedError, match="sha256 .* is not that of musicnn-0.1.0"):
        wheel.find_source(fake)


def test_download_is_checked_by_sha256(tmp_path, monkeypatch):
    import http.server

    from tests.local_http import closed_port, fast_and_local, serve

    fast_and_local(monkeypatch)
    monkeypatch.setenv("AUTOTAG_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(wheel.Source, "installed", classmethod(lambda cls: None))

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            body = b"x" * wheel.WHEEL_SIZE
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    with serve(Handler, None) as url:
        monkeypatch.setattr(wheel, "WHEEL_URL", f"{url}/{wheel.WHEEL}")
        with pytest.raises(PretrainedError, match=f"sha256 .*expected {wheel.WHEEL_SHA256}"):
            resolve("musicnn:MSD_vgg", progress=False)
    assert not wheel.cached_wheel().exists()
    monkeypatch.setattr(wheel, "WHEEL_URL", f"http://127.0.0.1:{closed_port()}/{wheel.WHEEL}")
    with pytest.raises(PretrainedError, match="pip install --no-deps musicnn==0.1.0"):
        resolve("musicnn:MSD_vgg", progress=False)


def test_pretrained_command_lists_and_converts(cached, capsys):
    code, out, _ = run_cli(capsys, "pretrained", "list")
    assert code == 0 and out.count("musicnn:") == 4 and "test ROC-AUC 0.9067" in out
    code, out, _ = run_cli(capsys, "pretrained", "convert", "musicnn:MTT_vgg")
    assert code == 0 and str(musicnn.converted_path("MTT_vgg")) in out
    code, _, err = run_cli(capsys, "pretrained", "convert", "musicnn:MTT_big")
    assert code == 2 and "unknown pretrained model" in err


def test_two_processes_converting_at_once_share_the_work(musicnn_cache, tmp_path):
    import subprocess
    import sys

    cache = tmp_path / "cache"
    (cache / "downloads").mkdir(parents=True)
    (cache / "downloads" / wheel.WHEEL).symlink_to(musicnn_cache / "downloads" / wheel.WHEEL)
    code = "from autotag.pretrained import resolve; print(resolve('musicnn:MSD_musicnn'))"
    env = {**__import__("os").environ, "AUTOTAG_CACHE": str(cache)}
    procs = [
        subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    outs = [p.communicate(timeout=300)[0].strip() for p in procs]
    assert [p.returncode for p in procs] == [0, 0] and outs[0] == outs[1]
    assert Tagger.load(outs[0]).tag_names[0] == "rock"
    assert not list(Path(outs[0]).parent.glob("*.tmp"))


def test_bad_small_data_settings_stop_before_the_store(tmp_path):
    from autotag.training.run import check_small_data
    from autotag.training.settings import RunSettings

    cfg = OmegaConf.to_container(compose_train(["model=pons_musicnn"]), resolve=True)
    check_small_data(cfg, RunSettings.of(cfg))
    for key, value, match in (
        ("loader.train_fraction", 1.5, "loader.train_fraction"),
        ("finetune.train_layers", 0, "finetune.train_layers"),
        ("norm.mode", "prelog", "norm=prelog undoes a dB scale"),
    ):
        bad = OmegaConf.create(cfg)
        OmegaConf.update(bad, key, value)
        with pytest.raises(ValueError, match=match):
            bad = OmegaConf.to_container(bad)
            check_small_data(bad, RunSettings.of(bad))


def test_max_before_relu_and_batchnorm_is_the_same_in_eval_mode():
    from autotag.models.pons_musicnn import relu_bn_max_over_rows

    torch.manual_seed(0)
    bn = torch.nn.BatchNorm2d(6, eps=1e-3).eval()
    with torch.no_grad():  # scales of both signs (a negative one turns the max into a min)
        bn.weight.copy_(torch.tensor([1.5, -0.7, 0.0, 2.0, -3.0, 0.3]))
        bn.bias.normal_(), bn.running_mean.normal_(), bn.running_var.uniform_(0.5, 2.0)
    conv = torch.randn(3, 6, 40, 25)
    direct = bn(torch.relu(conv)).amax(dim=2)
    torch.testing.assert_close(relu_bn_max_over_rows(conv, bn), direct, rtol=0, atol=1e-6)
    bn.train()  # training: batch statistics over every row, the plain order
    torch.testing.assert_close(relu_bn_max_over_rows(conv, bn), bn(torch.relu(conv)).amax(dim=2))


def test_export_to_a_folder_and_similar_of_a_folder_say_what_to_give(cached, tmp_path, capsys):
    code, _, err = run_cli(capsys, "export", "-m", "musicnn:MSD_vgg", "-o", tmp_path)
    assert code == 2 and "is a folder; give the file to write" in err
    index = tmp_path / "idx.h5"
    assert run_cli(capsys, "embed", "-m", "musicnn:MSD_vgg", "-o", index, CLIPS[0])[0] == 0
    code, _, err = run_cli(capsys, "similar", tmp_path, "--index", index)
    assert code == 2 and "is a folder; give one audio file" in err
