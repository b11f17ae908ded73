"""Optimizers and learning-rate schedules by name: the ``optimizer`` and ``scheduler`` config
groups. Each YAML is ``name`` plus the keyword arguments of the class (optimizer) or builder
(scheduler) it names; the values live in the YAML only."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import torch

OPTIMIZERS: dict[str, type[torch.optim.Optimizer]] = {
    "adam": torch.optim.Adam,
    "adamw": torch.optim.AdamW,
    "sgd": torch.optim.SGD,
}


def build_optimizer(params: Iterable, cfg: Mapping[str, Any]) -> torch.optim.Optimizer:
    """``OPTIMIZERS[cfg.name](params, **rest of cfg)``."""
    kwargs = {k: v for k, v in cfg.items() if k != "name"}
    name = str(cfg["name"]).lower()
    if name not in OPTIMIZERS:
        raise ValueError(f"optimizer.name={name!r}: choose one of {', '.join(OPTIMIZERS)}")
    return OPTIMIZERS[name](params, **kwargs)


# A scheduler builder takes the optimizer, the run's epochs, a function giving its number of
# optimizer steps (computing it sets up the data, so only builders that need it call it) and its
# YAML's arguments; it returns Lightning's lr_scheduler dict (or None: constant learning rate).
Schedule = Callable[..., dict[str, Any] | None]


def _none(opt: torch.optim.Optimizer, max_epochs: int, total_steps: Callable[[], int]) -> None:
    return None


def _cosine(
    opt: torch.optim.Optimizer, max_epochs: int, total_steps: Callable[[], int]
) -> dict[str, Any]:
    s = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(1, max_epochs))
    return {"scheduler": s, "interval": "epoch"}


def _onecycle(
    opt: torch.optim.Optimizer, max_epochs: int, total_steps: Callable[[], int], *, pct_start: float
) -> dict[str, Any]:
    max_lr = [g["lr"] for g in opt.param_groups]
    s = torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=max_lr, total_steps=max(1, total_steps()), pct_start=pct_start
    )
    return {"scheduler": s, "interval": "step"}


def _plateau(
    opt: torch.optim.Optimizer,
    max_epochs: int,
    total_steps: Callable[[], int],
    *,
    factor: float,
    patience: int,
) -> dict[str, Any]:
    s = torch.optim.lr_scheduler.ReduceLROnPlateau(
        opt, mode="max", factor=factor, patience=patience
    )
    return {"scheduler": s, "monitor": "val/roc_auc"}


SCHEDULERS: dict[str, Schedule] = {
    "none": _none,
    "cosine": _cosine,
    "onecycle": _onecycle,
    "plateau": _plateau,
}


def build_scheduler(
    opt: torch.optim.Optimizer,
    cfg: Mapping[str, Any],
    max_epochs: int,
    total_steps: Callable[[], int],
) -> dict[str, Any] | None:
    """Lightning's ``lr_scheduler`` dict of the ``scheduler`` config (None: constant rate)."""
    kwargs = {k: v for k, v in cfg.items() if k != "name"}
    name = str(cfg["name"]).lower()
    if name not in SCHEDULERS:
        raise ValueError(f"scheduler.name={name!r}: choose one of {', '.join(SCHEDULERS)}")
    builder = SCHEDULERS[name]
    try:
        inspect.signature(builder).bind(opt, max_epochs, total_steps, **kwargs)
    except TypeError as e:
        raise ValueError(
            f"scheduler {name!r}: {e}; pick a schedule with scheduler={name} "
            f"(conf/scheduler/{name}.yaml gives its arguments), not scheduler.name={name}"
        ) from None
    return builder(opt, max_epochs, total_steps, **kwargs)
