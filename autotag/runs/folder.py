"""Where things are in a run folder: the one place that spells its file names.

A run folder (``train.py``'s run, or one job of a sweep) holds::

    results.json       the run's numbers (:mod:`autotag.runs.results`); written last, so a sweep
                       skips a job on it
    predictions.npz    val/test scores, labels and clip ids (:mod:`autotag.runs.predictions`)
    tagger.pt          the tagger file of a network run (:mod:`autotag.runs.tagger_file`)
    figures/           the run's plots
    checkpoints/       best checkpoints and last.ckpt (the full state to resume from)
    job.json           a sweep job's state (running/finished/failed, host, times)
    failed.json        a failed sweep job's error and traceback
    duplicate.json     a sweep job that is the same run as another job (which it names)
    robustness/        ``autotag robustness``'s report (and a sweep's ``sweep.robustness``):
                       robustness.md/.csv/.png and a predictions.npz of one "split" per condition
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from autotag.common import files

RESULTS = "results.json"
PREDICTIONS = "predictions.npz"
TAGGER = "tagger.pt"
FIGURES = "figures"
CHECKPOINTS = "checkpoints"
LAST_CHECKPOINT = "last.ckpt"
JOB = "job.json"
FAILED = "failed.json"
DUPLICATE = "duplicate.json"
ROBUSTNESS = "robustness"


class RunFileError(ValueError):
    """A run folder's file that is missing or not what it should be; the message names it."""


@dataclass(frozen=True)
class RunFolder:
    """The paths of one run folder."""

    root: Path

    def __init__(self, root: str | Path) -> None:
        object.__setattr__(self, "root", Path(root))

    @property
    def results(self) -> Path:
        return self.root / RESULTS

    @property
    def predictions(self) -> Path:
        return self.root / PREDICTIONS

    @property
    def tagger(self) -> Path:
        return self.root / TAGGER

    @property
    def figures(self) -> Path:
        return self.root / FIGURES

    @property
    def checkpoints(self) -> Path:
        return self.root / CHECKPOINTS

    @property
    def last_checkpoint(self) -> Path:
        return self.checkpoints / LAST_CHECKPOINT

    @property
    def job(self) -> Path:
        return self.root / JOB

    @property
    def failed(self) -> Path:
        return self.root / FAILED

    @property
    def duplicate(self) -> Path:
        return self.root / DUPLICATE

    @property
    def robustness(self) -> Path:
        return self.root / ROBUSTNESS


def write_json(path: Path, data: Any, default: Callable[[Any], Any] | None = None) -> Path:
    """``data`` as a run folder's JSON (indented by two) at ``path``, written whole or not at
    all (:func:`autotag.common.files.write_json`); ``default`` as :func:`json.dumps` takes it."""
    return files.write_json(path, data, indent=2, allow_nan=True, default=default)


def read_json(path: Path) -> dict[str, Any] | None:
    """The JSON object at ``path``, or None when there is none or it cannot be read (a state
    file of a job that is still running, or was killed while writing it)."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None
