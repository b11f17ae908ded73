"""Musicnn and CRNN (Won et al. 2020's versions): parameter counts from the layer plan, shapes,
3-D vs 4-D input, and the too-small-input errors."""

from __future__ import annotations

import pytest
import torch
from omegaconf import OmegaConf
from torch import nn

from autotag.models.crnn import CRNN
from autotag.models.musicnn import Musicnn
from tests.helpers import ROOT

K = 50


def _args(name: str) -> dict:
    """The constructor arguments of conf/model/<name>.yaml."""
    cfg = OmegaConf.to_container(OmegaConf.load(ROOT / f"conf/model/{name}.yaml"))
    return {k: v for k, v in cfg.items() if k not in ("defaults", "arch", "input_seconds")}


def _musicnn(n_mels: int, n_frames: int, **changes) -> Musicnn:
    return Musicnn(n_mels, n_frames, K, **{**_args("musicnn"), **changes})


def _crnn(n_mels: int, n_frames: int, **changes) -> CRNN:
    return CRNN(n_mels, n_frames, K, **{**_args("crnn"), **changes})


def _trainable(m: nn.Module) -> int:
    return sum(p.numel() for p in m.parameters() if p.requires_grad)


def _bn(c: int) -> int:
    return 2 * c  # weight + bias (running stats are buffers)


def test_musicnn_parameter_count_at_width_1():
    input_bn = _bn(1)
    # timbral: Conv2d(1, 204, (h, 7)) + BN2d(204), h = floor(0.7 * 96) = 67, floor(0.4 * 96) = 38
    timbral = (204 * 1 * 67 * 7 + 204 + _bn(204)) + (204 * 1 * 38 * 7 + 204 + _bn(204))
    # temporal: Conv1d(1, 51, k) + BN1d(51) for k = 129, 65, 33
    temporal = sum(51 * 1 * k + 51 + _bn(51) for k in (129, 65, 33))
    front = 2 * 204 + 3 * 51  # 561
    # back end: Conv1d(561, 64, 7) + BN, then two Conv1d(64, 64, 7) + BN
    backend = (64 * front * 7 + 64 + _bn(64)) + 2 * (64 * 64 * 7 + 64 + _bn(64))
    pooled = 2 * (front + 3 * 64)  # max and mean of 753 channels = 1506
    dense = pooled * 200 + 200 + _bn(200)
    classifier = 200 * K + K
    expected = input_bn + timbral + temporal + backend + dense + classifier
    assert expected == 784_300
    m = _musicnn(96, 188)
    assert m.timbral_heights == [67, 38] and m.front_channels == 561 and m.pooled_dim == 1506
    assert _trainable(m) == expected
    assert m.embedding_dim == 200 and m.classifier.out_features == K


def test_crnn_parameter_count_at_width_1():
    input_bn = _bn(1)
    convs = 0
    for c_in, c_out in [(1, 64), (64, 128), (128, 128), (128, 128)]:
        convs += c_out * c_in * 3 * 3 + c_out + _bn(c_out)  # 3x3 conv + BN2d
    h = 32
    # GRU layer: 3 gates x (W_ih: h*in, W_hh: h*h, b_ih: h, b_hh: h)
    gru = 3 * (h * 128 + h * h + 2 * h) + 3 * (h * h + h * h + 2 * h)
    classifier = h * K + K
    expected = input_bn + convs + gru + classifier
    assert expected == 394_100
    m = _crnn(96, 1819)
    assert m.final_map == (1, 18)
    assert _trainable(m) == expected
    assert m.embedding_dim == 32 and m.classifier.out_features == K


@pytest.mark.parametrize(
    "build, n_frames",
    [(lambda: _musicnn(96, 188, width=0.125), 188), (lambda: _crnn(96, 1819, width=0.125), 1819)],
    ids=["musicnn", "crnn"],
)
def test_shapes_and_3d_4d_inputs_agree(build, n_frames):
    torch.manual_seed(0)
    m = build()
    x = torch.randn(2, 96, n_frames)
    m.train()
    assert m(x).shape == (2, K)  # a training step's shapes (BN in batch mode)
    m.eval()
    with torch.no_grad():
        logits, emb = m(x), m.embed(x)
        assert logits.shape == (2, K)
        assert emb.shape == (2, m.embedding_dim)
        assert torch.allclose(m.head(emb), logits)
        assert torch.allclose(m(x.unsqueeze(1)), logits)
        assert torch.allclose(m.embed(x.unsqueeze(1)), emb)


def test_musicnn_scales_with_width_and_heights_follow_n_mels():
    m = _musicnn(128, 100, width=0.125)
    assert m.timbral_heights == [89, 51]  # floor(0.7 * 128), floor(0.4 * 128)
    assert m.front_channels == 2 * 26 + 3 * 6 and m.embedding_dim == 25
    m.eval()
    with torch.no_grad():
        assert m(torch.randn(1, 128, 100)).shape == (1, K)


def test_crnn_takes_the_max_over_remaining_rows():
    m = _crnn(192, 300, width=0.0625)  # 192 / 96 = 2 rows remain
    assert m.final_map == (2, 3)
    m.eval()
    with torch.no_grad():
        assert m(torch.randn(2, 192, 300)).shape == (2, K)


@pytest.mark.parametrize(
    "build, why",
    [
        (lambda: _musicnn(2, 188), r"a timbral filter 0.4 x 2 rows high rounds down to 0 rows"),
        (lambda: _crnn(96, 50), r"block 4 pools by \(4,4\) and leaves a 1x0 map"),
        (lambda: _crnn(40, 1819), r"block 4 pools by \(4,4\) and leaves a 0x18 map"),
    ],
    ids=["musicnn-rows", "crnn-frames", "crnn-rows"],
)
def test_too_small_input_names_the_keys(build, why):
    with pytest.raises(ValueError, match=why) as err:
        build()
    msg = str(err.value)
    assert "too small" in msg
    assert "features.n_mels" in msg and "model.input_seconds" in msg


def test_bad_arguments():
    with pytest.raises(ValueError, match="odd"):
        _musicnn(96, 188, temporal_kernels=[64])
    with pytest.raises(ValueError, match="timbral_heights"):
        _musicnn(96, 188, timbral_heights=[1.5])
    with pytest.raises(ValueError, match="pools"):
        _crnn(96, 1819, pools=[[2, 2]])


def test_dense_residual_chain_is_front_then_each_layer_plus_its_input():
    """Layers that scale by c0, c1, c2 give x, c0·x, (1 + c1)·c0·x, (1 + c2)(1 + c1)·c0·x."""
    from autotag.models.blocks import dense_residual

    scales = (2.0, 3.0, 0.5)
    layers = []
    for c in scales:
        conv = nn.Conv1d(4, 4, 1, bias=False)
        with torch.no_grad():
            conv.weight.copy_(c * torch.eye(4)[:, :, None])
        layers.append(conv)
    x = torch.randn(2, 4, 9)
    r0 = 2.0 * x
    expected = torch.cat([x, r0, 4.0 * r0, 4.0 * 1.5 * r0], dim=1)
    torch.testing.assert_close(dense_residual(x, nn.ModuleList(layers)), expected)
