"""``autotag report``: rebuild a sweep's report (``python -m autotag.sweep report`` is an alias)."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from autotag.cli.common import EXIT_OK, UsageError

if TYPE_CHECKING:  # omegaconf is imported when the report runs: the other commands start without it
    from omegaconf import DictConfig

# the configs of a checkout (train.py and sweep.py read them there too)
CONF = Path(__file__).resolve().parents[2] / "conf"


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "report",
        help="rebuild results.csv/.md/.png of a sweep folder",
        description="Rebuild a sweep's report (results.csv, results.md, results.png) from its "
        "job folders, with the settings the sweep ran with (its multirun.yaml): the grid's "
        "published numbers beside ours, and sweep.reference. Prints the Markdown table.",
    )
    p.add_argument("sweep_dir", type=Path, metavar="SWEEP_DIR", help="e.g. multirun/paper")
    p.add_argument("--wandb", action="store_true", help="also log the table to wandb")
    p.add_argument("--no-paper", action="store_true", help="leave out the published numbers")
    p.add_argument(
        "--reference",
        default=None,
        metavar="SPEC",
        help='compare every row with this one, e.g. "model=fcn norm=global" '
        "(default: the sweep's sweep.reference)",
    )
    p.add_argument(
        "--robustness",
        default=None,
        metavar="LIST",
        help="score every run under these conditions of `autotag robustness` (default, or a "
        "comma list) and add them to the report; '' for none (default: the sweep's "
        "sweep.robustness)",
    )
    p.set_defaults(run=run)


def saved_config(sweep_dir: Path) -> DictConfig:
    """The config the sweep ran with (``multirun.yaml``), made whole for folders of older
    sweeps: the seed paper's numbers (their grid set ``sweep.paper_reference``; the numbers
    now live in conf/sweep/paper.yaml) and the bootstrap settings they lack (conf/train.yaml's:
    a sweep made before ``bootstrap.cluster`` existed is compared on the data set's units)."""
    from omegaconf import DictConfig, OmegaConf

    saved = sweep_dir / "multirun.yaml"
    cfg = OmegaConf.load(saved) if saved.exists() else OmegaConf.create({})
    assert isinstance(cfg, DictConfig)
    fill: dict[str, Any] = {}
    if OmegaConf.select(cfg, "sweep.paper_reference", default=False) and not OmegaConf.select(
        cfg, "sweep.published", default=None
    ):
        fill["sweep"] = {"published": _conf("sweep/paper.yaml", "sweep.published")}
    saved_bootstrap = OmegaConf.select(cfg, "bootstrap", default=None) or {}
    fill["bootstrap"] = OmegaConf.merge(_conf("train.yaml", "bootstrap"), saved_bootstrap)
    return OmegaConf.merge(cfg, fill)  # type: ignore[return-value]


def _conf(name: str, key: str) -> Any:
    from omegaconf import OmegaConf

    path = CONF / name
    if not path.is_file():
        raise UsageError(f"{path}: not found (run autotag report from a checkout of autotag)")
    return OmegaConf.select(OmegaConf.load(path), key)


def run(args: argparse.Namespace) -> int:
    # here, not at the top: the other commands start without Lightning
    from autotag.experiments.report import log_report_to_wandb, report_sweep
    from autotag.experiments.robustness import condition_names

    logging.basicConfig(level=logging.WARNING)
    if not args.sweep_dir.is_dir():
        raise UsageError(f"{args.sweep_dir}: no such folder")
    cfg = saved_config(args.sweep_dir)
    try:  # a bad condition name (given here or saved with the sweep): said before any work
        given = args.robustness
        condition_names(given if given is not None else cfg.get("sweep", {}).get("robustness"))
    except ValueError as e:
        raise UsageError(str(e)) from None
    published = {} if args.no_paper else None  # {}: none; None: the sweep's
    report = report_sweep(args.sweep_dir, cfg, args.reference, published, args.robustness)
    if args.wandb:
        log_report_to_wandb(report, args.sweep_dir, cfg)
    print(report["markdown"], end="")
    return EXIT_OK
