"""The sweep report: ``results.csv``, ``results.md``, ``results.png`` and a wandb table, with
the seed paper's published numbers beside ours. Written by a Hydra callback at the end of a
multirun (``conf/sweep.yaml``), or by hand::

    python -m autotag.sweep report multirun/paper [--wandb]
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf
from pytorch_lightning.loggers import WandbLogger

from autotag.experiments.aggregate import against_reference, group_rows
from autotag.experiments.job import identity
from autotag.experiments.render import bar_plot, markdown
from autotag.models import MODELS, is_network
from autotag.training.loggers import build_logger, finish

log = logging.getLogger(__name__)
USAGE = __doc__

#: The seed paper's published AUC-ROC (validation, test) on MagnaTagATune, Tables II and III,
#: keyed by (model, norm, epochs); baselines have no epochs (None). The paper does not name its
#: split; it follows Choi et al. 2016, who use `folds`: only rows of that split get them.
PAPER: dict[tuple[str, str, int | None], tuple[float, float]] = {
    ("fcn", "global", 10): (0.8585, 0.8629),
    ("fcn", "per_coeff", 10): (0.8593, 0.8622),
    ("fcn", "per_spec", 10): (0.8578, 0.8595),
    ("fcn", "global", 2): (0.7441, 0.7524),
    ("fcn", "prelog", 2): (0.4924, 0.4964),
    ("fcn_bn", "global", 10): (0.8655, 0.8714),
    ("rf", "global", None): (0.502, 0.506),
    ("knn", "global", None): (0.5104, 0.5104),
}
PAPER_SPLIT = "folds"
DEFAULT_BOOTSTRAP = {"n_resamples": 1000, "seed": 0}  # as conf/train.yaml's `bootstrap`
PAPER_NAME = (
    "Nair & Bradley, Tables II and III (MTAT, full-width FCN; split as Choi et al. 2016: folds)"
)

COLUMNS = [
    "job",
    "status",
    "model",
    "norm",
    "epochs",
    "other",
    "split",
    "seed",
    "val_roc_auc",
    "val_pr_auc",
    "test_roc_auc",
    "test_pr_auc",
    "test_roc_auc_lo",
    "test_roc_auc_hi",
    "test_pr_auc_lo",
    "test_pr_auc_hi",
    "ref_diff",
    "ref_lo",
    "ref_hi",
    "ref_excludes_zero",
    "paper_val_roc_auc",
    "paper_test_roc_auc",
    "paper_test_pr_auc",
    "paper_source",
    "seconds",
    "error",
]
_MODEL_ORDER = ["fcn", "fcn_bn", "fcn_choi", "fcn_bn_choi", "rf", "knn"]
_NORM_ORDER = ["global", "per_coeff", "per_spec", "prelog", "none"]


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _job_folders(sweep_dir: Path) -> list[Path]:
    """Folders of a sweep that Hydra ran a job in (they hold ``.hydra/``)."""
    found = []
    for hydra_dir in sweep_dir.rglob(".hydra"):
        job = hydra_dir.parent
        parts = job.relative_to(sweep_dir).parts
        if job != sweep_dir and not any(p.startswith(".") for p in parts):
            found.append(job)
    return sorted(found)


def _network(arch: Any) -> bool:
    return arch not in MODELS or is_network(str(arch))


def _paper_key(model: str, norm: str, epochs: Any) -> tuple[str, str, int | None]:
    return (model, norm, epochs)


def _sort_key(row: dict[str, Any]) -> tuple:
    def rank(order: list[str], v: str) -> tuple[int, str]:
        return (order.index(v) if v in order else len(order), str(v))

    ep = row["epochs"] if isinstance(row["epochs"], int) else -1
    return (rank(_MODEL_ORDER, row["model"]), rank(_NORM_ORDER, row["norm"]), ep, row["job"])


def collect(
    sweep_dir: str | Path, paper: bool = True, published: dict[str, Any] | None = None
) -> tuple[list[dict[str, Any]], int]:
    """One row per job of the sweep folder, and the number of duplicate jobs left out.

    ``published`` (a grid's ``sweep.published``: ``source``, ``split`` and ``rows``, a model
    preset → ``name``, ``roc_auc``, ``pr_auc`` and optionally ``not_run``: why we have no job)
    puts a paper's numbers beside the rows of that split, in place of the seed paper's; its
    models without a job get a "not run" row."""
    sweep_dir = Path(sweep_dir)
    rows, duplicates = [], 0
    for job in _job_folders(sweep_dir):
        res = _read_json(job / "results.json")
        failed = _read_json(job / "failed.json")
        if res is None and failed is None and (job / "duplicate.json").exists():
            duplicates += 1
            continue
        cfg = OmegaConf.load(job / ".hydra" / "config.yaml")
        overrides = OmegaConf.load(job / ".hydra" / "overrides.yaml")

        def get(key: str, default: Any = None, cfg: Any = cfg) -> Any:
            return OmegaConf.select(cfg, key, default=default, throw_on_resolution_failure=False)

        hydra_cfg = OmegaConf.load(job / ".hydra" / "hydra.yaml")
        model = str(
            (res or {}).get("model")
            or OmegaConf.select(hydra_cfg, "hydra.runtime.choices.model", default=None)
            or get("model.arch", "?")
        )
        norm, epochs = str(get("norm.mode", "?")), get("epochs")
        if (res or {}).get("epochs", epochs) is None or not _network(get("model.arch")):
            epochs = None
        newer_failure = failed is not None and (
            res is None
            or (job / "failed.json").stat().st_mtime > (job / "results.json").stat().st_mtime
        )
        job_info = _read_json(job / "job.json") or {}
        row: dict[str, Any] = dict.fromkeys(COLUMNS)
        row.update(job=str(job.relative_to(sweep_dir)), model=model, norm=norm, epochs=epochs)
        row.update(split=str(get("data.split", "?")), seed=get("seed"))
        excluded = OmegaConf.select(
            hydra_cfg, "hydra.job.config.override_dirname.exclude_keys", default=None
        )
        axes = ["model", "norm", "epochs", "seed", *(excluded or [])]
        row["other"] = " ".join(identity(list(overrides), axes))
        if newer_failure:
            assert failed is not None
            row.update(status="failed", error=failed.get("error", "?"))
            row["seconds"] = failed.get("wall_seconds")
        elif res is not None:
            row.update(
                status="finished",
                val_roc_auc=res["val"]["roc_auc"],
                val_pr_auc=res["val"]["pr_auc"],
                test_roc_auc=res["test"]["roc_auc"],
                test_pr_auc=res["test"]["pr_auc"],
            )
            interval = res["test"].get("interval")  # results.json of older runs have none
            if interval:
                row["test_roc_auc_lo"], row["test_roc_auc_hi"] = interval["roc_auc"]
                row["test_pr_auc_lo"], row["test_pr_auc_hi"] = interval["pr_auc"]
            row["seconds"] = job_info.get("wall_seconds") or res.get("fit_seconds")
        else:
            # started but no results: still running, or killed (a rerun resumes it)
            row["status"] = "incomplete"
            row["error"] = f"started {job_info['started']}" if "started" in job_info else None
        mtat_format = get("data.reader") == "mtat"  # MTAT or the synthetic corpus, not a catalogue
        key = _paper_key(model, norm, epochs)
        if published:
            _add_published(row, published, mtat_format)
        elif paper and mtat_format and row["split"] == PAPER_SPLIT and key in PAPER:
            row["paper_val_roc_auc"], row["paper_test_roc_auc"] = PAPER[
                _paper_key(model, norm, epochs)
            ]
            table = "III" if epochs is None else "II"
            row["paper_source"] = f"Nair & Bradley Table {table} ({PAPER_SPLIT})"
        rows.append(row)
    if published:
        return _with_not_run(rows, published), duplicates
    return sorted(rows, key=_sort_key), duplicates


def _add_published(row: dict[str, Any], published: dict[str, Any], mtat_format: bool) -> None:
    entry = (published.get("rows") or {}).get(row["model"])
    if entry and mtat_format and row["split"] == published.get("split", row["split"]):
        row["paper_test_roc_auc"] = entry.get("roc_auc")
        row["paper_test_pr_auc"] = entry.get("pr_auc")
        row["paper_source"] = entry.get("name") or row["model"]


def _with_not_run(rows: list[dict[str, Any]], published: dict[str, Any]) -> list[dict[str, Any]]:
    """The rows in the published table's order (others after), plus a "not run" row for each
    published model without a job."""
    order = list(published.get("rows") or {})
    have = {r["model"] for r in rows}
    for model, entry in (published.get("rows") or {}).items():
        if model in have:
            continue
        row: dict[str, Any] = dict.fromkeys(COLUMNS)
        row.update(job="–", model=model, norm="–", split=published.get("split", "–"), other="")
        row.update(status="not run", error=entry.get("not_run") or "no job in this sweep")
        row["paper_test_roc_auc"], row["paper_test_pr_auc"] = (
            entry.get("roc_auc"),
            entry.get("pr_auc"),
        )
        row["paper_source"] = entry.get("name") or model
        rows.append(row)

    def key(r: dict[str, Any]) -> tuple:
        return (order.index(r["model"]) if r["model"] in order else len(order), _sort_key(r))

    return sorted(rows, key=key)


def write_report(
    sweep_dir: str | Path,
    paper: bool = True,
    title: str | None = None,
    reference: str | None = None,
    bootstrap: dict[str, int] | None = None,
    published: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Write ``results.csv`` (a row per job), ``results.md`` (a row per configuration: mean ±
    sd over seeds when there are several) and ``results.png`` into the sweep folder.
    ``reference`` (``"model=fcn norm=global"``) compares every row with that row of the same seed
    (paired bootstrap, ``bootstrap`` = n_resamples and seed); ``published``: see :func:`collect`."""
    sweep_dir = Path(sweep_dir)
    rows, duplicates = collect(sweep_dir, paper, published)
    if reference:
        against_reference(rows, sweep_dir, reference, **(bootstrap or DEFAULT_BOOTSTRAP))
    title = title or f"sweep {sweep_dir.name}"
    with open(sweep_dir / "results.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=COLUMNS, extrasaction="ignore")
        w.writeheader()
        w.writerows({k: ("" if v is None else v) for k, v in r.items()} for r in rows)
    source = published.get("source") if published else PAPER_NAME
    md = markdown(rows, title, duplicates, group_rows(rows), reference, source)
    (sweep_dir / "results.md").write_text(md)
    png = bar_plot(rows, sweep_dir / "results.png", title)
    log.info("sweep report: %s (.csv, .png)", sweep_dir / "results.md")
    return {"rows": rows, "duplicates": duplicates, "markdown": md, "png": png}


def log_report_to_wandb(
    report: dict[str, Any],
    sweep_dir: Path,
    group: str,
    logger_cfg: DictConfig | dict[str, Any],
) -> None:
    """The report table and plot as a last small wandb run (job_type ``report``) of the group,
    through the same logger builder as the runs (``logger_cfg`` is the sweep's wandb config)."""
    import wandb

    cfg = {**OmegaConf.to_container(OmegaConf.create(dict(logger_cfg))), "job_type": "report"}
    logger = build_logger(cfg, sweep_dir, f"{group}-report", ["report"], group, {})
    if not isinstance(logger, WandbLogger):
        return
    run = logger.experiment
    table = wandb.Table(columns=COLUMNS, data=[[r[c] for c in COLUMNS] for r in report["rows"]])
    run.log({"results": table, "results_plot": wandb.Image(str(report["png"]))})
    done = [r for r in report["rows"] if r["status"] == "finished"]
    run.summary.update(
        {
            "jobs": len(report["rows"]),
            "finished": len(done),
            "failed": len(report["rows"]) - len(done),
        }
    )
    finish(logger)


def _published(cfg: Any) -> dict[str, Any] | None:
    node = OmegaConf.select(cfg, "sweep.published", default=None)
    return OmegaConf.to_container(node, resolve=True) if node is not None else None  # type: ignore[return-value]


class SweepReport(Callback):
    """Hydra callback (``hydra.callbacks`` of ``conf/sweep.yaml``): the report at the end."""

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = Path(config.hydra.sweep.dir)
        if not sweep_dir.is_dir():
            return
        sw = config.sweep  # conf/sweep.yaml
        name = sw.name or sweep_dir.name
        report = write_report(
            sweep_dir,
            bool(sw.paper_reference),
            f"sweep {name}",
            sw.reference,
            OmegaConf.to_container(config.bootstrap),
            _published(config),
        )
        if sw.report_wandb and config.logger.name == "wandb":
            try:
                log_report_to_wandb(report, sweep_dir, config.get("group") or name, config.logger)
            except Exception:  # the files are written; a logging problem must not hide them
                log.exception("could not log the report to wandb")
        print(report["markdown"], flush=True)


def main(argv: list[str] | None = None) -> None:
    """``python -m autotag.sweep report <sweep folder> [--wandb] [--no-paper]``."""
    p = argparse.ArgumentParser(prog="python -m autotag.sweep", description=USAGE)
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("report", help="rebuild results.csv/.md/.png of a sweep folder")
    r.add_argument("sweep_dir", type=Path)
    r.add_argument("--wandb", action="store_true", help="also log the table to wandb")
    r.add_argument("--no-paper", action="store_true", help="leave out the paper's numbers")
    r.add_argument(
        "--reference",
        default=None,
        metavar="SPEC",
        help='compare every row with this one, e.g. "model=fcn norm=global" '
        "(default: the sweep's sweep.reference)",
    )
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    if not args.sweep_dir.is_dir():
        p.error(f"{args.sweep_dir}: no such folder")
    saved = args.sweep_dir / "multirun.yaml"
    cfg = OmegaConf.load(saved) if saved.exists() else OmegaConf.create({})
    name = OmegaConf.select(cfg, "sweep.name", default=None) or args.sweep_dir.name
    paper = bool(OmegaConf.select(cfg, "sweep.paper_reference", default=True)) and not args.no_paper
    reference = args.reference or OmegaConf.select(cfg, "sweep.reference", default=None)
    bootstrap = OmegaConf.select(cfg, "bootstrap", default=None)
    bootstrap = OmegaConf.to_container(bootstrap) if bootstrap is not None else None
    published = _published(cfg) if not args.no_paper else None
    report = write_report(args.sweep_dir, paper, f"sweep {name}", reference, bootstrap, published)
    if args.wandb:
        group = OmegaConf.select(cfg, "group", default=None) or name
        logger_cfg = OmegaConf.select(cfg, "logger", default=None) or {}
        log_report_to_wandb(report, args.sweep_dir, str(group), logger_cfg)
    print(report["markdown"], end="")
