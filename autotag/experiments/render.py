"""A sweep's rows rendered: the Markdown table and the bar plot of test ROC-AUC."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from autotag.common.figures import pyplot, save_figure


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


def _ci(lo: Any, hi: Any) -> str:
    return "–" if lo is None else f"{lo:.3f}–{hi:.3f}"


def _mean_sd(g: dict[str, Any], metric: str) -> str:
    mean, sd = g[f"{metric}_mean"], g[f"{metric}_sd"]
    if mean is None:
        return "–"
    return f"{mean:.4f}" if sd is None else f"{mean:.4f} ± {sd:.4f}"


def _ref(r: dict[str, Any]) -> str:
    """A job's Δ vs the reference and whether its interval excludes 0; for a configuration over
    seeds, the mean Δ and in how many seeds the interval excludes 0."""
    if r.get("ref_diff") is None:
        return "–"
    if r.get("is_reference"):
        return "(ref)"
    if "ref_compared" in r:
        return f"{r['ref_diff']:+.4f} ({r['ref_excluding']} of {r['ref_compared']} seeds ≠ 0)"
    return f"{r['ref_diff']:+.4f} ({'≠ 0' if r['ref_excludes_zero'] else '~ 0'})"


def _paper_cells(r: dict[str, Any], with_pr: bool, with_val: bool) -> list[str]:
    cells = [_fmt(r.get("paper_val_roc_auc"))] if with_val else []
    cells += [_fmt(r["paper_test_roc_auc"])]
    cells += [_fmt(r.get("paper_test_pr_auc"))] if with_pr else []
    return cells + [r.get("paper_source") or "–"]


def _paper_head(with_pr: bool, with_val: bool) -> list[str]:
    head = ["paper val"] if with_val else []
    head += ["paper test ROC-AUC" if with_pr else "paper test"]
    return head + (["paper test PR-AUC"] if with_pr else []) + ["published in"]


def _seed_table(groups: list[dict[str, Any]], with_other, with_paper, with_ref) -> list[str]:
    with_pr = with_paper and any(g.get("paper_test_pr_auc") is not None for g in groups)
    head = ["model", "norm", "epochs"] + (["other"] if with_other else [])
    head += ["split", "seeds", "val ROC-AUC", "test ROC-AUC (mean ± sd)", "test PR-AUC (mean ± sd)"]
    head += _paper_head(with_pr, False) if with_paper else []
    head += ["Δ test ROC-AUC vs ref"] if with_ref else []
    head += ["status"]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    for g in groups:
        cells = [g["model"], g["norm"], _fmt(g["epochs"])] + ([g["other"]] if with_other else [])
        cells += [g["split"], f"{g['n_finished']} of {g['n_jobs']}"]
        cells += [_mean_sd(g, m) for m in ("val_roc_auc", "test_roc_auc", "test_pr_auc")]
        cells += _paper_cells(g, with_pr, False) if with_paper else []
        cells += [_ref(g)] if with_ref else []
        lines.append("| " + " | ".join(cells + [g["status"]]) + " |")
    return lines


def _run_table(rows: list[dict[str, Any]], with_other, with_paper, with_ref) -> list[str]:
    with_pr = with_paper and any(r.get("paper_test_pr_auc") is not None for r in rows)
    with_val = with_paper and any(r.get("paper_val_roc_auc") is not None for r in rows)
    head = ["model", "norm", "epochs"] + (["other"] if with_other else [])
    head += [
        "split",
        "val ROC-AUC",
        "test ROC-AUC",
        "95% CI",
        "val PR-AUC",
        "test PR-AUC",
        "95% CI",
    ]
    head += _paper_head(with_pr, with_val) if with_paper else []
    head += ["Δ test ROC-AUC vs ref"] if with_ref else []
    head += ["time", "status"]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    for r in rows:
        cells = [r["model"], r["norm"], _fmt(r["epochs"])] + ([r["other"]] if with_other else [])
        cells += [r["split"], _fmt(r["val_roc_auc"]), _fmt(r["test_roc_auc"])]
        cells += [_ci(r["test_roc_auc_lo"], r["test_roc_auc_hi"])]
        cells += [_fmt(r["val_pr_auc"]), _fmt(r["test_pr_auc"])]
        cells += [_ci(r["test_pr_auc_lo"], r["test_pr_auc_hi"])]
        cells += _paper_cells(r, with_pr, with_val) if with_paper else []
        cells += [_ref(r)] if with_ref else []
        status = (
            r["status"]
            if r["status"] not in ("failed", "not run")
            else f"{r['status']}: {r['error']}"
        )
        cells += [_fmt_seconds(r["seconds"]), status.replace("|", "/")[:120]]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def markdown(
    rows: list[dict[str, Any]],
    title: str = "",
    duplicates: int = 0,
    groups: list[dict[str, Any]] | None = None,
    reference: str | None = None,
    paper_name: str = "",
) -> str:
    """The report as Markdown: a row per job, or per configuration (mean ± sd over its seeds)
    when ``groups`` has one that ran several seeds. The paper's columns appear when a row has a
    paper number (only rows of the paper's split get one)."""
    with_paper = any(r["paper_test_roc_auc"] is not None for r in rows)
    with_ref = reference is not None
    rows, shared = _drop_shared(rows)
    with_other = any(r["other"] for r in rows)
    lines = [f"## {title}", ""] if title else []
    if shared:
        lines += [f"Every job: `{' '.join(sorted(shared))}`", ""]
    seeded = groups is not None and any(g["n_jobs"] > 1 for g in groups)
    if seeded:
        assert groups is not None
        groups, _ = _drop_shared(groups)
        lines += _seed_table(groups, with_other, with_paper, with_ref)
    else:
        lines += _run_table(rows, with_other, with_paper, with_ref)
    n = {s: sum(r["status"] == s for r in rows) for s in ("finished", "failed", "not run")}
    jobs = len(rows) - n["not run"]
    lines += [
        "",
        f"{jobs} jobs: {n['finished']} finished, {n['failed']} failed, "
        f"{jobs - n['finished'] - n['failed']} incomplete"
        + (f"; {n['not run']} published models not run" if n["not run"] else "")
        + (f"; {duplicates} duplicate baseline jobs skipped" if duplicates else "")
        + ".",
    ]
    if seeded:
        lines.append("Mean ± sample sd over the finished seeds; per-job values in results.csv.")
    else:
        over = _units(rows, "ci_unit")
        lines.append(f"95% CI: percentile bootstrap over test {over} (results.json).")
    if with_ref:
        lines.append(
            f"Δ vs ref: test macro ROC-AUC minus that of `{reference}` (same seed, same clips); "
            f"(≠ 0) where its paired-bootstrap 95% interval over {_units(rows, 'ref_unit')} "
            "excludes 0."
        )
    if with_paper:
        lines.append(f"Paper: {paper_name or 'published numbers'}.")
    return "\n".join(lines) + "\n"


def _units(rows: list[dict[str, Any]], key: str) -> str:
    """What the rows' intervals resampled (``song`` -> "songs"), each unit named once."""
    found = sorted({r[key] for r in rows if r.get(key)})
    return " / ".join(f"{u}s" for u in found) or "clips"


def bar_plot(rows: list[dict[str, Any]], path: str | Path, title: str = "") -> Path:
    """Test ROC-AUC of every finished row, with the paper's number beside it where known."""
    plt = pyplot()
    done = [r for r in _drop_shared(rows)[0] if r["test_roc_auc"] is not None]
    seeded = len({r.get("seed") for r in done}) > 1
    labels = [
        " ".join(
            x
            for x in (
                r["model"],
                r["norm"],
                f"e{r['epochs']}" if r["epochs"] else "",
                r["other"],
                f"seed {r.get('seed')}" if seeded else "",
            )
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
    return save_figure(fig, path)
