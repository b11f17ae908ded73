"""The chunk protocol: random training crops, the mean over evenly spread evaluation chunks (in
training, in the tagger and in the exported file), and a chunk model that learns."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf

from autotag.common.signal import random_crops
from autotag.data.chunks import ChunkPlan, chunk_starts, input_frames
from autotag.data.features import FeatureConfig
from autotag.training.module import TaggingModule
from tests.helpers import compose_train, mini_overrides, train_run


def _features(name: str) -> FeatureConfig:
    return FeatureConfig.from_dict(
        OmegaConf.to_container(compose_train([f"features={name}"]).features, resolve=True)
    )


def test_the_input_length_follows_the_model_unless_the_user_sets_a_crop():
    won96, won128 = _features("won96"), _features("won128")
    assert input_frames({"input_seconds": 3.0}, won96) == 188
    assert input_frames({"input_seconds": 59049 / 16000}, won128) == 231
    assert input_frames({"input_seconds": 15.0}, won128) == 938
    assert input_frames({"input_seconds": None}, won96) is None  # whole clip
    assert input_frames({}, won96, random_crop=500) == 500  # loader.random_crop wins
    assert input_frames({"input_seconds": 29.1}, won96) is None  # as long as the clip
    with pytest.raises(ValueError, match="model.input_seconds"):
        input_frames({"input_seconds": 40.0}, won96)


def test_chunks_are_spread_from_the_first_frame_to_the_last():
    assert chunk_starts(100, 10, 4) == [0, 30, 60, 90]
    assert chunk_starts(1819, 188, 16)[-1] + 188 == 1819
    assert chunk_starts(100, 100, 16) == [0]
    with pytest.raises(ValueError, match="loader.eval_chunks"):
        chunk_starts(100, 10, 0)


class _Net(torch.nn.Module):
    """A network whose output depends on where the chunk is (so a wrong chunk shows)."""

    def __init__(self) -> None:
        super().__init__()
        self.classifier = torch.nn.Linear(6, 3)
        self.embedding_dim = 6

    def embed(self, x):
        return torch.cat([x.mean(-1), x.amax(-1)], dim=-1)  # rows = 3

    def head(self, e):
        return self.classifier(e)

    def forward(self, x):
        return self.head(self.embed(x))


def test_evaluation_is_the_mean_of_the_chunk_probabilities_of_a_manual_loop():
    torch.manual_seed(0)
    net, x = _Net(), torch.randn(5, 3, 100)
    length, n = 16, 7
    module = TaggingModule(
        net, torch.nn.Identity(), ["a", "b", "c"], {"name": "adam", "lr": 1e-3},
        {"name": "none"}, chunks=ChunkPlan(length, n),
    )  # fmt: skip
    probs, logits = module.evaluate(x)
    starts = np.linspace(0, 100 - length, n).round().astype(int)
    for b in range(5):
        manual = torch.stack(
            [torch.sigmoid(net(x[b : b + 1, :, s : s + length]))[0] for s in starts]
        ).mean(0)
        torch.testing.assert_close(probs[b], manual)
    torch.testing.assert_close(torch.sigmoid(logits), probs, atol=1e-6, rtol=0)
    # a whole-clip model: the network's own output
    whole = TaggingModule(net, torch.nn.Identity(), ["a", "b", "c"], {"name": "adam"},
                          {"name": "none"})  # fmt: skip
    torch.testing.assert_close(whole.evaluate(x)[0], torch.sigmoid(net(x)))


def test_random_crops_are_slices_of_their_own_clip_with_their_own_starts():
    torch.manual_seed(0)
    x = torch.arange(8 * 2 * 50, dtype=torch.float32).view(8, 2, 50)
    crops = random_crops(x, 10)
    assert crops.shape == (8, 2, 10)
    starts = [int(c[0, 0] - x[i, 0, 0]) for i, c in enumerate(crops)]
    for i, s in enumerate(starts):
        torch.testing.assert_close(crops[i], x[i, :, s : s + 10])
    assert len(set(starts)) > 1


def _chunk_overrides(mini_mtat, store_dir) -> list[str]:
    drop = ("model.pools", "model.width")
    return [o for o in mini_overrides(mini_mtat, store_dir) if not o.startswith(drop)] + [
        "model=musicnn",
        "model.width=0.125",
        "model.input_seconds=1.0",  # 63 of the mini clips' 188 frames
        "loader.eval_chunks=4",
        "features.mel_scale=slaney",
        "features.mel_norm=slaney",
        "optimizer.lr=3e-3",
    ]


def test_a_chunk_model_learns_and_its_tagger_averages_the_same_chunks(
    tmp_path, mini_mtat, mini_store_dir
):
    from autotag.inference.tagger import Tagger

    run = tmp_path / "run"
    results = train_run([*_chunk_overrides(mini_mtat, mini_store_dir), "epochs=4"], run)
    assert results["test"]["roc_auc"] > 0.8, results["test"]
    tagger = Tagger.load(run / "tagger.pt")
    assert tagger.chunks == ChunkPlan(63, 4)
    mels = np.random.default_rng(0).normal(-40, 10, (2, 24, 188)).astype(np.float32)
    probs, _ = tagger.predict_mels(mels)
    for b in range(2):
        chunks = [mels[b : b + 1, :, s : s + 63] for s in (0, 42, 83, 125)]
        manual = np.mean(
            [torch.sigmoid(tagger.net(tagger.normalizer(torch.from_numpy(c)))).detach().numpy()[0]
             for c in chunks], axis=0,
        )  # fmt: skip
        np.testing.assert_allclose(probs[b], manual, atol=1e-5)
    # the exported file (waveform in) gives the tagger's chunk means
    from autotag.inference.export import export_torchscript, load_torchscript

    module, meta = load_torchscript(export_torchscript(tagger, tmp_path / "t.ts"))
    wav = np.random.default_rng(1).normal(0, 0.1, (2, tagger.front.window_samples))
    wav = wav.astype(np.float32)
    np.testing.assert_allclose(
        module(torch.from_numpy(wav)).detach().numpy(), tagger.predict_windows(wav), atol=1e-5
    )


def test_evaluation_in_pieces_gives_the_same_probabilities():
    torch.manual_seed(0)
    net, x = _Net(), torch.randn(5, 3, 100)
    plan = ChunkPlan(16, 7)
    args = (torch.nn.Identity(), ["a", "b", "c"], {"name": "adam"}, {"name": "none"})
    whole = TaggingModule(net, *args, chunks=plan, eval_batch=1000).evaluate(x)[0]
    pieces = TaggingModule(net, *args, chunks=plan, eval_batch=3).evaluate(x)[0]
    torch.testing.assert_close(whole, pieces)


def test_a_chunk_model_hears_a_short_song_not_its_padding(tmp_path, mini_features):
    """A 1.5 s song in a 3 s window (zero-padded around it): a chunk model's 4 chunks of 63
    frames spread over the frames that hear the song, as evaluation spreads them over a track."""
    from autotag.inference.tagger import Tagger
    from autotag.runs.tagger_file import TaggerFile, write_tagger
    from tests.helpers import TONE_TAGS, band_mean_arch, tone

    BandMean = band_mean_arch()  # a mean over frames: padding frames would pull it
    torch.manual_seed(0)
    net = BandMean(24, 63, 4, hidden=6)
    norm = {"mode": "per_spec", "global_mean": 0.0, "global_std": 1.0, "eps": 1e-5, "amin": 1e-10}
    tf = TaggerFile({"arch": "test_band_mean", "hidden": 6}, net.state_dict(), mini_features, norm,
                    list(TONE_TAGS), [0.5] * 4, [24, 63], eval_chunks=4)  # fmt: skip
    tagger = Tagger.load(write_tagger(tmp_path / "chunks.pt", tf))
    song = tone(1.5, ("slow",))
    window = torch.from_numpy(tagger.front.song_mels(song))  # (1, 24, 188)
    assert window.shape[-1] == 188 and len(song) == 24000

    # written out: 12,000 zeros before the song; frame f is centred on sample 256 f
    first, last = math.ceil(12000 / 256), (12000 + 24000 - 1) // 256  # 47, 140
    count = last - first + 1
    heard = [first + round(i * (count - 63) / 3) for i in range(4)]
    padded = [round(i * (188 - 63) / 3) for i in range(4)]  # over the whole window

    def chunk_mean(starts: list[int]) -> np.ndarray:
        chunks = torch.cat([window[..., s : s + 63] for s in starts])
        with torch.no_grad():
            return torch.sigmoid(net(tagger.normalizer(chunks))).mean(0).numpy()

    got = tagger.tag_audio(song).probs
    np.testing.assert_allclose(got, chunk_mean(heard), atol=1e-6)
    assert np.abs(chunk_mean(padded) - got).max() > 1e-3  # the padding would have counted
    assert tagger.tag_audio(song).n_windows == 1
    # a song of a whole window keeps the evaluation chunks over the window
    full = tone(3.0, ("slow",))
    window = torch.from_numpy(tagger.front.song_mels(full))
    np.testing.assert_allclose(tagger.tag_audio(full).probs, chunk_mean(padded), atol=1e-6)
