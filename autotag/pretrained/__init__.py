"""Pretrained taggers from other projects, converted into autotag tagger files.

``musicnn:<MODEL>`` names one of the musicnn package's released models (MTT_musicnn, MTT_vgg,
MSD_musicnn, MSD_vgg): :func:`resolve` converts it once into the cache folder and returns the path
of its tagger file, so every command that takes a tagger file takes the name too.
"""

from __future__ import annotations

from pathlib import Path

from autotag.pretrained.cache import cache_dir
from autotag.pretrained.errors import PretrainedError
from autotag.pretrained.musicnn import MODELS as MUSICNN_MODELS
from autotag.pretrained.musicnn import converted

PREFIXES = {"musicnn": MUSICNN_MODELS}


def is_pretrained_name(name: str | Path) -> bool:
    """``musicnn:MTT_musicnn`` and the like (a path that exists is never one)."""
    s = str(name)
    return ":" in s and s.split(":", 1)[0] in PREFIXES and not Path(s).exists()


def resolve(name: str | Path, progress: bool = True) -> Path:
    """The tagger file of ``name``: a pretrained model's name (converted on first use, then
    reused from the cache), or ``name`` itself as a path."""
    if not is_pretrained_name(name):
        return Path(name)
    prefix, model = str(name).split(":", 1)
    if model not in PREFIXES[prefix]:
        raise PretrainedError(
            f"{name}: unknown model; {prefix} has {', '.join(f'{prefix}:{m}' for m in PREFIXES[prefix])}"
        )
    return converted(model, progress=progress)


__all__ = ["PretrainedError", "cache_dir", "is_pretrained_name", "resolve"]
