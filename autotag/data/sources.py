"""Pick the reader named by the ``data`` config and return its manifest."""

from __future__ import annotations

import logging
from pathlib import Path

from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from autotag.data.catalog import read_catalog
from autotag.data.manifest import DataError, Manifest
from autotag.data.mtat import ANNOTATIONS, read_mtat

log = logging.getLogger(__name__)
READERS = ("mtat", "csv")


def resolve_path(p: str | Path) -> Path:
    """Relative paths are relative to the directory the command was started from."""
    p = Path(p).expanduser()
    if p.is_absolute():
        return p
    base = Path(HydraConfig.get().runtime.cwd) if HydraConfig.initialized() else Path.cwd()
    return base / p


def load_manifest(data: DictConfig) -> Manifest:
    """The manifest of ``data`` (generating the synthetic corpus first when it is absent)."""
    root = resolve_path(data.root)
    reader = data.get("reader", "mtat")
    if reader not in READERS:
        raise DataError(f"data.reader={reader!r}: choose one of {', '.join(READERS)}")
    gen = data.get("generate")
    if gen is not None and not (root / ANNOTATIONS).is_file():
        from autotag.data.synthetic import generate

        log.info("generating the synthetic corpus in %s", root)
        generate(root, **dict(gen))
    if reader == "mtat":
        return read_mtat(root, split=data.split, top_k=data.top_k)
    return read_catalog(
        root,
        split=data.split,
        top_k=data.top_k,
        val_percent=data.get("val_percent", 10.0),
        test_percent=data.get("test_percent", 10.0),
        audio_root=data.get("audio_root"),
    )
