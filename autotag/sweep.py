"""Sweeps: the job wrapper of ``sweep.py`` (skip finished, catch failures, dedupe baselines) and
the sweep report (``results.csv``, ``results.md``, ``results.png``, a wandb table).

Rebuild a report by hand::

    python -m autotag.sweep report multirun/paper [--wandb]
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import hashlib
import json
import logging
import math
import os
import socket
import sys
import time
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from hydra.core.hydra_config import HydraConfig
from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf, open_dict

log = logging.getLogger(__name__)

#: The seed paper's published AUC-ROC (validation, test) on MagnaTagATune, Tables II and III,
#: keyed by (model, norm, epochs); baselines have no epochs (None).
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

BASELINE_ARCHS = ("rf", "knn")
COLUMNS = [
    "job",
    "status",
    "model",
    "norm",
    "epochs",
    "other",
    "val_roc_auc",
    "val_pr_auc",
    "test_roc_auc",
    "test_pr_auc",
    "paper_val_roc_auc",
    "paper_test_roc_auc",
    "seconds",
    "error",
]
_MODEL_ORDER = ["fcn", "fcn_bn", "fcn_choi", "fcn_bn_choi", "rf", "knn"]
_NORM_ORDER = ["global", "per_coeff", "per_spec", "prelog", "none"]


# --------------------------------------------------------------------------- one job


def override_key(override: str) -> str:
    """``'+a.b=1'`` -> ``'a.b'``."""
    return override.split("=", 1)[0].lstrip("+~")


def identity(overrides: list[str], exact: list[str], under: tuple[str, ...] = ()) -> list[str]:
    """The overrides that define a job: sorted, without the keys in ``exact`` nor the keys
    in or under those of ``under`` (``optimizer`` drops ``optimizer.lr`` too)."""
    keep = []
    for o in overrides:
        k = override_key(o)
        if k not in exact and not any(k == u or k.startswith(u + ".") for u in under):
            keep.append(o)
    return sorted(keep)


def _write_json(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(data, indent=2, allow_nan=True, default=str))
    os.replace(tmp, path)


@contextlib.contextmanager
def dedupe_slot(sweep_dir: Path, key: list[str], job: Path) -> Iterator[Path | None]:
    """Claim the run of a job identity shared by several jobs of a sweep.

    Yields ``None`` when this job must run (it holds a file lock until the block ends, so a
    parallel duplicate waits), or the folder of the job that already holds the results.
    """
    import fcntl

    folder = sweep_dir / ".dedupe"
    folder.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha1(json.dumps(key).encode()).hexdigest()[:16]
    me = str(job.relative_to(sweep_dir))
    with open(folder / f"{digest}.lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        registry = folder / f"{digest}.json"
        owner = json.loads(registry.read_text())["job"] if registry.exists() else None
        if owner and owner != me and (sweep_dir / owner / "results.json").exists():
            yield sweep_dir / owner
            return
        _write_json(registry, {"job": me, "key": key})
        yield None


def _finish_wandb_run(exit_code: int) -> None:
    wandb = sys.modules.get("wandb")
    if wandb is not None and getattr(wandb, "run", None) is not None:
        with contextlib.suppress(Exception):
            wandb.finish(exit_code=exit_code)


def run_job(cfg: DictConfig) -> float:
    """One job of a sweep: a normal training run (:func:`autotag.training.train`) in its own
    folder, skipped when its ``results.json`` exists, resumed from ``checkpoints/last.ckpt``
    when it was killed, and never raising: a failure is written to ``failed.json``.

    Returns the validation ROC-AUC (the objective of an Optuna sweep; NaN for a failure).
    """
    hc = HydraConfig.get()
    out = Path(hc.runtime.output_dir)
    sweep_dir = Path(hc.sweep.dir).absolute()
    overrides = list(hc.overrides.task)
    excluded = list(hc.job.config.override_dirname.exclude_keys)
    sw = cfg.get("sweep") or {}
    name = out.relative_to(sweep_dir) if out.is_relative_to(sweep_dir) else out
    results_file = out / "results.json"
    if sw.get("skip_finished", True) and results_file.exists():
        done = json.loads(results_file.read_text())
        if identity(done.get("overrides", []), excluded) != identity(overrides, excluded):
            log.warning(
                "%s: results.json was written with overrides %s, this job has %s",
                name,
                done.get("overrides"),
                overrides,
            )
        log.info("skip %s: finished (results.json exists)", name)
        return float(done["val"]["roc_auc"])

    with contextlib.ExitStack() as stack:
        ignores = list(cfg.model.get("ignores") or [])
        if cfg.model.get("arch") in BASELINE_ARCHS and ignores and out.is_relative_to(sweep_dir):
            key = identity(overrides, excluded, tuple(ignores))
            owner = stack.enter_context(dedupe_slot(sweep_dir, key, out))
            if owner is not None:
                rel = str(owner.relative_to(sweep_dir))
                _write_json(out / "duplicate.json", {"of": rel, "ignores": ignores})
                log.info("skip %s: same run as %s (differs only in %s)", name, rel, ignores)
                done = json.loads((owner / "results.json").read_text())
                return float(done["val"]["roc_auc"])
        return _run(cfg, out, overrides, sw)


def resumable(last: Path) -> bool:
    """Whether a ``last.ckpt`` can be resumed: readable, and the best checkpoint its
    ModelCheckpoint state names still exists (training validates and tests with that file)."""
    import torch

    try:
        ckpt = torch.load(last, map_location="cpu", weights_only=True)
    except Exception:
        return False
    for name, state in (ckpt.get("callbacks") or {}).items():
        best = state.get("best_model_path") if name.startswith("ModelCheckpoint") else None
        if best and not Path(best).exists():
            return False
    return True


def _run(cfg: DictConfig, out: Path, overrides: list[str], sw: Any) -> float:
    from autotag.training import train

    for stale in ("failed.json", "duplicate.json"):
        (out / stale).unlink(missing_ok=True)
    last = out / "checkpoints" / "last.ckpt"
    if (
        sw.get("resume", True)
        and last.exists()
        and not cfg.get("ckpt_path")
        and cfg.model.get("arch") not in BASELINE_ARCHS
    ):
        if resumable(last):
            log.info("resuming from %s", last)
            with open_dict(cfg):
                cfg.ckpt_path = str(last)
        else:
            log.warning("%s cannot be resumed (its best checkpoint is gone): starting over", last)
    job = {"status": "running", "host": socket.gethostname(), "pid": os.getpid()}
    job.update(started=time.strftime("%Y-%m-%dT%H:%M:%S"), overrides=overrides)
    _write_json(out / "job.json", job)
    t0 = time.perf_counter()
    try:
        results = train(cfg)
    except Exception as e:  # one failing job must not stop the sweep
        job.update(status="failed", wall_seconds=time.perf_counter() - t0)
        _write_json(out / "job.json", job)
        _write_json(
            out / "failed.json",
            {
                "error": f"{type(e).__name__}: {e}",
                "traceback": traceback.format_exc(),
                "overrides": overrides,
                "wall_seconds": job["wall_seconds"],
            },
        )
        log.exception("job %s failed (written to failed.json); the sweep goes on", out.name)
        _finish_wandb_run(exit_code=1)
        return math.nan
    job.update(status="finished", wall_seconds=time.perf_counter() - t0)
    _write_json(out / "job.json", job)
    return float(results["val"]["roc_auc"])


# --------------------------------------------------------------------------- the report


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


def _paper_key(model: str, norm: str, epochs: Any) -> tuple[str, str, int | None]:
    return (model, norm, None if model in BASELINE_ARCHS else epochs)


def _sort_key(row: dict[str, Any]) -> tuple:
    def rank(order: list[str], v: str) -> tuple[int, str]:
        return (order.index(v) if v in order else len(order), str(v))

    ep = row["epochs"] if isinstance(row["epochs"], int) else -1
    return (rank(_MODEL_ORDER, row["model"]), rank(_NORM_ORDER, row["norm"]), ep, row["job"])


def collect(sweep_dir: str | Path, paper: bool = True) -> tuple[list[dict[str, Any]], int]:
    """One row per job of the sweep folder, and the number of duplicate jobs left out."""
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

        model, norm, epochs = str(get("model.name", "?")), str(get("norm.mode", "?")), get("epochs")
        if model in BASELINE_ARCHS or get("model.arch") in BASELINE_ARCHS:
            epochs = None
        newer_failure = failed is not None and (
            res is None
            or (job / "failed.json").stat().st_mtime > (job / "results.json").stat().st_mtime
        )
        job_info = _read_json(job / "job.json") or {}
        row: dict[str, Any] = dict.fromkeys(COLUMNS)
        row.update(job=str(job.relative_to(sweep_dir)), model=model, norm=norm, epochs=epochs)
        hydra_cfg = OmegaConf.load(job / ".hydra" / "hydra.yaml")
        excluded = OmegaConf.select(
            hydra_cfg, "hydra.job.config.override_dirname.exclude_keys", default=None
        )
        axes = ["model", "norm", "epochs", *(excluded or [])]
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
            row["seconds"] = job_info.get("wall_seconds") or res.get("fit_seconds")
        else:
            # started but no results: still running, or killed (a rerun resumes it)
            row["status"] = "incomplete"
            row["error"] = f"started {job_info['started']}" if "started" in job_info else None
        if paper and _paper_key(model, norm, epochs) in PAPER:
            row["paper_val_roc_auc"], row["paper_test_roc_auc"] = PAPER[
                _paper_key(model, norm, epochs)
            ]
        rows.append(row)
    return sorted(rows, key=_sort_key), duplicates


def _fmt(v: Any, digits: int = 4) -> str:
    if v is None:
        return "–"
    if isinstance(v, float):
        return "nan" if math.isnan(v) else f"{v:.{digits}f}"
    return str(v)


def _fmt_seconds(v: Any) -> str:
    if v is None:
        return "–"
    v = float(v)
    return f"{v:.0f} s" if v < 120 else f"{v / 60:.1f} min"


def _drop_shared(rows: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], set[str]]:
    """Rows without the ``other`` overrides that every row has (and those overrides)."""
    others = [set((r["other"] or "").split()) for r in rows]
    shared = set.intersection(*others) if len(rows) > 1 else set()
    return [dict(r, other=" ".join(sorted(o - shared))) for r, o in zip(rows, others)], shared


def markdown(rows: list[dict[str, Any]], title: str = "", duplicates: int = 0) -> str:
    """The report table as Markdown (the paper's columns when any row has a paper number)."""
    with_paper = any(r["paper_test_roc_auc"] is not None for r in rows)
    rows, shared = _drop_shared(rows)
    with_other = any(r["other"] for r in rows)
    head = ["model", "norm", "epochs"] + (["other"] if with_other else [])
    head += ["val ROC-AUC", "test ROC-AUC", "val PR-AUC", "test PR-AUC"]
    head += ["paper val", "paper test"] if with_paper else []
    head += ["time", "status"]
    lines = [f"## {title}", ""] if title else []
    if shared:
        lines += [f"Every job: `{' '.join(sorted(shared))}`", ""]
    lines += ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    for r in rows:
        cells = [r["model"], r["norm"], _fmt(r["epochs"])] + ([r["other"]] if with_other else [])
        cells += [_fmt(r[k]) for k in ("val_roc_auc", "test_roc_auc", "val_pr_auc", "test_pr_auc")]
        if with_paper:
            cells += [_fmt(r["paper_val_roc_auc"]), _fmt(r["paper_test_roc_auc"])]
        status = r["status"] if r["status"] != "failed" else f"failed: {r['error']}"
        cells += [_fmt_seconds(r["seconds"]), status.replace("|", "/")[:120]]
        lines.append("| " + " | ".join(cells) + " |")
    n = {s: sum(r["status"] == s for r in rows) for s in ("finished", "failed")}
    lines += [
        "",
        f"{len(rows)} jobs: {n['finished']} finished, {n['failed']} failed, "
        f"{len(rows) - n['finished'] - n['failed']} incomplete"
        + (f"; {duplicates} duplicate baseline jobs skipped" if duplicates else "")
        + ".",
    ]
    if with_paper:
        lines.append(
            "Paper: Nair & Bradley, Tables II and III (AUC-ROC on MagnaTagATune, full-width FCN)."
        )
    return "\n".join(lines) + "\n"


def bar_plot(rows: list[dict[str, Any]], path: str | Path, title: str = "") -> Path:
    """Test ROC-AUC of every finished row, with the paper's number beside it where known."""
    from autotag import plots

    plt = plots.plt
    done = [r for r in _drop_shared(rows)[0] if r["test_roc_auc"] is not None]
    labels = [
        " ".join(
            x
            for x in (r["model"], r["norm"], f"e{r['epochs']}" if r["epochs"] else "", r["other"])
            if x
        )
        for r in done
    ]
    n = max(len(done), 1)
    fig, ax = plt.subplots(figsize=(9, 1.0 + 0.34 * n))
    y = list(range(len(done)))[::-1]
    paper = [(v, r["paper_test_roc_auc"]) for v, r in zip(y, done) if r["paper_test_roc_auc"]]
    h = 0.4 if paper else 0.7
    ours = [r["test_roc_auc"] for r in done]
    shift = h / 2 if paper else 0.0
    ax.barh([v + shift for v in y], ours, h, label="this sweep (test)")
    for v, a in zip(y, ours):
        ax.text(min(a, 1.0) + 0.01, v + shift, _fmt(a, 3), va="center", fontsize=7)
    if paper:
        ax.barh(
            [v - h / 2 for v, _ in paper],
            [p for _, p in paper],
            h,
            color="grey",
            label="paper (test)",
        )
        for v, p in paper:
            ax.text(p + 0.01, v - h / 2, _fmt(p, 3), va="center", fontsize=7, color="dimgrey")
    ax.set_yticks(y, labels, fontsize=8)
    ax.axvline(0.5, color="black", lw=0.8, ls=":")
    ax.set(xlim=(0, 1.1), xlabel="macro ROC-AUC", title=title or "sweep results")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    ax.grid(axis="x", alpha=0.3)
    return plots._save(fig, path)


def write_report(
    sweep_dir: str | Path, paper: bool = True, title: str | None = None
) -> dict[str, Any]:
    """Write ``results.csv``, ``results.md`` and ``results.png`` into the sweep folder."""
    sweep_dir = Path(sweep_dir)
    rows, duplicates = collect(sweep_dir, paper)
    title = title or f"sweep {sweep_dir.name}"
    with open(sweep_dir / "results.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=COLUMNS)
        w.writeheader()
        w.writerows({k: ("" if v is None else v) for k, v in r.items()} for r in rows)
    md = markdown(rows, title, duplicates)
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
    """The report table and plot as a last small wandb run (job_type ``report``) of the group."""
    import wandb

    lc = dict(logger_cfg)
    mode = (
        lc.get("mode")
        or os.environ.get("WANDB_MODE")
        or ("offline" if lc.get("offline", True) else "online")
    )
    run = wandb.init(
        project=lc.get("project", "autotag"),
        entity=lc.get("entity"),
        group=group,
        name=f"{group}-report",
        job_type="report",
        dir=str(sweep_dir),
        mode=mode,
        reinit="finish_previous",
    )
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
    run.finish()


class SweepReport(Callback):
    """Hydra callback (``hydra.callbacks`` of ``conf/sweep.yaml``): the report at the end."""

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = Path(config.hydra.sweep.dir)
        if not sweep_dir.is_dir():
            return
        sw = config.get("sweep") or {}
        name = sw.get("name") or sweep_dir.name
        report = write_report(sweep_dir, bool(sw.get("paper_reference", False)), f"sweep {name}")
        if sw.get("report_wandb", True) and config.logger.get("name") == "wandb":
            try:
                log_report_to_wandb(report, sweep_dir, config.get("group") or name, config.logger)
            except Exception:  # the files are written; a logging problem must not hide them
                log.exception("could not log the report to wandb")
        print(report["markdown"], flush=True)


def main(argv: list[str] | None = None) -> None:
    """``python -m autotag.sweep report <sweep folder> [--wandb] [--no-paper]``."""
    p = argparse.ArgumentParser(prog="python -m autotag.sweep", description=__doc__)
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("report", help="rebuild results.csv/.md/.png of a sweep folder")
    r.add_argument("sweep_dir", type=Path)
    r.add_argument("--wandb", action="store_true", help="also log the table to wandb")
    r.add_argument("--no-paper", action="store_true", help="leave out the paper's numbers")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    if not args.sweep_dir.is_dir():
        p.error(f"{args.sweep_dir}: no such folder")
    saved = args.sweep_dir / "multirun.yaml"
    cfg = OmegaConf.load(saved) if saved.exists() else OmegaConf.create({})
    name = OmegaConf.select(cfg, "sweep.name", default=None) or args.sweep_dir.name
    paper = bool(OmegaConf.select(cfg, "sweep.paper_reference", default=True)) and not args.no_paper
    report = write_report(args.sweep_dir, paper, f"sweep {name}")
    if args.wandb:
        group = OmegaConf.select(cfg, "group", default=None) or name
        logger_cfg = OmegaConf.select(cfg, "logger", default=None) or {}
        log_report_to_wandb(report, args.sweep_dir, str(group), logger_cfg)
    print(report["markdown"], end="")


if __name__ == "__main__":
    main()
