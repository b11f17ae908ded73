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
    from autotag.models import MODELS, build_baseline, build_model, is_network

    for path in sorted((ROOT / "conf/model").glob("*.yaml")):
        cfg = OmegaConf.to_container(
            OmegaConf.merge(compose_train([f"model={path.stem}"]).model), resolve=True
        )
        assert cfg["arch"] in MODELS, path.name
        if is_network(cfg["arch"]):
            shape = (96, 1366) if "choi" in path.stem else (40, 909)  # the preset's features
            net = build_model({**cfg, "width": 0.0625}, *shape, 7)
            assert net(torch.randn(1, *shape)).shape == (1, 7)
        else:
            assert build_baseline(cfg).features in ("flat", "stats")
    with pytest.raises(TypeError, match="unknown argument.*n_estimators"):
        build_model({"arch": "fcn", "n_estimators": 3}, 40, 909, 7)
    with pytest.raises(ValueError, match="model.arch='nope'"):
        build_model({"arch": "nope"}, 40, 909, 7)
