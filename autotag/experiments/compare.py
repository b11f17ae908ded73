"""Paired comparison of two runs on the same test clips (``autotag compare RUN_A RUN_B``).

Each run folder holds ``predictions.npz`` (scores, labels, clip ids and the clips' units per
split, tag names); the comparison needs no model. Clips are matched by id; runs on other clips or
other tags are refused with the difference named. Both runs are scored on the same resamples of
the data set's units (``cluster``, as the runs' ``bootstrap.cluster``: whole songs of MTAT,
artists of Jamendo), so both runs must group the clips into the same units.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from autotag.runs.folder import RunFileError
from autotag.runs.predictions import Predictions, read_predictions
from autotag.training.bootstrap import AUTO, CLIP, PairedBootstrap, unit_of


class CompareError(ValueError):
    """Two runs that cannot be compared; the message says why."""


def load_predictions(run: str | Path, split: str = "test") -> Predictions:
    """The ``split`` predictions of a run folder (or of a ``predictions.npz`` path); a file
    that is missing or not a run's predictions is a :class:`CompareError` naming it."""
    try:
        return read_predictions(run, split)
    except RunFileError as e:
        raise CompareError(str(e)) from None


def aligned(a: Predictions, b: Predictions) -> np.ndarray:
    """The rows of B in A's clip order; refuses other clips or tags or labels (same clips in
    another order are fine)."""
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
    order = np.array([row_of_b[c] for c in a.clip_ids.tolist()], dtype=np.int64)  # none: empty
    if not np.array_equal(a.labels, b.labels[order]):
        raise CompareError(f"{a.path} and {b.path} give the same clips other labels")
    return order


def shared_unit(a: Predictions, b: Predictions, order: np.ndarray, cluster: str) -> str:
    """The unit that ``cluster`` names in both runs, whose keys group B's clips (in A's order,
    ``order``) as A's; refused when the runs name other units or group the clips otherwise."""
    unit = _unit(a, cluster)
    other = _unit(b, cluster)
    if other != unit:
        why = "names no units (an older run?)" if other == CLIP else f"draws {other}s"
        raise CompareError(
            f"{a.path} draws {unit}s, {b.path} {why}: compare both on one unit "
            f"(--cluster {CLIP} resamples clips)"
        )
    if unit != CLIP and not np.array_equal(a.units[unit], b.units[unit][order]):
        raise CompareError(
            f"{a.path} and {b.path} group the same clips into other {unit}s (another version "
            f"of the data's metadata?): compare with --cluster {CLIP}"
        )
    return unit


def _unit(p: Predictions, cluster: str) -> str:
    try:
        unit = unit_of(p.units, cluster)
    except ValueError:
        names = ", ".join(p.units) or "none (an older run)"
        raise CompareError(
            f"{p.path} has no {cluster} of its clips (its units: {names}): choose "
            f"--cluster {AUTO} or {CLIP}"
        ) from None
    return unit


def compare_runs(
    run_a: str | Path, run_b: str | Path, split: str, n_resamples: int, seed: int, cluster: str
) -> dict[str, Any]:
    """B − A in macro ROC-AUC and PR-AUC with the paired-bootstrap interval, resampling the
    unit ``cluster`` names (auto: the data set's; clip; or a unit such as song or artist)."""
    result = compare_with(run_a, [run_b], split, n_resamples, seed, cluster)[0]
    if isinstance(result, CompareError):
        raise result
    return result


def compare_with(
    run_a: str | Path,
    runs_b: list[str | Path],
    split: str,
    n_resamples: int,
    seed: int,
    cluster: str,
) -> list[dict[str, Any] | CompareError]:
    """Each of ``runs_b`` compared with ``run_a``; A is read and bootstrapped once. A run B
    that cannot be compared gets its :class:`CompareError` in its place."""
    a = load_predictions(run_a, split)
    unit = _unit(a, cluster)
    keys = a.units.get(unit)
    boot = PairedBootstrap(a.scores, a.labels, n_resamples, seed, keys, unit)
    out: list[dict[str, Any] | CompareError] = []
    for run_b in runs_b:
        try:
            b = load_predictions(run_b, split)
            order = aligned(a, b)
            shared_unit(a, b, order, cluster)
        except CompareError as e:
            out.append(e)
            continue
        result = boot.against(b.scores[order])
        result.update(a=str(a.path), b=str(b.path), split=split, n_clips=len(a.labels))
        out.append(result)
    return out


def format_comparison(result: dict[str, Any]) -> str:
    """The comparison as a small table."""
    n, level, unit = result["n_resamples"], result["level"], result["unit"]
    units = "" if unit == CLIP else f" of {result['n_units']} {unit}s"
    lines = [
        f"A: {result['a']}",
        f"B: {result['b']}",
        f"{result['n_clips']} {result['split']} clips{units}; paired bootstrap over "
        f"{unit}s, {n} resamples, seed {result['seed']}",
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
