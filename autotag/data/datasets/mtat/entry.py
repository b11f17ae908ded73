"""MagnaTagATune's entry points for the registry."""

from __future__ import annotations

from pathlib import Path

from autotag.data.datasets.mtat.commands import DOWNLOAD, SYNTH
from autotag.data.datasets.mtat.layout import ANNOTATIONS
from autotag.data.datasets.mtat.reader import read_mtat
from autotag.data.datasets.mtat.synth import generate
from autotag.data.datasets.registry import Dataset, Twin


def has_corpus(root: Path) -> bool:
    """Whether ``root`` holds an MTAT corpus (its annotations)."""
    return (root / ANNOTATIONS).is_file()


DATASET = Dataset(
    name="mtat",
    reader=read_mtat,
    twin=Twin(generate=generate, exists=has_corpus),
    download=DOWNLOAD,
    synth=SYNTH,
)
