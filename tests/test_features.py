"""The feature presets of the model zoo: each matches an independent computation of its kind."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest
import torch
import torchaudio
from omegaconf import OmegaConf
from scipy.fft import dct

from autotag.data.features import LATER_KEYS, FeatureConfig, spectrogram
from tests.helpers import compose_train


def _preset(name: str, **changes) -> FeatureConfig:
    d = OmegaConf.to_container(compose_train([f"features={name}"]).features, resolve=True)
    return FeatureConfig.from_dict({**d, **changes})


def _tone_noise(cfg: FeatureConfig, seconds: float) -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    t = torch.arange(int(seconds * cfg.sample_rate)) / cfg.sample_rate
    return 0.3 * torch.sin(2 * torch.pi * 440 * t) + 0.05 * torch.randn(len(t), generator=g)


def test_every_preset_gives_its_published_shape():
    # (rows, frames): Choi 2016 (29.12 s at 12 kHz, hop 256) and Won 2020 (29.1 s at 16 kHz)
    expected = {
        "seed": (40, 909),
        "choi": (96, 1366),
        "stft": (128, 1366),
        "mfcc": (90, 1366),
        "won96": (96, 1819),
        "won128": (128, 1819),
    }
    for name, shape in expected.items():
        cfg = _preset(name)
        assert (cfg.n_rows, cfg.n_frames) == shape, name
        assert cfg.frames_of(cfg.clip_seconds) == shape[1] + (name == "seed"), name
    assert _preset("won128").frames_of(59049 / 16000) == 231  # Won's short chunk
    assert _preset("won96").frames_of(3.0) == 188  # musicnn's 3 s


def test_stft_rows_are_torch_stft_power_without_the_dc_bin():
    cfg = _preset("stft", clip_seconds=1.0, n_frames=47)
    x = _tone_noise(cfg, 1.0)
    ours = spectrogram(cfg)(x)
    z = torch.stft(
        x,
        256,
        256,
        window=torch.hann_window(256),
        center=True,
        pad_mode="reflect",
        return_complex=True,
    )
    direct = 10 * torch.log10(torch.clamp(z.abs() ** 2, min=1e-10))[1:129]
    assert ours.shape == (128, 47) == direct.shape
    torch.testing.assert_close(ours, direct, atol=1e-3, rtol=0)


def _deltas(c: np.ndarray, width: int) -> np.ndarray:
    """The regression delta written out: sum_n n (c[t+n] - c[t-n]) / (2 sum_n n^2), edges
    replicated."""
    n = width // 2
    padded = np.pad(c, ((0, 0), (n, n)), mode="edge")
    t = c.shape[1]
    num = sum(
        k * (padded[:, n + k : n + k + t] - padded[:, n - k : n - k + t]) for k in range(1, n + 1)
    )
    return num / (2 * sum(k * k for k in range(1, n + 1)))


def test_mfcc_is_an_orthonormal_dct_of_the_choi_log_mel_with_deltas():
    cfg = _preset("mfcc", clip_seconds=1.0, n_frames=47)
    mel_cfg = _preset("choi", clip_seconds=1.0, n_frames=47)
    x = _tone_noise(cfg, 1.0)
    ours = spectrogram(cfg)(x).double().numpy()
    log_mel = spectrogram(mel_cfg)(x).double().numpy()  # 96 x 47, every frame of the clip
    c = dct(log_mel, type=2, norm="ortho", axis=0)[:30]
    d1 = _deltas(c, 9)
    d2 = _deltas(d1, 9)
    assert ours.shape == (90, 47)
    np.testing.assert_allclose(ours[:30], c, atol=2e-3)
    np.testing.assert_allclose(ours[30:60], d1, atol=2e-3)
    np.testing.assert_allclose(ours[60:], d2, atol=2e-3)
    # and torchaudio's own MFCC (same DCT; its dB has an 80 dB top_db floor, not reached here)
    ta = torchaudio.transforms.MFCC(
        sample_rate=12000,
        n_mfcc=30,
        dct_type=2,
        norm="ortho",
        log_mels=False,
        melkwargs=dict(
            n_fft=512, hop_length=256, n_mels=96, f_max=6000.0, norm="slaney", mel_scale="slaney"
        ),  # fmt: skip
    )(x.float())
    np.testing.assert_allclose(ours[:30], ta.double().numpy(), atol=2e-3)


def test_won_mel_is_htk_unnormalized_and_won128_keeps_its_empty_filter():
    cfg = _preset("won96", clip_seconds=1.0, n_frames=63)
    x = _tone_noise(cfg, 1.0)
    z = torch.stft(x, 512, 256, window=torch.hann_window(512), center=True, pad_mode="reflect",
                   return_complex=True)  # fmt: skip
    fb = torchaudio.functional.melscale_fbanks(257, 0.0, 8000.0, 96, 16000, None, "htk")
    direct = 10 * torch.log10(torch.clamp(fb.T @ (z.abs() ** 2), min=1e-10))
    torch.testing.assert_close(spectrogram(cfg)(x), direct, atol=1e-3, rtol=0)
    empty = spectrogram(_preset("won128", clip_seconds=1.0, n_frames=63))(x)[0]
    assert torch.all(empty == -100.0)  # filter 0: all zeros, as in the reference front end


def test_feature_keys_are_checked_and_old_dicts_still_read():
    d = OmegaConf.to_container(compose_train(["features=mfcc"]).features, resolve=True)
    with pytest.raises(ValueError, match="features.delta_width"):
        FeatureConfig.from_dict({**d, "delta_width": 4})
    with pytest.raises(ValueError, match="features.kind='cqt'"):
        FeatureConfig.from_dict({**d, "kind": "cqt"})
    seed = OmegaConf.to_container(compose_train([]).features, resolve=True)
    old = {k: v for k, v in seed.items() if k not in LATER_KEYS}  # kind, ..., song_windows
    # a store or tagger file written before `kind` existed reads as a mel and keeps its name:
    # the digest is still the one of the keys that existed then (the formula before `kind`)
    assert FeatureConfig.from_dict(old) == FeatureConfig.from_dict(seed)
    before = {k: v for k, v in old.items() if k != "name"}
    digest = hashlib.sha1(json.dumps(before, sort_keys=True).encode()).hexdigest()[:8]
    assert FeatureConfig.from_dict(seed).digest() == digest
