from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.helpers import write_mini_mtat

os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("WANDB_SILENT", "true")


@pytest.fixture(scope="session")
def mini_mtat(tmp_path_factory) -> Path:
    """160 clips of 3 s in MTAT layout (120 train, 10 val, 30 test); four audible tags."""
    return write_mini_mtat(tmp_path_factory.mktemp("mini_mtat"), n_clips=160, seconds=3.0)


@pytest.fixture(scope="session")
def mini_features() -> dict:
    return dict(
        name="mini",
        sample_rate=16000,
        n_fft=512,
        hop_length=256,
        n_mels=24,
        f_min=0.0,
        f_max=8000.0,
        clip_seconds=3.0,
        n_frames=188,
        mel_scale="slaney",
        mel_norm="slaney",
        amin=1e-10,
    )


@pytest.fixture(scope="session")
def mini_store(mini_mtat, mini_features, tmp_path_factory) -> Path:
    from autotag.data.features import FeatureConfig
    from autotag.data.mtat import read_mtat
    from autotag.data.store import build_store

    path = tmp_path_factory.mktemp("stores") / "mini.h5"
    return build_store(
        read_mtat(mini_mtat),
        FeatureConfig.from_dict(mini_features),
        path,
        workers=0,
        progress=False,
    )


ROOT = Path(__file__).resolve().parents[1]
MINI_POOLS = "[[2,4],[2,4],[2,4],[1,2]]"


def mini_overrides(mini_mtat: Path, store_dir: Path) -> list[str]:
    """Overrides that train a narrow FCN on the mini corpus in seconds."""
    return [
        "data=mtat",
        f"data.root={mini_mtat}",
        f"data.store_dir={store_dir}",
        "data.top_k=4",
        "data.batch_size=8",
        "data.num_workers=0",
        "data.prepare_workers=0",
        "features.n_mels=24",
        "features.n_fft=512",
        "features.hop_length=256",
        "features.clip_seconds=3.0",
        "features.n_frames=188",
        "model.width=0.0625",
        f"model.pools={MINI_POOLS}",
        "trainer=cpu",
        "trainer.enable_model_summary=false",
        "logger=csv",
        "progress_refresh=1000",
    ]


def compose_train(overrides: list[str], run_dir: Path):
    """Compose conf/train.yaml like `python train.py ...` would, with the run folder set."""
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from hydra.core.hydra_config import HydraConfig

    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        cfg = compose(
            "train", overrides=[*overrides, f"hydra.run.dir={run_dir}"], return_hydra_config=True
        )
    from omegaconf import open_dict

    with open_dict(cfg):
        cfg.hydra.runtime.output_dir = str(run_dir)
    HydraConfig.instance().set_config(cfg)
    with open_dict(cfg):
        del cfg["hydra"]
    return cfg


@pytest.fixture(scope="session")
def mini_store_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("train_stores")
