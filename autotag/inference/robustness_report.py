"""``autotag robustness``'s report in a folder (a run's ``robustness/``): ``robustness.md``,
``robustness.csv`` and ``robustness.png`` (the AUCs per condition and their drop from clean)
and, with the clip scores, ``predictions.npz`` (one "split" per condition: what ``autotag
compare --split <condition>`` and a sweep report's paired intervals read) and
``robustness.json`` (what was scored: the tagger's sha256, the clips' ids; a sweep rescores a
run whose saved scores are of another tagger or other clips)."""

from __future__ import annotations

import csv
import math
import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from autotag.common.figures import pyplot, save_figure
from autotag.inference.robustness import COLUMNS, ConditionScores, EvalClips, clips_digest
from autotag.runs.folder import RunFileError, RunFolder, read_json, write_json
from autotag.runs.predictions import read_predictions, write_predictions

PROVENANCE = "robustness.json"


def _num(v: float, signed: bool = False) -> str:
    if v is None or not math.isfinite(v):
        return "n/a"
    return f"{v:+.4f}" if signed else f"{v:.4f}"


def markdown_table(rows: Sequence[dict[str, Any]], title: str = "") -> str:
    """The rows as a Markdown table (drops: clean minus condition, so positive is a loss)."""
    lines = [f"# {title}", ""] if title else []
    lines += [
        "| condition | ROC-AUC | PR-AUC | ROC-AUC drop | PR-AUC drop | clips |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['condition']} | {_num(r['roc_auc'])} | {_num(r['pr_auc'])} | "
            f"{_num(r['roc_auc_drop'], True)} | {_num(r['pr_auc_drop'], True)} | {r['clips']} |"
        )
    return "\n".join(lines) + "\n"


def plot_robustness(rows: Sequence[dict[str, Any]], path: str | Path, title: str = "") -> Path:
    """Bar plot: ROC-AUC and PR-AUC per condition, the clean scores as dotted lines."""
    plt = pyplot()
    names = [r["condition"] for r in rows]
    x = np.arange(len(rows))
    fig, ax = plt.subplots(figsize=(max(6.0, 0.65 * len(rows) + 2), 4))
    for off, key, label, color in (
        (-0.2, "roc_auc", "ROC-AUC", "tab:blue"),
        (0.2, "pr_auc", "PR-AUC", "tab:orange"),
    ):
        vals = [r[key] if math.isfinite(r[key]) else 0.0 for r in rows]
        ax.bar(x + off, vals, width=0.4, label=label, color=color)
        if rows and math.isfinite(rows[0][key]):
            ax.axhline(rows[0][key], color=color, lw=0.8, ls=":")
    ax.set_xticks(x, names, rotation=45, ha="right", fontsize=8)
    ax.set(ylabel="macro AUC (test)", ylim=(0, 1.12), yticks=np.linspace(0, 1, 6))
    ax.set_title(textwrap.fill(title or "robustness", 80), fontsize=9)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=8, loc="upper right", ncol=2)  # above the bars: AUCs stop at 1
    return save_figure(fig, path)


def write_report(
    rows: Sequence[dict[str, Any]],
    out_dir: str | Path,
    title: str = "",
    scores: ConditionScores | None = None,
) -> dict[str, Path]:
    """``robustness.md``, ``robustness.csv`` and ``robustness.png`` in ``out_dir``; with
    ``scores``, also their ``predictions.npz`` and ``robustness.json`` (see the module)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / PROVENANCE).unlink(missing_ok=True)  # it vouches for what follows: gone until then
    md = out / "robustness.md"
    md.write_text(markdown_table(rows, title))
    csv_path = out / "robustness.csv"
    with csv_path.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=COLUMNS, lineterminator="\n")
        w.writeheader()
        for r in rows:
            w.writerow({k: (f"{r[k]:.6f}" if isinstance(r[k], float) else r[k]) for k in COLUMNS})
    paths = {"md": md, "csv": csv_path, "png": plot_robustness(rows, out / "robustness.png", title)}
    if scores is not None:
        c = scores.clips
        paths["predictions"] = write_predictions(
            out, scores.tag_names, scores.probs, dict.fromkeys(scores.probs, c.labels),
            dict.fromkeys(scores.probs, c.clip_ids), dict.fromkeys(scores.probs, c.units),
        )  # fmt: skip
        info = {"tagger_sha256": scores.tagger_sha256, "asked": scores.asked or clips_digest(c),
                "clips": clips_digest(c), "n_clips": len(c.clip_ids),
                "conditions": list(scores.probs)}  # fmt: skip
        paths["provenance"] = write_json(out / PROVENANCE, info)  # last: it vouches for the rest
    return paths


def saved_scores(
    out_dir: str | Path, tagger_sha256: str, clips: EvalClips
) -> tuple[np.ndarray | None, dict[str, np.ndarray]]:
    """The clip ids and the clip scores per condition that ``out_dir`` holds for this tagger
    file asked to score exactly ``clips`` (the ids: those of ``clips`` that decoded). (None, {})
    where it holds none, another tagger's, other clips', or files that disagree with their
    ``robustness.json``: what a sweep need not score again."""
    out = Path(out_dir)
    info = read_json(out / PROVENANCE)
    if not info or not tagger_sha256 or info.get("tagger_sha256") != tagger_sha256:
        return None, {}
    if info.get("asked") != clips_digest(clips):
        return None, {}
    found: dict[str, np.ndarray] = {}
    ids = None
    try:
        for c in info.get("conditions", []):
            p = read_predictions(RunFolder(out).predictions, c)
            ids = p.clip_ids if ids is None else ids
            if len(p.clip_ids) != info.get("n_clips") or not np.array_equal(p.clip_ids, ids):
                return None, {}
            found[c] = p.scores.astype(np.float32)
    except RunFileError:
        return None, {}
    return ids, found
