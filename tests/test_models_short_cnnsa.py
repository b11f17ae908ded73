"""Won's short-chunk CNN / ResNet and the self-attention tagger (CNNSA): parameter counts from the
layer plan, shapes, the fixed [CLS] buffer, and the input-size checks."""

from __future__ import annotations

import pytest
import torch
from omegaconf import OmegaConf
from torch import nn

from autotag.models.cnnsa import CNNSA
from autotag.models.registry import build_model
from tests.helpers import ROOT

K = 50


def _cfg(name: str, **changes) -> dict:
    """conf/model/<name>.yaml's arguments (without Hydra's defaults list), some changed."""
    cfg = OmegaConf.to_container(OmegaConf.load(ROOT / f"conf/model/{name}.yaml"), resolve=True)
    cfg.pop("defaults")
    return {**cfg, **changes}


def _build(name: str, n_mels: int, n_frames: int, **changes) -> nn.Module:
    return build_model(_cfg(name, **changes), n_mels, n_frames, K)


def _trainable(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


# Hand counts of trainable parameters (3x3 convs keep their bias, as in the reference).
def conv(c_in: int, c_out: int) -> int:
    return c_in * c_out * 9 + c_out


def bn(c: int) -> int:  # weight + bias (running stats are buffers)
    return 2 * c


def linear(n_in: int, n_out: int) -> int:
    return n_in * n_out + n_out


def res_block(c_in: int, c_out: int) -> int:  # every block strides, so each has a shortcut conv
    return (
        conv(c_in, c_out)
        + bn(c_out)
        + conv(c_out, c_out)
        + bn(c_out)
        + conv(c_in, c_out)
        + bn(c_out)
    )


PLAN = [(1, 128), (128, 128), (128, 256), (256, 256), (256, 256), (256, 256), (256, 512)]
CNNSA_PLAN = [(1, 128), (128, 128), (128, 256)] + [(256, 256)] * 4
HEAD = linear(512, 512) + bn(512) + linear(512, K)  # dense → BN1d → ReLU → dropout → linear


def test_short_cnn_parameter_count():
    # input BN(1) + 7 x (conv + BN) + head
    #   2 + [1280+256] + [147584+256] + [295168+512] + 3 x [590080+512] + [1180160+1024]
    #   + [262656 + 1024 + 25650] = 2 + 3_398_016 + 289_330 = 3_687_348
    expected = bn(1) + sum(conv(a, b) + bn(b) for a, b in PLAN) + HEAD
    assert expected == 3_687_348
    assert _trainable(_build("short_cnn", 128, 231)) == expected


def test_short_res_parameter_count():
    # input BN(1) + 7 residual blocks (conv1+BN, conv2+BN, shortcut conv+BN) + head
    #   1->128:   1280+256 + 147584+256 + 1280+256          =   150_912
    #   128->128: 147584+256 + 147584+256 + 147584+256      =   443_520
    #   128->256: 295168+512 + 590080+512 + 295168+512      = 1_181_952
    #   256->256: 3 x (590080+512) = 1_771_776, x 3 blocks  = 5_315_328
    #   256->512: 1180160+1024 + 2359808+1024 + 1180160+1024 = 4_723_200
    #   2 + 11_814_912 + 289_330 = 12_104_244
    expected = bn(1) + sum(res_block(a, b) for a, b in PLAN) + HEAD
    assert expected == 12_104_244
    assert _trainable(_build("short_res", 128, 231)) == expected


def test_cnnsa_parameter_count():
    d, ff = 256, 1024
    front = bn(1) + sum(res_block(a, b) for a, b in CNNSA_PLAN)
    # MHA: q, k, v and output projections 4 x (d*d + d); FF: d->ff->d; two LayerNorms (2*d each)
    layer = 4 * (d * d + d) + 2 * d + linear(d, ff) + linear(ff, d) + 2 * d
    #   front: 2 + 150_912 + 443_520 + 1_181_952 + 4 x 1_771_776 = 8_863_490
    #   layer: 263_168 + 512 + 263_168 + 262_400 + 512 = 789_760, x 2 = 1_579_520
    #   pooler 65_792, classifier 12_850 → 10_521_652 (the [CLS] buffer is not a parameter)
    expected = front + 2 * layer + linear(d, d) + linear(d, K)
    assert expected == 10_521_652
    assert _trainable(_build("cnnsa", 128, 938)) == expected


@pytest.mark.parametrize("name", ["short_cnn", "short_res"])
def test_short_chunk_shapes(name):
    torch.manual_seed(0)
    m = _build(name, 128, 231, width=0.125)
    assert m.embedding_dim == 64 and m.classifier.out_features == K
    assert m.final_map[0] == 1
    x = torch.randn(2, 128, 231)
    assert m(x).shape == (2, K)
    m.eval()
    emb = m.embed(x)
    assert emb.shape == (2, m.embedding_dim) and (emb >= 0).all()  # after the ReLU
    torch.testing.assert_close(m(x), m(x.unsqueeze(1)))
    torch.testing.assert_close(m.head(emb), m(x))


def test_cnnsa_shapes_sequence_and_cls_buffer():
    torch.manual_seed(0)
    m = _build("cnnsa", 128, 938, width=0.125)
    assert isinstance(m, CNNSA) and m.embedding_dim == 32 and m.final_map == (1, 118)
    x = torch.randn(2, 128, 938)
    assert m(x).shape == (2, K)
    m.eval()
    assert m.sequence(x).shape == (2, 1 + 118, 32)  # [CLS] + 118 steps
    emb = m.embed(x)
    assert emb.shape == (2, 32) and emb.abs().max() <= 1  # after the pooler's tanh
    torch.testing.assert_close(m(x), m(x.unsqueeze(1)))
    # the fixed [CLS] vector: a buffer in the state dict, not a parameter, the same every build
    assert "cls" in dict(m.named_buffers()) and "cls" in m.state_dict()
    assert all(p is not m.cls for p in m.parameters())
    other = _build("cnnsa", 128, 938, width=0.125)
    torch.testing.assert_close(m.cls, other.cls)
    assert m.cls.shape == (1, 1, 32) and 0 <= m.cls.min() and m.cls.max() < 1


def test_cnnsa_heads_must_divide_width():
    with pytest.raises(ValueError, match=r"model.heads=8.*model.width"):
        _build("cnnsa", 128, 938, width=0.1)  # 256 * 0.1 -> 26 channels


@pytest.mark.parametrize(
    ("name", "n_mels", "n_frames", "key"),
    [
        ("short_cnn", 64, 231, "features.n_mels"),
        ("short_cnn", 128, 100, "model.input_seconds"),
        ("short_res", 128, 40, "model.input_seconds"),
        ("cnnsa", 64, 938, "features.n_mels"),
        ("cnnsa", 256, 938, "features.n_mels"),  # too many rows: 2 left, not 1
    ],
)
def test_input_size_errors(name, n_mels, n_frames, key):
    with pytest.raises(ValueError, match=key):
        _build(name, n_mels, n_frames, width=0.125)
