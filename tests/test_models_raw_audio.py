"""Raw-audio models (issue 13): the sample-level CNN and its SE variant, by hand counts."""

from __future__ import annotations

import pytest
import torch

from autotag.models import build_model

K = 50
SAMPLES = 59049  # 3^10: 3.69 s at 16 kHz


def conv1d(c_in: int, c_out: int, k: int) -> int:  # weights + bias, as in the reference
    return c_in * c_out * k + c_out


def bn(c: int) -> int:  # weight + bias (running statistics are buffers)
    return 2 * c


def linear(n_in: int, n_out: int) -> int:
    return n_in * n_out + n_out


OUT = [128, 128, 256, 256, 256, 256, 256, 256, 512]
IN = [128, *OUT[:-1]]


def _trainable(net: torch.nn.Module) -> int:
    return sum(p.numel() for p in net.parameters() if p.requires_grad)


def _net(arch: str, width: float = 1.0, n_samples: int = SAMPLES, k: int = K):
    return build_model({"arch": arch, "width": width, "dropout": 0.5}, 1, n_samples, k)


def test_sample_cnn_has_the_papers_parameters_and_shapes():
    front = conv1d(1, 128, 3) + bn(128)
    body = sum(conv1d(i, o, 3) + bn(o) for i, o in zip(IN, OUT))
    last = conv1d(512, 512, 1) + bn(512)
    net = _net("sample_cnn")
    assert _trainable(net) == front + body + last + linear(512, K)
    x = torch.randn(2, 1, SAMPLES)
    net.eval()
    assert net(x).shape == (2, K) and net.embed(x).shape == (2, 512)
    assert torch.equal(net(x), net.head(net.embed(x)))
    assert net(x[:, 0]).shape == (2, K)  # (batch, samples) works too


def test_sample_cnn_se_has_the_papers_parameters_and_shapes():
    def block(c_in: int, c_out: int, k: int = 3, stride: int = 1) -> int:
        n = conv1d(c_in, c_out, k) + bn(c_out) + conv1d(c_out, c_out, k) + bn(c_out)
        n += 2 * linear(c_out, c_out)  # squeeze and excitation, no reduction
        if c_in != c_out or stride != 1:
            n += conv1d(c_in, c_out, k) + bn(c_out)  # shortcut
        return n

    blocks = block(1, 128, 3, 3) + sum(block(i, o) for i, o in zip(IN, OUT)) + block(512, 512, 1)
    head = linear(512, 512) + bn(512) + linear(512, K)
    net = _net("sample_cnn_se")
    assert _trainable(net) == blocks + head
    net.eval()
    x = torch.randn(3, 1, SAMPLES)
    assert net(x).shape == (3, K) and net.embed(x).shape == (3, 512)


def test_the_excitation_gate_scales_channels_and_the_shortcut_adds():
    """One block by hand: relu(shortcut(x) + conv(x) * sigmoid(W2 relu(W1 mean(conv(x))))),
    then a max-pool of 3."""
    from autotag.models.sample_cnn import ResSEBlock

    torch.manual_seed(0)
    block = ResSEBlock(4, 4).eval()
    x = torch.randn(2, 4, 27)
    out = block.conv(x)
    w1, w2 = block.excite[0], block.excite[2]
    gate = torch.sigmoid(w2(torch.relu(w1(out.mean(-1)))))
    want = torch.nn.functional.max_pool1d(torch.relu(x + out * gate[..., None]), 3)
    torch.testing.assert_close(block(x), want)


@pytest.mark.parametrize("arch", ["sample_cnn", "sample_cnn_se"])
def test_waveform_models_refuse_short_or_spectrogram_input(arch):
    with pytest.raises(ValueError, match="at least 59049 samples"):
        _net(arch, n_samples=SAMPLES - 1)
    with pytest.raises(ValueError, match="one row"):
        build_model({"arch": arch, "width": 1.0, "dropout": 0.5}, 128, SAMPLES, K)
    net = _net(arch, width=0.125, n_samples=2 * SAMPLES).eval()  # longer: a global max
    assert net(torch.randn(2, 1, 2 * SAMPLES)).shape == (2, K)


def conv2d(c_in: int, c_out: int) -> int:  # 3x3 with bias
    return c_in * c_out * 9 + c_out


def _harmonic(width: float = 1.0, n_samples: int = 80000, k: int = K):
    cfg = {"arch": "harmonic_cnn", "width": width, "dropout": 0.5, "sample_rate": 16000}
    return build_model(cfg, 1, n_samples, k)


