"""A sweep's rows summarized: mean ± sd over seeds, and each row against a reference row
(paired bootstrap on the same test clips, drawing the data set's units: whole songs of MTAT,
from the runs' ``predictions.npz``)."""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any

import numpy as np

from autotag.experiments.compare import CompareError, compare_with

log = logging.getLogger(__name__)
GROUP_KEYS = ("model", "norm", "epochs", "other", "split")
METRICS = ("val_roc_auc", "test_roc_auc", "val_pr_auc", "test_pr_auc")


def group_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per configuration (the rows that differ only in ``seed``), in first-seen order:
    mean and sample sd of each metric over its finished seeds, and the seed counts."""
    groups: dict[tuple, list[dict[str, Any]]] = {}
    for r in rows:
        groups.setdefault(tuple(r[k] for k in GROUP_KEYS), []).append(r)
    out = []
    for members in groups.values():
        members = one_per_seed(members)
        done = [r for r in members if r["status"] == "finished"]
        g: dict[str, Any] = {k: members[0][k] for k in GROUP_KEYS}
        g.update(
            seeds=sorted(r["seed"] for r in done),
            n_jobs=len(members),
            n_finished=len(done),
            paper_test_roc_auc=members[0]["paper_test_roc_auc"],
            paper_test_pr_auc=members[0].get("paper_test_pr_auc"),
            paper_source=members[0].get("paper_source"),
            ref_diff=_mean([r.get("ref_diff") for r in done]),
            ref_compared=sum(r.get("ref_diff") is not None for r in done),
            ref_excluding=sum(bool(r.get("ref_excludes_zero")) for r in done),
            is_reference=any(r.get("is_reference") for r in done),
            status=_status(members),
        )
        for m in METRICS:
            values = [r[m] for r in done if r[m] is not None and not math.isnan(r[m])]
            g[f"{m}_mean"] = float(np.mean(values)) if values else None
            g[f"{m}_sd"] = float(np.std(values, ddof=1)) if len(values) > 1 else None
        out.append(g)
    return out


def _mean(values: list[Any]) -> float | None:
    values = [v for v in values if v is not None]
    return float(np.mean(values)) if values else None


def one_per_seed(members: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One job per seed of a configuration. A sweep first run without seeds and then with
    ``sweep.seeds=N`` holds both ``...`` (seed 0 from the config) and ``...,seed=0``: the job
    that names its seed wins, so no seed counts twice."""
    by_seed: dict[Any, dict[str, Any]] = {}
    for r in members:
        other = by_seed.get(r["seed"])
        if other is None or ("seed=" in r["job"] and "seed=" not in other["job"]):
            by_seed[r["seed"]] = r
    if len(by_seed) < len(members):
        log.warning(
            "%s: %d jobs for %d seeds; counting one job per seed",
            members[0]["job"],
            len(members),
            len(by_seed),
        )
    return list(by_seed.values())


def _status(members: list[dict[str, Any]]) -> str:
    if all(r["status"] == "not run" for r in members):
        return f"not run: {members[0].get('error')}"
    counts = {s: sum(r["status"] == s for r in members) for s in ("finished", "failed")}
    rest = len(members) - sum(counts.values())
    parts = [f"{n} {s}" for s, n in (*counts.items(), ("incomplete", rest)) if n]
    return ", ".join(parts)


def matches(row: dict[str, Any], spec: str) -> bool:
    """Whether ``row`` is the reference ``spec`` (``model=fcn norm=global``; other keys are
    looked up among the row's other overrides)."""
    for token in spec.split():
        key, _, value = token.partition("=")
        if key in ("model", "norm", "epochs", "split", "seed"):
            if str(row[key]) != value:
                return False
        elif token not in (row["other"] or "").split():
            return False
    return True


def against_reference(
    rows: list[dict[str, Any]],
    sweep_dir: Path,
    spec: str,
    n_resamples: int,
    seed: int,
    cluster: str,
) -> None:
    """Add ``ref_diff`` (test macro ROC-AUC, row − reference), ``ref_lo``/``ref_hi`` (its
    interval), ``ref_unit`` (what the bootstrap drew: ``cluster``'s unit) and
    ``ref_excludes_zero`` to every finished row, compared with the reference row of the same
    seed on the same test clips (in place)."""
    found_by_seed: dict[Any, list[dict[str, Any]]] = {}
    for r in rows:
        if r["status"] == "finished" and matches(r, spec):
            found_by_seed.setdefault(r["seed"], []).append(r)
    refs = {}
    for seed_, found in found_by_seed.items():
        found = one_per_seed(found)
        if len(found) > 1:
            log.warning(
                "sweep.reference=%r matches %d rows (%s): name one row; no comparison made",
                spec,
                len(found),
                ", ".join(r["job"] for r in found),
            )
            return
        refs[seed_] = found[0]
    if not refs:
        log.warning("sweep.reference=%r matches no finished row", spec)
    for seed_, ref in refs.items():
        targets = [r for r in rows if r["status"] == "finished" and r["seed"] == seed_]
        try:  # the reference is read and bootstrapped once for all rows of its seed
            results = compare_with(
                sweep_dir / ref["job"],
                [sweep_dir / r["job"] for r in targets],
                "test",
                n_resamples,
                seed,
                cluster,
            )
        except CompareError as e:  # the reference lacks predictions.npz (an older run)
            log.warning("%s: no comparison with the reference (%s)", ref["job"], e)
            continue
        for r, res in zip(targets, results):
            if isinstance(res, CompareError):  # an older run without predictions.npz
                log.warning("%s: no comparison with the reference (%s)", r["job"], res)
                continue
            lo, hi = res["roc_auc"]["interval"]
            r.update(
                ref_diff=res["roc_auc"]["difference"],
                ref_lo=lo,
                ref_hi=hi,
                ref_unit=res["unit"],
                ref_excludes_zero=lo > 0 or hi < 0,
                is_reference=r is ref,
            )
