"""Readers: one file per source format, each producing the same :class:`Manifest`.

``load_manifest(data)`` picks the reader named by the ``data`` config (``data.reader``). Paths
in ``data`` are used as given: the entry points make them absolute first.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from autotag.data.datasets.catalog.reader import read_catalog
from autotag.data.datasets.jamendo.reader import metadata_file, read_jamendo
from autotag.data.datasets.mtat.reader import ANNOTATIONS, read_mtat
from autotag.data.manifest import DataError, Manifest
from autotag.data.synthetic import generate, generate_jamendo

log = logging.getLogger(__name__)
READERS = ("mtat", "csv", "jamendo")

__all__ = ["READERS", "load_manifest", "read_catalog", "read_jamendo", "read_mtat"]


def load_manifest(data: Mapping[str, Any]) -> Manifest:
    """The manifest of ``data`` (generating the synthetic corpus first when it is absent)."""
    root = Path(data["root"]).expanduser()
    reader = data["reader"]
    if reader not in READERS:
        raise DataError(f"data.reader={reader!r}: choose one of {', '.join(READERS)}")
    gen = data["generate"]
    if reader == "jamendo":
        if gen is not None and not metadata_file(root, "all").is_file():
            log.info("generating the synthetic MTG-Jamendo corpus in %s", root)
            generate_jamendo(root, **dict(gen))
        return read_jamendo(
            root,
            subset=data["subset"],
            split_index=data["split_index"],
            categories=data["categories"],
            audio=data["audio"],
            audio_root=data["audio_root"],
            missing_audio=data["missing_audio"],
        )
    if gen is not None and not (root / ANNOTATIONS).is_file():
        log.info("generating the synthetic corpus in %s", root)
        generate(root, **dict(gen))
    if reader == "mtat":
        return read_mtat(root, split=data["split"], top_k=data["top_k"])
    return read_catalog(
        root,
        split=data["split"],
        top_k=data["top_k"],
        val_percent=data["val_percent"],
        test_percent=data["test_percent"],
        audio_root=data["audio_root"],
    )
