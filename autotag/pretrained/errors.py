"""The error of the pretrained models."""

from __future__ import annotations


class PretrainedError(RuntimeError):
    """A pretrained model that cannot be found, fetched or converted; the message says which
    file (and variable) and what to do."""
