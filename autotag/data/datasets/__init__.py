"""Data sets: one folder each, found by the registry (:mod:`.registry`).

A data set is a folder ``autotag/data/datasets/<name>/`` plus a YAML ``conf/data/<name>.yaml``.
The folder holds its on-disk layout (``layout.py``), its reader (``reader.py``: files ->
:class:`~autotag.data.manifest.Manifest`), optionally its download (``sources.py``: files and
addresses; ``download.py``: the run), its synthetic twin (``synth*.py``, built on the shared
music generator :mod:`autotag.data.synthetic`) and its commands (``commands.py``), and an
``entry.py`` whose ``DATASET`` names these entry points. Nothing else lists the data sets.
"""

from autotag.data.datasets.registry import (
    Command,
    Dataset,
    Twin,
    datasets,
    get_dataset,
    load_manifest,
)

__all__ = ["Command", "Dataset", "Twin", "datasets", "get_dataset", "load_manifest"]
