"""``autotag robustness``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from autotag.cli.common import (
    EXIT_FAILED,
    EXIT_OK,
    UsageError,
    add_model,
    load_tagger,
    positive_int,
    progress_bar,
    report_error,
)
from autotag.inference.perturb import DEFAULT_CONDITIONS, check_conditions, parse_conditions
from autotag.inference.robustness import load_test_clips, score_conditions
from autotag.inference.robustness_report import markdown_table, write_report
from autotag.runs.folder import RunFileError, RunFolder
from autotag.runs.results import store_of


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "robustness",
        help="re-score the test split under noise, pitch, tempo, mp3 and gain changes",
        description="Macro ROC-AUC and PR-AUC of a trained tagger on its store's test split, "
        "clean and under each perturbation (Won et al. 2020): every test file is decoded once, "
        "perturbed, and tagged as `autotag tag` would. Writes robustness.md (also printed), "
        "robustness.csv, robustness.png and predictions.npz (each condition's scores: `autotag "
        "compare A/robustness B/robustness --split <condition>` compares two runs under one). "
        "Conditions: clean (always evaluated), "
        "noise_<SNR>db (white noise, seeded per clip), pitch_<±semitones>, stretch_<rate> "
        "(tempo × rate, pitch kept: stretch_1.2 is faster and 1/1.2 as long), mp3_<kbps>k "
        "(LAME re-encoding), gain_<dB>db. --model and --store override the run's.",
    )
    p.add_argument(
        "--run",
        dest="run_dir",  # `run` is the command's function (set_defaults)
        metavar="RUN_DIR",
        default=None,
        help="a training run folder: its tagger.pt, and the store named in its results.json",
    )
    add_model(p, required=False)
    p.add_argument(
        "--store",
        metavar="STORE_H5",
        default=None,
        help="the mel store whose test split is scored (default: the run's); its split and "
        "labels come from the data config the tagger was trained with (a store made before "
        "stores were shared holds its own)",
    )
    p.add_argument(
        "--out",
        "-o",
        metavar="DIR",
        default=None,
        help="folder for the report (default: RUN_DIR/robustness, or ./robustness)",
    )
    p.add_argument(
        "--conditions",
        metavar="LIST",
        default=",".join(DEFAULT_CONDITIONS),
        help=f"comma list of conditions (default: {','.join(DEFAULT_CONDITIONS)})",
    )
    p.add_argument(
        "--limit", type=positive_int, default=None, metavar="N", help="only the first N test clips"
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(run=run)


def _store_of_run(run_dir: Path) -> str:
    try:
        return str(store_of(run_dir))
    except RunFileError as e:
        raise UsageError(f"{e}; give --store") from None


def run(args: argparse.Namespace) -> int:
    run_dir = Path(args.run_dir) if args.run_dir else None
    if run_dir is not None and not run_dir.is_dir():
        raise UsageError(f"{run_dir}: run folder not found")
    if run_dir is None and not (args.model and args.store):
        raise UsageError("give --run RUN_DIR, or --model TAGGER_PT and --store STORE_H5")
    try:
        conditions = parse_conditions(args.conditions)
    except ValueError as e:
        raise UsageError(str(e)) from None
    model = args.model or str(RunFolder(run_dir).tagger)
    store = args.store or _store_of_run(run_dir)
    if not Path(store).is_file():
        raise UsageError(f"{store}: mel store not found (give --store)")
    out = Path(args.out) if args.out else RunFolder(run_dir or ".").robustness
    tagger = load_tagger(model)

    failed: list[str] = []

    def on_error(message: str) -> None:
        failed.append(message)
        report_error(message)

    try:
        check_conditions(conditions, tagger.sample_rate)  # before any file is read
        clips = load_test_clips(store, tagger.tag_names, args.limit, tagger.data_config)
    except (ValueError, OSError) as e:
        raise UsageError(str(e)) from None
    with progress_bar(len(clips.paths), "robustness", args.no_progress) as bar:
        (scores,) = score_conditions(
            [tagger], clips, conditions, on_clip=lambda: bar.update(1), on_error=on_error
        )
    rows = scores.rows()
    title = f"Robustness of {model} on the test split of {Path(store).name}"
    try:
        write_report(rows, out, title, scores)
    except OSError as e:
        raise UsageError(f"{out}: cannot write the report ({e})") from None
    print(markdown_table(rows, title), end="")
    n = rows[0]["clips"] if rows else 0
    print(
        f"{n} clips x {len(rows)} conditions; report in {out}"
        + (f"; {len(failed)} file(s) failed" if failed else ""),
        file=sys.stderr,
    )
    return EXIT_FAILED if failed or n == 0 else EXIT_OK
