"""``results.json``: built by one function for networks and baselines alike, written, read and
summarized here (:func:`build_results`, :func:`write_results`, :func:`read_results`)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from autotag import __version__
from autotag.runs.folder import RESULTS, RunFileError, RunFolder, write_json


@dataclass
class RunInfo:
    """Who a run is: entry points fill it from the command line; the library only reads it."""

    name: str
    model: str  # the model preset's name (e.g. fcn_bn), as the report groups runs
    overrides: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)

    @classmethod
    def of(cls, cfg: Mapping[str, Any], model: str | None = None) -> RunInfo:
        """The identity of ``cfg`` when no entry point named it (tests, notebooks)."""
        model = model or str(cfg["model"]["arch"])
        norm, epochs = cfg["norm"]["mode"], cfg["epochs"]
        name = cfg["run_name"] or f"{model}-{norm}-e{epochs}"
        tags = [
            f"norm={norm}",
            f"model={model}",
            f"epochs={epochs}",
            f"features={cfg['features']['name']}",
            f"data={cfg['data']['name']}",
        ]
        return cls(name=name, model=model, tags=tags)


def build_results(
    cfg: Mapping[str, Any],
    run: RunInfo,
    val: Mapping[str, Any],
    test: Mapping[str, Any],
    tag_names: list[str],
    *,
    epochs: int | None,
    epochs_run: int,
    history: list[dict[str, float]],
    best_checkpoint: str | None,
    train_seconds: float,
    fit_seconds: float,
    train_clips_per_second: float,
    n_clips: Mapping[str, int],
    n_parameters: int | None,
    store: str | Path,
    test_interval: Mapping[str, Any],
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The content of a run's ``results.json``; ``val``/``test`` are :func:`tag_scores` dicts,
    ``test_interval`` the bootstrap interval of the test macro AUCs (with the ``unit`` it drew
    and the ``n_units`` of the test set: read them with :func:`interval_unit`)."""
    results: dict[str, Any] = {
        "run_name": run.name,
        "overrides": list(run.overrides),
        "data": cfg["data"]["name"],
        "split": cfg["data"]["split"],
        "features": cfg["features"]["name"],
        "norm": cfg["norm"]["mode"],
        "model": run.model,
        "epochs": epochs,
        "epochs_run": epochs_run,
        "shuffle_labels": bool(cfg["shuffle_labels"]),
        "best_checkpoint": best_checkpoint,
        "val": {"roc_auc": val["roc_auc"], "pr_auc": val["pr_auc"]},
        "test": {
            "roc_auc": test["roc_auc"],
            "pr_auc": test["pr_auc"],
            "interval": dict(test_interval),
        },
        "per_tag": {t: {"val": val["per_tag"][t], "test": test["per_tag"][t]} for t in tag_names},
        "left_out": {"val": val["left_out"], "test": test["left_out"]},
        "history": list(history),
        "train_seconds": train_seconds,
        "fit_seconds": fit_seconds,
        "train_clips_per_second": train_clips_per_second,
        "n_clips": dict(n_clips),
        "n_parameters": n_parameters,
        "store": str(store),
        "autotag_version": __version__,
    }
    results.update(extra or {})
    return results


def write_results(out: str | Path, results: Mapping[str, Any]) -> Path:
    """``results.json`` of the run folder ``out``, written whole or not at all: a sweep skips a
    job on it."""
    return write_json(RunFolder(out).results, dict(results))


def read_results(run: str | Path) -> dict[str, Any]:
    """The ``results.json`` of a run folder (or that file's path); a missing, unreadable or
    foreign file raises :class:`RunFileError` naming it."""
    p = Path(run)
    path = RunFolder(p).results if p.is_dir() else p
    if not path.is_file():
        raise RunFileError(f"{path}: not found (a finished run folder holds {RESULTS})")
    try:
        results = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise RunFileError(f"{path}: cannot be read as a run's {RESULTS} ({e})") from None
    if not isinstance(results, dict) or not {"val", "test"} <= set(results):
        raise RunFileError(f"{path}: not a run's {RESULTS} (no val and test scores)")
    return results


def store_of(run: str | Path) -> Path:
    """The mel store a run folder's ``results.json`` names (a relative name is looked up in
    the working folder, then in the run folder); :class:`RunFileError` when it names none."""
    store = read_results(run).get("store")
    if not store:
        raise RunFileError(f"{RunFolder(run).results}: no 'store' entry")
    p = Path(store)
    return p if p.is_absolute() or p.exists() else Path(run) / p


def results_or_none(run: str | Path) -> dict[str, Any] | None:
    """:func:`read_results`, or None when the run has no readable ``results.json`` (a job
    killed, still running, or never started)."""
    try:
        return read_results(run)
    except RunFileError:
        return None


def summary(results: Mapping[str, Any], out: Path) -> str:
    """The lines printed at the end of a run (the last one is what `make train` shows)."""
    per_tag = results["per_tag"]
    ranked = sorted(
        (v["test"]["roc_auc"], t) for t, v in per_tag.items() if np.isfinite(v["test"]["roc_auc"])
    )
    how = f"{results['epochs_run']} epochs" if results["epochs"] is not None else "baseline"
    val, test = results["val"], results["test"]
    lines = [
        "",
        f"== {results['run_name']} ({results['data']}, split {results['split']}, {how}) ==",
        f"{'':12s}{'ROC-AUC':>10s}{'PR-AUC':>10s}",
        f"{'val (best)':12s}{val['roc_auc']:10.4f}{val['pr_auc']:10.4f}",
        f"{'test':12s}{test['roc_auc']:10.4f}{test['pr_auc']:10.4f}",
        f"{_level(test)}: ROC-AUC {_span(test, 'roc_auc')}, PR-AUC {_span(test, 'pr_auc')}",
        f"worst tags: {', '.join(f'{t} {a:.3f}' for a, t in ranked[:3])}",
        f"best tags:  {', '.join(f'{t} {a:.3f}' for a, t in ranked[::-1][:3])}",
        f"training: {results['train_seconds']:.0f} s, "
        f"{results['train_clips_per_second']:.1f} clips/s"
        + (
            f" ({results['train_step_clips_per_second']:.1f} in the training steps alone)"
            if "train_step_clips_per_second" in results
            else ""
        ),
        f"run folder: {out}",
        f"test macro ROC-AUC {test['roc_auc']:.4f}  PR-AUC {test['pr_auc']:.4f}",
    ]
    return "\n".join(lines)


def interval_unit(interval: Mapping[str, Any]) -> str:
    """What a ``results.json`` interval resampled: ``song``, ``artist``, ``clip``... (files
    written before the units were drawn resampled clips, and do not say so)."""
    return str(interval.get("unit", "clip"))


def _level(scores: Mapping[str, Any]) -> str:
    interval = scores["interval"]
    over = f"{interval_unit(interval)}s"
    if "n_units" in interval:
        over = f"{interval['n_units']} {over}"
    return f"test {interval['level']:.0%} bootstrap interval over {over}"


def _span(scores: Mapping[str, Any], metric: str) -> str:
    lo, hi = scores["interval"][metric]
    return f"{lo:.3f}–{hi:.3f}"
