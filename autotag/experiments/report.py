"""The sweep report: ``results.csv`` (a row per job), ``results.md`` and ``results.png`` in the
sweep folder, and optionally a wandb table, with a grid's published numbers beside ours.

Written at the end of a multirun (:mod:`autotag.experiments.sweep_callback`) or by hand
(``autotag report multirun/<name>``); both read the settings from the sweep's config.
"""

from __future__ import annotations

import csv
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf
from pytorch_lightning.loggers import WandbLogger

from autotag.experiments.aggregate import against_reference, group_rows
from autotag.experiments.collect import COLUMNS, collect
from autotag.experiments.render import bar_plot, markdown
from autotag.experiments.robustness import (
    condition_names,
    markdown_section,
    score_runs,
    summarize,
    write_summary,
)
from autotag.runs.end import closing_logger
from autotag.training.loggers import build_logger

log = logging.getLogger(__name__)


def write_report(
    sweep_dir: str | Path,
    title: str | None = None,
    reference: str | None = None,
    bootstrap: Mapping[str, Any] | None = None,
    published: dict[str, Any] | None = None,
    robustness: str | list[str] | None = None,
) -> dict[str, Any]:
    """Write ``results.csv`` (a row per job), ``results.md`` (a row per configuration: mean ±
    sd over seeds when there are several) and ``results.png`` into the sweep folder.
    ``reference`` (``"model=fcn norm=global"``) compares every row with that row of the same
    seed (paired bootstrap; ``bootstrap``: n_resamples, seed and cluster, the config's);
    ``published``: a grid's ``sweep.published`` (see :mod:`autotag.experiments.published`);
    ``robustness``: ``sweep.robustness``, conditions of ``autotag robustness`` under which every
    run is scored (those not scored yet) and summarized in ``robustness.csv/.png`` and a
    section of ``results.md`` (:mod:`autotag.experiments.robustness`)."""
    sweep_dir = Path(sweep_dir)
    rows, duplicates = collect(sweep_dir, published)
    if (reference or robustness) and bootstrap is None:
        raise ValueError(
            "a reference row or robustness needs the bootstrap settings (n_resamples, seed, cluster)"
        )
    if reference:
        against_reference(rows, sweep_dir, reference, **bootstrap)
    title = title or f"sweep {sweep_dir.name}"
    with open(sweep_dir / "results.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=COLUMNS, extrasaction="ignore")
        w.writeheader()
        w.writerows({k: ("" if v is None else v) for k, v in r.items()} for r in rows)
    source = (published or {}).get("source") or ""
    md = markdown(rows, title, duplicates, group_rows(rows), reference, source)
    (sweep_dir / "results.md").write_text(md)
    png = bar_plot(rows, sweep_dir / "results.png", title)
    if robustness:  # after the main report: a failure here must not cost it
        for stale in ("robustness.csv", "robustness.png"):
            (sweep_dir / stale).unlink(missing_ok=True)
        try:
            conditions = condition_names(robustness)
            scored = score_runs(rows, sweep_dir, conditions)
            summary = summarize(rows, sweep_dir, conditions, reference, bootstrap, scored)
            write_summary(summary, sweep_dir, f"{title}: robustness")
            md += "\n" + markdown_section(summary, reference)
        except Exception as e:
            log.exception("the robustness part of the report failed")
            md += f"\n## Under `autotag robustness`'s conditions\n\nNot reported: {e}\n"
        (sweep_dir / "results.md").write_text(md)
    log.info("sweep report: %s (.csv, .png)", sweep_dir / "results.md")
    return {"rows": rows, "duplicates": duplicates, "markdown": md, "png": png}


def _select(cfg: Any, key: str) -> Any:
    node = OmegaConf.select(cfg, key, default=None)
    return OmegaConf.to_container(node, resolve=True) if OmegaConf.is_config(node) else node


def sweep_name(cfg: DictConfig, sweep_dir: Path) -> str:
    """The sweep's name: ``sweep.name``, or its folder's."""
    return _select(cfg, "sweep.name") or Path(sweep_dir).name


def report_sweep(
    sweep_dir: str | Path,
    cfg: DictConfig,
    reference: str | None = None,
    published: dict[str, Any] | None = None,
    robustness: str | list[str] | None = None,
) -> dict[str, Any]:
    """:func:`write_report` with the settings of the sweep's config ``cfg`` (the composed
    config, or the sweep folder's ``multirun.yaml``): its name, ``sweep.reference`` (unless
    ``reference`` is given), ``bootstrap``, ``sweep.published`` (unless ``published`` is) and
    ``sweep.robustness`` (unless ``robustness`` is)."""
    return write_report(
        sweep_dir,
        f"sweep {sweep_name(cfg, Path(sweep_dir))}",
        reference or _select(cfg, "sweep.reference"),
        _select(cfg, "bootstrap"),
        published if published is not None else _select(cfg, "sweep.published"),
        robustness if robustness is not None else _select(cfg, "sweep.robustness"),
    )


def log_report_to_wandb(report: dict[str, Any], sweep_dir: Path, cfg: DictConfig) -> None:
    """The report table and plot as a last small wandb run (job_type ``report``) of the sweep's
    group, through the same logger builder as the runs (the config's ``logger``)."""
    import wandb  # only when logging: the report itself needs no wandb

    group = str(_select(cfg, "group") or sweep_name(cfg, sweep_dir))
    logger_cfg = {**(_select(cfg, "logger") or {}), "job_type": "report"}
    logger = build_logger(logger_cfg, sweep_dir, f"{group}-report", ["report"], group, {})
    if not isinstance(logger, WandbLogger):
        return
    with closing_logger(logger):
        run = logger.experiment
        rows = report["rows"]
        table = wandb.Table(columns=COLUMNS, data=[[r[c] for c in COLUMNS] for r in rows])
        run.log({"results": table, "results_plot": wandb.Image(str(report["png"]))})
        done = [r for r in rows if r["status"] == "finished"]
        run.summary.update(
            {"jobs": len(rows), "finished": len(done), "failed": len(rows) - len(done)}
        )
