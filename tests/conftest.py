from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.helpers import MTAT, mini_overrides, train_run, write_mini_mtat

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
        kind="mel",
        n_mfcc=0,
        delta_width=0,
        compression="db",
        log_c=0.0,
        power_float16=False,
        pad_mode="reflect",
        song_windows="samples",
    )


@pytest.fixture(scope="session")
def mini_store(mini_mtat, mini_features, tmp_path_factory) -> Path:
    from autotag.data.datasets.mtat.reader import read_mtat
    from autotag.data.features import FeatureConfig
    from autotag.data.prepare import build_store

    path = tmp_path_factory.mktemp("stores") / "mini.h5"
    return build_store(
        read_mtat(mini_mtat, **MTAT),
        FeatureConfig.from_dict(mini_features),
        path,
        workers=0,
        shard_size=32,
        min_audio_seconds=1.0,
        progress=False,
    )


@pytest.fixture(scope="session")
def mini_labelled(mini_store, mini_mtat):
    """The mini store joined with the mini corpus's labels and splits."""
    from tests.helpers import labelled

    return labelled(mini_store, mini_mtat)


@pytest.fixture(scope="session")
def mini_store_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("train_stores")


@pytest.fixture(scope="session")
def tagger_run(mini_mtat, mini_store_dir, tmp_path_factory) -> Path:
    """One tiny FCN trained on the mini corpus (6 epochs, seconds); its run folder."""
    run = tmp_path_factory.mktemp("tagger_run")
    res = train_run(
        [*mini_overrides(mini_mtat, mini_store_dir), "epochs=6", "optimizer.lr=3e-3"], run
    )
    assert res["val"]["roc_auc"] > 0.8, res["history"]
    return run


@pytest.fixture(scope="session")
def model(tagger_run) -> Path:
    return tagger_run / "tagger.pt"


@pytest.fixture(scope="session")
def tagger(model):
    from autotag.inference import Tagger

    return Tagger.load(model)
