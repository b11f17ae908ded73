"""Staged optimization (Won et al. 2020's recipe): an ``optimizer`` config with ``stages`` lists
them, each an optimizer config with the epochs it lasts; a stage may first reload the best
checkpoint so far (highest validation ROC-AUC). ``conf/optimizer/won2020.yaml``::

    name: won2020      # the preset's name (the optimizer group's check wants it)
    stages:
      - {name: adam, lr: 1.0e-4, weight_decay: 1.0e-4, epochs: 80}
      - {name: sgd, lr: 1.0e-3, momentum: 0.9, nesterov: true, weight_decay: 1.0e-4,
         epochs: 20, reload_best: true}
      ...

The last stage may have ``epochs: null``: it lasts until the run's ``epochs``. Every stage builds
a fresh optimizer (Won's code keeps its SGD object across the learning-rate drops, and with it
the momentum buffers; a reload of the best weights makes those stale anyway).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch

from autotag.training.optim import build_optimizer


@dataclass(frozen=True)
class Stage:
    optimizer: dict[str, Any]  # an ordinary optimizer config: name + arguments
    epochs: int | None  # None: until the end of the run
    reload_best: bool


def stages_of(cfg: Mapping[str, Any]) -> list[Stage] | None:
    """The stages of a staged optimizer config (None for an ordinary one: no ``stages``)."""
    if "stages" not in cfg:
        return None
    extra = sorted(set(cfg) - {"name", "stages"})
    if extra:
        raise ValueError(
            f"optimizer (staged): unknown key(s) {extra}; the stages hold the arguments"
        )
    raw = cfg["stages"] or []
    if not raw:
        raise ValueError("optimizer.stages: a staged optimizer needs at least one stage")
    stages = []
    for i, s in enumerate(raw):
        s = dict(s)
        epochs = s.pop("epochs", None)
        reload_best = bool(s.pop("reload_best", False))
        if "name" not in s:
            raise ValueError(f"optimizer.stages[{i}]: no optimizer name")
        if epochs is None and i < len(raw) - 1:
            raise ValueError(f"optimizer.stages[{i}].epochs: only the last stage may be open-ended")
        if epochs is not None and int(epochs) < 1:
            raise ValueError(f"optimizer.stages[{i}].epochs must be at least 1, got {epochs}")
        try:  # built once on a dummy parameter: a typo in stage 3 fails now, not in 100 epochs
            build_optimizer([torch.nn.Parameter(torch.zeros(1))], s)
        except (TypeError, ValueError) as e:
            raise ValueError(f"optimizer.stages[{i}]: {e}") from None
        stages.append(Stage(s, None if epochs is None else int(epochs), reload_best))
    return stages


def stage_at(stages: list[Stage], epoch: int) -> int:
    """Index of the stage that epoch ``epoch`` (0-based) belongs to."""
    end = 0
    for i, stage in enumerate(stages):
        if stage.epochs is None:
            return i
        end += stage.epochs
        if epoch < end:
            return i
    return len(stages) - 1  # past the listed epochs: the last stage goes on
