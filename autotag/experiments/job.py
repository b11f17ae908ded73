"""One job of a sweep (``sweep.py``): skip it when finished, resume it when killed, run it once
when it duplicates a baseline job, and never let its failure stop the sweep."""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import math
import os
import socket
import time
import traceback
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig, open_dict

from autotag.models import is_network, model_arguments
from autotag.models.registry import PROTOCOL_KEYS
from autotag.runs.folder import FAILED, RunFolder, write_json
from autotag.runs.results import RunInfo, read_results, results_or_none
from autotag.training.run import fit

log = logging.getLogger(__name__)

# Keys that do not change a baseline's result: jobs of a sweep that differ only in these are
# duplicates, run once (e.g. the epochs axis of the paper grid).
BASELINE_IGNORES = ("epochs", "optimizer", "scheduler", "loss", "ckpt_path", "init_from")
BASELINE_IGNORES += ("augment",)  # a baseline trains on no batches


def only_for_others(cfg: DictConfig, name: Any) -> list[str]:
    """Drop the model keys the job's arch does not take (in place); returns them.

    A grid mixes networks and baselines, and its shared settings (``model.width`` for the
    networks, ``model.features`` for the baselines) reach every job; each model keeps its own.
    A plain ``train.py`` run stays strict: an unknown model key is an error there.
    """
    allowed = set(model_arguments(cfg.model.arch)) | set(PROTOCOL_KEYS)
    dropped = sorted(set(cfg.model) - allowed)
    if dropped:
        log.info(
            "%s: model %s takes no %s (set for other models of the grid)",
            name,
            cfg.model.arch,
            ", ".join(dropped),
        )
        with open_dict(cfg):
            for key in dropped:
                del cfg.model[key]
    return dropped


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
        if owner and owner != me and RunFolder(sweep_dir / owner).results.exists():
            yield sweep_dir / owner
            return
        write_json(registry, {"job": me, "key": key})
        yield None


@dataclass
class Job:
    """Where a sweep job runs and what defines it (the entry point reads these off Hydra)."""

    out: Path  # the job's folder
    sweep_dir: Path
    overrides: list[str]  # the job's command-line overrides
    excluded: list[str]  # override keys that do not change a result (not in folder names)
    run: RunInfo


def run_job(cfg: DictConfig, job: Job) -> float:
    """One job of a sweep: a normal training run (:func:`autotag.training.run.fit`) in its own
    folder, skipped when its ``results.json`` exists, resumed from ``checkpoints/last.ckpt``
    when it was killed, and never raising: a failure is written to ``failed.json``.

    Returns the validation ROC-AUC (the objective of an Optuna sweep; NaN for a failure).
    """
    out, sweep_dir, overrides, excluded = job.out, job.sweep_dir, job.overrides, job.excluded
    folder = RunFolder(out)
    sw = cfg.sweep  # conf/sweep.yaml: skip_finished, resume, ...
    name = out.relative_to(sweep_dir) if out.is_relative_to(sweep_dir) else out
    done = _finished(out) if sw.skip_finished else None
    if done is not None:
        if identity(done.get("overrides", []), excluded) != identity(overrides, excluded):
            log.warning(
                "%s: results.json was written with overrides %s, this job has %s",
                name,
                done.get("overrides"),
                overrides,
            )
        log.info("skip %s: finished (results.json exists)", name)
        return float(done["val"]["roc_auc"])

    state = {"status": "running", "host": socket.gethostname(), "pid": os.getpid()}
    state.update(started=time.strftime("%Y-%m-%dT%H:%M:%S"), overrides=overrides)
    t0 = time.perf_counter()
    try:
        dropped = only_for_others(cfg, name)
        with contextlib.ExitStack() as stack:
            if not is_network(cfg.model.arch) and out.is_relative_to(sweep_dir):
                # jobs differing only in keys a baseline ignores (or drops) are one run
                ignores = [*BASELINE_IGNORES, *(f"model.{k}" for k in dropped)]
                key = identity(overrides, excluded, tuple(ignores))
                owner = stack.enter_context(dedupe_slot(sweep_dir, key, out))
                if owner is not None:
                    rel = str(owner.relative_to(sweep_dir))
                    write_json(folder.duplicate, {"of": rel, "ignores": ignores})
                    log.info("skip %s: same run as %s (differs only in %s)", name, rel, ignores)
                    return float(read_results(owner)["val"]["roc_auc"])
            results = _run(cfg, job, sw, state)
    except Exception as e:  # one failing job must not stop the sweep
        state.update(status="failed", wall_seconds=time.perf_counter() - t0)
        write_json(folder.job, state, default=str)
        write_json(
            folder.failed,
            {
                "error": f"{type(e).__name__}: {e}",
                "traceback": traceback.format_exc(),
                "overrides": overrides,
                "wall_seconds": state["wall_seconds"],
            },
            default=str,
        )
        # fit closed its logger (autotag.runs.end.closing_logger): no wandb run stays open
        log.exception("job %s failed (written to %s); the sweep goes on", out.name, FAILED)
        return math.nan
    state.update(status="finished", wall_seconds=time.perf_counter() - t0)
    write_json(folder.job, state, default=str)
    return float(results["val"]["roc_auc"])


def _finished(out: Path) -> dict[str, Any] | None:
    """A job's results.json, or None when there is none or it cannot be read (then rerun)."""
    results = results_or_none(out)
    if results is None and RunFolder(out).results.exists():
        log.warning("%s cannot be read: the job runs again", RunFolder(out).results)
    return results


def resumable(last: Path) -> bool:
    """Whether a ``last.ckpt`` can be resumed: readable, and the best checkpoint its
    ModelCheckpoint state names still exists (training validates and tests with that file)."""
    try:
        ckpt = torch.load(last, map_location="cpu", weights_only=True)
    except Exception:
        return False
    for name, state in (ckpt.get("callbacks") or {}).items():
        best = state.get("best_model_path") if name.startswith("ModelCheckpoint") else None
        if best and not Path(best).exists():
            return False
    return True


def _run(cfg: DictConfig, job: Job, sw: Any, state: dict[str, Any]) -> dict[str, Any]:
    """Run the job's training (resumed from its last.ckpt where possible)."""
    out, folder = job.out, RunFolder(job.out)
    out.mkdir(parents=True, exist_ok=True)
    for stale in (folder.failed, folder.duplicate):
        stale.unlink(missing_ok=True)
    last = folder.last_checkpoint
    if sw.resume and last.exists() and not cfg.ckpt_path and is_network(cfg.model.arch):
        if resumable(last):
            log.info("resuming from %s", last)
            with open_dict(cfg):
                cfg.ckpt_path = str(last)
        else:
            log.warning("%s cannot be resumed (its best checkpoint is gone): starting over", last)
    write_json(folder.job, state, default=str)
    return fit(cfg, out, job.run)
