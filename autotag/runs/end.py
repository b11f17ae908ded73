"""The end of a run, network or baseline alike: predictions, then ``results.json``, then the
logger's share, then the summary; and the logger closed whatever happens.

Like lightning-hydra-template's task wrapper, :func:`closing_logger` closes the experiment
logger on success and on failure, so a failed sweep job never leaves a wandb run open for the
next job to log into. The logger is passed in and duck-typed (``finalize``, and ``finish`` on
its run): this layer imports neither Lightning's Trainer nor Hydra.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from autotag.runs.predictions import write_predictions
from autotag.runs.results import summary, write_results

log = logging.getLogger(__name__)
L = TypeVar("L")


def close_logger(logger: Any, status: str = "success") -> None:
    """Close an experiment logger: ``finalize(status)`` (every Lightning logger: flush its
    files), then ``finish`` its run where it has one (wandb: so the next run starts clean)."""
    if logger is None:
        return
    finalize = getattr(logger, "finalize", None)
    if callable(finalize):
        finalize(status)
    # Lightning's loggers keep a started run in `_experiment`: reading `.experiment` would
    # start one just to close it
    finish = getattr(getattr(logger, "_experiment", None), "finish", None)
    if callable(finish):
        finish(exit_code=0 if status == "success" else 1)


@contextlib.contextmanager
def closing_logger(logger: L) -> Iterator[L]:
    """``with closing_logger(logger):`` the block's logger, closed at its end: ``success``,
    or ``failed`` when the block raises (the exception goes on; a failure to close is logged,
    never raised over it)."""
    try:
        yield logger
    except BaseException:
        try:
            close_logger(logger, "failed")
        except Exception:
            log.exception("could not close the logger of a failed run")
        raise
    close_logger(logger, "success")


def end_run(
    out: str | Path,
    results: Mapping[str, Any],
    *,
    tag_names: list[str],
    scores: Mapping[str, np.ndarray],
    labels: Mapping[str, np.ndarray],
    clip_ids: Mapping[str, np.ndarray],
    units: Mapping[str, Mapping[str, np.ndarray]],
    publish: Callable[[], None] | None = None,
) -> None:
    """The files every run leaves, in order: ``predictions.npz`` (per split: ``scores``,
    ``labels``, ``clip_ids``, ``units``), then ``results.json`` (last of the files: a sweep
    skips a job on it), then ``publish()`` (the logger's share: tables, figures), then the
    summary printed (its last line is what ``make train`` shows)."""
    write_predictions(out, tag_names, scores, labels, clip_ids, units)
    write_results(out, results)
    if publish is not None:
        publish()
    print(summary(results, Path(out)), flush=True)
