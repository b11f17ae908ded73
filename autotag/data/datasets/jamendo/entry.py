"""MTG-Jamendo's entry points for the registry."""

from __future__ import annotations

from pathlib import Path

from autotag.data.datasets.jamendo.commands import DOWNLOAD, SYNTH
from autotag.data.datasets.jamendo.layout import metadata_path
from autotag.data.datasets.jamendo.reader import read_jamendo
from autotag.data.datasets.jamendo.synth import generate_jamendo
from autotag.data.datasets.registry import Dataset, Twin


def has_corpus(root: Path) -> bool:
    """Whether ``root`` holds a complete corpus (``data/autotagging.tsv`` is written last)."""
    return (root / metadata_path("all")).is_file()


DATASET = Dataset(
    name="jamendo",
    reader=read_jamendo,
    twin=Twin(generate=generate_jamendo, exists=has_corpus),
    download=DOWNLOAD,
    synth=SYNTH,
)
