"""How wide the 95% interval of the test macro AUCs is when the bootstrap draws clips, and when
it draws the data set's units (songs, albums, artists: autotag/training/bootstrap.py), from
trained runs' predictions.

    .venv/bin/python bench/cluster_intervals.py [--resamples 1000] [--seed 0]

Two runs, trained first unless their folders under bench/out/cluster_intervals/ hold finished
runs: the `make train` run on the synthetic MTAT corpus (`python train.py
experiment=synthetic_cpu`) and the README's run on the synthetic MTG-Jamendo corpus (`python
train.py data=jamendo_synthetic model=short_res model.width=0.125`); a few minutes each on 2
cores. The figures depend on the predictions only, not on the machine's speed: no quiet CPU is
needed (the trained figures move with the CPU, as the README says).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
from common import BENCH_DIR, REPO, fmt, machine_table, table, write_section

from autotag.runs.predictions import read_predictions
from autotag.runs.results import read_results
from autotag.training.bootstrap import CLIP, confidence_interval

SECTION = "Bootstrap intervals: clips, songs or artists (bench/cluster_intervals.py)"
OUT = BENCH_DIR / "out" / "cluster_intervals"
RUNS = {  # folder: the run's arguments (the Makefile's TRAIN_ARGS first: the `make train` run)
    "mtat": ["experiment=synthetic_cpu"],
    "jamendo": ["data=jamendo_synthetic", "model=short_res", "model.width=0.125"],
}


def train(out: Path, args: list[str]) -> Path:
    """The run of ``args`` in ``out`` (reused when it finished before)."""
    if (out / "results.json").is_file():
        return out
    cmd = [sys.executable, "train.py", *args, f"hydra.run.dir={out}"]
    print("training:", " ".join(cmd[1:]), flush=True)
    env = {**os.environ, "WANDB_MODE": os.environ.get("WANDB_MODE", "offline")}
    subprocess.run(cmd, cwd=REPO, env=env, check=True)
    return out


def unit_rows(run: Path, n_resamples: int, seed: int) -> tuple[list[list[object]], dict]:
    """One row per unit (clip first): the test set's units and the intervals drawing them."""
    pred = read_predictions(run, "test")
    if not pred.units:
        raise SystemExit(f"{pred.path} names no units of its clips: a run of this version?")
    rows: list[list[object]] = []
    clip_width: dict[str, float] = {}
    for unit in [CLIP, *pred.units]:
        ci = confidence_interval(pred.scores, pred.labels, n_resamples, seed, unit, pred.units)
        widths = {m: ci[m][1] - ci[m][0] for m in ("roc_auc", "pr_auc")}
        clip_width = clip_width or widths
        sizes = np.unique(pred.units[unit], return_counts=True)[1] if unit != CLIP else [1]
        rows.append(
            [
                unit,
                ci["n_units"],
                f"{len(pred.scores) / ci['n_units']:.2f} (max {max(sizes)})",
                f"{ci['roc_auc'][0]:.3f}–{ci['roc_auc'][1]:.3f}",
                fmt(widths["roc_auc"]),
                f"{ci['pr_auc'][0]:.3f}–{ci['pr_auc'][1]:.3f}",
                fmt(widths["pr_auc"]),
                " / ".join(f"{widths[m] / clip_width[m]:.2f}" for m in widths),
                f"{ci['resamples_missing_a_tag']:.0%}",
            ]
        )
    return rows, {"n_clips": len(pred.scores), "units": list(pred.units)}


def section(run: Path, args: list[str], n_resamples: int, seed: int) -> str:
    """One run's figures: its test AUCs, then the interval drawing each unit."""
    results = read_results(run)
    rows, facts = unit_rows(run, n_resamples, seed)
    head = ["resampled", "test units", "clips per unit", "ROC-AUC 95%", "width"]
    head += ["PR-AUC 95%", "width", "width / clip's (ROC / PR)", "resamples missing a tag"]
    recorded = results["test"]["interval"]
    return "\n\n".join(
        [
            f"`python train.py {' '.join(args)}`: test macro ROC-AUC "
            f"**{results['test']['roc_auc']:.3f}**, PR-AUC **{results['test']['pr_auc']:.3f}** "
            f"on {facts['n_clips']} test clips ({results['data']}, split {results['split']}).",
            table(head, rows),
            f"results.json records the `bootstrap.cluster=auto` interval: over "
            f"{recorded['n_units']} {recorded['unit']}s, ROC-AUC "
            f"{recorded['roc_auc'][0]:.3f}–{recorded['roc_auc'][1]:.3f}, PR-AUC "
            f"{recorded['pr_auc'][0]:.3f}–{recorded['pr_auc'][1]:.3f}.",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--resamples", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    parts = [
        f"{args.resamples} resamples with seed {args.seed}, drawing clips one by one or the units "
        "the data set names (MTAT: clip_info_final.csv's songs, albums, artists; MTG-Jamendo: "
        "ARTIST_ID, ALBUM_ID), each drawn unit with all its clips:"
    ]
    for name, run_args in RUNS.items():
        parts.append(section(train(OUT / name, run_args), run_args, args.resamples, args.seed))
    body = "\n\n".join([*parts, machine_table()])
    print(body)
    write_section(SECTION, body)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
