"""Experiment loggers by name: the ``logger`` config group (wandb offline by default).

Each YAML is ``name`` plus the keyword arguments of the builder it names; the values live in
the YAML only. A builder also gets the run folder, name, tags, group and the plain config.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from pytorch_lightning.loggers import CSVLogger, Logger, WandbLogger


def _none(run_dir: Path, run_name: str, tags: Sequence[str], group: str | None, config: dict):
    return None


def _csv(
    run_dir: Path, run_name: str, tags: Sequence[str], group: str | None, config: dict
) -> Logger:
    return CSVLogger(save_dir=str(run_dir), name="csv", version="")


def _wandb(
    run_dir: Path,
    run_name: str,
    tags: Sequence[str],
    group: str | None,
    config: dict,
    *,
    project: str,
    entity: str | None,
    offline: bool,
    mode: str | None,
    group_name: str | None,
    extra_tags: Sequence[str],
    job_type: str,
) -> Logger:
    mode = mode or os.environ.get("WANDB_MODE") or ("offline" if offline else "online")
    return WandbLogger(
        project=project,
        entity=entity,
        name=run_name,
        group=group or group_name,
        tags=[*tags, *extra_tags],
        save_dir=str(run_dir),
        mode=mode,
        config=config,
        job_type=job_type,
    )


LOGGERS: dict[str, Callable[..., Logger | None]] = {"none": _none, "csv": _csv, "wandb": _wandb}


def build_logger(
    cfg: Mapping[str, Any],
    run_dir: Path,
    run_name: str,
    tags: Sequence[str],
    group: str | None,
    config: dict,
) -> Logger | None:
    """The Lightning logger of a ``logger`` config (None for ``name: none``)."""
    name = cfg["name"]
    if name not in LOGGERS:
        raise ValueError(f"logger.name={name!r}: choose one of {', '.join(LOGGERS)}")
    kwargs = {k: v for k, v in cfg.items() if k != "name"}
    return LOGGERS[name](run_dir, run_name, list(tags), group, config, **kwargs)


def log_results(
    logger: Logger | None, results: Mapping[str, Any], figures: dict[str, Path]
) -> None:
    """The per-tag table, figures and summary numbers to wandb (other loggers: nothing)."""
    if not isinstance(logger, WandbLogger):
        return
    import wandb

    rows = [
        [t, v["test"]["roc_auc"], v["test"]["pr_auc"], v["test"]["positives"]]
        for t, v in results["per_tag"].items()
    ]
    logger.experiment.log(
        {
            "per_tag": wandb.Table(
                columns=["tag", "test_roc_auc", "test_pr_auc", "test_positives"], data=rows
            ),
            **{f"figures/{k}": wandb.Image(str(p)) for k, p in figures.items()},
        }
    )
    logger.experiment.summary.update(
        {
            "test/roc_auc": results["test"]["roc_auc"],
            "test/pr_auc": results["test"]["pr_auc"],
            "val_best/roc_auc": results["val"]["roc_auc"],
            "val_best/pr_auc": results["val"]["pr_auc"],
            "train_clips_per_second": results["train_clips_per_second"],
        }
    )