def test_harmonic_cnn_has_the_papers_parameters_and_shapes():
    res = lambda c: 2 * (conv2d(c, c) + bn(c))  # noqa: E731  conv-BN-ReLU-conv-BN, no shortcut
    front = 1 + bn(6)  # Q, then BatchNorm2d over the 6 harmonics
    body = conv2d(6, 128) + bn(128) + 3 * res(128) + conv2d(128, 256) + bn(256) + 2 * res(256)
    head = linear(256, 256) + bn(256) + linear(256, K)
    net = _harmonic()
    assert _trainable(net) == front + body + head
    net.eval()
    x = torch.randn(2, 1, 80000)
    spec = net.front(x)
    assert spec.shape == (2, 6, 128, 80000 // 256 + 1)
    assert net(x).shape == (2, K) and net.embed(x).shape == (2, 256)
    with pytest.raises(ValueError, match="STFT frames"):
        _harmonic(n_samples=256 * 200)


def test_harmonic_filters_follow_the_formula_and_q_learns():
    from autotag.models.harmonic_cnn import centre_frequencies, harmonic_filterbank

    f = centre_frequencies()
    assert f.shape == (768,)
    assert f[0].item() == pytest.approx(32.7032, abs=1e-3)  # C1
    assert f[127].item() == pytest.approx(32.7032 * 2 ** (127 / 24), rel=1e-6)  # ~1281 Hz
    assert f[127].item() == pytest.approx(1281, abs=1)
    for h in range(6):  # harmonic h+1 of each centre
        torch.testing.assert_close(f[128 * h : 128 * (h + 1)], f[:128] * (h + 1))
    q = torch.tensor([1.5])
    fb = harmonic_filterbank(f, q, 257, 16000)
    bins = torch.linspace(0, 8000, 257)
    for band in (0, 200, 500, 767):
        bw = (0.1079 * f[band] + 24.7) / 1.5
        want = torch.clamp(1 - 2 * (bins - f[band]).abs() / bw, min=0)
        torch.testing.assert_close(fb[:, band], want)
    net = _harmonic(width=0.125)
    net(torch.randn(2, 1, 80000)).sum().backward()
    assert net.front.q.grad is not None and net.front.q.grad.abs().item() > 0


def test_a_waveform_store_holds_the_centre_samples(mini_mtat, mini_features, tmp_path):
    """features kind waveform: each row is the decoded clip's centre samples in float16, and
    the training statistics are the samples' mean and standard deviation."""
    import numpy as np

    from autotag.data.datasets.mtat.reader import read_mtat
    from autotag.data.features import FeatureConfig
    from autotag.data.frontend import FrontEnd
    from autotag.data.labelled import LabelledStore
    from autotag.data.prepare import build_store
    from tests.helpers import MTAT

    feats = FeatureConfig.from_dict({**mini_features, "kind": "waveform", "n_frames": 48000})
    assert feats.n_rows == 1 and feats.frames_of(59049 / 16000) == 59049
    manifest = read_mtat(mini_mtat, **MTAT)
    path = build_store(manifest, feats, tmp_path / "wave.h5", workers=2, shard_size=32,
                       min_audio_seconds=1.0, progress=False)  # fmt: skip
    store = LabelledStore(path, manifest)
    front = FrontEnd(feats)
    for row in (0, 7, 100):
        want = front.centre(front.load(store.paths[row])).astype(np.float16)
        assert np.array_equal(store.mel(row), want[None])
    train = store.mels(store.indices("train")).astype(np.float64)
    assert store.stats["global_mean"] == pytest.approx(train.mean(), abs=1e-9)
    assert store.stats["global_std"] == pytest.approx(train.std(), rel=1e-6)
    with pytest.raises(ValueError, match="n_frames must be the clip's samples"):
        FeatureConfig.from_dict({**mini_features, "kind": "waveform", "n_frames": 188})


def test_a_waveform_model_trains_from_its_preset_and_tags(tmp_path_factory):
    """model=sample_cnn with nothing else about its input: the waveform store is prepared,
    the model trains on random 3^10-sample crops and is evaluated on chunk means; the tagger
    file tags a song."""
    from autotag.inference.tagger import Tagger
    from tests.helpers import train_run, write_mini_mtat

    corpus = write_mini_mtat(tmp_path_factory.mktemp("mini4s"), n_clips=64, seconds=4.0)
    run = tmp_path_factory.mktemp("wave_run")
    overrides = [
        "model=sample_cnn", "data=mtat", f"data.root={corpus}",
        f"store.dir={tmp_path_factory.mktemp('wave_stores')}", "data.top_k=4",
        "loader.batch_size=8", "loader.num_workers=0", "store.workers=0",
        "features.clip_seconds=4.0", "features.n_frames=64000", "model.width=0.0625",
        "loader.eval_chunks=2", "epochs=2", "trainer=cpu", "trainer.enable_model_summary=false",
        "logger=csv", "progress_refresh=1000",
    ]  # fmt: skip
    res = train_run(overrides, run)
    assert res["features"] == "waveform" and res["epochs_run"] == 2
    assert 0.0 <= res["test"]["roc_auc"] <= 1.0
    tagger = Tagger.load(run / "tagger.pt")
    assert tagger.features.kind == "waveform" and tagger.chunks.length == 59049
    song = tagger.tag_file(next(corpus.glob("*/*.mp3")))
    assert song.ok and song.probs.shape == (4,) and song.n_windows == 1
    # the exported file (waveform in) gives the tagger's chunk means
    import numpy as np

    from autotag.inference.export import export_torchscript, load_torchscript

    module, _ = load_torchscript(export_torchscript(tagger, run / "t.ts"))
    wav = np.random.default_rng(1).normal(0, 0.1, (2, tagger.front.window_samples))
    wav = wav.astype(np.float32)
    np.testing.assert_allclose(
        module(torch.from_numpy(wav)).detach().numpy(), tagger.predict_windows(wav), atol=1e-5
    )
