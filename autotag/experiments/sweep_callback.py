"""The Hydra callback of ``sweep.py`` (``hydra.callbacks`` of ``conf/sweep.yaml``): the sweep
report at the end of a multirun."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from autotag.experiments.report import log_report_to_wandb, report_sweep
from autotag.experiments.robustness import condition_names
from autotag.inference.perturb import check_conditions, parse_conditions

log = logging.getLogger(__name__)


class SweepReport(Callback):
    """Write the report into the sweep folder, log it to wandb (``sweep.report_wandb`` with
    ``logger=wandb``) and print it."""

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        # a bad name, or a condition the features' rate cannot take, stops the sweep before its
        # first job (SystemExit: Hydra turns a callback's exceptions into warnings)
        try:
            names = condition_names(config.sweep.get("robustness"))
            rate = OmegaConf.select(config, "features.sample_rate", default=None)
            if names and rate:
                check_conditions(parse_conditions(names), int(rate))
        except ValueError as e:
            raise SystemExit(str(e)) from None  # the message names sweep.robustness

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = Path(config.hydra.sweep.dir)
        if not sweep_dir.is_dir():
            return
        report = report_sweep(sweep_dir, config)
        if config.sweep.report_wandb and config.logger.name == "wandb":
            try:
                log_report_to_wandb(report, sweep_dir, config)
            except Exception:  # the files are written; a logging problem must not hide them
                log.exception("could not log the report to wandb")
        print(report["markdown"], flush=True)
