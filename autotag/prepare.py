"""``python -m autotag.prepare``: manifest → HDF5 log-mel store (Hydra entry point).

Examples::

    python -m autotag.prepare                                   # built-in synthetic corpus
    python -m autotag.prepare data=mtat data.root=/data/mtat features=choi
    python -m autotag.prepare data=csv data.root=my_catalogue.csv
"""

from __future__ import annotations

import logging
from pathlib import Path

import hydra
from omegaconf import DictConfig

from autotag.data.features import FeatureConfig
from autotag.data.sources import load_manifest, resolve_path
from autotag.data.store import build_store, store_name

log = logging.getLogger(__name__)


def ensure_store(data: DictConfig, features: DictConfig, progress: bool = True) -> Path:
    """Path of the store for this data and feature config, building it first when missing."""
    fcfg = FeatureConfig.from_dict(features)
    manifest = load_manifest(data)
    path = resolve_path(data.store_dir) / store_name(data.name, data.split, fcfg, manifest)
    return build_store(
        manifest,
        fcfg,
        path,
        workers=data.get("prepare_workers"),
        shard_size=data.get("shard_size", 32),
        min_audio_seconds=data.get("min_audio_seconds", 1.0),
        progress=progress,
    )


@hydra.main(version_base="1.3", config_path="../conf", config_name="prepare")
def main(cfg: DictConfig) -> None:
    path = ensure_store(cfg.data, cfg.features)
    print(f"store ready: {path}")


if __name__ == "__main__":
    main()
