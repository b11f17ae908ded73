"""Experiment loggers from the ``logger`` config group (wandb offline by default)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf
from pytorch_lightning.loggers import CSVLogger, Logger, WandbLogger


def build_logger(cfg: DictConfig, run_dir: Path, run_name: str, tags: list[str]) -> Logger | None:
    """A Lightning logger for ``cfg.logger`` (``wandb``, ``csv`` or ``none``)."""
    kind = cfg.logger.get("name", "none")
    if kind == "none":
        return None
    if kind == "csv":
        return CSVLogger(save_dir=str(run_dir), name="csv", version="")
    if kind == "wandb":
        lc = cfg.logger
        mode = (
            lc.get("mode")
            or os.environ.get("WANDB_MODE")
            or ("offline" if lc.offline else "online")
        )
        config: dict[str, Any] = OmegaConf.to_container(cfg, resolve=True)  # type: ignore[assignment]
        return WandbLogger(
            project=lc.project,
            entity=lc.get("entity"),
            name=run_name,
            group=cfg.get("group") or lc.get("group"),
            tags=[*tags, *lc.get("tags", [])],
            save_dir=str(run_dir),
            mode=mode,
            config=config,
            job_type=lc.get("job_type", "train"),
        )
    raise ValueError(f"logger.name={kind!r}: choose wandb, csv or none")
