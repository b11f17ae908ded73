"""A sweep folder's rows: one per job (finished, failed, incomplete or a duplicate left out),
read through the run folder's owner (:mod:`autotag.runs`), with a grid's published numbers
beside the rows they match (:mod:`autotag.experiments.published`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

from autotag.experiments.job import identity
from autotag.experiments.published import add_published, with_not_run
from autotag.models import MODELS, is_network
from autotag.runs.folder import RunFolder, read_json
from autotag.runs.results import interval_unit, results_or_none

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
    "ci_unit",
    "ref_diff",
    "ref_lo",
    "ref_hi",
    "ref_unit",
    "ref_excludes_zero",
    "paper_val_roc_auc",
    "paper_test_roc_auc",
    "paper_test_pr_auc",
    "paper_source",
    "seconds",
    "error",
]


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


def collect(
    sweep_dir: str | Path, published: dict[str, Any] | None = None
) -> tuple[list[dict[str, Any]], int]:
    """One row per job of the sweep folder, and the number of duplicate jobs left out.

    ``published`` (a grid's ``sweep.published``, see :mod:`autotag.experiments.published`)
    puts a paper's numbers beside the rows of its split; its models without a job get a
    "not run" row."""
    sweep_dir = Path(sweep_dir)
    rows, duplicates = [], 0
    for job in _job_folders(sweep_dir):
        folder = RunFolder(job)
        res, failed = results_or_none(job), read_json(folder.failed)
        if res is None and failed is None and folder.duplicate.exists():
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
            res is None or folder.failed.stat().st_mtime > folder.results.stat().st_mtime
        )
        job_info = read_json(folder.job) or {}
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
                row["ci_unit"] = interval_unit(interval)
            row["seconds"] = job_info.get("wall_seconds") or res.get("fit_seconds")
        else:
            # started but no results: still running, or killed (a rerun resumes it)
            row["status"] = "incomplete"
            row["error"] = f"started {job_info['started']}" if "started" in job_info else None
        mtat_format = get("data.reader") == "mtat"  # MTAT or the synthetic corpus, not a catalogue
        if published and mtat_format:
            add_published(row, published)
        rows.append(row)
    return with_not_run(rows, published or {}, COLUMNS), duplicates
