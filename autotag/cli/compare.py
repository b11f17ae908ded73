"""``autotag compare``."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from autotag.cli.common import EXIT_OK, UsageError, positive_int
from autotag.experiments.compare import CompareError, compare_runs, format_comparison


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "compare",
        help="paired comparison of two runs on the same test clips",
        description="Difference B - A in test macro ROC-AUC and PR-AUC of two training runs "
        "(their predictions.npz), with a paired-bootstrap interval and the share of resamples "
        "in which B is better. The runs must have scored the same clips and tags. The test set "
        "is resampled by the data set's unit (MTAT: whole songs; MTG-Jamendo: artists; a "
        "catalogue: albums), as in results.json.",
    )
    p.add_argument("run_a", metavar="RUN_A", help="run folder (or its predictions.npz)")
    p.add_argument("run_b", metavar="RUN_B", help="run folder (or its predictions.npz)")
    p.add_argument(
        "--split",
        default="test",
        help="test, val, or a condition of `autotag robustness` with RUN/robustness as the runs "
        "(its predictions.npz: noise_0db, stretch_1.2, ...) (default: test)",
    )
    p.add_argument(
        "--resamples", type=positive_int, default=1000, metavar="N", help="(default: 1000)"
    )
    p.add_argument("--seed", type=int, default=0, help="resampling seed (default: 0)")
    p.add_argument(
        "--cluster",
        default="auto",
        metavar="UNIT",
        help="what is resampled: auto (the data set's unit), clip, or a unit the runs name "
        "(MTAT: song, album, artist) (default: auto)",
    )
    p.add_argument("--json", action="store_true", help="JSON on stdout")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    try:
        result = compare_runs(
            args.run_a, args.run_b, args.split, args.resamples, args.seed, args.cluster
        )
    except CompareError as e:
        hint = ""
        given = (Path(args.run_a), Path(args.run_b))
        if args.split not in ("test", "val") and any((p / "robustness").is_dir() for p in given):
            hint = (f" ({args.split!r} is not test or val: a condition of `autotag robustness` "
                    "is compared with the runs' robustness folders, RUN/robustness)")  # fmt: skip
        raise UsageError(f"{e}{hint}") from None
    if args.json:
        json.dump(result, sys.stdout, indent=2)
        print()
    else:
        print(format_comparison(result))
    return EXIT_OK
