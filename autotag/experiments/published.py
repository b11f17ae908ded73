"""A grid's published numbers beside a sweep's rows, and the rows' order.

A grid's ``sweep.published`` (conf/sweep/*.yaml) is ``source`` (the table's name in the
report), ``split`` (only rows of that split get a number: a paper's split is its own) and
``rows``. A row's key is a model preset (``fcn_choi``: that model under any setting) or a
spec of the row's axes as ``sweep.reference`` spells one (``model=fcn norm=global
epochs=10``: one cell of a paper's table). An entry holds ``name`` (where it was published),
``roc_auc`` and optionally ``pr_auc``, ``val_roc_auc`` and ``not_run`` (why we have no job).

A model preset without a job gets a "not run" row, and the report follows the published
table's order; a table of cells only (the seed paper's) lists no cells that a narrowed grid
did not run, and keeps the rows in model, norm, epochs order.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from autotag.experiments.aggregate import matches

_MODEL_ORDER = ["fcn", "fcn_bn", "fcn_choi", "fcn_bn_choi", "rf", "knn"]
_NORM_ORDER = ["global", "per_coeff", "per_spec", "prelog", "none"]


def _spec(key: str) -> str:
    """A row key as a spec: a bare model preset means ``model=<preset>``."""
    return key if "=" in key else f"model={key}"


def entry_for(row: dict[str, Any], published: dict[str, Any]) -> dict[str, Any] | None:
    """The published entry of ``row`` (the first key that matches it), or None; rows of
    another split than the table's get none."""
    if row["split"] != published.get("split", row["split"]):
        return None
    for key, entry in (published.get("rows") or {}).items():
        if matches(row, _spec(str(key))):
            return entry
    return None


def add_published(row: dict[str, Any], published: dict[str, Any]) -> None:
    """Put the published numbers of ``row`` beside it (in place)."""
    entry = entry_for(row, published)
    if entry:
        row["paper_val_roc_auc"] = entry.get("val_roc_auc")
        row["paper_test_roc_auc"] = entry.get("roc_auc")
        row["paper_test_pr_auc"] = entry.get("pr_auc")
        row["paper_source"] = entry.get("name") or row["model"]


def sort_key(row: dict[str, Any]) -> tuple:
    """Model, norm, epochs, job: the seed paper's table order."""

    def rank(order: list[str], v: str) -> tuple[int, str]:
        return (order.index(v) if v in order else len(order), str(v))

    ep = row["epochs"] if isinstance(row["epochs"], int) else -1
    return (rank(_MODEL_ORDER, row["model"]), rank(_NORM_ORDER, row["norm"]), ep, row["job"])


def with_not_run(
    rows: list[dict[str, Any]], published: dict[str, Any], columns: Sequence[str]
) -> list[dict[str, Any]]:
    """The rows in report order, plus a "not run" row (with ``columns``) for each published
    model preset without a job."""
    models = [str(k) for k in (published.get("rows") or {}) if "=" not in str(k)]
    if not models:
        return sorted(rows, key=sort_key)
    have = {r["model"] for r in rows}
    for model in models:
        if model in have:
            continue
        entry = published["rows"][model]
        row: dict[str, Any] = dict.fromkeys(columns)
        row.update(job="–", model=model, norm="–", split=published.get("split", "–"), other="")
        row.update(status="not run", error=entry.get("not_run") or "no job in this sweep")
        row["paper_test_roc_auc"], row["paper_test_pr_auc"] = (
            entry.get("roc_auc"),
            entry.get("pr_auc"),
        )
        row["paper_source"] = entry.get("name") or model
        rows.append(row)

    def key(r: dict[str, Any]) -> tuple:
        return (models.index(r["model"]) if r["model"] in models else len(models), sort_key(r))

    return sorted(rows, key=key)
