"""Models: the FCN's shapes for both feature presets, and every model config through the registry."""

from __future__ import annotations

import pytest
import torch
from omegaconf import OmegaConf

from autotag.models.fcn import FCN
from tests.helpers import ROOT, compose_train


def _fcn(n_mels: int, n_frames: int, **changes) -> FCN:
    """An FCN with the arguments of conf/model/fcn.yaml, some changed."""
    args = {k: v for k, v in OmegaConf.load(ROOT / "conf/model/fcn.yaml").items() if k != "arch"}
    return FCN(n_mels, n_frames, 50, **{**args, **changes})


def test_fcn_shapes_for_both_presets_and_too_small_input():
    m = _fcn(40, 909, width=0.0625)
    assert m.final_map == (5, 1)
    assert m(torch.randn(2, 40, 909)).shape == (2, 50)
    assert m.embed(torch.randn(2, 40, 909)).shape == (2, 128)
    choi_pools = OmegaConf.load(ROOT / "conf/model/fcn_choi.yaml").pools
    c = _fcn(96, 1366, pools=choi_pools, width=0.0625, batch_norm=True, dropout=0.1)
    assert c.final_map == (1, 1) and c(torch.randn(2, 1, 96, 1366)).shape == (2, 50)
    full = _fcn(40, 909)
    assert [b[0].out_channels for b in full.blocks] == [128, 384, 768, 2048]
    with pytest.raises(ValueError, match=r"input 40x200 is too small"):
        _fcn(40, 200)


def test_every_model_config_builds_through_the_registry():
    from autotag.data.chunks import input_frames
    from autotag.data.features import FeatureConfig
    from autotag.models import MODELS, build_baseline, build_model, is_network

    for path in sorted((ROOT / "conf/model").glob("*.yaml")):
        composed = compose_train([f"model={path.stem}"])  # with the preset's own features
        cfg = OmegaConf.to_container(composed.model, resolve=True)
        assert cfg["arch"] in MODELS, path.name
        if is_network(cfg["arch"]):
            features = FeatureConfig.from_dict(OmegaConf.to_container(composed.features))
            frames = input_frames(cfg, features) or features.n_frames
            shape = (features.n_rows, frames)
            net = build_model({**cfg, "width": 0.0625}, *shape, 7)
            assert net(torch.randn(2, *shape)).shape == (2, 7), path.name
        else:
            assert build_baseline(cfg).features in ("flat", "stats")
    with pytest.raises(TypeError, match="unknown argument.*n_estimators"):
        build_model({"arch": "fcn", "n_estimators": 3}, 40, 909, 7)
    with pytest.raises(ValueError, match="model.arch='nope'"):
        build_model({"arch": "nope"}, 40, 909, 7)


def _preset(name: str, n_rows: int, n_frames: int, k: int = 50, **changes):
    from autotag.models import build_model

    cfg = OmegaConf.to_container(compose_train([f"model={name}"]).model, resolve=True)
    return build_model({**cfg, **changes}, n_rows, n_frames, k)


def _trainable(net) -> int:
    return sum(p.numel() for p in net.parameters() if p.requires_grad)


def test_choi_fcn5_and_won_fcn_have_the_parameters_of_their_layer_plans():
    # conv 3x3 with a bias, as the reference code, + BN (2 per channel); the output layer too
    def blocks(channels):
        c_in, n = 1, 0
        for c in channels:
            n += 9 * c_in * c + c + 2 * c
            c_in = c
        return n

    fcn5 = _preset("choi_fcn5", 96, 1366)
    input_bn = 2 * 1366  # one gamma and beta per frame
    assert _trainable(fcn5) == input_bn + blocks([32, 128, 128, 192, 256]) + 256 * 50 + 50
    won = _preset("won_fcn", 96, 1819)
    assert _trainable(won) == 2 + blocks([64, 128, 128, 128, 64]) + 64 * 50 + 50
    assert fcn5.final_map == (1, 1) == won.final_map
    assert isinstance(fcn5.blocks[0][2], torch.nn.ELU) and isinstance(
        won.blocks[0][2], torch.nn.ReLU
    )
    # dropout: after every block of FCN-5, none between Won's blocks
    assert sum(isinstance(m, torch.nn.Dropout) for m in fcn5.modules()) == 5
    assert sum(isinstance(m, torch.nn.Dropout) for m in won.modules()) == 1


def test_fcn_presets_fit_their_features_and_name_the_key_when_too_small():
    for name, shape in [("fcn_choi_stft", (128, 1366)), ("fcn_choi_mfcc", (90, 1366)),
                        ("won_fcn", (96, 1819)), ("choi_fcn5", (96, 1366))]:  # fmt: skip
        net = _preset(name, *shape, k=5, width=0.0625).eval()
        assert net.final_map == (1, 1), name
        x = torch.randn(2, *shape)
        assert net(x).shape == (2, 5) and net.embed(x).shape == (2, net.embedding_dim)
        torch.testing.assert_close(net(x), net(x.unsqueeze(1)))
    with pytest.raises(ValueError, match="too small"):
        _preset("won_fcn", 96, 300)
    with pytest.raises(ValueError, match="model.input_bn='batch'"):
        _preset("won_fcn", 96, 1819, input_bn="batch")
