"""The model registry: arch name → class. A model is one file in ``autotag/models/`` (whose class
is decorated with :func:`register`) plus one YAML in ``conf/model/`` (``arch`` + the class's
constructor arguments); :mod:`autotag.models` imports every module of the package, so nothing
else needs editing.

Two kinds of model share the registry:
- networks (``nn.Module``): built with ``n_mels, n_frames, n_classes`` (from the data) and the
  YAML's arguments. They take ``(batch, n_mels, n_frames)`` or ``(batch, 1, n_mels, n_frames)``;
  ``embed(x)`` gives the penultimate layer (``embedding_dim`` wide), ``head(emb)`` the tag
  logits, ``forward(x) == head(embed(x))``; ``classifier`` is the ``nn.Linear`` whose rows are
  the tags (matched by tag name when fine-tuning). Training, tagging, embedding and export rely
  on exactly these;
- baselines (scikit-learn estimators, :mod:`autotag.models.baselines`): built without shapes.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from torch import nn

MODELS: dict[str, type] = {}
NETWORK_INPUTS = ("n_mels", "n_frames", "n_classes")  # supplied by the data, not the YAML
# YAML keys read by the training and tagging protocol, not passed to the class: ``arch``, and
# ``input_seconds`` (the length of a training crop and evaluation chunk; null: the whole clip)
PROTOCOL_KEYS = ("arch", "input_seconds")
T = TypeVar("T", bound=type)


def register(arch: str) -> Callable[[T], T]:
    """Class decorator: make ``arch`` (the YAML's ``arch``) build this class."""

    def deco(cls: T) -> T:
        if arch in MODELS and MODELS[arch] is not cls:
            raise ValueError(f"model arch {arch!r} is registered twice")
        MODELS[arch] = cls
        return cls

    return deco


def model_class(arch: str) -> type:
    if arch not in MODELS:
        raise ValueError(f"model.arch={arch!r}: choose one of {', '.join(sorted(MODELS))}")
    return MODELS[arch]


def is_network(arch: str) -> bool:
    return issubclass(model_class(arch), nn.Module)


def model_arguments(arch: str) -> list[str]:
    """The constructor arguments a ``conf/model`` YAML of ``arch`` may set."""
    params = inspect.signature(model_class(arch)).parameters
    return [p for p in params if p not in NETWORK_INPUTS and p != "self"]


def _kwargs(cfg: Mapping[str, Any]) -> dict[str, Any]:
    kwargs = {k: v for k, v in cfg.items() if k not in PROTOCOL_KEYS}
    allowed = model_arguments(cfg["arch"])
    unknown = sorted(set(kwargs) - set(allowed))
    if unknown:
        raise TypeError(
            f"model (arch {cfg['arch']}): unknown argument(s) {', '.join(unknown)}; "
            f"its arguments are {', '.join(allowed)} (a key set for another model, e.g. by an "
            f"experiment? remove it on the command line: ~model.{unknown[0]})"
        )
    return kwargs


def build_model(cfg: Mapping[str, Any], n_mels: int, n_frames: int, n_classes: int) -> nn.Module:
    """The network of a ``model`` config (``arch`` + constructor arguments)."""
    if not is_network(cfg["arch"]):
        raise ValueError(f"model.arch={cfg['arch']!r} is a baseline, not a network")
    cls = model_class(cfg["arch"])
    return cls(n_mels=n_mels, n_frames=n_frames, n_classes=n_classes, **_kwargs(cfg))


def build_baseline(cfg: Mapping[str, Any]) -> Any:
    """The baseline estimator of a ``model`` config (``arch: rf`` or ``knn``)."""
    if is_network(cfg["arch"]):
        raise ValueError(f"model.arch={cfg['arch']!r} is a network, not a baseline")
    return model_class(cfg["arch"])(**_kwargs(cfg))
