"""Paired comparison of two runs on the same test clips (``autotag compare RUN_A RUN_B``).

Each run folder holds ``predictions.npz`` (scores, labels and clip ids per split, tag names);
the comparison needs no model. Clips are matched by id; runs on other clips or other tags are
refused with the difference named.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from autotag.runs.folder import RunFileError
from autotag.runs.predictions import Predictions, read_predictions
from autotag.training.bootstrap import PairedBootstrap


class CompareError(ValueError):
    """Two runs that cannot be compared; the message says why."""


def load_predictions(run: str | Path, split: str = "test") -> Predictions:
    """The ``split`` predictions of a run folder (or of a ``predictions.npz`` path); a file
    that is missing or not a run's predictions is a :class:`CompareError` naming it."""
    try:
        return read_predictions(run, split)
    except RunFileError as e:
        raise CompareError(str(e)) from None


def aligned(a: Predictions, b: Predictions) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """B's scores in A's clip order, and both runs' scores and labels; refuses other clips or
    tags (same clips in another order are fine)."""
    if a.tag_names != b.tag_names:
        only_a = [t for t in a.tag_names if t not in b.tag_names]
        only_b = [t for t in b.tag_names if t not in a.tag_names]
        why = (
            "the same tags in another order"
            if not (only_a or only_b)
            else (f"only in A: {', '.join(only_a) or '-'}; only in B: {', '.join(only_b) or '-'}")
        )
        raise CompareError(f"{a.path} and {b.path} score other tags ({why})")
    ids_a, ids_b = set(a.clip_ids.tolist()), set(b.clip_ids.tolist())
    if ids_a != ids_b:
        raise CompareError(
            f"{a.path} and {b.path} were tested on other clips: {len(ids_a - ids_b)} only in A, "
            f"{len(ids_b - ids_a)} only in B, {len(ids_a & ids_b)} shared"
        )
    row_of_b = {c: i for i, c in enumerate(b.clip_ids.tolist())}
    order = np.array([row_of_b[c] for c in a.clip_ids.tolist()])
    if not np.array_equal(a.labels, b.labels[order]):
        raise CompareError(f"{a.path} and {b.path} give the same clips other labels")
    return a.scores, b.scores[order], a.labels


def compare_runs(
    run_a: str | Path, run_b: str | Path, split: str, n_resamples: int, seed: int
) -> dict[str, Any]:
    """B − A in macro ROC-AUC and PR-AUC with the paired-bootstrap interval."""
    result = compare_with(run_a, [run_b], split, n_resamples, seed)[0]
    if isinstance(result, CompareError):
        raise result
    return result


def compare_with(
    run_a: str | Path, runs_b: list[str | Path], split: str, n_resamples: int, seed: int
) -> list[dict[str, Any] | CompareError]:
    """Each of ``runs_b`` compared with ``run_a``; A is read and bootstrapped once. A run B
    that cannot be compared gets its :class:`CompareError` in its place."""
    a = load_predictions(run_a, split)
    boot = PairedBootstrap(a.scores, a.labels, n_resamples, seed)
    out: list[dict[str, Any] | CompareError] = []
    for run_b in runs_b:
        try:
            b = load_predictions(run_b, split)
            _, scores_b, labels = aligned(a, b)
        except CompareError as e:
            out.append(e)
            continue
        result = boot.against(scores_b)
        result.update(a=str(a.path), b=str(b.path), split=split, n_clips=len(labels))
        out.append(result)
    return out


def format_comparison(result: dict[str, Any]) -> str:
    """The comparison as a small table."""
    n, level = result["n_resamples"], result["level"]
    lines = [
        f"A: {result['a']}",
        f"B: {result['b']}",
        f"{result['n_clips']} {result['split']} clips; paired bootstrap, {n} resamples, "
        f"seed {result['seed']}",
        "",
        f"{'metric':8s} {'A':>7s} {'B':>7s} {'B - A':>8s}  {f'{level:.0%} interval':>19s}  "
        "B better in",
    ]
    for metric, label in (("roc_auc", "ROC-AUC"), ("pr_auc", "PR-AUC")):
        r = result[metric]
        lo, hi = r["interval"]
        lines.append(
            f"{label:8s} {r['a']:7.4f} {r['b']:7.4f} {r['difference']:+8.4f}  "
            f"[{lo:+.4f}, {hi:+.4f}]  {r['b_better_share']:.1%} of resamples"
        )
    verdict = [
        f"{label}: {'B is better' if r['interval'][0] > 0 else 'A is better' if r['interval'][1] < 0 else 'no clear difference'}"
        for label, r in (("ROC-AUC", result["roc_auc"]), ("PR-AUC", result["pr_auc"]))
    ]
    return "\n".join([*lines, "", "; ".join(verdict) + " (the interval excludes 0 or not)"])
