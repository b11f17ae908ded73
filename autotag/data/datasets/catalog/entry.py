"""The catalogue reader's entry point for the registry (``data.reader=csv``)."""

from __future__ import annotations

from autotag.data.datasets.catalog.reader import read_catalog
from autotag.data.datasets.registry import Dataset

DATASET = Dataset(name="csv", reader=read_catalog)
